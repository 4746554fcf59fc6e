/**
 * The compact picture `ailinux inspect` draws by default (one node per step, then cleanup and the
 * final states) and the whole machine `--detail` draws, for both built-in profiles, rendered by the
 * real Graphviz (WASM): node counts, status colours, the duration and attempts text, and the retry
 * and recover boxes on the same side in every step.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { compactFill } from '../../src/inspect/compact.js';
import { renderMermaid } from '../../src/inspect/mermaid.js';
import { buildModel, modelFromOrder, pictureDot, stepDetailDots } from '../../src/inspect/model.js';
import { renderModel } from '../../src/inspect/render.js';
import { renderSvg } from '../../src/inspect/svg.js';
import { resolveSteps } from '../../src/steps/registry.js';
import type { Ledger, LedgerEntry } from '../../src/types.js';

function profileOrder(profile: string): string[] {
  const loaded = loadConfig({ configFile: null, profile, cwd: '/nonexistent' });
  return resolveSteps(loaded.config).map((s) => s.id);
}

/** The `g.node` elements of an SVG: id, class and text. */
function svgNodes(svg: string): Array<{ id: string; cls: string; text: string; x: number }> {
  const out: Array<{ id: string; cls: string; text: string; x: number }> = [];
  for (const m of svg.matchAll(/<g id="([^"]+)" class="node ([^"]*)">([\s\S]*?)<\/g>/g)) {
    const texts = [...m[3]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]);
    const x = Number(/<text[^>]*x="([-\d.]+)"/.exec(m[3]!)?.[1] ?? Number.NaN);
    out.push({
      id: m[1]!.replace(/&#45;/g, '-'),
      cls: m[2]!.replace(/&#45;/g, '-'),
      text: texts.join(' ').replace(/&#45;/g, '-'),
      x,
    });
  }
  return out;
}

function entry(status: LedgerEntry['status'], more: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    status,
    attempts: status === 'pending' || status === 'skipped' ? 0 : 1,
    startedAt: null,
    endedAt: null,
    durationMs: null,
    reason: null,
    error: null,
    ...more,
  } as LedgerEntry;
}

describe('the compact picture (inspect without --detail)', () => {
  for (const profile of ['minimal', 'ailinux']) {
    it(`${profile}: one node per step, then cleanup and the final states; --detail draws every state`, async () => {
      const order = profileOrder(profile);
      const model = modelFromOrder(profile, order);
      const compact = svgNodes((await renderSvg(pictureDot(model))).svg);
      // 11 steps for minimal, 15 for ailinux; + cleanup + succeeded, failed, interrupted, paused
      expect(compact.map((n) => n.id)).toEqual([
        ...order.map((s) => `build.pipeline.${s}`),
        'build.cleanup',
        'build.succeeded',
        'build.failed',
        'build.interrupted',
        'build.paused',
      ]);
      expect(compact).toHaveLength(order.length + 1 + 4);
      for (const n of compact.slice(0, order.length)) expect(n.cls).toMatch(/^state step pending\b/);
      const detail = svgNodes((await renderSvg(pictureDot(model, true))).svg);
      // the whole machine, as before: every state of the machine is one node
      expect(detail).toHaveLength(model.graph.nodes.length);
      expect(detail.length).toBe(profile === 'minimal' ? 118 : 158);
      console.log(
        `inspect ${profile}: ${compact.length} nodes by default (${order.length} steps), ${detail.length} with --detail`,
      );
    });
  }

  it('colours each step by its status, and writes its duration and attempts', async () => {
    const order = ['bootstrap', 'configure', 'packages', 'identity', 'squashfs', 'iso'];
    const ledger: Ledger = {
      bootstrap: entry('done', { attempts: 2, durationMs: 43_500 }),
      configure: entry('skipped', { reason: 'checkpoint reused' }),
      packages: entry('done', { durationMs: 106_600 }),
      identity: entry('failed', {
        attempts: 3,
        durationMs: 2_000,
        error: { message: 'hostnamectl: no such file', code: 'ERROR' } as LedgerEntry['error'],
      }),
      squashfs: entry('running', { startedAt: '2026-12-07T13:00:05.000Z' }),
    };
    const model = buildModel('t', {
      order,
      ledger,
      current: 'squashfs',
      stateValue: { pipeline: { squashfs: 'running' } },
      outcome: 'running',
      live: true,
    });
    const dot = pictureDot(model);
    const fill = (id: string) => new RegExp(`"build\\.pipeline\\.${id}" \\[[^\\n]*fillcolor="([^"]+)"`).exec(dot)?.[1];
    expect(fill('bootstrap')).toBe('#d3f9d8'); // done: green
    expect(fill('configure')).toBe('#e9ecef'); // skipped: grey
    expect(fill('identity')).toBe('#ffd8d8'); // failed: red
    expect(fill('squashfs')).toBe('#ffe08a'); // current: yellow
    expect(fill('iso')).toBe('#ffffff'); // pending: white
    expect(new Set(['bootstrap', 'configure', 'identity', 'squashfs', 'iso'].map(fill)).size).toBe(5);
    expect(fill('bootstrap')).toBe(compactFill(model.compactMarks.get('build.pipeline.bootstrap')));

    const nodes = new Map(svgNodes((await renderSvg(dot)).svg).map((n) => [n.id, n]));
    expect(nodes.get('build.pipeline.bootstrap')!.text).toBe('bootstrap done · 43.5 s · 2 attempts');
    expect(nodes.get('build.pipeline.bootstrap')!.cls).toBe('state step done retried');
    expect(nodes.get('build.pipeline.configure')!.text).toBe('configure skipped · checkpoint reused');
    expect(nodes.get('build.pipeline.packages')!.text).toBe('packages done · 1 min 47 s · 1 attempt');
    expect(nodes.get('build.pipeline.identity')!.text).toBe(
      'identity failed · 2.0 s · 3 attempts error: hostnamectl: no such file',
    );
    expect(nodes.get('build.pipeline.squashfs')!.text).toBe('squashfs now: running · since 13:00:05 · 1 attempt');
    expect(nodes.get('build.pipeline.squashfs')!.cls).toBe('state step active in-flight');
    expect(nodes.get('build.pipeline.iso')!.text).toBe('iso pending');

    // the step's sub-states, drawn for the pages' click, under their own ids
    const sub = svgNodes((await renderSvg(stepDetailDots(model).get('build.pipeline.squashfs')!)).svg);
    expect(sub.map((n) => n.id)).toContain('detail:build.pipeline.squashfs.running');
    expect(sub.find((n) => n.id === 'detail:build.pipeline.squashfs.running')!.cls).toContain('active');
    expect(sub).toHaveLength(10);
  });

  it('mermaid and dot follow --detail too', async () => {
    const order = profileOrder('minimal');
    const model = modelFromOrder('minimal', order);
    const mermaid = await renderModel('mermaid', model);
    expect(mermaid).toBe(renderMermaid(model.compact.graph, model.compactMarks));
    expect(mermaid.match(/^ {4}state "/gm)).toHaveLength(order.length + 5);
    expect(mermaid).toContain('[*] --> s_build_pipeline_bootstrap');
    expect((await renderModel('mermaid', model, true)).match(/ state "/g)).toHaveLength(model.graph.nodes.length);
    expect(await renderModel('dot', model, true)).toBe(pictureDot(model, true));
  });
});

describe('the whole machine (--detail)', () => {
  for (const profile of ['minimal', 'ailinux']) {
    it(`${profile}: the retry and recover boxes are on the same side in every step`, async () => {
      const order = profileOrder(profile);
      const model = modelFromOrder(profile, order);
      const nodes = new Map(svgNodes((await renderSvg(pictureDot(model, true))).svg).map((n) => [n.id, n]));
      const sides = order.map((s) => {
        const x = (k: string) => nodes.get(`build.pipeline.${s}.${k}`)!.x;
        return [x('retrying') < x('recovering'), x('skipped') < x('running')];
      });
      expect(sides).toEqual(order.map(() => [true, true]));
    });
  }
});
