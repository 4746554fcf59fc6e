/**
 * The build machine, generated from a profile's ordered step list.
 * It is pure: effects live in the named actors (runStep, verifyStep, undoStep, backoff, monitor, cleanup),
 * which the engine provides. The ledger in its context is what the engine persists after every transition,
 * and its output is the build's outcome.
 */
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import type {
  Artifact,
  BuildOutcome,
  FingerprintMaterial,
  Ledger,
  LedgerEntry,
  RetryPolicy,
  StepErrorSummary,
} from '../src/types.js';
import { emptyLedgerEntry, isInFlight } from '../src/types.js';

export { MACHINE_SHAPE_VERSION } from './shape-version.js';

export interface StepPlanInput {
  id: string;
  fingerprint: string;
  material: FingerprintMaterial;
  /** Set when the step's checkpoint is reused; the text says why. */
  skipReason: string | null;
}

export interface BuildMachineInput {
  runId: string;
  steps: StepPlanInput[];
  retry: RetryPolicy;
  /** The ledger as persisted before this run; entries of skipped steps are carried over. */
  ledger: Ledger;
}

export interface BuildContext {
  runId: string;
  order: string[];
  plan: Record<string, StepPlanInput>;
  retry: RetryPolicy;
  ledger: Ledger;
  current: string | null;
  outcome: BuildOutcome;
  failedStep: string | null;
  interruptSignal: string | null;
  /** Why the build paused (for example not enough free disk), when it did. */
  pauseReason: string | null;
}

/** What the machine ends with: the engine records exactly this, it never works the outcome out itself. */
export interface BuildMachineOutput {
  outcome: Exclude<BuildOutcome, 'running'>;
  failedStep: string | null;
  interruptSignal: string | null;
  pauseReason: string | null;
  /** The step the build stopped at; null after a success. */
  current: string | null;
}

export interface RunStepInput {
  stepId: string;
  attempt: number;
}
/** A step's run ends with its artifacts, or without running at all because the disk is short (`pause`). */
export type RunStepOutput = { artifacts: Artifact[]; pause?: undefined } | { artifacts?: undefined; pause: string };
export interface BackoffInput {
  stepId: string;
  delayMs: number;
}
export interface CleanupInput {
  outcome: BuildOutcome;
  failedStep: string | null;
}

/**
 * START leaves `ready` for the first step. INTERRUPT is a signal (also one that came before START). PAUSE comes
 * from the resource monitor when free disk falls below the floor.
 */
export type BuildEvent = { type: 'START' } | { type: 'INTERRUPT'; signal: string } | { type: 'PAUSE'; reason: string };

/** Turns anything thrown by a step into the summary the ledger keeps, its hint (and the hint's command) included. */
export function summarizeError(error: unknown): StepErrorSummary {
  const e = error as {
    message?: unknown;
    code?: unknown;
    transient?: unknown;
    hint?: unknown;
    hintArgv?: unknown;
    failure?: Record<string, unknown>;
  } | null;
  const summary: StepErrorSummary = {
    message: typeof e?.message === 'string' ? e.message : String(error),
    code: typeof e?.code === 'string' ? e.code : 'ERROR',
    transient: e?.transient === true,
  };
  if (typeof e?.hint === 'string' && e.hint !== '') summary.hint = e.hint;
  if (Array.isArray(e?.hintArgv) && e.hintArgv.every((a) => typeof a === 'string')) summary.hintArgv = [...e.hintArgv];
  const f = e?.failure;
  if (f) {
    summary.command = String(f['rerun'] ?? '');
    summary.exitCode = (f['exitCode'] as number | null) ?? null;
    summary.signal = (f['signal'] as string | null) ?? null;
    summary.stderrTail = String(f['stderrTail'] ?? '');
  }
  return summary;
}

const nowIso = () => new Date().toISOString();

function patchEntry(ledger: Ledger, id: string, patch: Partial<LedgerEntry>): Ledger {
  return { ...ledger, [id]: { ...(ledger[id] ?? emptyLedgerEntry(id)), ...patch } };
}

