/**
 * The applier: one `ailinux build` or `resume`. It prepares (work dir, config, steps; writes nothing), takes the
 * lock, plans from the ledger, records the run, and drives the build machine with the actors that run the steps.
 * The ledger and the machine snapshot are written durably after every transition; the outcome is the machine's
 * output. Resume is driven by the ledger, never by restoring invoked actors.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { createActor, fromCallback, fromPromise, toPromise } from 'xstate';
import {
  type BuildActor,
  type BuildEvent,
  type BuildMachineOutput,
  type BuildSnapshot,
  createBuildMachine,
  type RunStepOutput,
} from '../../machines/build-machine.js';
import { STATE_SCHEMA_VERSION, type StateFile, type StateSafetyCheck } from '../../state/schema.js';
import { StateStore } from '../../state/store.js';
import type { LoadedConfig } from '../config/load.js';
import { hideSecretParts } from '../config/secrets.js';
import { AilinuxError, UsageError } from '../errors.js';
import { ExecaRunner } from '../runtime/execa-runner.js';
import { layersFor } from '../runtime/layers.js';
import { mountsUnder, readMountinfo } from '../runtime/mountinfo.js';
import {
  CACHE_DIR_ENV,
  type CacheLocation,
  DebCache,
  DEFAULT_CACHE_MAX_SIZE,
  parseSize,
  resolveCacheDir,
  type SharedDebs,
} from '../runtime/deb-cache.js';
import { type WorkPaths, workPaths } from '../runtime/paths.js';
import { markerEnv, reapOrphans, workMarker } from '../runtime/process-groups.js';
import { addSample, type ResourceSample, sampleResources, toMb } from '../runtime/resources.js';
import { explainReadOnly } from '../runtime/read-only-error.js';
import type { Runner } from '../runtime/runner.js';
import { assertRemovable, BUILD_TREES, removeWorkEntries } from '../runtime/remove-work-entries.js';
import { checkViolation, endedSteps, SafetyRecorder, summarizeSafety } from '../runtime/session.js';
import { checkWorkDir } from '../runtime/work-dir.js';
import type { WorkDirMark } from './work-dir-mark.js';
import { assertWorkDirUsable, claimAndLockWorkDir, inspectWorkDir, type WorkDirOwnership } from './work-dir-owner.js';
import { artifactPresent } from '../steps/artifacts.js';
import { resolveSteps } from '../steps/registry.js';
import type { StepContext, StepDef } from '../steps/types.js';
import { type BuildOutcome, emptyLedgerEntry, type Ledger, type StepStatus } from '../types.js';
import {
  type BuildDeps,
  type BuildRequest,
  type BuildResult,
  diskShortfall,
  machineVersion,
  parseSourceDateEpoch,
  type RunnerHooks,
  resolveBuildConfig,
  safePeek,
  WORK_ID_ENV,
} from './build.js';
import { loggingRunner, openBuildLogger, openStepLog } from './build-log.js';
import { diskFullReason, isDiskFull } from './disk-full.js';
import {
  completedRuns,
  durationsFile,
  type EstimateContext,
  expectedTimes,
  readDurations,
  recordDuration,
  thisHost,
} from '../../state/durations.js';
import { archiveInputs, checkArchive, describeArchiveCheck, suitesOf, type ArchiveCheck } from './archive-check.js';
import { makeNoopDigest, saveNoopDigest } from './noop-digest.js';
import { localPackagesMaterial } from '../steps/local-packages.js';
import { checkInputTrees, fingerprintSteps } from './fingerprint.js';
import { InputHashCache } from './input-hash-cache.js';
import { ensureFingerprintKey } from './fingerprint-key.js';
import { type PlanEntry, planBuild } from './planner.js';
import type { ProgressView } from './progress.js';
import { composeSteps } from './steps.js';
import { keepVerifiedLayer, runOrRestoreLayer, unsharedLayerReasons } from '../steps/layer-cache.js';

/** What `prepare` found: everything a build needs to know before it writes anything. */
interface Prepared {
  paths: WorkPaths;
  loaded: LoadedConfig;
  steps: StepDef[];
  sourceDateEpoch: number | null;
  /** Whose the work dir is; a directory that is not ailinux's was refused. */
  ownership: WorkDirOwnership;
  /** The archive as read once for this run (before the lock: a failure leaves nothing written), or --offline. */
  archive: ArchiveCheck;
  /** Where the shared deb cache is, checked (not made yet); null when no home names one. */
  cacheLocation: CacheLocation | null;
  cacheMaxBytes: number;
}

