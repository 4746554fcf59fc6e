/**
 * The build machine's bookkeeping, driven with stand-in actors: what the ledger keeps of an error, how
 * long each retry waits, how attempts and times are counted, and what a skipped or paused step records.
 * Written against the survivors of `npm run mutation` (docs/testing.md); the outcomes themselves are in
 * machine-outcomes.test.ts and machine-paths.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, toPromise, waitFor } from 'xstate';
import {
  type BackoffInput,
  type BuildMachineInput,
  type CleanupInput,
  createBuildMachine,
  type RunStepInput,
  type RunStepOutput,
  summarizeError,
} from '../../machines/build-machine.js';
import { emptyLedgerEntry, type Ledger, type RetryPolicy } from '../../src/types.js';

interface Drive {
  steps?: string[];
  /** Throws this from the run of `fails` on each of its first `times` attempts. */
  error?: unknown;
  fails?: string;
  times?: number;
  pause?: { step: string; reason: string };
  skip?: Record<string, string>;
  ledger?: Ledger;
  retry?: RetryPolicy;
}

async function drive(o: Drive = {}) {
  const steps = o.steps ?? ['one', 'two'];
  const delays: number[] = [];
  const runs: RunStepInput[] = [];
  const failures = new Map<string, number>();
  const machine = createBuildMachine(steps).provide({
    actors: {
      runStep: fromPromise<RunStepOutput, RunStepInput>(async ({ input }) => {
        runs.push(input);
        if (o.pause?.step === input.stepId) return { pause: o.pause.reason };
        const n = failures.get(input.stepId) ?? 0;
        if (input.stepId === o.fails && n < (o.times ?? Number.POSITIVE_INFINITY)) {
          failures.set(input.stepId, n + 1);
          throw o.error;
        }
        return { artifacts: [{ path: `layers/${input.stepId}`, kind: 'dir' as const }] };
      }),
      verifyStep: fromPromise<void, RunStepInput>(async () => {}),
      undoStep: fromPromise<void, RunStepInput>(async () => {}),
      backoff: fromPromise<void, BackoffInput>(async ({ input }) => {
        delays.push(input.delayMs);
      }),
      cleanup: fromPromise<void, CleanupInput>(async () => {}),
    },
  });
  const input: BuildMachineInput = {
    runId: 'run-2',
    retry: o.retry ?? { maxAttempts: 3, backoffMs: 100, backoffFactor: 3 },
    ledger: o.ledger ?? {},
    steps: steps.map((id) => ({
      id,
      fingerprint: `fp-${id}`,
      material: { stepVersion: 1, config: { id }, files: {}, previous: null },
      skipReason: o.skip?.[id] ?? null,
    })),
  };
  const actor = createActor(machine, { input });
  actor.start();
  actor.send({ type: 'START' });
  const output = await toPromise(actor);
  return { output, delays, runs, ledger: actor.getSnapshot().context.ledger };
}

const transient = { message: 'Temporary failure resolving deb.debian.org', code: 'COMMAND', transient: true };

