/**
 * The live page's ETA (issue 11, point 6): the collector gives a running build's payload an ETA from the work dir's
 * recorded durations, and none to a build that is not running.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { StateStore } from '../../state/store.js';
import { durationsFile, recordDuration, thisHost } from '../../state/durations.js';
import { InspectCollector } from '../../src/inspect/collect.js';
import { emptyLedgerEntry } from '../../src/types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-inspect-eta-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function workDirWith(outcome: StateFile['outcome']): string {
  const work = fs.mkdtempSync(path.join(tmp, 'w-'));
  const now = Date.now();
  const at = (ago: number) => new Date(now - ago).toISOString();
  StateStore.open(path.join(work, 'state', 'state.json')).save({
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: 'test',
    workId: 'w',
    runId: 'r2',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome,
    createdAt: at(0),
    updatedAt: at(0),
    order: ['bootstrap', 'packages', 'iso'],
    ledger: {
      bootstrap: { ...emptyLedgerEntry('bootstrap'), status: 'done', durationMs: 20_000, runId: 'r2' },
      packages: { ...emptyLedgerEntry('packages'), status: 'running', startedAt: at(30_000), runId: 'r2' },
      iso: emptyLedgerEntry('iso'),
    },
    snapshot: null,
    current: 'packages',
    interruptSignal: null,
    processes: [],
    history: [],
  });
  const sample = (ms: number) => ({
    ms,
    at: at(0),
    profile: 'minimal',
    host: thisHost(),
    runId: 'r1',
    fingerprint: null,
  });
  recordDuration(durationsFile(path.join(work, 'state')), 'packages', sample(90_000));
  recordDuration(durationsFile(path.join(work, 'state')), 'iso', sample(10_000));
  return work;
}

const collector = (workDir: string) =>
  new InspectCollector({
    workDir,
    // the build's owner is alive: the page is live
    statusReport: () => ({ lock: { pid: process.pid, alive: true, state: 'held' } }),
    fallback: { title: 'minimal', order: [] },
  });

describe('the live payload', () => {
  it('a running build gets an ETA: what the running step has left of its expected time, plus the steps after it', async () => {
    const { payload } = await collector(workDirWith('running')).collectWithModel({ waitForPicture: false });
    expect(payload.eta).not.toBeNull();
    // packages: 90 s expected, 30 s gone; iso 10 s: about 70 s, give or take the time the test took
    expect(payload.eta!.remainingMs).toBeGreaterThan(65_000);
    expect(payload.eta!.remainingMs).toBeLessThanOrEqual(70_000);
    expect(payload.eta!.withoutHistory).toEqual([]);
  });

  it('a finished build gets none', async () => {
    const { payload } = await collector(workDirWith('succeeded')).collectWithModel({ waitForPicture: false });
    expect(payload.eta).toBeNull();
  });
});
