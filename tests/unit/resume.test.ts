/**
 * Resume: a build persisted mid-step and restored from its ledger runs nothing twice. The
 * machine runs with counting actors; the ledger it persisted is fed to the planner and a new
 * machine, as `ailinux resume` does.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, toPromise } from 'xstate';
import {
  createBuildMachine,
  type BuildMachineInput,
  type CleanupInput,
  type RunStepInput,
  type RunStepOutput,
} from '../../machines/build-machine.js';
import { planBuild } from '../../src/engine/planner.js';
import type { StepFingerprint } from '../../src/engine/fingerprint.js';
import type { Ledger } from '../../src/types.js';

const STEPS = ['bootstrap', 'configure', 'packages', 'identity', 'squashfs'];

function fingerprints(changed: Record<string, string> = {}): StepFingerprint[] {
  let previous: string | null = null;
  return STEPS.map((id) => {
    const value = changed[id] ?? 'v1';
    const fingerprint = `${id}:${value}:${previous}`;
    const material = { stepVersion: 1, config: { [`${id}.field`]: value }, files: {}, previous };
    previous = fingerprint;
    return { id, fingerprint, material };
  });
}

interface Harness {
  runs: string[];
  persisted: Ledger[];
}

/** Runs one build invocation; `interruptIn` sends INTERRUPT while that step's actor is running. */
async function runOnce(
  ledger: Ledger,
  runId: string,
  h: Harness,
  options: { interruptIn?: string; failIn?: string; changed?: Record<string, string> } = {},
) {
  const plan = planBuild(fingerprints(options.changed), ledger, () => true);
  const machine = createBuildMachine(STEPS).provide({
    actors: {
      runStep: fromPromise<RunStepOutput, RunStepInput>(async ({ input, signal }) => {
        h.runs.push(input.stepId);
        if (input.stepId === options.interruptIn) {
          actor.send({ type: 'INTERRUPT', signal: 'SIGINT' });
          await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        }
        if (input.stepId === options.failIn)
          throw Object.assign(new Error('no such package'), { code: 'COMMAND', transient: false });
        return { artifacts: [] };
      }),
      verifyStep: fromPromise<void, RunStepInput>(async () => {}),
      undoStep: fromPromise<void, RunStepInput>(async () => {}),
      cleanup: fromPromise<void, CleanupInput>(async () => {}),
    },
  });
  const input: BuildMachineInput = {
    runId,
    retry: { maxAttempts: 2, backoffMs: 0, backoffFactor: 1 },
    ledger,
    steps: plan.map((p) => ({
      id: p.id,
      fingerprint: p.fingerprint,
      material: p.material,
      skipReason: p.action === 'skip' ? p.reasons[0]! : null,
    })),
  };
  const actor = createActor(machine, { input });
  // what the engine writes to disk after every transition: a deep copy, as JSON would make it
  actor.subscribe((s) => h.persisted.push(JSON.parse(JSON.stringify(s.context.ledger))));
  actor.start();
  actor.send({ type: 'START' });
  await toPromise(actor);
  return { snapshot: actor.getSnapshot(), plan };
}

describe('resume from the persisted ledger', () => {
  it('after an interrupt mid-step, no completed step runs again and the interrupted one runs once more', async () => {
    const h: Harness = { runs: [], persisted: [] };
    const first = await runOnce({}, 'run-1', h, { interruptIn: 'packages' });
    expect(first.snapshot.value).toBe('interrupted');
    expect(h.runs).toEqual(['bootstrap', 'configure', 'packages']);
    const saved = h.persisted[h.persisted.length - 1]!;
    expect(saved['packages']!.status).toBe('interrupted');

    const second = await runOnce(saved, 'run-2', h);
    expect(second.snapshot.value).toBe('succeeded');
    expect(h.runs).toEqual(['bootstrap', 'configure', 'packages', 'packages', 'identity', 'squashfs']);
    expect(second.plan.find((p) => p.id === 'packages')!.undoFirst).toBe(true);
    const ledger = second.snapshot.context.ledger;
    expect(ledger['bootstrap']!.status).toBe('skipped');
    expect(ledger['bootstrap']!.runId).toBe('run-1');
    expect(ledger['packages']!.runId).toBe('run-2');
  });

  it('restores from any transition a crash could have left on disk and never reruns a step persisted as done', async () => {
    const h: Harness = { runs: [], persisted: [] };
    await runOnce({}, 'run-1', h);
    const snapshots = h.persisted.slice();
    expect(snapshots.length).toBeGreaterThanOrEqual(STEPS.length * 2);
    for (const saved of snapshots) {
      const done = Object.values(saved)
        .filter((e) => e.status === 'done')
        .map((e) => e.id);
      const again: Harness = { runs: [], persisted: [] };
      const resumed = await runOnce(saved, 'run-2', again);
      expect(resumed.snapshot.value).toBe('succeeded');
      for (const id of done) expect(again.runs).not.toContain(id);
      // every step not done in the saved ledger runs exactly once
      expect(again.runs).toEqual(STEPS.filter((id) => !done.includes(id)));
    }
  });

  it('a failed step and everything after it run on resume; steps before it are skipped', async () => {
    const h: Harness = { runs: [], persisted: [] };
    const first = await runOnce({}, 'run-1', h, { failIn: 'identity' });
    expect(first.snapshot.value).toBe('failed');
    const saved = first.snapshot.context.ledger;
    const again: Harness = { runs: [], persisted: [] };
    const second = await runOnce(saved, 'run-2', again);
    expect(second.snapshot.value).toBe('succeeded');
    expect(again.runs).toEqual(['identity', 'squashfs']);
  });

  it('a changed input reruns that step and everything after it, and says why', async () => {
    const h: Harness = { runs: [], persisted: [] };
    const first = await runOnce({}, 'run-1', h);
    const again: Harness = { runs: [], persisted: [] };
    const second = await runOnce(first.snapshot.context.ledger, 'run-2', again, { changed: { identity: 'v2' } });
    expect(again.runs).toEqual(['identity', 'squashfs']);
    const identity = second.plan.find((p) => p.id === 'identity')!;
    expect(identity.reasons).toEqual(['config field identity.field changed ("v1" -> "v2")']);
    expect(second.plan.find((p) => p.id === 'squashfs')!.reasons).toEqual(['an earlier step (identity) runs again']);
  });
});
