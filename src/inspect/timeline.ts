/**
 * The timeline of a build run: one row per step, each with its attempts as bars (run, verify,
 * backoff, undo), from the step transitions in logs/build.ndjson; the ledger's start and end
 * times when the log has none. Rendered as static HTML (no script) for the page and the report.
 */
import fs from 'node:fs';
import type { Ledger, LedgerEntry } from '../types.js';
import { escapeHtml, formatMs, truncate } from './format.js';
import { entryInRun, previousNote } from './marks.js';

/** One step transition as the engine logs it: `{ time, runId, step, status, attempts, msg: "step <status>" }`. */
export interface StepEvent {
  time: number;
  step: string;
  status: LedgerEntry['status'];
  attempts: number;
}

export type SegmentKind = 'run' | 'verify' | 'backoff' | 'undo';

export interface TimelineSegment {
  kind: SegmentKind;
  attempt: number;
  start: number;
  /** null while it is still going. */
  end: number | null;
  /** How the segment ended: done, failed, retrying, interrupted... */
  result: string | null;
}

export interface TimelineRow {
  id: string;
  status: LedgerEntry['status'];
  attempts: number;
  durationMs: number | null;
  note: string | null;
  segments: TimelineSegment[];
}

export interface Timeline {
  start: number | null;
  end: number | null;
  rows: TimelineRow[];
}

/** Reads build.ndjson incrementally: each call parses only what was appended since the last. */
export class StepEventReader {
  private offset = 0;
  private rest = '';
  private events: Array<StepEvent & { runId: string }> = [];

  constructor(readonly file: string) {}