function finishPatch(entry: LedgerEntry | undefined): Partial<LedgerEntry> {
  const endedAt = nowIso();
  const started = entry?.startedAt ? Date.parse(entry.startedAt) : Date.parse(endedAt);
  return { endedAt, durationMs: Math.max(0, Date.parse(endedAt) - started) };
}

/** The one place a step that was in flight is marked when the build stops around it. */
function markInFlight(ledger: Ledger, status: 'interrupted'): Ledger {
  let next = ledger;
  for (const entry of Object.values(ledger)) {
    if (isInFlight(entry.status)) next = patchEntry(next, entry.id, { status, ...finishPatch(entry) });
  }
  return next;
}

export const buildMachineSetup = setup({
  types: {
    context: {} as BuildContext,
    input: {} as BuildMachineInput,
    events: {} as BuildEvent,
    output: {} as BuildMachineOutput,
  },
  actors: {
    runStep: fromPromise<RunStepOutput, RunStepInput>(async () => {
      throw new Error('runStep is provided by the engine');
    }),
    verifyStep: fromPromise<void, RunStepInput>(async () => {
      throw new Error('verifyStep is provided by the engine');
    }),
    undoStep: fromPromise<void, RunStepInput>(async () => {
      throw new Error('undoStep is provided by the engine');
    }),
    backoff: fromPromise<void, BackoffInput>(async ({ input, signal }) => {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, input.delayMs);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    }),
    /** Samples the host while the pipeline runs and sends PAUSE when the disk runs short; the engine provides it. */
    monitor: fromCallback<BuildEvent>(() => () => undefined),
    cleanup: fromPromise<void, CleanupInput>(async () => {
      throw new Error('cleanup is provided by the engine');
    }),
  },
  guards: {
    canRetry: ({ context }, params: { stepId: string }) => {
      const entry = context.ledger[params.stepId];
      return entry?.error?.transient === true && entry.attempts < context.retry.maxAttempts;
    },
    isSkipped: ({ context }, params: { stepId: string }) => context.plan[params.stepId]?.skipReason != null,
    outcomeIs: ({ context }, params: { outcome: BuildOutcome }) => context.outcome === params.outcome,
    /** The step's run found too little disk to start and did nothing: the build pauses. */
    runPaused: (_, params: { output: RunStepOutput }) => params.output.pause !== undefined,
  },
  actions: {
    markSkipped: assign(({ context }, params: { stepId: string }) => {
      const plan = context.plan[params.stepId]!;
      const previous = context.ledger[params.stepId] ?? emptyLedgerEntry(params.stepId);
      return {
        current: params.stepId,
        ledger: patchEntry(context.ledger, params.stepId, {
          status: 'skipped',
          reason: plan.skipReason,
          fingerprint: plan.fingerprint,
          material: plan.material,
          error: null,
          // a skipped step keeps the artifacts and timings of the run that made them
          artifacts: previous.artifacts,
        }),
      };
    }),
    markRunning: assign(({ context }, params: { stepId: string }) => {
      const plan = context.plan[params.stepId]!;
      const previous = context.ledger[params.stepId];
      const attempts = previous?.runId === context.runId ? previous.attempts + 1 : 1;
      return {
        current: params.stepId,
        ledger: patchEntry(context.ledger, params.stepId, {
          status: 'running',
          attempts,
          startedAt: previous?.runId === context.runId && previous.startedAt ? previous.startedAt : nowIso(),
          endedAt: null,
          durationMs: null,
          fingerprint: plan.fingerprint,
          material: plan.material,
          error: null,
          reason: null,
          runId: context.runId,
          artifacts: [],
        }),
      };
    }),
    recordArtifacts: assign(({ context }, params: { stepId: string; artifacts: Artifact[] }) => ({
      ledger: patchEntry(context.ledger, params.stepId, { artifacts: params.artifacts }),
    })),
    markStatus: assign(({ context }, params: { stepId: string; status: 'verifying' | 'retrying' | 'recovering' }) => ({
      ledger: patchEntry(context.ledger, params.stepId, { status: params.status }),
    })),
    recordError: assign(({ context }, params: { stepId: string; error: unknown }) => ({
      ledger: patchEntry(context.ledger, params.stepId, { error: summarizeError(params.error) }),
    })),
    markDone: assign(({ context }, params: { stepId: string }) => ({
      ledger: patchEntry(context.ledger, params.stepId, {
        status: 'done',
        ...finishPatch(context.ledger[params.stepId]),
      }),
    })),
    markFailed: assign(({ context }, params: { stepId: string }) => ({
      outcome: 'failed' as const,
      failedStep: params.stepId,
      ledger: patchEntry(context.ledger, params.stepId, {
        status: 'failed',
        ...finishPatch(context.ledger[params.stepId]),
      }),
    })),
    markSucceeded: assign({ outcome: 'succeeded' as const, current: null }),
    markCleanupFailed: assign({ outcome: 'failed' as const }),
    markInterrupted: assign(({ context }, params: { signal: string }) => ({
      outcome: 'interrupted' as const,
      interruptSignal: params.signal,
      ledger: markInFlight(context.ledger, 'interrupted'),
    })),
    markPaused: assign(({ context }, params: { reason: string }) => ({
      outcome: 'paused' as const,
      pauseReason: params.reason,
      ledger: markInFlight(context.ledger, 'interrupted'),
    })),
  },
});

