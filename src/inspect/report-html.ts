/**
 * The build's HTML report (`<outputName>.report.html`): the final machine picture (inline SVG, compact, a step's sub-states shown on click),
 * the timeline, the steps and the ISO, in one file that needs nothing else to be read. The report
 * step calls this through the renderHtml the engine composes it with (src/engine/steps.ts).
 */
import type { BuildReport } from '../steps/report.js';
import { isInFlight, type Ledger } from '../types.js';
import { escapeHtml, formatBytes } from './format.js';
import { nodeIndex } from './graph.js';
import { renderDocument, renderStepsTableHtml } from './html.js';
import { renderPicture } from './collect.js';
import { buildModel, graphFor } from './model.js';
import { generator } from './render.js';
import { buildTimeline, renderTimelineHtml, StepEventReader, type StepEvent } from './timeline.js';

export interface ReportHtmlInput {
  report: BuildReport;
  order: readonly string[];
  ledger: Ledger;
  /** The run's step transitions, for attempts on the timeline; read from `buildLog` when not given. */
  events?: readonly StepEvent[];
  /** logs/build.ndjson of the work dir. */
  buildLog?: string;
  runId?: string | null;
  now?: number;
  /** The PNG of each of the report's screenshots, by its path: they are put into the page. */
  screenshots?: ReadonlyMap<string, Buffer>;
}

const SCREEN_CAPTION: Record<string, string> = {
  menu: 'boot menu',
  desktop: 'end of the boot',
  welcome: "Calamares' welcome page",
  timeout: 'when the boot timed out',
};
const FIRMWARE_CAPTION: Record<string, string> = { bios: 'BIOS', uefi: 'UEFI' };

/** The boots' screenshots as figures, the images inline (data: URIs). */
export function renderScreenshotsHtml(report: BuildReport, pngs: ReadonlyMap<string, Buffer> | undefined): string {
  const figures = (report.screenshots ?? []).flatMap((s) => {
    const png = pngs?.get(s.path);
    if (!png) return [];
    const boot = s.boot === 'installer' ? 'Installer check:' : (FIRMWARE_CAPTION[s.firmware] ?? s.firmware);
    const caption = `${boot} ${SCREEN_CAPTION[s.stage] ?? s.stage}, ${(s.atMs / 1000).toFixed(0)} s after qemu started`;
    return [
      `<figure style="display:inline-block;margin:0 1em 1em 0;vertical-align:top"><img src="data:image/png;base64,${png.toString('base64')}" alt="${escapeHtml(caption)}" style="max-width:640px;width:100%;border:1px solid #888"><figcaption>${escapeHtml(caption)}<br><span class="mono">${escapeHtml(s.path)}</span></figcaption></figure>`,
    ];
  });
  return figures.join('\n');
}

/**
 * The ledger as it stands once the report is written: the step writing it (the only one still in
 * flight) is drawn done, the outcome the build reaches when the report verifies.
 */
export function finalLedger(ledger: Ledger, now: number): Ledger {
  const out: Ledger = {};
  for (const [id, e] of Object.entries(ledger)) {
    out[id] = isInFlight(e.status)
      ? {
          ...e,
          status: 'done',
          endedAt: new Date(now).toISOString(),
          durationMs: e.startedAt ? Math.max(0, now - Date.parse(e.startedAt)) : e.durationMs,
        }
      : e;
  }
  return out;
}

export async function renderReportHtml(input: ReportHtmlInput): Promise<string> {
  const now = input.now ?? Date.now();
  const ledger = finalLedger(input.ledger, now);
  const graph = graphFor(input.order);
  // the machine's top-level final state named like the outcome is where this build ends
  const root = nodeIndex(graph).get(graph.rootId)!;
  const end = root.children.find((c) => c === `${graph.rootId}.succeeded`);
  const model = buildModel(`${input.report.profile} · succeeded`, {
    order: input.order,
    ledger,
    current: null,
    stateValue: end ? end.slice(graph.rootId.length + 1) : null,
    outcome: 'succeeded',
    live: true,
    flags: input.report.userFlags,
  });
  let svg: string;
  let stepSvgs: Record<string, string> | null = null;
  try {
    // the compact picture; a click on a step shows its sub-states (web/expand.js, inlined)
    const picture = await renderPicture(model);
    svg = picture.svg;
    stepSvgs = picture.steps;
  } catch (error) {
    // the picture is a view of the build, not part of it: a report without it beats a failed build
    svg = `<p class="error">the machine picture could not be drawn: ${escapeHtml((error as Error).message)}</p>`;
  }
  const events = input.events ?? (input.buildLog ? new StepEventReader(input.buildLog).read(input.runId ?? null) : []);
  const timeline = buildTimeline({ order: input.order, ledger, events, runId: input.runId ?? null, now, live: true });
  const r = input.report;
  const iso = `<table class="steps"><tbody>
<tr><td>ISO</td><td class="mono">${escapeHtml(r.iso.path)}</td></tr>
<tr><td>size</td><td>${escapeHtml(r.iso.size === null ? '?' : `${formatBytes(r.iso.size)} (${r.iso.size} bytes)`)}</td></tr>
<tr><td>sha256</td><td class="mono">${escapeHtml(r.iso.sha256 ?? '?')}</td></tr>
<tr><td>volume label</td><td class="mono">${escapeHtml(r.iso.volumeLabel)}</td></tr>
</tbody></table>`;
  const packages =
    r.packages.length === 0
      ? '<p>no package manifest</p>'
      : `<details><summary>${r.packages.length} packages</summary><pre class="log">${escapeHtml(r.packages.map((p) => `${p.name} ${p.version}`).join('\n'))}</pre></details>`;
  const screens = renderScreenshotsHtml(r, input.screenshots);
  const archive = (r.archive ?? [])
    .map(
      (a) =>
        `<tr><td class="mono">${escapeHtml(a.suite)}</td><td>${escapeHtml(a.date ?? 'unknown date')}</td><td class="mono">${escapeHtml(`${a.file} sha256:${a.sha256 ?? '?'}`)}</td><td class="mono">${escapeHtml(a.uri)}</td><td>${escapeHtml(a.steps.join(', '))}</td></tr>`,
    )
    .join('\n');
  const resources = Object.fromEntries(r.steps.filter((s) => s.resources).map((s) => [s.id, s.resources!]));
  return renderDocument({
    title: `AILinux build report: ${r.profile}`,
    outcome: 'succeeded',
    meta: [
      ['tool', `${r.tool.name} ${r.tool.version}`],
      ['generated', r.generatedAt],
      ['ISO', r.iso.path],
    ],
    svg,
    stepSvgs,
    timelineHtml: renderTimelineHtml(timeline),
    stepsHtml: renderStepsTableHtml({ order: input.order, ledger, resources, flags: input.report.userFlags }),
    sections: [
      { title: 'Image', html: iso },
      ...(screens ? [{ title: 'Screens (qemu boot check)', html: screens }] : []),
      { title: 'Packages', html: packages },
      ...(archive
        ? [
            {
              title: 'Archive state',
              html: `<table class="steps"><thead><tr><th>suite</th><th>Release of</th><th>file</th><th>archive</th><th>steps</th></tr></thead><tbody>\n${archive}\n</tbody></table>`,
            },
          ]
        : []),
    ],
    generator: generator(),
  });
}
