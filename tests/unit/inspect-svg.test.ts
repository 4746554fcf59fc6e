/**
 * The SVG renders offline through Graphviz compiled to WASM: one element per state id, the
 * marks carried as classes; and the HTML report embeds it with the timeline, self-contained.
 */
import { describe, expect, it } from 'vitest';
import { createBuildMachine } from '../../machines/build-machine.js';
import { loadConfig } from '../../src/config/load.js';
import { renderDot } from '../../src/inspect/dot.js';
import { machineGraph } from '../../src/inspect/graph.js';
import { markGraph } from '../../src/inspect/marks.js';
import { renderReportHtml } from '../../src/inspect/report-html.js';
import { renderSvg } from '../../src/inspect/svg.js';
import type { StepEvent } from '../../src/inspect/timeline.js';
import type { BuildReport } from '../../src/steps/report.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';

const order = resolveSteps(loadConfig({ profile: 'minimal' }).config).map((s) => s.id);
const machine = createBuildMachine(order);
const graph = machineGraph(machine);

function stateIds(): string[] {
  const out: string[] = [];
  const walk = (n: { id: string; states: Record<string, unknown> }) => {
    out.push(n.id);
    for (const c of Object.values(n.states)) walk(c as typeof n);
  };
  walk(machine.root as unknown as { id: string; states: Record<string, unknown> });
  return out;
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function ledgerAt(current: string): Ledger {
  const ledger: Ledger = {};
  for (const id of order) {
    const i = order.indexOf(id);
    const c = order.indexOf(current);
    ledger[id] = {
      ...emptyLedgerEntry(id),
      status: i < c ? 'done' : i === c ? 'running' : 'pending',
      attempts: i <= c ? 1 : 0,
      durationMs: i < c ? 1500 : null,
    };
  }
  return ledger;
}

describe('SVG', () => {
  it('renders with one element per state id, the current state marked', async () => {
    const ledger = ledgerAt('squashfs');
    const marks = markGraph(graph, {
      order,
      ledger,
      current: 'squashfs',
      stateValue: { pipeline: { squashfs: 'running' } },
      live: true,
    });
    const dot = renderDot(graph, marks, { title: 'minimal · running' });
    const first = await renderSvg(dot);
    const again = await renderSvg(dot);
    console.log(
      `svg: ${first.svg.length} bytes; render ${first.ms.toFixed(0)} ms (first in process), ${again.ms.toFixed(0)} ms (again); Graphviz ${first.graphvizVersion}`,
    );
    const svg = first.svg;
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const ids = stateIds();
    // Graphviz writes - as &#45; in attributes; a browser reads them back as the XState ids
    const drawn = [...svg.matchAll(/<g id="([^"]*)" class="node[ "]/g)].map((m) =>
      m[1]!.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))),
    );
    expect(drawn.sort()).toEqual([...ids].sort());
    expect(count(svg, ' id="')).toBe(count(svg, '<g id="'));
    expect(svg).toMatch(/<g id="build\.pipeline\.squashfs\.running" class="node state atomic active"/);
    expect(svg).toMatch(/<g id="build\.pipeline\.bootstrap" class="node state compound done header"/);
    expect(svg).toContain('done in 1.5 s');
    // nothing fetched from anywhere: no links but the SVG namespaces
    expect(svg.match(/https?:\/\/[^"\s]+/g)!.filter((u) => !u.startsWith('http://www.w3.org/'))).toEqual([]);
    expect(again.svg).toBe(svg);
  });
});

describe('the HTML report', () => {
  it('embeds the final picture and the timeline with attempts, and needs nothing else', async () => {
    const t0 = Date.parse('2026-11-29T12:00:00.000Z');
    const ledger = ledgerAt('report');
    ledger['bootstrap'] = {
      ...ledger['bootstrap']!,
      attempts: 2,
      startedAt: new Date(t0).toISOString(),
      endedAt: new Date(t0 + 5000).toISOString(),
    };
    const events: StepEvent[] = [
      { time: t0, step: 'bootstrap', status: 'running', attempts: 1 },
      { time: t0 + 1000, step: 'bootstrap', status: 'retrying', attempts: 1 },
      { time: t0 + 1500, step: 'bootstrap', status: 'running', attempts: 2 },
      { time: t0 + 4500, step: 'bootstrap', status: 'verifying', attempts: 2 },
      { time: t0 + 5000, step: 'bootstrap', status: 'done', attempts: 2 },
      { time: t0 + 5000, step: 'configure', status: 'running', attempts: 1 },
      { time: t0 + 6000, step: 'configure', status: 'done', attempts: 1 },
    ];
    const report: BuildReport = {
      tool: { name: 'ailinux', version: '1.2.3' },
      profile: 'minimal',
      generatedAt: '2023-11-14T22:13:20.000Z',
      iso: {
        path: 'output/ailinux-minimal-amd64.iso',
        size: 1160,
        sha256: 'ab'.repeat(32),
        volumeLabel: 'AILINUX_MINIMAL',
      },
      steps: order.map((id) => ({
        id,
        status: ledger[id]!.status,
        attempts: ledger[id]!.attempts,
        durationMs: ledger[id]!.durationMs,
        fingerprint: null,
        artifacts: [],
        reason: null,
        resources: null,
      })),
      packages: [{ name: 'bash', version: '5.2' }],
    };
    const html = await renderReportHtml({ report, order, ledger, events, runId: null, now: t0 + 8000 });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    // the compact picture in the page, and each step's sub-states in a template until its node is clicked
    expect(count(html.replace(/<template>[\s\S]*?<\/template>/g, ''), '<svg')).toBe(1);
    expect(count(html, '<template><svg')).toBe(order.length);
    // the final picture: every step done (the report's own too), the build in its succeeded state
    expect(html).toMatch(/<g id="build\.succeeded" class="node state final active"/);
    expect(html).toMatch(/<g id="build\.pipeline\.report" class="node state step done"/);
    expect(html).toMatch(/<g id="detail:build\.pipeline\.report" class="node state compound done header"/);
    expect(html).not.toMatch(/class="node [^"]*\bin-flight\b/);
    expect(html).toContain('class="timeline"');
    // attempt 1 ran for 1 s of the 6 s the run's bars span, and failed
    expect(html).toMatch(/tl-seg tl-run tl-bad" style="left:0\.00%;width:16\.67%"/);
    expect(html).toMatch(/tl-seg tl-backoff/);
    expect(html).toContain('<i>#2</i>');
    expect(html).toContain('done · 1.5 s · 2 attempts');
    expect(html).toContain('AILINUX_MINIMAL');
    // self-contained: styles inline, one inline script (web/expand.js), nothing loaded from elsewhere
    expect(html).toContain('.tl-seg');
    expect(count(html, '<script')).toBe(1);
    expect(html).toContain('<script>\n// Expanding a step of the compact machine picture');
    expect(html).not.toMatch(/<link|src="/);
  });
});
