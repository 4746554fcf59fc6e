/**
 * What a build or resume is asked to do, and the pieces of it the read-only commands share: the config it would
 * use, SOURCE_DATE_EPOCH, the machine version and the disk check. The applier itself is BuildRun (build-run.ts).
 */
import crypto from 'node:crypto';
import { MACHINE_SHAPE_VERSION } from '../../machines/shape-version.js';
import type { StateFile } from '../../state/schema.js';
import { readStateReadOnly } from '../../state/store.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { checkFieldsUsed } from '../steps/field-use.js';
import { checkHookScripts, isHookStepOf } from '../steps/hooks.js';
import { withPlacedSteps } from '../steps/registry.js';
import { ConfigError, UsageError } from '../errors.js';
import type { UserFlags } from '../runtime/hint-command.js';
import type { WorkPaths } from '../runtime/paths.js';
import { freeDiskBytes, toMb } from '../runtime/resources.js';
import type { ArchiveReader } from '../runtime/archive-release.js';
import type { Runner } from '../runtime/runner.js';
import type { StepDef } from '../steps/types.js';
import type { BuildOutcome } from '../types.js';
import type { PlanEntry } from './planner.js';
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
  /** The flags the user typed (-C, --work-dir, --config), recorded in the state for the fix lines shown later. */
  userFlags?: UserFlags;
  /** --offline: the archive is not read; every step keeps the archive state its last run recorded. */
  offline?: boolean;
}

export interface BuildDeps {
  view: ProgressView;
  warn: (message: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Replaces the real execa runner (tests). It receives the env marker every command must carry. */
  createRunner?: (hooks: RunnerHooks) => Runner;
  /** Reads the archive's Release files (tests: a fixed or loopback one); default: the network, or AILINUX_ARCHIVE_RELEASE_FILE. */
  archive?: ArchiveReader;
  /**
   * Makes the host read-only but for the work dir (src/runtime/sandbox.ts), once it exists and before the lock; and
   * the shared deb cache's dir, when the build opened one.
   */
  enterSandbox?: (paths: WorkPaths, alsoWritable: readonly string[]) => Promise<unknown>;
  /**
   * Opens the shared deb cache (cache.dir, AILINUX_CACHE_DIR, or the user's cache home): the CLI's real builds.
   * Off, debootstrap and apt keep their downloads in the work dir's cache/ alone (tests that build no real image).
   */
  sharedDebCache?: boolean;
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

/**
 * A config as every command that builds, plans or draws a build loads it: the file over its profile, validated, and
 * refused when the file sets a field that no step of its steps reads (src/steps/field-use.ts). Writes nothing.
 */
export function loadBuildConfig(options: Parameters<typeof loadConfig>[0]): LoadedConfig {
  // the steps a config brings in by its fields (the overlays) are in its steps before the check, as in the build
  const raw = loadConfig(options);
  refuseListedHooks(raw);
  const loaded = withPlacedSteps(raw);
  checkFieldsUsed(loaded.layers.file, loaded.config.steps, loaded.source.configFile);
  checkHookScripts(loaded.config, loaded.baseDir, loaded.source.configFile ?? undefined);
  return loaded;
}

/** A hook's step is placed by its `after`; a config file that lists it in `steps` is refused, not silently moved. */
function refuseListedHooks(loaded: LoadedConfig): void {
  const { config } = loaded;
  const i = config.steps.findIndex((id) => isHookStepOf(config, id));
  if (i === -1) return;
  const id = config.steps[i]!;
  throw new ConfigError(
    `steps.${i}: "${id}" is a hook's step, which its hook places (hooks[].after), not steps`,
    [{ path: `steps.${i}`, value: id, expected: 'a step id; hooks are placed by their after field' }],
    loaded.source.configFile ?? undefined,
    { hint: `remove "${id}" from steps and set the hook's after to the step it should follow` },
  );
}

/** Loads the config a build or resume will use; writes nothing. */
export function resolveBuildConfig(request: BuildRequest, existing: StateFile | null): LoadedConfig {
  const explicit = Boolean(request.configFile || request.profile);
  if (request.command === 'resume' && existing && !explicit) {
    return loadBuildConfig({
      configFile: existing.configSource.configFile,
      profile: existing.configSource.configFile ? null : existing.configSource.profile,
      ...(request.cwd ? { cwd: request.cwd } : {}),
    });
  }
  return loadBuildConfig({
    configFile: request.configFile ?? null,
    profile: request.profile ?? null,
    ...(request.cwd ? { cwd: request.cwd } : {}),
  });
}

/** Says why a step cannot start for lack of disk space, or null when there is room. */
export function diskShortfall(step: StepDef, config: LoadedConfig['config'], workDir: string): string | null {
  const floor = config.resources.minFreeDiskMb;
  const need = config.resources.checkEstimates ? (step.diskEstimateMb?.(config) ?? 0) : 0;
  const free = toMb(freeDiskBytes(workDir));
  if (free >= need + floor) return null;
  return `disk: ${step.id} needs about ${need} MiB plus the floor of ${floor} MiB, but ${workDir} has ${free} MiB free; free some space`;
}

export function safePeek(stateFile: string): StateFile | null {
  // A resume needs the recorded config source; corrupt state is reported (and backed up once) later, under the lock.
  try {
    return readStateReadOnly(stateFile);
  } catch {
    return null;
  }
}