/** What `plan` decided, from the config and the ledger on disk. */
interface Planned {
  runId: string;
  workId: string;
  ledger: Ledger;
  plan: PlanEntry[];
}

export class BuildRun {
  private actor: BuildActor | null = null;
  private runner: Runner | null = null;
  /** The shared deb cache this run uses (opened in run()), or null. */
  private debs: SharedDebs | null = null;
  private interrupts = 0;
  /** A signal that came before the machine existed (locking, reaping, --fresh removal); delivered at its start. */
  private pendingSignal: NodeJS.Signals | null = null;
  /** Step work still settling after its actor was stopped; cleanup waits for it. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Why the build pauses for a full disk, once something ran out of room (docs/safety.md). */
  private diskFullPause: string | null = null;
  /** What a session check found wrong, once one did: the build stops like SIGHUP (docs/safety.md). */
  private violation: string | null = null;

  constructor(
    private readonly request: BuildRequest,
    private readonly deps: BuildDeps,
  ) {}

  /** First signal: stop the running step and clean up. Second: KILL our own process groups. */
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
    const prepared = await this.readArchive(this.prepare());
    // made and opened before the sandbox, which leaves it writable beside the work dir
    this.debs = this.deps.sharedDebCache ? this.openDebCache(prepared) : null;
    // the mark is checked again once the lock is held: a clean --all may remove it between the claim and the lock
    const { mark, lock } = await claimAndLockWorkDir(prepared.paths.workDir, prepared.ownership, {
      lockFile: prepared.paths.lockFile,
      command: this.request.commandLine,
      warn: this.deps.warn,
      notice: (m) => this.notice(m),
      beforeLock: async () => {
        await this.deps.enterSandbox?.(prepared.paths, this.debs ? [this.debs.cache.dir] : []);
      },
    });
    try {
      const store = StateStore.open(prepared.paths.stateFile);
      const previous = store.load();
      this.refuseUnfinished(previous, prepared.paths);
      if (previous) await this.reapLeftovers(previous, prepared.paths.workDir);
      const planned = this.plan(prepared, previous);
      const record = this.startRecord(store, prepared, planned, previous, mark);
      if (previous && this.request.fresh) await this.discardForFresh(prepared.paths);
      const logger = openBuildLogger(prepared.paths.buildLog, planned.runId, (error) => {
        if (!this.pauseIfDiskFull(error, 'writing the build log')) throw error;
      });
      logger.info(
        {
          command: this.request.command,
          profile: record.state.profile,
          workDir: prepared.paths.workDir,
          plan: planned.plan.map((p) => ({ id: p.id, action: p.action, reasons: p.reasons })),
          archive: describeArchiveCheck(prepared.archive),
        },
        'build started',
      );
      const durations = durationsFile(prepared.paths.stateDir);
      const ids = planned.plan.map((p) => p.id);
      this.deps.view.stepsPlanned?.(ids, expectedTimes(readDurations(durations), ids, this.estimateContext(record)));
      for (const p of planned.plan) if (p.action === 'run' && p.undoFirst) this.notice(`${p.id}: ${p.reasons[0]}`);
      this.runner = this.createRunner(record, planned.workId, prepared.paths.workDir);
      const actor = this.createMachineActor(prepared, planned, record, this.runner, logger);
      this.actor = actor;
      this.follow(actor, record, logger, durations);
      const output = await this.drive(actor, logger);
      return this.finish(output, record, logger, prepared, planned);
    } finally {
      lock.release();
    }
  }

  /**
   * The shared deb cache, made if missing. An explicit dir (cache.dir, AILINUX_CACHE_DIR) that cannot be made stops
   * the build; the default one (a read-only or missing home) only turns the cache off, said once.
   */
  private openDebCache(prepared: Prepared): SharedDebs | null {
    const location = prepared.cacheLocation;
    if (location === null) {
      this.notice(
        'no shared deb cache: neither HOME nor XDG_CACHE_HOME names a cache home; downloads stay in the work dir',
      );
      return null;
    }
    const { config } = prepared.loaded;
    try {
      const cache = DebCache.open(location, { maxBytes: prepared.cacheMaxBytes });
      return {
        cache,
        key: { vendor: config.distribution.family, suite: config.distribution.suite, arch: config.architecture },
      };
    } catch (error) {
      if (location.source !== 'default' || error instanceof AilinuxError) throw error;
      this.notice(
        `no shared deb cache: ${location.dir} cannot be made (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); downloads stay in the work dir (set cache.dir or ${CACHE_DIR_ENV})`,
      );
      return null;
    }
  }

  /** Chatter that --quiet drops; a view without notices shows it as a message. */
  private notice(text: string): void {
    const { view } = this.deps;
    if (view.notice) view.notice(text);
    else view.message(text);
  }

  /** Work dir, SOURCE_DATE_EPOCH, config and steps. Writes nothing: a bad config or nothing to resume stops here. */
  private prepare(): Omit<Prepared, 'archive'> {
    const { request, deps } = this;
    const workDir = checkWorkDir(request.workDir);
    const paths = workPaths(workDir);
    const sourceDateEpoch = parseSourceDateEpoch(deps.env ?? process.env);
    const loaded = resolveBuildConfig(request, request.command === 'resume' ? safePeek(paths.stateFile) : null);
    const steps = resolveSteps(loaded.config);
    // a missing overlay directory or a bad manifest is a config error before the work dir is touched
    checkInputTrees(steps, loaded.config, loaded.baseDir);
    if (request.command === 'resume' && !fs.existsSync(paths.stateFile)) {
      throw new UsageError(`there is no build to resume in ${workDir}`, {
        hint: 'start one with `ailinux build`',
        hintArgv: ['ailinux', 'build'],
      });
    }
    const ownership = inspectWorkDir(workDir);
    assertWorkDirUsable(workDir, ownership);
    // a cache dir that is / or a system directory is refused here, before anything is written
    const cacheLocation = resolveCacheDir({
      configured: loaded.config.cache.dir,
      baseDir: loaded.baseDir,
      env: deps.env ?? process.env,
    });
    const cacheMaxBytes = parseSize(loaded.config.cache.maxSize) ?? parseSize(DEFAULT_CACHE_MAX_SIZE)!;
    return { paths, loaded, steps, sourceDateEpoch, ownership, cacheLocation, cacheMaxBytes };
  }

  /** Each suite's Release, read once for the whole run; an unreachable archive stops here, with nothing written. */
  private async readArchive(prepared: Omit<Prepared, 'archive'>): Promise<Prepared> {
    const archive = await checkArchive(prepared.steps, prepared.loaded.config, {
      offline: this.request.offline === true,
      reader: this.deps.archive,
    });
    // --offline says so whatever the verbosity: the layers are kept without knowing what the archive published
    if (archive.mode === 'offline') this.deps.view.message(describeArchiveCheck(archive)!);
    return { ...prepared, archive };
  }

  /** `build` without --fresh never starts over an unfinished build: that would throw its checkpoints away. */
  private refuseUnfinished(previous: StateFile | null, paths: WorkPaths): void {
    if (this.request.command !== 'build' || !previous || previous.outcome === 'succeeded' || this.request.fresh) return;
    const where =
      previous.current ??
      Object.values(previous.ledger).find((e) => e.status === 'failed' || e.status === 'interrupted')?.id;
    throw new UsageError(
      `${paths.workDir} holds an unfinished build (${previous.outcome}${where ? ` at ${where}` : ''})`,
      {
        hint: 'continue it with `ailinux resume`, or start over by adding --fresh to this command',
        hintArgv: ['ailinux', 'resume'],
      },
    );
  }

  /** The ledger carried over (none with --fresh), the fingerprints and the plan; a step to redo starts afresh. */
  private plan(prepared: Prepared, previous: StateFile | null): Planned {
    const { steps, loaded, paths, sourceDateEpoch } = prepared;
    if (previous && previous.machineVersion !== machineVersion(steps)) {
      this.notice(
        'the step list or a step implementation changed since the last run; the ledger decides what is reused (`ailinux plan` says why)',
      );
    }
    const workId = previous?.workId ?? crypto.randomUUID();
    const runId = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${crypto.randomBytes(3).toString('hex')}`;
    const ledger: Ledger = {};
    if (previous && !this.request.fresh)
      for (const s of steps) if (previous.ledger[s.id]) ledger[s.id] = previous.ledger[s.id]!;
    const secretKey = ensureFingerprintKey(paths.stateDir);
    const hashCache = InputHashCache.forWorkDir(paths.cacheDir);
    const fingerprints = fingerprintSteps(steps, loaded.config, loaded.baseDir, {
      sourceDateEpoch,
      secretKey,
      hashCache,
      archive: archiveInputs(prepared.archive, (id) => ledger[id]?.material),
    });
    saveHashCache(hashCache);
    const plan = planBuild(fingerprints, ledger, (a) => artifactPresent(paths.workDir, a));
    for (const p of plan) {
      const old = ledger[p.id];
      // A step this run will redo is pending until it starts, with no checkpoint: neither status nor a later plan
      // (after a pause before the step) may take an old run's result or fingerprint for it.
      if (p.action === 'run' && old) ledger[p.id] = emptyLedgerEntry(old.id);
    }
    return { runId, workId, ledger, plan };
  }

  /** The state of this run, its session-safety record, and the first durable write. */
  private startRecord(
    store: StateStore,
    prepared: Prepared,
    planned: Planned,
    previous: StateFile | null,
    mark: WorkDirMark,
  ): RunRecord {
    const { request } = this;
    const { loaded, steps, paths } = prepared;
    const now = new Date().toISOString();
    const state: StateFile = {
      schemaVersion: STATE_SCHEMA_VERSION,
      machineVersion: machineVersion(steps),
      workId: planned.workId,
      runId: planned.runId,
      profile: loaded.config.name,
      configSource: loaded.source,
      config: redactConfig(loaded.config),
      outcome: 'running',
      createdAt: previous && !request.fresh ? previous.createdAt : now,
      updatedAt: now,
      order: steps.map((s) => s.id),
      ledger: planned.ledger,
      snapshot: null,
      current: null,
      interruptSignal: null,
      processes: [],
      history: [
        ...(previous?.history ?? []),
        {
          runId: planned.runId,
          command: request.command,
          startedAt: now,
          endedAt: null,
          outcome: 'running' as BuildOutcome,
        },
      ].slice(-50),
      resources: {},
      // as typed for this run (a resume records its own): the report's and inspect's fix lines carry them
      userFlags: { ...request.userFlags },
      workDirMark: { id: mark.id, createdAt: mark.createdAt },
      archive: {
        mode: prepared.archive.mode,
        at: now,
        suites: prepared.archive.mode === 'checked' ? prepared.archive.releases.map((r) => ({ ...r })) : [],
      },
    };
    // The session-safety invariant: checked now, after every step and at the end (docs/safety.md).
    const safety = new SafetyRecorder(planned.runId, request.fresh ? null : previous?.safety);
    state.safety = safety.record;
    safety.check(null, 'start');
    // --fresh refuses a mount or a symlink among what it removes before it touches anything, the ledger included.
    if (previous && request.fresh) assertRemovable(paths.workDir, BUILD_TREES);
    const record = new RunRecord(store, state, safety);
    record.persist();
    return record;
  }

  /** Only once the emptied ledger is on disk: a kill mid-removal must not leave checkpoints that trust half-deleted trees. */
  private async discardForFresh(paths: WorkPaths): Promise<void> {
    this.notice("--fresh: discarding the previous build's layers and ISO tree (caches are kept)");
    await removeWorkEntries(paths.workDir, BUILD_TREES);
  }

  /** Every command carries the work dir's marker (its path, this run's id); every group it starts is persisted at once. */
  private createRunner(record: RunRecord, workId: string, workDir: string): Runner {
    const hooks: RunnerHooks = {
      baseEnv: { [WORK_ID_ENV]: workId, ...markerEnv(workDir, record.state.runId) },
      onSpawn: (group) => {
        record.state.processes.push(group);
        record.persist();
      },
      onExit: (pgid) => {
        record.state.processes = record.state.processes.filter((p) => p.pgid !== pgid);
        record.persist();
      },
    };
    return (this.deps.createRunner ?? defaultRunner)(hooks);
  }

  /** Opens a step for one actor: the step as this run composes it, its log, and the context it runs with. */
  private stepContexts(prepared: Prepared, planned: Planned, record: RunRecord, runner: Runner, logger: Logger) {
    const { paths, loaded, steps, sourceDateEpoch } = prepared;
    const { runId, ledger } = planned;
    // the report step reads this run's ledger and resource figures when it runs, and renders HTML through inspect
    const runSteps = composeSteps(steps, {
      runId,
      buildLog: paths.buildLog,
      ledger: () => this.actor?.getSnapshot().context.ledger ?? ledger,
      resourcePeaks: () => record.state.resources ?? {},
      safety: () => summarizeSafety(record.state.safety, runId),
      userFlags: () => record.state.userFlags ?? {},
    });
    const stepIndex = new Map(steps.map((s, i) => [s.id, i]));
    const fingerprints = new Map(planned.plan.map((p) => [p.id, p.fingerprint]));
    // which layers may come from and go into the shared cache by their fingerprints (src/steps/layer-cache.ts)
    const unshared = unsharedLayerReasons(steps, planned.plan, loaded.config);
    return (stepId: string, signal: AbortSignal, lineSink?: (line: string) => void) => {
      const index = stepIndex.get(stepId)!;
      const step = runSteps[index]!;
      const log = openStepLog(paths.stepLogsDir, stepId, logger, lineSink, (error) => {
        if (!this.pauseIfDiskFull(error, `writing the log of ${stepId}`)) throw error;
      });
      const ctx: StepContext = {
        config: loaded.config,
        paths,
        runner: loggingRunner(runner, log, logger, stepId),
        log,
        signal,
        layers: layersFor(steps, index, paths.layersDir, paths.mntDir),
        sourceDateEpoch,
        cores: os.availableParallelism(),
        baseDir: loaded.baseDir,
        ...(this.debs ? { debs: this.debs } : {}),
        ...(fingerprints.has(stepId) ? { fingerprint: fingerprints.get(stepId)! } : {}),
        ...(unshared.get(stepId) ? { unsharedLayer: unshared.get(stepId)! } : {}),
      };
      return { step, ctx, log };
    };
  }

  /** The machine with the engine's actors: each step function, the resource monitor and the cleanup. */
  private createMachineActor(
    prepared: Prepared,
    planned: Planned,
    record: RunRecord,
    runner: Runner,
    logger: Logger,
  ): BuildActor {
    const { paths, loaded, steps } = prepared;
    const { runId, ledger, plan } = planned;
    const view = this.deps.view;
    const contextFor = this.stepContexts(prepared, planned, record, runner, logger);
    type StepInput = { stepId: string; attempt: number };
    type Opened = ReturnType<typeof contextFor>;
    // Each step actor opens the step's log, does its work and closes the log; cleanup awaits work still settling.
    const stepActor = <T>(work: (opened: Opened, input: StepInput) => Promise<T>, withLines = false) =>
      fromPromise<T, StepInput>(({ input, signal }) => {
        const sink = withLines ? (line: string) => view.stepLine(input.stepId, line) : undefined;
        const promise = (async () => {
          const opened = contextFor(input.stepId, signal, sink);
          try {
            return await work(opened, input);
          } catch (error) {
            // a full disk pauses the build: the step is redone on resume
            this.pauseIfDiskFull(error, `running ${input.stepId}`);
            // a write outside the work dir met the read-only host: say so, naming the path
            throw explainReadOnly(error, paths.workDir);
          } finally {
            opened.log.close();
          }
        })();
        this.inFlight.add(promise);
        void promise.finally(() => this.inFlight.delete(promise)).catch(() => undefined);
        return promise;
      });
    const machine = createBuildMachine(steps.map((s) => s.id)).provide({
      actors: {
        runStep: stepActor<RunStepOutput>(async ({ step, ctx, log }, input) => {
          log.info(`--- ${step.title}: attempt ${input.attempt} (run ${runId})`);
          // Not enough disk to start: the machine pauses the build (its runPaused guard); nothing was touched.
          const shortfall = diskShortfall(step, loaded.config, paths.workDir);
          if (shortfall) return { pause: shortfall };
          // Whatever an earlier attempt or a crashed build left is thrown away before the step starts.
          await step.undo(ctx);
          return { artifacts: await runOrRestoreLayer(step, ctx) };
        }, true),
        verifyStep: stepActor<void>(async ({ step, ctx, log }) => {
          await step.verify(ctx);
          log.info('verified');
          await keepVerifiedLayer(step, ctx);
        }),
        undoStep: stepActor<void>(async ({ step, ctx, log }) => {
          log.info('undoing the failed step');
          await step.undo(ctx);
        }),
        monitor: fromCallback<BuildEvent>(({ sendBack }) =>
          watchResources({
            dir: paths.workDir,
            intervalMs: loaded.config.resources.sampleIntervalMs,
            floorMb: loaded.config.resources.minFreeDiskMb,
            currentStep: () => this.actor?.getSnapshot().context.current ?? null,
            record: (step, sample) => record.addSample(step, sample),
            pause: (reason) => sendBack({ type: 'PAUSE', reason }),
          }),
        ),
        cleanup: fromPromise(async () => {
          await runner.drain();
          // A stopped step's own work (a layer removal, a file being written) settles before the state is final.
          await Promise.allSettled([...this.inFlight]);
          // a mount AT the work dir (its own disk or tmpfs) is not a leftover
          const real = fs.realpathSync(paths.workDir);
          const left = mountsUnder(real, readMountinfo()).filter((m) => m.mountPoint !== real);
          for (const m of left) {
            this.deps.warn(
              `a mount remains at ${m.mountPoint} under the work dir; ailinux did not make it in this namespace and leaves it alone`,
            );
          }
          logger.info({ mountsLeft: left.length }, 'cleanup finished');
        }),
      },
    });
    return createActor(machine, {
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
  }

  /** After every transition: the ledger and snapshot into the state, a safety check per ended step, a durable write. */
  private follow(actor: BuildActor, record: RunRecord, logger: Logger, durations: string): void {
    let seen: Ledger = { ...record.state.ledger };
    let pausedSeen = false;
    actor.subscribe({
      next: (snapshot: BuildSnapshot) => {
        const { state } = record;
        state.ledger = snapshot.context.ledger;
        state.current = snapshot.context.current;
        state.interruptSignal = snapshot.context.interruptSignal;
        state.snapshot = actor.getPersistedSnapshot();
        for (const id of endedSteps(seen, snapshot.context.ledger))
          this.actOnCheck(record.safety.check(id, 'step'), `after ${id}`);
        this.persistOrPause(record);
        if (snapshot.context.outcome === 'paused' && !pausedSeen) {
          pausedSeen = true;
          this.deps.view.message(`pausing: ${snapshot.context.pauseReason ?? 'not enough resources'}`);
        }
        this.recordDurations(seen, snapshot.context.ledger, record, durations, logger);
        seen = reportTransitions(seen, snapshot.context.ledger, this.deps.view, logger);
      },
      error: (error) => logger.error({ err: error }, 'machine error'),
    });
  }

  /** Which earlier runs give this run's expected times: the same profile on this host. */
  private estimateContext(record: RunRecord): EstimateContext {
    return { profile: record.state.profile, host: thisHost() };
  }

  /** Each step that ended done adds its duration to state/durations.json; a failed write costs only the estimate. */
  private recordDurations(before: Ledger, after: Ledger, record: RunRecord, file: string, logger: Logger): void {
    for (const run of completedRuns(before, after)) {
      const { profile, host } = this.estimateContext(record);
      const at = new Date().toISOString();
      try {
        recordDuration(file, run.id, {
          ms: run.ms,
          at,
          profile,
          host,
          runId: record.state.runId,
          fingerprint: run.fingerprint,
        });
      } catch (error) {
        logger.warn({ step: run.id, err: error }, `could not record the step's duration in ${file}`);
      }
    }
  }

  /** Starts the machine; a signal that came before is its first event. Resolves with the machine's output. */
  private async drive(actor: BuildActor, logger: Logger): Promise<BuildMachineOutput> {
    actor.start();
    if (this.pendingSignal) {
      logger.info({ signal: this.pendingSignal }, 'interrupted before the first step');
      actor.send({ type: 'INTERRUPT', signal: this.pendingSignal });
    }
    actor.send({ type: 'START' });
    try {
      return await toPromise(actor);
    } catch (error) {
      // A bug in the machine or an actor it does not catch: the build failed where it stood, and the log says why.
      logger.error({ err: error }, 'the build machine stopped with an error');
      const { context } = actor.getSnapshot();
      return {
        outcome: 'failed',
        failedStep: context.failedStep ?? context.current,
        interruptSignal: context.interruptSignal,
        pauseReason: context.pauseReason,
        current: context.current,
      };
    }
  }

  /** Records the machine's output in the state and the history, with the last safety check, and reports it. */
  private finish(
    output: BuildMachineOutput,
    record: RunRecord,
    logger: Logger,
    prepared: Prepared,
    planned: Planned,
  ): BuildResult {
    const { state } = record;
    state.outcome = output.outcome;
    state.pauseReason = output.pauseReason;
    state.current = output.current;
    const last = state.history[state.history.length - 1]!;
    last.endedAt = new Date().toISOString();
    last.outcome = output.outcome;
    this.actOnCheck(record.safety.check(state.current, 'end'), 'at the end');
    // a violation seen once the last step was done still ends the build like SIGHUP, its work kept
    if (this.violation && output.outcome === 'succeeded') {
      output = { ...output, outcome: 'interrupted', interruptSignal: 'SIGHUP' };
      state.outcome = 'interrupted';
      state.interruptSignal = 'SIGHUP';
      last.outcome = 'interrupted';
    }
    // the final write found a full disk: the last good state stays on disk, and resume goes on from it
    if (!this.persistOrPause(record)) output = { ...output, outcome: 'paused', pauseReason: this.diskFullPause };
    else if (output.outcome === 'succeeded' && this.request.command === 'build') this.leaveNoopDigest(prepared, state);
    this.deps.view.close();
    const stateWrites = record.writeStats();
    logger.info({ outcome: output.outcome, failedStep: output.failedStep, stateWrites }, 'build finished');
    return {
      outcome: output.outcome,
      pauseReason: output.pauseReason,
      failedStep: output.failedStep,
      signal: output.interruptSignal,
      state,
      plan: planned.plan,
      paths: prepared.paths,
      stateWrites,
    };
  }

  /** What the next `ailinux build` with nothing to do decides from without the full path (src/engine/noop-digest.ts). */
  private leaveNoopDigest(prepared: Prepared, state: StateFile): void {
    const { paths, loaded, steps, archive } = prepared;
    const { config } = loaded;
    saveNoopDigest(
      paths.stateDir,
      makeNoopDigest({
        workDir: paths.workDir,
        stateFile: paths.stateFile,
        keyFile: path.join(paths.stateDir, 'fingerprint.key'),
        configFile: loaded.source.configFile === null ? null : path.resolve(loaded.source.configFile),
        profile: this.request.profile ?? null,
        baseDir: loaded.baseDir,
        env: this.deps.env ?? process.env,
        config,
        steps,
        suites: suitesOf(steps, config),
        releases: archive.mode === 'checked' ? archive.releases : null,
        proxy: config.apt.proxy ?? null,
        ledger: state.ledger,
        debCache: this.debs?.cache.dir ?? null,
        treeReadsNothing: (step) => step.inputTree === localPackagesMaterial && config.packages.local === undefined,
      }),
    );
  }

  /** A session check that shows a violation stops the build like SIGHUP: state saved, exit 129 (docs/safety.md). */
  private actOnCheck(check: StateSafetyCheck, when: string): void {
    const violation = checkViolation(check);
    if (violation === null || this.violation !== null) return;
    this.violation = violation;
    this.deps.view.message(`session check ${when}: ${violation}; stopping the build like SIGHUP (the state is saved)`);
    if (this.actor?.getSnapshot().status === 'active') this.actor.send({ type: 'INTERRUPT', signal: 'SIGHUP' });
  }

  /** A full disk (a command, a write, the state, a log) asks the machine to pause once; false for any other error. */
  private pauseIfDiskFull(error: unknown, where: string): boolean {
    if (!isDiskFull(error)) return false;
    if (this.diskFullPause !== null) return true;
    this.diskFullPause = diskFullReason(where, path.resolve(this.request.workDir));
    // once: every later transition's state write fails too, and each would send it again
    if (this.actor?.getSnapshot().status === 'active') this.actor.send({ type: 'PAUSE', reason: this.diskFullPause });
    return true;
  }

  /** A durable write of the state; false when the disk was full, which keeps the last good state and pauses. */
  private persistOrPause(record: RunRecord): boolean {
    try {
      record.persist();
      return true;
    } catch (error) {
      if (!this.pauseIfDiskFull(error, 'writing the state file')) throw error;
      return false;
    }
  }

  /** Ends what a crashed earlier run of this work dir left running, and nothing else. */
  private async reapLeftovers(previous: StateFile, workDir: string): Promise<void> {
    const { killed } = await reapOrphans({ groups: previous.processes, marker: workMarker(workDir, previous) });
    if (killed.length > 0)
      this.deps.warn(
        `ended ${killed.length} process(es) left running by an earlier build of this work dir: ${killed.join(', ')}`,
      );
  }
}