type ErrorEvent = { event: { error: unknown } };

function stepState(stepId: string, next: string | null) {
  const p = { stepId };
  const recordError = {
    type: 'recordError' as const,
    params: ({ event }: ErrorEvent) => ({ stepId, error: event.error }),
  };
  const attemptInput = ({ context }: { context: BuildContext }) => ({
    stepId,
    attempt: context.ledger[stepId]?.attempts ?? 1,
  });
  return buildMachineSetup.createStateConfig({
    initial: 'checking',
    states: {
      checking: {
        always: [{ guard: { type: 'isSkipped', params: p }, target: 'skipped' }, { target: 'running' }],
      },
      running: {
        entry: { type: 'markRunning', params: p },
        invoke: {
          id: `run.${stepId}`,
          src: 'runStep',
          input: attemptInput,
          onDone: [
            {
              guard: { type: 'runPaused', params: ({ event }) => ({ output: event.output }) },
              target: '#build.cleanup',
              actions: { type: 'markPaused', params: ({ event }) => ({ reason: event.output.pause ?? '' }) },
            },
            {
              target: 'verifying',
              actions: {
                type: 'recordArtifacts',
                params: ({ event }) => ({ stepId, artifacts: event.output.artifacts ?? [] }),
              },
            },
          ],
          onError: { target: 'erred', actions: recordError },
        },
      },
      verifying: {
        entry: { type: 'markStatus', params: { stepId, status: 'verifying' as const } },
        invoke: {
          id: `verify.${stepId}`,
          src: 'verifyStep',
          input: attemptInput,
          onDone: { target: 'done' },
          onError: { target: 'erred', actions: recordError },
        },
      },
      erred: {
        always: [{ guard: { type: 'canRetry', params: p }, target: 'retrying' }, { target: 'recovering' }],
      },
      retrying: {
        entry: { type: 'markStatus', params: { stepId, status: 'retrying' as const } },
        invoke: {
          id: `backoff.${stepId}`,
          src: 'backoff',
          input: ({ context }) => {
            const attempts = context.ledger[stepId]?.attempts ?? 1;
            return {
              stepId,
              delayMs: Math.round(context.retry.backoffMs * context.retry.backoffFactor ** (attempts - 1)),
            };
          },
          onDone: { target: 'running' },
        },
      },
      recovering: {
        entry: { type: 'markStatus', params: { stepId, status: 'recovering' as const } },
        invoke: {
          id: `undo.${stepId}`,
          src: 'undoStep',
          input: attemptInput,
          onDone: { target: 'failed' },
          onError: { target: 'failed' },
        },
      },
      failed: {
        entry: { type: 'markFailed', params: p },
        always: { target: '#build.cleanup' },
      },
      done: { type: 'final', entry: { type: 'markDone', params: p } },
      skipped: { type: 'final', entry: { type: 'markSkipped', params: p } },
    },
    onDone: next === null ? { target: '#build.cleanup', actions: 'markSucceeded' } : { target: next },
  });
}

