/**
 * The build machine's outcome, as its output says it: a cleanup that fails never reports success, a permanent
 * error is never retried, a skipped step keeps the artifacts its checkpoint made, and a signal in `ready` ends
 * without running a step.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, toPromise } from 'xstate';
import {
  type BuildMachineInput,
  type CleanupInput,
  createBuildMachine,
  type RunStepInput,
  type RunStepOutput,
} from '../../machines/build-machine.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';

const STEPS = ['one', 'two'];
const ISO = { path: 'output/x.iso', kind: 'file' as const, size: 3, sha256: 'abc' };

interface Options {
  runError?: Record<string, unknown>;
  cleanupFails?: boolean;
  skip?: string[];
  ledger?: Ledger;
  before?: Array<{ type: 'INTERRUPT'; signal: string }>;
}

async function runMachine(options: Options = {}) {
  const runs: string[] = [];
  const machine = createBuildMachine(STEPS).provide({
    actors: {
      runStep: fromPromise<RunStepOutput, RunStepInput>(async ({ input }) => {
        runs.push(input.stepId);
        if (options.runError && input.stepId === 'two') throw options.runError;
        return { artifacts: [] };
      }),
      verifyStep: fromPromise<void, RunStepInput>(async () => {}),
      undoStep: fromPromise<void, RunStepInput>(async () => {}),
      cleanup: fromPromise<void, CleanupInput>(async () => {
        if (options.cleanupFails) throw new Error('a mount is left');
      }),
    },
  });
  const input: BuildMachineInput = {
    runId: 'run-2',
    retry: { maxAttempts: 4, backoffMs: 0, backoffFactor: 1 },
    ledger: options.ledger ?? {},
    steps: STEPS.map((id) => ({
      id,
      fingerprint: `fp-${id}`,
      material: { stepVersion: 1, config: {}, files: {}, previous: null },
      skipReason: options.skip?.includes(id) ? 'inputs unchanged' : null,
    })),
  };
  const actor = createActor(machine, { input });
  actor.start();
  for (const e of options.before ?? []) actor.send(e);
  actor.send({ type: 'START' });
  const output = await toPromise(actor);
  return { output, runs, ledger: actor.getSnapshot().context.ledger, value: actor.getSnapshot().value };
}

describe('build machine outcomes', () => {
  it('succeeds with every step done, and says so in its output', async () => {
    const { output, runs, value } = await runMachine();
    expect(value).toBe('succeeded');
    expect(output).toEqual({
      outcome: 'succeeded',
      failedStep: null,
      interruptSignal: null,
      pauseReason: null,
      current: null,
    });
    expect(runs).toEqual(['one', 'two']);
  });

  it('a cleanup that fails after every step succeeded makes the build failed, never succeeded', async () => {
    const { output, value } = await runMachine({ cleanupFails: true });
    expect(value).toBe('failed');
    expect(output.outcome).toBe('failed');
  });

  it('a cleanup that fails after an interrupt keeps the interrupt', async () => {
    const { output, runs } = await runMachine({
      cleanupFails: true,
      before: [{ type: 'INTERRUPT', signal: 'SIGHUP' }],
    });
    expect(output).toMatchObject({ outcome: 'interrupted', interruptSignal: 'SIGHUP' });
    // the signal came before START: no step ran
    expect(runs).toEqual([]);
  });

  it('a permanent error ("no such package") is not retried; a transient one is, up to maxAttempts', async () => {
    const permanent = await runMachine({ runError: { message: 'no such package', code: 'COMMAND', transient: false } });
    expect(permanent.output).toMatchObject({ outcome: 'failed', failedStep: 'two', current: 'two' });
    expect(permanent.runs).toEqual(['one', 'two']);
    expect(permanent.ledger['two']).toMatchObject({ status: 'failed', attempts: 1 });

    const transient = await runMachine({
      runError: { message: 'Could not resolve', code: 'COMMAND', transient: true },
    });
    expect(transient.runs).toEqual(['one', 'two', 'two', 'two', 'two']);
    expect(transient.ledger['two']).toMatchObject({ status: 'failed', attempts: 4 });
    expect(transient.ledger['two']!.error).toMatchObject({ message: 'Could not resolve', transient: true });
  });

  it("a skipped step keeps its checkpoint's artifacts, so a later plan can see that the ISO was deleted", async () => {
    const ledger: Ledger = {
      one: { ...emptyLedgerEntry('one'), status: 'done', fingerprint: 'fp-one', runId: 'run-1' },
      two: { ...emptyLedgerEntry('two'), status: 'done', fingerprint: 'fp-two', runId: 'run-1', artifacts: [ISO] },
    };
    const { output, runs, ledger: after } = await runMachine({ skip: ['one', 'two'], ledger });
    expect(output.outcome).toBe('succeeded');
    expect(runs).toEqual([]);
    expect(after['two']).toMatchObject({ status: 'skipped', artifacts: [ISO], runId: 'run-1' });
  });
});