/** The state of one run, and every durable write of it with its duration. */
class RunRecord {
  private readonly writes: number[] = [];

  constructor(
    private readonly store: StateStore,
    readonly state: StateFile,
    readonly safety: SafetyRecorder,
  ) {}

  persist(): void {
    this.writes.push(this.store.save(this.state).ms);
  }

  addSample(step: string, sample: ResourceSample): void {
    this.state.resources ??= {};
    const resources = this.state.resources;
    resources[step] = addSample(resources[step], sample);
  }

  writeStats(): BuildResult['stateWrites'] {
    const count = this.writes.length;
    return {
      count,
      meanMs: this.writes.reduce((a, b) => a + b, 0) / Math.max(1, count),
      maxMs: Math.max(0, ...this.writes),
    };
  }
}

export interface ResourceWatch {
  dir: string;
  intervalMs: number;
  floorMb: number;
  currentStep(): string | null;
  record(step: string, sample: ResourceSample): void;
  pause(reason: string): void;
  /** Tests pass their own sampler. */
  sample?: (dir: string) => ResourceSample;
}

/** Samples disk, memory and load while a step runs; asks for a pause once when free disk falls below the floor. */
export function watchResources(watch: ResourceWatch): () => void {
  const sample = watch.sample ?? sampleResources;
  let paused = false;
  const timer = setInterval(() => {
    const step = watch.currentStep();
    if (!step || paused) return;
    let s: ResourceSample;
    try {
      s = sample(watch.dir);
    } catch {
      return;
    }
    watch.record(step, s);
    if (toMb(s.diskFreeBytes) < watch.floorMb) {
      paused = true;
      watch.pause(
        `disk: ${toMb(s.diskFreeBytes)} MiB free in ${watch.dir}, below the floor of ${watch.floorMb} MiB (resources.minFreeDiskMb)`,
      );
    }
  }, watch.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The config as stored in the state: the live user's password and debconf's password answers are not kept on disk. */
function redactConfig(config: LoadedConfig['config']): LoadedConfig['config'] {
  return {
    ...config,
    liveUser: { ...config.liveUser, password: '(not stored)' },
    debconf: hideSecretParts('debconf', config.debconf, () => '(not stored)') as typeof config.debconf,
  };
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

/** The input hashes kept for the next build: only a speed-up, so a cache that cannot be written is left as it was. */
function saveHashCache(cache: InputHashCache): void {
  try {
    cache.save();
  } catch {
    // the next build hashes those files again: nothing is lost but time
  }
}