/** Generates the build machine for an ordered list of step ids. */
export function createBuildMachine(stepIds: readonly string[]) {
  if (stepIds.length === 0) throw new Error('a build needs at least one step');
  const states: Record<string, ReturnType<typeof stepState>> = {};
  stepIds.forEach((id, i) => {
    states[id] = stepState(id, stepIds[i + 1] ?? null);
  });
  return buildMachineSetup.createMachine({
    id: 'build',
    initial: 'ready',
    context: ({ input }) => {
      const ledger: Ledger = {};
      for (const s of input.steps) ledger[s.id] = input.ledger[s.id] ?? emptyLedgerEntry(s.id);
      return {
        runId: input.runId,
        order: input.steps.map((s) => s.id),
        plan: Object.fromEntries(input.steps.map((s) => [s.id, s])),
        retry: input.retry,
        ledger,
        current: null,
        outcome: 'running' as BuildOutcome,
        failedStep: null,
        interruptSignal: null,
        pauseReason: null,
      };
    },
    states: {
      // A signal that came before the start (while the lock was taken or --fresh removed trees) ends here,
      // through the same cleanup and final states as any other.
      ready: {
        on: {
          START: { target: 'pipeline' },
          INTERRUPT: {
            target: 'cleanup',
            actions: { type: 'markInterrupted', params: ({ event }) => ({ signal: event.signal }) },
          },
        },
      },
      pipeline: {
        initial: stepIds[0]!,
        invoke: { id: 'monitor', src: 'monitor' },
        on: {
          INTERRUPT: {
            target: 'cleanup',
            actions: { type: 'markInterrupted', params: ({ event }) => ({ signal: event.signal }) },
          },
          PAUSE: {
            target: 'cleanup',
            actions: { type: 'markPaused', params: ({ event }) => ({ reason: event.reason }) },
          },
        },
        states: states as never,
      },
      cleanup: {
        invoke: {
          id: 'cleanup',
          src: 'cleanup',
          input: ({ context }) => ({ outcome: context.outcome, failedStep: context.failedStep }),
          onDone: [
            { guard: { type: 'outcomeIs', params: { outcome: 'succeeded' } }, target: 'succeeded' },
            { guard: { type: 'outcomeIs', params: { outcome: 'failed' } }, target: 'failed' },
            { guard: { type: 'outcomeIs', params: { outcome: 'paused' } }, target: 'paused' },
            { target: 'interrupted' },
          ],
          // A cleanup that fails turns success into failure; other outcomes keep their meaning.
          onError: [
            {
              guard: { type: 'outcomeIs', params: { outcome: 'succeeded' } },
              target: 'failed',
              actions: 'markCleanupFailed',
            },
            { guard: { type: 'outcomeIs', params: { outcome: 'failed' } }, target: 'failed' },
            { guard: { type: 'outcomeIs', params: { outcome: 'paused' } }, target: 'paused' },
            { target: 'interrupted' },
          ],
        },
      },
      succeeded: { type: 'final' },
      failed: { type: 'final' },
      interrupted: { type: 'final' },
      paused: { type: 'final' },
    },
    output: ({ context }) => ({
      outcome: context.outcome === 'running' ? 'failed' : context.outcome,
      failedStep: context.failedStep,
      interruptSignal: context.interruptSignal,
      pauseReason: context.pauseReason,
      current: context.outcome === 'succeeded' ? null : context.current,
    }),
  });
}

export type BuildMachine = ReturnType<typeof createBuildMachine>;
export type BuildActor = ActorRefFrom<BuildMachine>;
export type BuildSnapshot = SnapshotFrom<BuildMachine>;