describe('summarizeError: what the ledger keeps of an error', () => {
  it('keeps message, code and whether it is transient; anything else thrown becomes its text', () => {
    expect(summarizeError(new Error('boom'))).toEqual({ message: 'boom', code: 'ERROR', transient: false });
    expect(summarizeError('plain text')).toEqual({ message: 'plain text', code: 'ERROR', transient: false });
    expect(summarizeError(null)).toEqual({ message: 'null', code: 'ERROR', transient: false });
    // a code or flag of the wrong type is not trusted
    expect(summarizeError({ message: 'm', code: 3, transient: 'yes' })).toEqual({
      message: 'm',
      code: 'ERROR',
      transient: false,
    });
    expect(summarizeError(transient)).toEqual(transient);
  });

  it('keeps a hint and the command it suggests, and drops an empty hint or an argv that is not all text', () => {
    expect(
      summarizeError({ message: 'm', code: 'STEP', hint: 'run apt-get update', hintArgv: ['apt-get', 'update'] }),
    ).toEqual({
      message: 'm',
      code: 'STEP',
      transient: false,
      hint: 'run apt-get update',
      hintArgv: ['apt-get', 'update'],
    });
    expect(summarizeError({ message: 'm', hint: '', hintArgv: ['x', 1] })).toEqual({
      message: 'm',
      code: 'ERROR',
      transient: false,
    });
    const argv = ['ailinux', 'resume'];
    const kept = summarizeError({ message: 'm', hintArgv: argv });
    expect(kept.hintArgv).toEqual(argv);
    expect(kept.hintArgv).not.toBe(argv);
  });

  it("keeps a failed command's rerun line, exit code, signal and stderr tail, with empty defaults", () => {
    const failure = { rerun: 'apt-get install -y x', exitCode: 100, signal: null, stderrTail: 'E: Unable to locate' };
    expect(summarizeError({ message: 'm', code: 'COMMAND', failure })).toEqual({
      message: 'm',
      code: 'COMMAND',
      transient: false,
      command: 'apt-get install -y x',
      exitCode: 100,
      signal: null,
      stderrTail: 'E: Unable to locate',
    });
    expect(summarizeError({ message: 'm', failure: { signal: 'SIGKILL' } })).toEqual({
      message: 'm',
      code: 'ERROR',
      transient: false,
      command: '',
      exitCode: null,
      signal: 'SIGKILL',
      stderrTail: '',
    });
  });
});

describe('retries', () => {
  it('waits backoffMs, then backoffFactor times longer before each further attempt', async () => {
    const { output, delays, ledger } = await drive({
      error: transient,
      fails: 'two',
      retry: { maxAttempts: 4, backoffMs: 100, backoffFactor: 3 },
    });
    expect(delays).toEqual([100, 300, 900]);
    expect(output.outcome).toBe('failed');
    expect(ledger['two']).toMatchObject({ status: 'failed', attempts: 4 });
  });

  it('rounds each wait to whole milliseconds', async () => {
    const { delays } = await drive({
      error: transient,
      fails: 'one',
      retry: { maxAttempts: 4, backoffMs: 5, backoffFactor: 1.5 },
    });
    expect(delays).toEqual([5, 8, 11]);
  });

  it('gives each attempt its number, keeps the first start time, and clears the error once an attempt succeeds', async () => {
    const { output, runs, ledger } = await drive({ error: transient, fails: 'one', times: 2 });
    expect(output.outcome).toBe('succeeded');
    expect(runs.map((r) => [r.stepId, r.attempt])).toEqual([
      ['one', 1],
      ['one', 2],
      ['one', 3],
      ['two', 1],
    ]);
    const one = ledger['one']!;
    expect(one).toMatchObject({ status: 'done', attempts: 3, error: null, runId: 'run-2' });
    expect(one.artifacts).toEqual([{ path: 'layers/one', kind: 'dir' }]);
    expect(Date.parse(one.endedAt!)).toBeGreaterThanOrEqual(Date.parse(one.startedAt!));
    expect(one.durationMs).toBe(Date.parse(one.endedAt!) - Date.parse(one.startedAt!));
  });

  it('counts the attempts of this run only: a step an earlier run tried starts again at 1, with a new start time', async () => {
    const ledger: Ledger = {
      one: {
        ...emptyLedgerEntry('one'),
        status: 'failed',
        attempts: 3,
        runId: 'run-1',
        startedAt: '2020-01-01T00:00:00.000Z',
        reason: 'it failed last time',
        artifacts: [{ path: 'stale', kind: 'dir' }],
        error: { message: 'old', code: 'COMMAND', transient: false },
      },
    };
    const { ledger: after } = await drive({ ledger });
    expect(after['one']).toMatchObject({ status: 'done', attempts: 1, reason: null, error: null, runId: 'run-2' });
    expect(after['one']!.startedAt).not.toBe('2020-01-01T00:00:00.000Z');
    expect(after['one']!.artifacts).toEqual([{ path: 'layers/one', kind: 'dir' }]);
    expect(after['one']!.fingerprint).toBe('fp-one');
    expect(after['one']!.material).toEqual({ stepVersion: 1, config: { id: 'one' }, files: {}, previous: null });
  });
});

