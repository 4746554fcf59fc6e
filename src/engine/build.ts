/**
 * The applier: takes the lock, loads the ledger, plans, and drives the build machine with
 * actors that run the steps. The ledger and the machine snapshot are written durably after
 * every transition; resume is driven by the ledger, never by restoring invoked actors.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { createActor, fromPromise, toPromise } from 'xstate';
import type { Logger } from 'pino';
import {
  createBuildMachine,
  MACHINE_SHAPE_VERSION,
  type BuildActor,
  type BuildSnapshot,
  type RunStepOutput,
} from '../../machines/build-machine.js';
import { readStateReadOnly, StateStore } from '../../state/store.js';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { UsageError } from '../errors.js';
import { renderReportHtml } from '../inspect/report-html.js';
import { ExecaRunner } from '../runtime/execa-runner.js';
import { layersFor } from '../runtime/layers.js';
import { acquireLock } from '../runtime/lock.js';
import { mountsUnder, readMountinfo } from '../runtime/mountinfo.js';
import { packageVersion } from '../runtime/package-root.js';
import { workPaths, type WorkPaths } from '../runtime/paths.js';
import { reapOrphans } from '../runtime/process-groups.js';
import type { Runner } from '../runtime/runner.js';
import { assertNoMountsUnder, removeTree } from '../runtime/safe-remove.js';
import { endedSteps, SafetyRecorder } from '../runtime/session.js';
import { checkWorkDir } from '../runtime/work-dir.js';
import { addSample, freeDiskBytes, sampleResources, toMb } from '../runtime/resources.js';
import { artifactPresent } from '../steps/artifacts.js';
import { resolveSteps } from '../steps/registry.js';
import type { StepContext, StepDef } from '../steps/types.js';
import type { BuildOutcome, Ledger, StepStatus } from '../types.js';
import { loggingRunner, openBuildLogger, openStepLog } from './build-log.js';
import { fingerprintSteps } from './fingerprint.js';
import { planBuild, type PlanEntry } from './planner.js';
import type { ProgressView } from './progress.js';

export const WORK_ID_ENV = 'AILINUX_WORK_ID';

export interface BuildRequest {
  command: 'build' | 'resume';
  workDir: string;
  configFile?: string | null;
  profile?: string | null;
  fresh?: boolean;
  cwd?: string;
  /** The command line, recorded in the lock. */
  commandLine: string;
}

