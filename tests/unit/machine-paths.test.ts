/**
 * Machine path tests: every simple path through a generated 3-step machine, over the step
 * outcomes (ok, transient failure, permanent failure, verify failure, interrupt), generated with
 * xstate/graph. Each path's final snapshot is checked against the ledger invariants.
 */
import { describe, expect, it } from 'vitest';
import { getSimplePaths } from 'xstate/graph';
import { createBuildMachine, type BuildMachineInput, type BuildSnapshot } from '../../machines/build-machine.js';
import type { LedgerEntry } from '../../src/types.js';

const STEPS = ['alpha', 'beta', 'gamma'];
const MAX_ATTEMPTS = 2;

function input(skip: Record<string, string> = {}): BuildMachineInput {
  return {
    runId: 'run-1',
    retry: { maxAttempts: MAX_ATTEMPTS, backoffMs: 0, backoffFactor: 1 },
    ledger: {},
    steps: STEPS.map((id) => ({
      id,
      fingerprint: `fp-${id}`,
      material: { stepVersion: 1, config: {}, files: {}, previous: null },
      skipReason: skip[id] ?? null,
    })),
  };
}

/** The events a running build can meet: each actor's success or failure, and an interrupt. */
function outcomeEvents() {
  const events: Array<{ type: string; [k: string]: unknown }> = [
    { type: 'START' },
    { type: 'INTERRUPT', signal: 'SIGINT' },
    { type: 'PAUSE', reason: 'disk: 10 MiB free' },
  ];
  for (const id of STEPS) {
    events.push(
      { type: `xstate.done.actor.run.${id}`, output: { artifacts: [{ path: `layers/${id}`, kind: 'dir' }] } },
      // the run found too little disk to start: the machine pauses on its runPaused guard
      { type: `xstate.done.actor.run.${id}`, output: { pause: `disk: ${id} needs more` } },
      { type: `xstate.error.actor.run.${id}`, error: { message: 'network down', code: 'COMMAND', transient: true } },
      {
        type: `xstate.error.actor.run.${id}`,
        error: { message: 'no such package', code: 'COMMAND', transient: false },
      },
      { type: `xstate.done.actor.verify.${id}` },
      { type: `xstate.error.actor.verify.${id}`, error: { message: 'verify failed', code: 'STEP', transient: false } },
      { type: `xstate.done.actor.backoff.${id}` },
      { type: `xstate.done.actor.undo.${id}` },
    );
  }
  events.push({ type: 'xstate.done.actor.cleanup' });
  return events;
}

/** Timestamps differ on every transition; the graph compares what matters. */
function serialize(snapshot: BuildSnapshot): string {
  const c = snapshot.context;
  const ledger = Object.values(c.ledger).map((e) => [e.id, e.status, e.attempts, e.error?.transient ?? null]);
  return JSON.stringify({ value: snapshot.value, outcome: c.outcome, ledger });
}

function pathsFor(skip: Record<string, string> = {}) {
  const machine = createBuildMachine(STEPS);
  return getSimplePaths(machine, {
    input: input(skip),
    events: outcomeEvents() as never,
    serializeState: serialize as never,
    toState: (s) => (s as BuildSnapshot).status === 'done',
  });
}

function entries(snapshot: BuildSnapshot): LedgerEntry[] {
  return STEPS.map((id) => snapshot.context.ledger[id]!);
}

