/** The timeline (a bar per attempt, from the event log or the ledger), the log tail and the event reader. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { logStepOf, tailFile } from '../../src/inspect/figures.js';
import {
  buildTimeline,
  renderTimelineHtml,
  renderTimelineText,
  segmentsFrom,
  StepEventReader,
  type StepEvent,
} from '../../src/inspect/timeline.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-inspect-tl-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const T = Date.parse('2026-11-29T12:00:00.000Z');
const ev = (ms: number, step: string, status: StepEvent['status'], attempts: number): StepEvent => ({
  time: T + ms,
  step,
  status,
  attempts,
});

describe('segments from step transitions', () => {
  it('a retried step: failed run, backoff, run, verify', () => {
    const segments = segmentsFrom([
      ev(0, 'a', 'running', 1),
      ev(1000, 'a', 'retrying', 1),
      ev(1500, 'a', 'running', 2),
      ev(4000, 'a', 'verifying', 2),
      ev(4500, 'a', 'done', 2),
    ]);
    expect(segments.map((s) => [s.kind, s.attempt, s.start - T, s.end! - T, s.result])).toEqual([
      ['run', 1, 0, 1000, 'retrying'],
      ['backoff', 1, 1000, 1500, 'running'],
      ['run', 2, 1500, 4000, 'verifying'],
      ['verify', 2, 4000, 4500, 'done'],
    ]);
  });

  it('a failed step ends with its undo; a running one stays open', () => {
    expect(
      segmentsFrom([ev(0, 'a', 'running', 1), ev(100, 'a', 'recovering', 1), ev(300, 'a', 'failed', 1)]).map((s) => [
        s.kind,
        s.result,
      ]),
    ).toEqual([
      ['run', 'recovering'],
      ['undo', 'failed'],
    ]);
    const open = segmentsFrom([ev(0, 'a', 'pending', 0), ev(10, 'a', 'running', 1)]);
    expect(open).toHaveLength(1);
    expect(open[0]!.end).toBeNull();
  });
});

describe('buildTimeline', () => {
  const order = ['a', 'b', 'c', 'd'];
  const ledger: Ledger = {
    a: {
      ...emptyLedgerEntry('a'),
      status: 'done',
      attempts: 2,
      runId: 'r1',
      durationMs: 4500,
      startedAt: new Date(T).toISOString(),
      endedAt: new Date(T + 4500).toISOString(),
    },
    b: {
      ...emptyLedgerEntry('b'),
      status: 'skipped',
      attempts: 1,
      runId: 'r0',
      reason: 'unchanged since run r0',
      startedAt: new Date(T - 99_000).toISOString(),
      endedAt: new Date(T - 98_000).toISOString(),
    },
    c: {
      ...emptyLedgerEntry('c'),
      status: 'running',
      attempts: 1,
      runId: 'r1',
      startedAt: new Date(T + 5000).toISOString(),
    },
    d: emptyLedgerEntry('d'),
  };

  it('uses the events when there are some, the ledger otherwise; skipped steps of another run get no bar', () => {
    const events = [
      ev(0, 'a', 'running', 1),
      ev(1000, 'a', 'retrying', 1),
      ev(1500, 'a', 'running', 2),
      ev(4500, 'a', 'done', 2),
    ];
    const t = buildTimeline({ order, ledger, events, runId: 'r1', now: T + 8000, live: true });
    expect(t.start).toBe(T);
    expect(t.end).toBe(T + 8000); // the running step's bar reaches now
    expect(t.rows.map((r) => [r.id, r.segments.length])).toEqual([
      ['a', 3],
      ['b', 0],
      ['c', 1],
      ['d', 0],
    ]);
    expect(t.rows[1]!.note).toBe('skipped: unchanged since run r0');
    expect(t.rows[2]!.segments[0]).toMatchObject({ kind: 'run', start: T + 5000, end: null });

    const html = renderTimelineHtml(t);
    expect(html.match(/class="tl-row /g)).toHaveLength(4);
    expect(html).toContain('<i>#2</i>');
    expect(html).toContain('done · 4.5 s · 2 attempts');
    expect(html).toMatch(/tl-seg tl-run tl-open" style="left:62\.50%;width:37\.50%"/);
    expect(html).toContain('skipped: unchanged since run r0');

    const text = renderTimelineText(t, 16);
    expect(text).toEqual([
      'a    [##~######·······]',
      'b    [················]',
      'c    [··········######]',
      'd    [················]',
    ]);
  });

  it('a step an earlier run finished, not reached by this run yet, is pending here', () => {
    const later: Ledger = {
      ...ledger,
      d: {
        ...emptyLedgerEntry('d'),
        status: 'done',
        attempts: 1,
        runId: 'r0',
        durationMs: 3200,
        startedAt: new Date(T - 50_000).toISOString(),
        endedAt: new Date(T - 46_800).toISOString(),
      },
    };
    const t = buildTimeline({ order, ledger: later, events: [], runId: 'r1', now: T + 8000, live: true });
    expect(t.rows[3]).toMatchObject({
      id: 'd',
      status: 'pending',
      segments: [],
      durationMs: null,
      note: 'last run: done in 3.2 s',
    });
    expect(renderTimelineHtml(t)).not.toContain('done · 3.2 s');
  });

  it('a dead build: open bars end at the last thing that happened', () => {
    const t = buildTimeline({ order, ledger, events: [], runId: 'r1', now: T + 60_000, live: false });
    expect(t.end).toBe(T + 5000);
  });

  it('nothing has run: no bars, a note instead of an axis', () => {
    const t = buildTimeline({ order, ledger: {} });
    expect(t.start).toBeNull();
    expect(renderTimelineHtml(t)).toContain('no step has run in this build yet');
    expect(renderTimelineText(t)).toEqual([]);
  });
});

describe('StepEventReader', () => {
  it('reads build.ndjson incrementally, by run, and starts over when the file is replaced', () => {
    const file = path.join(tmp, 'build.ndjson');
    const line = (runId: string, step: string, status: string, attempts: number, ms: number) =>
      `${JSON.stringify({ level: 30, time: new Date(T + ms).toISOString(), runId, step, status, attempts, msg: `step ${status}` })}\n`;
    fs.writeFileSync(
      file,
      `${line('r0', 'a', 'running', 1, 0)}${JSON.stringify({ level: 30, runId: 'r1', msg: 'build started' })}\n${line('r1', 'a', 'running', 1, 10)}`,
    );
    const reader = new StepEventReader(file);
    expect(reader.read('r1')).toHaveLength(1);
    expect(reader.read(null)).toHaveLength(2);
    // half a line is kept until its end arrives
    const next = line('r1', 'a', 'done', 1, 20);
    fs.appendFileSync(file, next.slice(0, 30));
    expect(reader.read('r1')).toHaveLength(1);
    fs.appendFileSync(file, `${next.slice(30)}{"not json\n`);
    expect(reader.read('r1').map((e) => e.status)).toEqual(['running', 'done']);
    fs.writeFileSync(file, line('r2', 'b', 'running', 1, 0));
    expect(reader.read(null).map((e) => e.step)).toEqual(['b']);
    expect(new StepEventReader(path.join(tmp, 'missing.ndjson')).read(null)).toEqual([]);
  });
});

describe('log tail', () => {
  it('returns the last lines, reading only the end of a big file', () => {
    const file = path.join(tmp, 'step.log');
    fs.writeFileSync(file, `${Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n')}\n`);
    const t = tailFile(file, 3)!;
    expect(t.lines).toEqual(['line 19997', 'line 19998', 'line 19999']);
    expect(t.size).toBe(fs.statSync(file).size);
    expect(tailFile(path.join(tmp, 'nope.log'))).toBeNull();
  });

  it('follows the current step, else the failed one, else the last that ran', () => {
    const order = ['a', 'b', 'c'];
    const ledger: Ledger = {
      a: { ...emptyLedgerEntry('a'), status: 'done', startedAt: new Date(T).toISOString() },
      b: { ...emptyLedgerEntry('b'), status: 'done', startedAt: new Date(T + 10).toISOString() },
      c: emptyLedgerEntry('c'),
    };
    expect(logStepOf(order, ledger, 'c')).toBe('c');
    expect(logStepOf(order, ledger, null)).toBe('b');
    expect(logStepOf(order, { ...ledger, a: { ...ledger['a']!, status: 'failed' } }, null)).toBe('a');
    expect(logStepOf(order, {}, null)).toBeNull();
  });
});