export interface BuildDeps {
  view: ProgressView;
  warn: (message: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Replaces the real execa runner (tests). It receives the env marker every command must carry. */
  createRunner?: (hooks: RunnerHooks) => Runner;
}

export interface RunnerHooks {
  baseEnv: Record<string, string>;
  onSpawn: (group: { pgid: number; argv: string[]; startTicks: number | null; startedAt: string }) => void;
  onExit: (pgid: number) => void;
}

export interface BuildResult {
  outcome: BuildOutcome;
  pauseReason: string | null;
  failedStep: string | null;
  signal: string | null;
  state: StateFile;
  plan: PlanEntry[];
  paths: WorkPaths;
  stateWrites: { count: number; meanMs: number; maxMs: number };
}

/** The machine version: changes when the step list, a step's version or the machine's shape changes. */
export function machineVersion(steps: readonly StepDef[]): string {
  const text = JSON.stringify({ shape: MACHINE_SHAPE_VERSION, steps: steps.map((s) => [s.id, s.version]) });
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export function parseSourceDateEpoch(env: NodeJS.ProcessEnv): number | null {
  const raw = env['SOURCE_DATE_EPOCH'];
  if (raw === undefined || raw === '') return null;
  if (!/^\d{1,12}$/.test(raw)) {
    throw new UsageError(`SOURCE_DATE_EPOCH is "${raw}", not a whole number of seconds since 1970`, {
      hint: 'unset it or set it to e.g. $(git log -1 --format=%ct)',
    });
  }
  return Number(raw);
}

/** Loads the config a build or resume will use; writes nothing. */
export function resolveBuildConfig(request: BuildRequest, existing: StateFile | null): LoadedConfig {
  const explicit = Boolean(request.configFile || request.profile);
  if (request.command === 'resume' && existing && !explicit) {
    return loadConfig({
      configFile: existing.configSource.configFile,
      profile: existing.configSource.configFile ? null : existing.configSource.profile,
      ...(request.cwd ? { cwd: request.cwd } : {}),
    });
  }
  return loadConfig({
    configFile: request.configFile ?? null,
    profile: request.profile ?? null,
    ...(request.cwd ? { cwd: request.cwd } : {}),
  });
}

export class BuildSession {
  private actor: BuildActor | null = null;
  private runner: Runner | null = null;
  private interrupts = 0;
  /** A signal that came before the machine existed (during locking, reaping, --fresh removal). */
  private pendingSignal: NodeJS.Signals | null = null;
  /** Step work still settling after its actor was stopped; cleanup waits for it. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly request: BuildRequest,
    private readonly deps: BuildDeps,
  ) {}

  /** First signal: stop the running command and clean up. Second: KILL our own process groups. */
  /** Stops the build cleanly so that it can be resumed later (for lack of disk space). */
  pause(reason: string): void {
    this.deps.view.message(`pausing: ${reason}`);
    this.actor?.send({ type: 'PAUSE', reason });
  }

  interrupt(signal: NodeJS.Signals): void {
    this.interrupts++;
    if (this.interrupts > 1) {
      this.deps.view.message(`${signal} again: killing the build's own process groups now`);
      this.runner?.signalAll('SIGKILL');
      return;
    }
    this.deps.view.message(`${signal}: stopping the current step and cleaning up (press Ctrl-C again to kill at once)`);
    if (this.actor) this.actor.send({ type: 'INTERRUPT', signal });
    else this.pendingSignal = signal;
  }

  async run(): Promise<BuildResult> {
    const { request, deps } = this;
    const env = deps.env ?? process.env;
    const workDir = checkWorkDir(request.workDir);
    const paths = workPaths(workDir);
    const sourceDateEpoch = parseSourceDateEpoch(env);

    // Read-only look first: a bad config or a resume with nothing to resume must write nothing.
    const loaded = resolveBuildConfig(request, request.command === 'resume' ? safePeek(paths.stateFile) : null);
    const steps = resolveSteps(loaded.config);
    if (request.command === 'resume' && !fs.existsSync(paths.stateFile)) {
      throw new UsageError(`there is no build to resume in ${workDir}`, {
        hint: `start one with: ailinux build --work-dir ${workDir}`,
      });
    }

    fs.mkdirSync(paths.stateDir, { recursive: true });
    const lock = acquireLock(paths.lockFile, request.commandLine, deps.warn);
    try {
      return await this.runLocked(paths, loaded, steps, sourceDateEpoch);
    } finally {
      lock.release();
    }
  }

  private async runLocked(
    paths: WorkPaths,
    loaded: LoadedConfig,
    steps: StepDef[],
    sourceDateEpoch: number | null,
  ): Promise<BuildResult> {
    const { request, deps } = this;
    const store = StateStore.open(paths.stateFile);
    const previous = store.load();

    if (request.command === 'build' && previous && previous.outcome !== 'succeeded' && !request.fresh) {
      const where =
        previous.current ??
        Object.values(previous.ledger).find((e) => e.status === 'failed' || e.status === 'interrupted')?.id;
      throw new UsageError(
        `${paths.workDir} holds an unfinished build (${previous.outcome}${where ? ` at ${where}` : ''})`,
        {
          hint: `continue it with \`ailinux resume --work-dir ${paths.workDir}\`, or start over with \`ailinux build --fresh\``,
        },
      );
    }

    if (previous) await this.reapLeftovers(previous);
    if (previous && previous.machineVersion !== machineVersion(steps)) {
      deps.view.message(
        'the step list or a step implementation changed since the last run; the ledger decides what is reused (ailinux plan says why)',
      );
    }
    const workId = previous?.workId ?? crypto.randomUUID();
    const runId = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${crypto.randomBytes(3).toString('hex')}`;
    const ledger: Ledger = {};
    if (previous && !request.fresh)
      for (const s of steps) if (previous.ledger[s.id]) ledger[s.id] = previous.ledger[s.id]!;

    const fingerprints = fingerprintSteps(steps, loaded.config, loaded.baseDir, { sourceDateEpoch });
    const plan = planBuild(fingerprints, ledger, (a) => artifactPresent(paths.workDir, a));
    // A step this run will redo is pending until it starts: status must not show an old run's result for it.
    for (const p of plan) {
      const old = ledger[p.id];
      if (p.action === 'run' && old) {
        ledger[p.id] = {
          ...old,
          status: 'pending',
          attempts: 0,
          error: null,
          reason: null,
          artifacts: [],
          startedAt: null,
          endedAt: null,
          durationMs: null,
        };
      }
    }

    const now = new Date().toISOString();
    const state: StateFile = {
      schemaVersion: STATE_SCHEMA_VERSION,
      machineVersion: machineVersion(steps),
      workId,
      runId,
      profile: loaded.config.name,
      configSource: loaded.source,
      config: redactConfig(loaded.config),
      outcome: 'running',
      createdAt: previous && !request.fresh ? previous.createdAt : now,
      updatedAt: now,
      order: steps.map((s) => s.id),
      ledger,
      snapshot: null,
      current: null,
      interruptSignal: null,
      processes: [],
      history: [
        ...(previous?.history ?? []),
        { runId, command: request.command, startedAt: now, endedAt: null, outcome: 'running' as BuildOutcome },
      ].slice(-50),
    };

    // The session-safety invariant: checked now, after every step and at the end (docs/safety.md).
    const safety = new SafetyRecorder(runId, request.fresh ? null : previous?.safety);
    state.safety = safety.record;
    safety.check(null, 'start');

    // --fresh refuses a mount under the work dir before it touches anything, the ledger included.
    if (previous && request.fresh) assertNoMountsUnder(paths.workDir);
    const writes: number[] = [];
    const persist = () => writes.push(store.save(state).ms);
    persist();
    // Only now that the emptied ledger is on disk: a kill mid-removal must not leave old checkpoints that trust half-deleted trees.
    if (previous && request.fresh) {
      deps.view.message("--fresh: discarding the previous build's layers and ISO tree (caches are kept)");
      for (const dir of [paths.layersDir, paths.mntDir, paths.isoDir, paths.tmpDir])
        await removeTree(dir, { within: paths.workDir });
    }

    const logger = openBuildLogger(paths.buildLog, runId);
    logger.info(
      {
        command: request.command,
        profile: state.profile,
        workDir: paths.workDir,
        plan: plan.map((p) => ({ id: p.id, action: p.action, reasons: p.reasons })),
      },
      'build started',
    );
    for (const p of plan) if (p.action === 'run' && p.undoFirst) deps.view.message(`${p.id}: ${p.reasons[0]}`);

    const runner = (deps.createRunner ?? defaultRunner)({
      baseEnv: { [WORK_ID_ENV]: workId },
      onSpawn: (group) => {
        state.processes.push(group);
        persist();
      },
      onExit: (pgid) => {
        state.processes = state.processes.filter((p) => p.pgid !== pgid);
        persist();
      },
    });
    this.runner = runner;

    const stepIndex = new Map(steps.map((s, i) => [s.id, i]));
    const contextFor = (stepId: string, signal: AbortSignal, lineSink?: (line: string) => void) => {
      const step = steps[stepIndex.get(stepId)!]!;
      const log = openStepLog(paths.stepLogsDir, stepId, logger, lineSink);
      const ctx: StepContext = {
        config: loaded.config,
        paths,
        runner: loggingRunner(runner, log, logger, stepId),
        log,
        signal,
        layers: layersFor(steps, stepIndex.get(stepId)!, paths.layersDir, paths.mntDir),
        ledger: this.actor?.getSnapshot().context.ledger ?? ledger,
        sourceDateEpoch,
        cores: os.availableParallelism(),
        toolVersion: packageVersion(),
        resourcePeaks: state.resources ?? {},
        baseDir: loaded.baseDir,
        // the HTML report draws the machine and the timeline with the inspect renderers, which steps cannot import
        renderReportHtml: (report, ledgerNow) =>
          renderReportHtml({
            report,
            order: steps.map((s) => s.id),
            ledger: ledgerNow,
            buildLog: paths.buildLog,
            runId,
          }),
      };
      return { step, ctx, log };
    };

    const track = <T>(work: Promise<T>): Promise<T> => {
      this.inFlight.add(work);
      void work.finally(() => this.inFlight.delete(work)).catch(() => undefined);
      return work;
    };
    const machine = createBuildMachine(steps.map((s) => s.id)).provide({
      actors: {
        runStep: fromPromise<RunStepOutput, { stepId: string; attempt: number }>(({ input, signal }) =>
          track(
            (async () => {
              const { step, ctx, log } = contextFor(input.stepId, signal, (line) =>
                deps.view.stepLine(input.stepId, line),
              );
              try {
                log.info(`--- ${step.title}: attempt ${input.attempt} (run ${runId})`);
                const shortfall = diskShortfall(step, loaded.config, paths.workDir);
                if (shortfall) {
                  this.pause(shortfall);
                  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
                  return { artifacts: [] };
                }
                // Whatever an earlier attempt or a crashed build left is thrown away before the step starts.
                await step.undo(ctx);
                const artifacts = await step.run(ctx);
                return { artifacts };
              } finally {
                log.close();
              }
            })(),
          ),
        ),
        verifyStep: fromPromise<void, { stepId: string; attempt: number }>(({ input, signal }) =>
          track(
            (async () => {
              const { step, ctx, log } = contextFor(input.stepId, signal);
              try {
                await step.verify(ctx);
                log.info('verified');
              } finally {
                log.close();
              }
            })(),
          ),
        ),
        undoStep: fromPromise<void, { stepId: string; attempt: number }>(({ input, signal }) =>
          track(
            (async () => {
              const { step, ctx, log } = contextFor(input.stepId, signal);
              try {
                log.info('undoing the failed step');
                await step.undo(ctx);
              } finally {
                log.close();
              }
            })(),
          ),
        ),
        cleanup: fromPromise(async () => {
          await runner.drain();
          // A stopped step's own work (a layer removal, a file being written) settles before the state is final.
          await Promise.allSettled([...this.inFlight]);
          const left = mountsUnder(paths.workDir, readMountinfo());
          for (const m of left) {
            deps.warn(
              `a mount remains at ${m.mountPoint} under the work dir; ailinux did not make it in this namespace and leaves it alone`,
            );
          }
          logger.info({ mountsLeft: left.length }, 'cleanup finished');
        }),
      },
    });

    const actor = createActor(machine, {
      input: {
        runId,
        retry: loaded.config.retry,
        ledger,
        steps: plan.map((p) => ({
          id: p.id,
          fingerprint: p.fingerprint,
          material: p.material,
          skipReason: p.action === 'skip' ? p.reasons[0]! : null,
        })),
      },
    });
    this.actor = actor;

    let seen: Ledger = { ...ledger };
    actor.subscribe({
      next: (snapshot: BuildSnapshot) => {
        state.ledger = snapshot.context.ledger;
        state.current = snapshot.context.current;
        state.interruptSignal = snapshot.context.interruptSignal;
        state.snapshot = actor.getPersistedSnapshot();
        for (const id of endedSteps(seen, snapshot.context.ledger)) safety.check(id, 'step');
        persist();
        seen = reportTransitions(seen, snapshot.context.ledger, deps.view, logger);
      },
      error: (error) => logger.error({ err: error }, 'machine error'),
    });

    state.resources = {};
    const floorMb = loaded.config.resources.minFreeDiskMb;
    const monitor = setInterval(() => {
      const current = actor.getSnapshot().context.current;
      if (!current || actor.getSnapshot().status !== 'active') return;
      let sample: ReturnType<typeof sampleResources>;
      try {
        sample = sampleResources(paths.workDir);
      } catch {
        return;
      }
      state.resources![current] = addSample(state.resources![current], sample);
      if (toMb(sample.diskFreeBytes) < floorMb && actor.getSnapshot().context.outcome === 'running') {
        this.pause(
          `disk: ${toMb(sample.diskFreeBytes)} MiB free in ${paths.workDir}, below the floor of ${floorMb} MiB (resources.minFreeDiskMb)`,
        );
      }
    }, loaded.config.resources.sampleIntervalMs);
    monitor.unref();

    if (this.pendingSignal) {
      // Stopped before any step began: nothing to undo, the state says so.
      logger.info({ signal: this.pendingSignal }, 'interrupted before the first step');
      state.outcome = 'interrupted';
      state.interruptSignal = this.pendingSignal;
      const last = state.history[state.history.length - 1]!;
      last.endedAt = new Date().toISOString();
      last.outcome = 'interrupted';
      persist();
      clearInterval(monitor);
      deps.view.close();
      const count = writes.length;
      return {
        outcome: 'interrupted',
        pauseReason: null,
        failedStep: null,
        signal: this.pendingSignal,
        state,
        plan,
        paths,
        stateWrites: { count, meanMs: writes.reduce((a, b) => a + b, 0) / count, maxMs: Math.max(...writes) },
      };
    }
    actor.start();
    await toPromise(actor).catch(() => undefined);
    clearInterval(monitor);
    const final = actor.getSnapshot();
    const outcome: BuildOutcome =
      final.value === 'succeeded'
        ? 'succeeded'
        : final.value === 'interrupted'
          ? 'interrupted'
          : final.value === 'paused'
            ? 'paused'
            : 'failed';
    state.pauseReason = final.context.pauseReason;
    state.outcome = outcome;
    state.current = outcome === 'succeeded' ? null : final.context.current;
    const last = state.history[state.history.length - 1]!;
    last.endedAt = new Date().toISOString();
    last.outcome = outcome;
    safety.check(state.current, 'end');
    persist();
    deps.view.close();

    const stateWrites = {
      count: writes.length,
      meanMs: writes.reduce((a, b) => a + b, 0) / Math.max(1, writes.length),
      maxMs: Math.max(0, ...writes),
    };
    logger.info({ outcome, failedStep: final.context.failedStep, stateWrites }, 'build finished');
    return {
      outcome,
      pauseReason: final.context.pauseReason,
      failedStep: final.context.failedStep,
      signal: final.context.interruptSignal,
      state,
      plan,
      paths,
      stateWrites,
    };
  }

  /** Ends what a crashed earlier run of this work dir left running, and nothing else. */
  private async reapLeftovers(previous: StateFile): Promise<void> {
    const { killed } = await reapOrphans({
      groups: previous.processes,
      marker: { name: WORK_ID_ENV, value: previous.workId },
    });
    if (killed.length > 0)
      this.deps.warn(
        `ended ${killed.length} process(es) left running by an earlier build of this work dir: ${killed.join(', ')}`,
      );
  }
}

/** The config as stored in the state: the live user's password is not kept on disk. */
function redactConfig(config: LoadedConfig['config']): LoadedConfig['config'] {
  return { ...config, liveUser: { ...config.liveUser, password: '(not stored)' } };
}

/** Says why a step cannot start for lack of disk space, or null when there is room. */
export function diskShortfall(step: StepDef, config: LoadedConfig['config'], workDir: string): string | null {
  const floor = config.resources.minFreeDiskMb;
  const need = config.resources.checkEstimates ? (step.diskEstimateMb?.(config) ?? 0) : 0;
  const free = toMb(freeDiskBytes(workDir));
  if (free >= need + floor) return null;
  return `disk: ${step.id} needs about ${need} MiB plus the floor of ${floor} MiB, but ${workDir} has ${free} MiB free; free some space, then run ailinux resume`;
}

function safePeek(stateFile: string): StateFile | null {
  // A resume needs the recorded config source; corrupt state is reported (and backed up once) later, under the lock.
  try {
    return readStateReadOnly(stateFile);
  } catch {
    return null;
  }
}

function defaultRunner(hooks: RunnerHooks): Runner {
  return new ExecaRunner({ baseEnv: hooks.baseEnv, onSpawn: hooks.onSpawn, onExit: hooks.onExit });
}

const TERMINAL: readonly StepStatus[] = ['done', 'skipped', 'failed', 'interrupted'];

/** Tells the view and the log about each step whose status changed in this transition. */
function reportTransitions(before: Ledger, after: Ledger, view: ProgressView, logger: Logger): Ledger {
  for (const entry of Object.values(after)) {
    const was = before[entry.id];
    if (was?.status === entry.status && was.attempts === entry.attempts) continue;
    logger.info(
      { step: entry.id, status: entry.status, attempts: entry.attempts, error: entry.error ?? undefined },
      `step ${entry.status}`,
    );
    if (entry.status === 'running') view.stepStarted(entry.id, entry.attempts);
    else if (entry.status === 'retrying')
      view.stepEnded(
        entry.id,
        'retrying',
        null,
        `attempt ${entry.attempts} failed: ${entry.error?.message ?? ''}; retrying`,
      );
    else if (TERMINAL.includes(entry.status)) {
      const note =
        entry.status === 'skipped' ? (entry.reason ?? '') : entry.attempts > 1 ? `${entry.attempts} attempts` : '';
      view.stepEnded(entry.id, entry.status, entry.status === 'skipped' ? null : entry.durationMs, note);
    }
  }
  return after;
}
