/**
 * The build machine at its edges: Ctrl-C during a backoff wait, a step being undone or verified, a cleanup that fails
 * after a pause or a failure, the engine's actors missing one at a time, a rerun's old artifacts, the engine's
 * monitor and what cleanup is given. Written against the survivors of the machine's mutation runs with static
 * mutants measured (docs/testing.md).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AnyActorLogic, createActor, fromCallback, fromPromise, toPromise, waitFor } from 'xstate';
import {
  type BuildEvent,
  type BuildMachineInput,
  type CleanupInput,
  createBuildMachine,
  type RunStepInput,
  type RunStepOutput,
} from '../../machines/build-machine.js';
import { emptyLedgerEntry } from '../../src/types.js';

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
function start(actors: Partial<Record<keyof typeof ok | 'monitor', AnyActorLogic>>, backoffMs = 0, ledger = {}) {
  const actor = createActor(createBuildMachine(['one']).provide({ actors }), {
    input: { ...input(backoffMs), ledger },
  });
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

  it('a step being verified is verifying in the ledger', async () => {
    let release = () => {};
    const verifying = new Promise<void>((resolve) => {
      release = resolve;
    });
    let verifyStarted = false;
    const actor = start({
      ...ok,
      verifyStep: fromPromise<void, RunStepInput>(async () => {
        verifyStarted = true;
        await verifying;
      }),
    });
    await vi.waitFor(() => expect(verifyStarted).toBe(true));
    expect(actor.getSnapshot().context.ledger['one']!.status).toBe('verifying');
    release();
    expect(await toPromise(actor)).toMatchObject({ outcome: 'succeeded' });
  });

  it('a step that fails on its rerun keeps none of the artifacts of its last run', async () => {
    const last = {
      ...emptyLedgerEntry('one'),
      status: 'done' as const,
      runId: 'earlier',
      artifacts: [{ path: 'iso/live.iso', kind: 'file' as const }],
    };
    const actor = start(
      {
        ...ok,
        runStep: fromPromise<RunStepOutput, RunStepInput>(async () => {
          throw { message: 'E: Unable to locate package nope', code: 'COMMAND', transient: false };
        }),
      },
      0,
      { one: last },
    );
    expect(await toPromise(actor)).toMatchObject({ outcome: 'failed', failedStep: 'one' });
    expect(actor.getSnapshot().context.ledger['one']!.artifacts).toEqual([]);
  });

  it("the engine's monitor runs with the pipeline, and a PAUSE it sends pauses the build with its reason", async () => {
    const actor = start({
      ...ok,
      // the step would never end: only the monitor's PAUSE can stop the build
      runStep: fromPromise<RunStepOutput, RunStepInput>(() => new Promise<RunStepOutput>(() => {})),
      monitor: fromCallback<BuildEvent>(({ sendBack }) => {
        sendBack({ type: 'PAUSE', reason: 'less than 2 GiB free on the work dir' });
      }),
    });
    expect(await toPromise(actor)).toMatchObject({
      outcome: 'paused',
      pauseReason: 'less than 2 GiB free on the work dir',
    });
    expect(actor.getSnapshot().context.ledger['one']!.status).toBe('interrupted');
  });

  it('cleanup is given the outcome and the failed step', async () => {
    const seen: CleanupInput[] = [];
    const actor = start({
      ...ok,
      verifyStep: fromPromise<void, RunStepInput>(async () => {
        throw { message: 'the ISO has no kernel', code: 'VERIFY', transient: false };
      }),
      cleanup: fromPromise<void, CleanupInput>(async ({ input }) => {
        seen.push(input);
      }),
    });
    await toPromise(actor);
    expect(seen).toEqual([{ outcome: 'failed', failedStep: 'one' }]);
  });

  it('a cleanup that fails after a failed step ends in failed, not interrupted', async () => {
    const actor = start({
      ...ok,
      runStep: fromPromise<RunStepOutput, RunStepInput>(async () => {
        throw { message: 'E: Unable to locate package nope', code: 'COMMAND', transient: false };
      }),
      cleanup: fromPromise<void, CleanupInput>(async () => {
        throw new Error('a mount is left');
      }),
    });
    expect(await toPromise(actor)).toMatchObject({ outcome: 'failed', failedStep: 'one' });
    expect(actor.getSnapshot().value).toBe('failed');
  });
});
