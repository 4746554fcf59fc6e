/**
 * Static HTML: the steps table, the legend, and a self-contained document (picture, timeline,
 * steps, log tail) for `ailinux inspect --format html` and the build's HTML report. The CSS is
 * the live page's own web/style.css, inlined, so the three look the same; so is web/expand.js,
 * the one script, which expands a step of the compact picture on click.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../runtime/package-root.js';
import { renderHintCommand, renderHintText, type UserFlags } from '../runtime/hint-command.js';
import type { Ledger } from '../types.js';
import { escapeHtml, formatMs, truncate } from './format.js';
import type { LogTail } from './figures.js';
import { entryInRun, previousNote } from './marks.js';

export function webDir(): string {
  return path.join(packageRoot(), 'web');
}

let cssCache: string | null = null;
export function pageCss(): string {
  if (cssCache === null) {
    try {
      cssCache = fs.readFileSync(path.join(webDir(), 'style.css'), 'utf8');
    } catch {
      cssCache = '';
    }
  }
  return cssCache;
}

let expandCache: string | null = null;
/** web/expand.js, which the documents inline: a click on a step's node expands its sub-states. */
export function expandJs(): string {
  if (expandCache === null) {
    try {
      expandCache = fs.readFileSync(path.join(webDir(), 'expand.js'), 'utf8');
    } catch {
      expandCache = '';
    }
  }
  return expandCache;
}

/**
 * Each step's sub-state picture, as a <details> per step holding it in a <template>: web/expand.js
 * opens one beside its node when the node is clicked and only then puts the picture in the page.
 */
export function stepDetailsHtml(stepSvgs: Record<string, string> | null | undefined): string {
  if (!stepSvgs || Object.keys(stepSvgs).length === 0) return '';
  const items = Object.entries(stepSvgs).map(([id, svg]) => {
    const key = id.slice(id.lastIndexOf('.') + 1);
    return `<details class="step-detail" id="detail:${escapeHtml(id)}" data-step="${escapeHtml(id)}"><summary>${escapeHtml(key)}: its states</summary><template>${svg}</template></details>`;
  });
  return `<div class="step-details">${items.join('')}</div>`;
}

export interface StepRowInput {
  order: readonly string[];
  ledger: Ledger;
  current?: string | null;
  /** The run shown: entries earlier runs left on steps it has not reached are shown pending. */
  runId?: string | null;
  /** Per-step resource peaks, when the state has them. */
  resources?: Record<string, { minDiskFreeMb: number; peakMemUsedMb: number; peakLoad1: number }> | undefined;
  /** The flags the user typed for the build (its state's userFlags), which a failed step's fix and run lines carry. */
  flags?: UserFlags | undefined;
}

export function renderStepsTableHtml(input: StepRowInput): string {
  const hasResources = input.resources !== undefined && Object.keys(input.resources).length > 0;
  const rows = input.order.map((id) => {
    const seen = entryInRun(input.ledger[id], input.runId);
    const e = seen.previous ? undefined : input.ledger[id];
    const status = seen.status;
    const note = seen.previous
      ? previousNote(seen.previous)
      : e?.error && status !== 'done' && status !== 'skipped'
        ? `${e.error.message}${e.error.command ? ` — ${e.error.command}` : ''}`
        : status === 'skipped'
          ? (e?.reason ?? '')
          : '';
    const r = input.resources?.[id];
    const res = hasResources
      ? `<td class="num">${r ? `${r.peakMemUsedMb} MiB` : ''}</td><td class="num">${r ? `${r.minDiskFreeMb} MiB` : ''}</td>`
      : '';
    const cur = input.current === id ? ' current' : '';
    // what to type, whole (a cut command is worse than none), with the flags the build was started with
    const fix =
      !seen.previous && e?.error && status !== 'done' && status !== 'skipped'
        ? `${e.error.hint ? `<div class="fix">fix: ${escapeHtml(renderHintText(e.error.hint, input.flags))}</div>` : ''}${e.error.hintArgv ? `<div class="fix">run: <code>${escapeHtml(renderHintCommand(e.error.hintArgv, input.flags))}</code></div>` : ''}`
        : '';
    return `<tr class="st-${escapeHtml(status)}${cur}"><td>${escapeHtml(id)}</td><td><span class="badge st-${escapeHtml(status)}">${escapeHtml(status)}</span></td><td class="num">${escapeHtml(status === 'skipped' ? '-' : formatMs(e?.durationMs ?? null))}</td><td class="num">${e?.attempts ?? 0}</td>${res}<td class="note">${escapeHtml(truncate(note, 200))}${fix}</td></tr>`;
  });
  const resHead = hasResources ? '<th class="num">peak mem</th><th class="num">min free disk</th>' : '';
  return `<table class="steps"><thead><tr><th>step</th><th>status</th><th class="num">duration</th><th class="num">attempts</th>${resHead}<th>note</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export const LEGEND_HTML = `<ul class="legend">${[
  ['active', 'current state'],
  ['done', 'done (duration)'],
  ['skipped', 'skipped (reason)'],
  ['failed', 'failed (error)'],
  ['retried', 'retried (attempts)'],
  ['interrupted', 'interrupted'],
  ['stale', 'where a dead build stopped'],
]
  .map(([cls, text]) => `<li><span class="swatch sw-${cls}"></span>${text}</li>`)
  .join('')}</ul>`;

export interface DocumentInput {
  title: string;
  /** Lines under the title: outcome, work dir, times. */
  meta: Array<[string, string]>;
  outcome?: string | null;
  svg: string;
  /** Each step's sub-states as SVG, by the step's node id: a click on the step's node shows them. */
  stepSvgs?: Record<string, string> | null;
  timelineHtml: string;
  stepsHtml: string;
  logTail?: LogTail | null;
  /** Extra sections (already HTML), appended in order. */
  sections?: Array<{ title: string; html: string }>;
  generator: string;
}

export function renderDocument(d: DocumentInput): string {
  const meta = d.meta.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  const outcome = d.outcome
    ? ` <span class="badge outcome-${escapeHtml(d.outcome)}">${escapeHtml(d.outcome)}</span>`
    : '';
  const log = d.logTail
    ? `<section class="panel"><h2>Log of ${escapeHtml(d.logTail.step)} (last ${d.logTail.lines.length} lines)</h2><pre class="log">${escapeHtml(d.logTail.lines.join('\n'))}</pre></section>`
    : '';
  const extra = (d.sections ?? [])
    .map((s) => `<section class="panel"><h2>${escapeHtml(s.title)}</h2>${s.html}</section>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${escapeHtml(d.generator)}">
<title>${escapeHtml(d.title)}</title>
<style>
${pageCss()}
</style>
</head>
<body class="document">
<header class="top"><h1>${escapeHtml(d.title)}${outcome}</h1><dl class="meta">${meta}</dl></header>
<main class="document-main">
<section class="panel"><h2>Timeline</h2>${d.timelineHtml}</section>
<section class="panel"><h2>Steps</h2>${d.stepsHtml}</section>
${log}${extra}
<section class="panel picture-panel"><h2>Machine</h2>${LEGEND_HTML}${d.stepSvgs ? '<p class="hint">Click a step (or Tab to it and press Enter) to show its states; again to hide them.</p>' : ''}<div class="picture expandable">${d.svg}${stepDetailsHtml(d.stepSvgs)}</div></section>
</main>
${d.stepSvgs ? `<script>\n${expandJs().replace(/<\/script/gi, '<\\/script')}</script>\n` : ''}</body>
</html>
`;
}