  read(runId: string | null): StepEvent[] {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return [];
    }
    if (size < this.offset) {
      this.offset = 0;
      this.rest = '';
      this.events = [];
    }
    if (size > this.offset) {
      const fd = fs.openSync(this.file, 'r');
      try {
        const buf = Buffer.alloc(size - this.offset);
        const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
        this.offset += n;
        const text = this.rest + buf.subarray(0, n).toString('utf8');
        const lines = text.split('\n');
        this.rest = lines.pop() ?? '';
        for (const line of lines) {
          const e = parseStepEvent(line);
          if (e) this.events.push(e);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    return runId === null ? this.events : this.events.filter((e) => e.runId === runId);
  }
}

export function parseStepEvent(line: string): (StepEvent & { runId: string }) | null {
  if (!line.includes('"status"')) return null;
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (
      typeof o['step'] !== 'string' ||
      typeof o['status'] !== 'string' ||
      typeof o['msg'] !== 'string' ||
      !o['msg'].startsWith('step ')
    )
      return null;
    const time =
      typeof o['time'] === 'string' ? Date.parse(o['time']) : typeof o['time'] === 'number' ? o['time'] : NaN;
    if (!Number.isFinite(time)) return null;
    return {
      time,
      runId: String(o['runId'] ?? ''),
      step: o['step'],
      status: o['status'] as StepEvent['status'],
      attempts: Number(o['attempts'] ?? 0),
    };
  } catch {
    return null;
  }
}

const SEGMENT_OF: Partial<Record<LedgerEntry['status'], SegmentKind>> = {
  running: 'run',
  verifying: 'verify',
  retrying: 'backoff',
  recovering: 'undo',
};

/** Segments of one step from its transitions, in time order; an open segment has `end: null`. */
export function segmentsFrom(events: readonly StepEvent[]): TimelineSegment[] {
  const out: TimelineSegment[] = [];
  let open: TimelineSegment | null = null;
  for (const e of events) {
    if (open) {
      open.end = e.time;
      open.result = e.status;
      open = null;
    }
    const kind = SEGMENT_OF[e.status];
    if (kind) {
      open = { kind, attempt: Math.max(1, e.attempts), start: e.time, end: null, result: null };
      out.push(open);
    }
  }
  return out;
}

export interface TimelineInput {
  order: readonly string[];
  ledger: Ledger;
  /** Step transitions of the run to draw (see StepEventReader). */
  events?: readonly StepEvent[];
  /** The run's id: ledger entries from other runs (skipped steps) get no bar. */
  runId?: string | null;
  /** Open segments end here (now, for a live build; the last event for a dead one). */
  now?: number;
  live?: boolean;
}

export function buildTimeline(input: TimelineInput): Timeline {
  const byStep = new Map<string, StepEvent[]>();
  for (const e of input.events ?? []) byStep.set(e.step, [...(byStep.get(e.step) ?? []), e]);
  const rows: TimelineRow[] = input.order.map((id) => {
    const entry = input.ledger[id];
    const seen = entryInRun(entry, input.runId);
    const status = seen.status;
    let segments = segmentsFrom(byStep.get(id) ?? []);
    const thisRun = !input.runId || entry?.runId === input.runId;
    if (segments.length === 0 && entry?.startedAt && thisRun && status !== 'skipped' && status !== 'pending') {
      // no event log: one bar from the ledger's times
      const start = Date.parse(entry.startedAt);
      const end = entry.endedAt ? Date.parse(entry.endedAt) : null;
      segments = [{ kind: 'run', attempt: Math.max(1, entry.attempts), start, end, result: end ? status : null }];
    }
    const note = seen.previous
      ? previousNote(seen.previous)
      : status === 'skipped'
        ? `skipped: ${entry?.reason ?? 'checkpoint reused'}`
        : entry?.error && (status === 'failed' || status === 'interrupted' || status === 'retrying')
          ? entry.error.message
          : null;
    const fresh = seen.previous === null;
    return {
      id,
      status,
      attempts: fresh ? (entry?.attempts ?? 0) : 0,
      durationMs: fresh ? (entry?.durationMs ?? null) : null,
      note,
      segments,
    };
  });
  const times = rows.flatMap((r) => r.segments.flatMap((s) => [s.start, ...(s.end !== null ? [s.end] : [])]));
  const start = times.length > 0 ? Math.min(...times) : null;
  let end = times.length > 0 ? Math.max(...times) : null;
  const hasOpen = rows.some((r) => r.segments.some((s) => s.end === null));
  if (hasOpen && input.now !== undefined && input.live !== false) end = Math.max(end ?? input.now, input.now);
  return { start, end, rows };
}

const SEGMENT_TITLE: Record<SegmentKind, string> = {
  run: 'run',
  verify: 'verify',
  backoff: 'backoff before retry',
  undo: 'undo',
};

/** Static HTML: a Gantt bar per step with its attempts; styled by the page's and report's CSS (classes `tl-*`). */
export function renderTimelineHtml(t: Timeline): string {
  const span = t.start !== null && t.end !== null ? Math.max(1, t.end - t.start) : null;
  const rows = t.rows.map((r) => {
    const bars =
      span === null
        ? ''
        : r.segments
            .map((s) => {
              const end = s.end ?? t.end!;
              const left = ((s.start - t.start!) / span) * 100;
              const width = Math.max(0.4, ((end - s.start) / span) * 100);
              const title = `${r.id}: ${SEGMENT_TITLE[s.kind]}, attempt ${s.attempt}, ${formatMs(end - s.start)}${s.end === null ? ' so far' : ` → ${s.result}`}`;
              const cls = `tl-seg tl-${s.kind}${s.end === null ? ' tl-open' : ''}${s.result === 'failed' || s.result === 'retrying' || s.result === 'recovering' ? ' tl-bad' : ''}`;
              return `<span class="${cls}" style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%" title="${escapeHtml(title)}">${s.kind === 'run' && r.attempts > 1 ? `<i>#${s.attempt}</i>` : ''}</span>`;
            })
            .join('');
    const info = [
      r.status === 'pending' ? '' : r.status,
      r.durationMs !== null && r.status !== 'skipped' ? formatMs(r.durationMs) : '',
      r.attempts > 1 && r.status !== 'skipped' ? `${r.attempts} attempts` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    const note = r.note ? `<div class="tl-note">${escapeHtml(truncate(r.note, 120))}</div>` : '';
    return `<div class="tl-row tl-status-${r.status}" data-step="${escapeHtml(r.id)}"><div class="tl-name">${escapeHtml(r.id)}</div><div class="tl-track">${bars}</div><div class="tl-info">${escapeHtml(info)}</div>${note}</div>`;
  });
  const axis =
    span === null
      ? '<div class="tl-axis">no step has run in this build yet</div>'
      : `<div class="tl-axis"><span>0 s</span><span>${escapeHtml(formatMs(span))}</span></div>`;
  return `<div class="timeline">${rows.join('')}${axis}</div>`;
}

/** A compact text Gantt for the terminal: `bootstrap  [####......]`. */
export function renderTimelineText(t: Timeline, width = 30): string[] {
  if (t.start === null || t.end === null) return [];
  const span = Math.max(1, t.end - t.start);
  const nameWidth = Math.max(...t.rows.map((r) => r.id.length), 4);
  return t.rows.map((r) => {
    const cells = Array.from({ length: width }, () => '·');
    for (const s of r.segments) {
      const a = Math.floor(((s.start - t.start!) / span) * width);
      const b = Math.max(a + 1, Math.ceil((((s.end ?? t.end!) - t.start!) / span) * width));
      const ch = s.kind === 'backoff' ? '~' : s.kind === 'undo' ? 'x' : s.kind === 'verify' ? '=' : '#';
      for (let i = a; i < Math.min(b, width); i++) cells[i] = ch;
    }
    return `${r.id.padEnd(nameWidth)} [${cells.join('')}]`;
  });
}
