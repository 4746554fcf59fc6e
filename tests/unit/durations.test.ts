/** Expected times (issue 11, point 6): the estimator, the samples a build records, the file, and the formats. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { liveTime } from '../../src/cli/progress-live.js';
import {
  completedRuns,
  type DurationSample,
  type DurationsFile,
  emptyDurations,
  estimateRemaining,
  expectedMs,
  expectedTimes,
  formatClock,
  KEEP_PER_STEP,
  median,
  parseDurations,
  readDurations,
  recordDuration,
  withSample,
} from '../../state/durations.js';
import { emptyLedgerEntry, type Ledger, type LedgerEntry } from '../../src/types.js';

const here = { profile: 'ailinux', host: 'builder' };
let n = 0;
const sample = (ms: number, over: Partial<DurationSample> = {}): DurationSample => ({
  ms,
  at: '2026-12-07T10:00:00.000Z',
  profile: 'ailinux',
  host: 'builder',
  runId: `run-${++n}`,
  fingerprint: 'f1',
  ...over,
});
const history = (id: string, samples: DurationSample[]): DurationsFile =>
  samples.reduce((d, s) => withSample(d, id, s), emptyDurations());

describe('median', () => {
  it('is the middle value, the mean of the two middle ones for an even count, null for none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNull();
  });
});

describe('expectedMs', () => {
  it('is the median of the latest five runs of the step, so one slow run does not move it', () => {
    const d = history('desktop', [
      sample(999_000),
      sample(140_000),
      sample(130_000),
      sample(600_000),
      sample(150_000),
      sample(145_000),
    ]);
    // the oldest (999 s) is past the five; of 140, 130, 600, 150, 145 the median is 145
    expect(expectedMs(d, 'desktop', here)).toBe(145_000);
  });

  it('is null with no history, and for a step that has none', () => {
    expect(expectedMs(emptyDurations(), 'desktop', here)).toBeNull();
    expect(expectedMs(history('packages', [sample(10_000)]), 'desktop', here)).toBeNull();
    expect(expectedTimes(history('packages', [sample(10_000)]), ['packages', 'desktop'], here)).toEqual({
      packages: 10_000,
    });
  });

  it('counts only runs of the same profile on the same host', () => {
    const d = history('desktop', [
      sample(10_000, { host: 'fast-box' }),
      sample(20_000, { profile: 'minimal' }),
      sample(140_000),
    ]);
    expect(expectedMs(d, 'desktop', here)).toBe(140_000);
    expect(expectedMs(d, 'desktop', { profile: 'ailinux', host: 'fast-box' })).toBe(10_000);
    expect(expectedMs(d, 'desktop', { profile: 'ailinux', host: 'elsewhere' })).toBeNull();
  });

  it('keeps a changed step its expected time: a new fingerprint is what a rerun has, and its runs still count', () => {
    const d = history('desktop', [sample(140_000, { fingerprint: 'old' }), sample(160_000, { fingerprint: 'new' })]);
    expect(expectedMs(d, 'desktop', here)).toBe(150_000);
  });
});

describe('completedRuns: what a build records after a transition', () => {
  const entry = (id: string, over: Partial<LedgerEntry>): LedgerEntry => ({ ...emptyLedgerEntry(id), ...over });

  it('a step that ended done in this run, with its duration and fingerprint', () => {
    const before: Ledger = { desktop: entry('desktop', { status: 'running', runId: 'r2' }) };
    const after: Ledger = {
      desktop: entry('desktop', { status: 'done', durationMs: 140_000, fingerprint: 'abc', runId: 'r2' }),
    };
    expect(completedRuns(before, after)).toEqual([{ id: 'desktop', ms: 140_000, fingerprint: 'abc' }]);
    // the next transition sees it done already: it is not recorded twice
    expect(completedRuns(after, after)).toEqual([]);
  });

  it('nothing for a step that failed, was interrupted, is retrying or was skipped', () => {
    const before: Ledger = { a: entry('a', { status: 'running' }) };
    for (const status of ['failed', 'interrupted', 'retrying', 'skipped'] as const)
      expect(completedRuns(before, { a: entry('a', { status, durationMs: 5_000 }) })).toEqual([]);
  });

  it('nothing for a done step carried over from an earlier run (a resume)', () => {
    const old = entry('a', { status: 'done', durationMs: 5_000, runId: 'r1' });
    expect(completedRuns({ a: old }, { a: old, b: entry('b', { status: 'running', runId: 'r2' }) })).toEqual([]);
  });
});

describe('the file', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-durations-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('is missing, torn or foreign: no history', () => {
    const file = path.join(tmp, 'durations.json');
    expect(readDurations(file)).toEqual(emptyDurations());
    fs.writeFileSync(file, '{"version": 1, "steps": {"a": [{"ms": 5');
    expect(readDurations(file)).toEqual(emptyDurations());
    expect(parseDurations({ version: 2, steps: { a: [sample(5)] } })).toEqual(emptyDurations());
    // a malformed sample is dropped, the good one kept
    expect(parseDurations({ version: 1, steps: { a: [{ ms: -1 }, sample(5, { runId: 'ok' })] } }).steps['a']).toEqual([
      sample(5, { runId: 'ok' }),
    ]);
  });

  it('recordDuration appends, keeps the latest KEEP_PER_STEP per step, and leaves no temp file', () => {
    const file = path.join(tmp, 'rec.json');
    for (let i = 0; i < KEEP_PER_STEP + 3; i++) recordDuration(file, 'a', sample(i * 1000));
    const read = readDurations(file);
    expect(read.steps['a']).toHaveLength(KEEP_PER_STEP);
    expect(read.steps['a']?.[0]?.ms).toBe(3000);
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('formats', () => {
  it('a clock: m:ss, h:mm:ss past an hour', () => {
    expect(formatClock(7_400)).toBe('0:07');
    expect(formatClock(140_000)).toBe('2:20');
    expect(formatClock(3_723_000)).toBe('1:02:03');
  });

  it("the live line's time: elapsed / ~expected with history, elapsed alone without", () => {
    expect(liveTime(70_000, 140_000)).toBe('1:10 / ~2:20');
    expect(liveTime(70_000, undefined)).toBe('1:10');
  });
});

describe('estimateRemaining: the live page ETA', () => {
  const now = Date.parse('2026-12-07T12:00:00.000Z');
  const entry = (id: string, over: Partial<LedgerEntry>): LedgerEntry => ({ ...emptyLedgerEntry(id), ...over });

  it('what the running step has left plus every step still pending; done and skipped steps cost nothing', () => {
    const ledger: Ledger = {
      bootstrap: entry('bootstrap', { status: 'skipped' }),
      packages: entry('packages', { status: 'done' }),
      desktop: entry('desktop', { status: 'running', startedAt: new Date(now - 70_000).toISOString() }),
      squashfs: entry('squashfs', { status: 'pending' }),
      iso: entry('iso', { status: 'pending' }),
    };
    const expected = { bootstrap: 20_000, packages: 80_000, desktop: 140_000, squashfs: 130_000 };
    const eta = estimateRemaining(Object.keys(ledger), ledger, expected, now);
    // desktop: 140 - 70 = 70 s left; squashfs 130 s; iso has no history
    expect(eta).toEqual({ remainingMs: 200_000, endsAt: '2026-12-07T12:03:20.000Z', withoutHistory: ['iso'] });
  });

  it('a step running past its expected time counts 0, not less', () => {
    const ledger: Ledger = { a: entry('a', { status: 'running', startedAt: new Date(now - 90_000).toISOString() }) };
    expect(estimateRemaining(['a'], ledger, { a: 60_000 }, now)?.remainingMs).toBe(0);
  });

  it('is null with no history for what is left', () => {
    const ledger: Ledger = { a: entry('a', { status: 'done' }), b: entry('b', { status: 'pending' }) };
    expect(estimateRemaining(['a', 'b'], ledger, { a: 5_000 }, now)).toBeNull();
  });
});
