/**
 * The build machine at its edges: Ctrl-C during a backoff wait, a step being undone, a cleanup that fails after a
 * pause, and the engine's actors missing one at a time. Written against the survivors of the machine's mutation run
 * with static mutants measured (docs/testing.md).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AnyActorLogic, createActor, fromPromise, toPromise, waitFor } from 'xstate';
import {
  type BuildMachineInput,
  type CleanupInput,
  createBuildMachine,
  type RunStepInput,
  type RunStepOutput,
} from '../../machines/build-machine.js';

const input = (backoffMs = 0): BuildMachineInput => ({
  runId: 'r',
  retry: { maxAttempts: 3, backoffMs, backoffFactor: 1 },
  ledger: {},
  steps: [
    {
      id: 'one',
      fingerprint: 'f',
      material: { stepVersion: 1, config: {}, files: {}, previous: null },
      skipReason: null,
    },
  ],
});

const ok = {
  runStep: fromPromise<RunStepOutput, RunStepInput>(async () => ({ artifacts: [] })),
  verifyStep: fromPromise<void, RunStepInput>(async () => {}),
  undoStep: fromPromise<void, RunStepInput>(async () => {}),
  cleanup: fromPromise<void, CleanupInput>(async () => {}),
};

/** Runs a one-step build with the given actors in place of the engine's. */
function start(actors: Partial<Record<keyof typeof ok, AnyActorLogic>>, backoffMs = 0) {
  const actor = createActor(createBuildMachine(['one']).provide({ actors }), { input: input(backoffMs) });
  actor.start();
  actor.send({ type: 'START' });
  return actor;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the build machine at its edges', () => {
  it('Ctrl-C during a backoff wait ends the wait at once: the build is interrupted and no timer is left', async () => {
    vi.useFakeTimers();
    // the machine's own backoff, not a stand-in
    const actor = start(
      {
        ...ok,
        runStep: fromPromise<RunStepOutput, RunStepInput>(async () => {
          throw { message: 'Temporary failure resolving deb.debian.org', code: 'COMMAND', transient: true };
        }),
      },
      600_000,
    );
    await waitFor(actor, (s) => s.context.ledger['one']?.status === 'retrying');
    expect(vi.getTimerCount()).toBe(1);
    actor.send({ type: 'INTERRUPT', signal: 'SIGINT' });
    const output = await toPromise(actor);
    expect(output).toMatchObject({ outcome: 'interrupted', interruptSignal: 'SIGINT' });
    // the ten-minute wait is gone, so the process can exit now rather than when it ends
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a step being undone is recovering in the ledger, and failed once the undo ends', async () => {
    let release = () => {};
    const undoing = new Promise<void>((resolve) => {
      release = resolve;
    });
    let undoStarted = false;
    const actor = start({
      ...ok,
      runStep: fromPromise<RunStepOutput, RunStepInput>(async () => {
        throw { message: 'E: Unable to locate package nope', code: 'COMMAND', transient: false };
      }),
      undoStep: fromPromise<void, RunStepInput>(async () => {
        undoStarted = true;
        await undoing;
      }),
    });
    await vi.waitFor(() => expect(undoStarted).toBe(true));
    expect(actor.getSnapshot().context.ledger['one']!.status).toBe('recovering');
    release();
    expect(await toPromise(actor)).toMatchObject({ outcome: 'failed', failedStep: 'one' });
    expect(actor.getSnapshot().context.ledger['one']!.status).toBe('failed');
  });

  it('a cleanup that fails after a pause keeps the pause, in the output and in the final state', async () => {
    const actor = start({
      ...ok,
      runStep: fromPromise<RunStepOutput, RunStepInput>(async () => ({ pause: 'less than 2 GiB free' })),
      cleanup: fromPromise<void, CleanupInput>(async () => {
        throw new Error('a mount is left');
      }),
    });
    expect(await toPromise(actor)).toMatchObject({ outcome: 'paused', pauseReason: 'less than 2 GiB free' });
    expect(actor.getSnapshot().value).toBe('paused');
  });

  it("without the engine's verifyStep the step fails, naming it", async () => {
    const actor = start({ runStep: ok.runStep });
    expect(await toPromise(actor)).toMatchObject({ outcome: 'failed', failedStep: 'one' });
    expect(actor.getSnapshot().context.ledger['one']!.error!.message).toBe('verifyStep is provided by the engine');
  });

  it("without the engine's cleanup a build whose steps all succeeded is not reported a success", async () => {
    const { cleanup: _, ...engine } = ok;
    const actor = start(engine);
    expect(await toPromise(actor)).toMatchObject({ outcome: 'failed', failedStep: null });
    expect(actor.getSnapshot().context.ledger['one']!.status).toBe('done');
  });
});