describe('the backoff wait the machine brings', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the step retrying until backoffMs has passed, then runs it again', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const machine = createBuildMachine(['one']).provide({
      actors: {
        runStep: fromPromise<RunStepOutput, RunStepInput>(async () => {
          calls += 1;
          if (calls === 1) throw transient;
          return { artifacts: [] };
        }),
        verifyStep: fromPromise<void, RunStepInput>(async () => {}),
        undoStep: fromPromise<void, RunStepInput>(async () => {}),
        cleanup: fromPromise<void, CleanupInput>(async () => {}),
      },
    });
    const actor = createActor(machine, {
      input: {
        runId: 'r',
        retry: { maxAttempts: 2, backoffMs: 100, backoffFactor: 2 },
        ledger: {},
        steps: [
          {
            id: 'one',
            fingerprint: 'f',
            material: { stepVersion: 1, config: {}, files: {}, previous: null },
            skipReason: null,
          },
        ],
      },
    });
    actor.start();
    actor.send({ type: 'START' });
    await waitFor(actor, (s) => s.context.ledger['one']?.status === 'retrying');
    await vi.advanceTimersByTimeAsync(99);
    expect(actor.getSnapshot().context.ledger['one']!.status).toBe('retrying');
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const output = await toPromise(actor);
    expect(calls).toBe(2);
    expect(output.outcome).toBe('succeeded');
  });
});

describe('a machine run without the engine', () => {
  it('fails, naming the actor the engine must provide', async () => {
    const actor = createActor(createBuildMachine(['one']), {
      input: {
        runId: 'r',
        retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
        ledger: {},
        steps: [
          {
            id: 'one',
            fingerprint: 'f',
            material: { stepVersion: 1, config: {}, files: {}, previous: null },
            skipReason: null,
          },
        ],
      },
    });
    actor.start();
    actor.send({ type: 'START' });
    const output = await toPromise(actor);
    expect(output).toMatchObject({ outcome: 'failed', failedStep: 'one' });
    expect(actor.getSnapshot().context.ledger['one']!.error!.message).toBe('runStep is provided by the engine');
  });
});

describe('what the machine records', () => {
  it('a skipped step records its reason and the new fingerprint, keeps its run and drops an old error', async () => {
    const ledger: Ledger = {
      one: {
        ...emptyLedgerEntry('one'),
        status: 'done',
        runId: 'run-1',
        fingerprint: 'fp-old',
        endedAt: '2020-01-01T00:00:00.000Z',
        error: { message: 'old', code: 'COMMAND', transient: true },
      },
    };
    const { runs, ledger: after } = await drive({ ledger, skip: { one: 'inputs unchanged since its last run' } });
    expect(runs.map((r) => r.stepId)).toEqual(['two']);
    expect(after['one']).toMatchObject({
      status: 'skipped',
      reason: 'inputs unchanged since its last run',
      fingerprint: 'fp-one',
      error: null,
      runId: 'run-1',
      endedAt: '2020-01-01T00:00:00.000Z',
    });
  });

  it('a step that finds too little disk pauses the build with its reason, at that step, and runs nothing after it', async () => {
    const { output, runs, ledger } = await drive({
      steps: ['one', 'two', 'three'],
      pause: { step: 'two', reason: 'needs 900 MiB, 100 MiB free' },
    });
    expect(output).toEqual({
      outcome: 'paused',
      failedStep: null,
      interruptSignal: null,
      pauseReason: 'needs 900 MiB, 100 MiB free',
      current: 'two',
    });
    expect(runs.map((r) => r.stepId)).toEqual(['one', 'two']);
    expect(ledger['two']!.status).toBe('interrupted');
    expect(ledger['three']!.status).toBe('pending');
  });

  it('keeps only the ledger entries of the steps it runs', async () => {
    const ledger: Ledger = { gone: { ...emptyLedgerEntry('gone'), status: 'done' } };
    const { ledger: after } = await drive({ ledger });
    expect(Object.keys(after)).toEqual(['one', 'two']);
  });

  it('needs at least one step', () => {
    expect(() => createBuildMachine([])).toThrow('a build needs at least one step');
  });
});