describe('build machine paths (xstate/graph)', () => {
  const paths = pathsFor();

  it('generates paths to every final outcome', () => {
    const outcomes = new Set(paths.map((p) => String(p.state.value)));
    expect(outcomes).toEqual(new Set(['succeeded', 'failed', 'interrupted', 'paused']));
    expect(paths.length).toBeGreaterThan(50);
  });

  it('every path ends through the cleanup state', () => {
    for (const p of paths) {
      expect(
        p.steps.some((s) => s.state.value === 'cleanup'),
        JSON.stringify(p.steps.map((s) => s.event.type)),
      ).toBe(true);
    }
  });

  it('a succeeded build has every step done, each within the attempt bound, with no error left', () => {
    const ok = paths.filter((p) => p.state.value === 'succeeded');
    expect(ok.length).toBeGreaterThan(0);
    for (const p of ok) {
      for (const e of entries(p.state as BuildSnapshot)) {
        expect(e.status).toBe('done');
        expect(e.attempts).toBeGreaterThanOrEqual(1);
        expect(e.attempts).toBeLessThanOrEqual(MAX_ATTEMPTS);
        expect(e.error).toBeNull();
        expect(e.artifacts).toEqual([{ path: `layers/${e.id}`, kind: 'dir' }]);
      }
    }
  });

  it('a transient failure then success retries the step and succeeds', () => {
    const retried = paths.filter(
      (p) => p.state.value === 'succeeded' && entries(p.state as BuildSnapshot).some((e) => e.attempts === 2),
    );
    expect(retried.length).toBeGreaterThan(0);
    for (const p of retried) expect(p.steps.some((s) => JSON.stringify(s.state.value).includes('retrying'))).toBe(true);
  });

  it('a failed build has exactly one failed step, undone, with done steps before and pending after', () => {
    const failed = paths.filter((p) => p.state.value === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const p of failed) {
      const snap = p.state as BuildSnapshot;
      const list = entries(snap);
      const idx = list.findIndex((e) => e.status === 'failed');
      expect(idx).toBeGreaterThanOrEqual(0);
      expect(snap.context.failedStep).toBe(STEPS[idx]);
      expect(list.slice(0, idx).every((e) => e.status === 'done')).toBe(true);
      expect(list.slice(idx + 1).every((e) => e.status === 'pending' && e.attempts === 0)).toBe(true);
      const failedEntry = list[idx]!;
      expect(failedEntry.error).not.toBeNull();
      // a transient error only fails the build once the attempts are used up
      if (failedEntry.error!.transient) expect(failedEntry.attempts).toBe(MAX_ATTEMPTS);
      expect(p.steps.some((s) => JSON.stringify(s.state.value).includes('recovering'))).toBe(true);
    }
  });

  it('an interrupted build leaves no step in flight and marks the one it stopped', () => {
    const stopped = paths.filter((p) => p.state.value === 'interrupted');
    expect(stopped.length).toBeGreaterThan(0);
    for (const p of stopped) {
      const snap = p.state as BuildSnapshot;
      const list = entries(snap);
      expect(list.filter((e) => ['running', 'verifying', 'retrying', 'recovering'].includes(e.status))).toEqual([]);
      expect(list.filter((e) => e.status === 'interrupted').length).toBeLessThanOrEqual(1);
      expect(snap.context.interruptSignal).toBe('SIGINT');
      const firstNotDone = list.findIndex((e) => e.status !== 'done');
      expect(list.slice(firstNotDone + 1).every((e) => e.status === 'pending')).toBe(true);
    }
  });

  it('a paused build keeps its reason, leaves no step in flight and is resumable like an interrupted one', () => {
    const paused = paths.filter((p) => p.state.value === 'paused');
    expect(paused.length).toBeGreaterThan(0);
    for (const p of paused) {
      const snap = p.state as BuildSnapshot;
      expect(snap.context.pauseReason).toBe('disk: 10 MiB free');
      const list = entries(snap);
      expect(list.filter((e) => ['running', 'verifying', 'retrying', 'recovering'].includes(e.status))).toEqual([]);
      expect(list.filter((e) => e.status === 'interrupted').length).toBeLessThanOrEqual(1);
    }
  });

  it('never exceeds the attempt bound on any path', () => {
    for (const p of paths) {
      for (const s of p.steps) {
        for (const e of entries(s.state as BuildSnapshot)) expect(e.attempts).toBeLessThanOrEqual(MAX_ATTEMPTS);
      }
    }
  });

  it('a skipped step is never run and keeps its reason', () => {
    const skipped = pathsFor({ beta: 'inputs unchanged' });
    const ok = skipped.filter((p) => p.state.value === 'succeeded');
    expect(ok.length).toBeGreaterThan(0);
    for (const p of skipped) {
      const beta = (p.state as BuildSnapshot).context.ledger['beta']!;
      expect(['skipped', 'pending']).toContain(beta.status);
      expect(beta.attempts).toBe(0);
      if (beta.status === 'skipped') expect(beta.reason).toBe('inputs unchanged');
      expect(p.steps.some((s) => s.event.type.endsWith('run.beta'))).toBe(false);
    }
  });
});
