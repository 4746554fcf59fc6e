/** A build step is data plus three functions: run, verify, undo. The machine is generated from a list of these. */
import type { SharedDebs } from '../runtime/deb-cache.js';
import type { ConfigPath } from '../config/paths.js';
import type { BuildConfig } from '../config/schema.js';
import type { Runner } from '../runtime/runner.js';
import type { WorkPaths } from '../runtime/paths.js';
import type { Artifact } from '../types.js';
import type { RootfsLayers } from '../runtime/layers.js';
import type { ArchiveSuite } from '../runtime/archive-release.js';

export interface StepLog {
  /** A line for the step's readable log (and the build log). */
  info(message: string): void;
  /** Output lines of commands, streamed. */
  line(stream: 'stdout' | 'stderr', text: string): void;
}

export interface StepContext {
  config: BuildConfig;
  paths: WorkPaths;
  runner: Runner;
  log: StepLog;
  signal: AbortSignal;
  /** The rootfs layers as seen by this step: its own (if it has one) over those of the steps before it. */
  layers: RootfsLayers;
  /** Seconds since the epoch used for timestamps in the image, from SOURCE_DATE_EPOCH when set. */
  sourceDateEpoch: number | null;
  /** Number of processors for parallel tools. */
  cores: number;
  /** Directory that relative host paths in the config (branding, helper files, keys) resolve against: the config file's. */
  baseDir?: string;
  /**
   * The shared deb cache and this build's key in it (src/runtime/deb-cache.ts), when the engine opened one; without
   * it, debootstrap and apt keep their downloads in the work dir's cache/ alone. Where, not what: in no fingerprint.
   */
  debs?: SharedDebs;
  /**
   * The step's fingerprint this run (the engine's; absent in tests that make a context by hand): a layer step keeps
   * its layer in the shared cache by it, and takes it from there in another work dir (src/steps/layer-cache.ts).
   */
  fingerprint?: string;
  /**
   * Why this step's layer is neither taken from nor kept in the shared cache (src/steps/layer-cache.ts: a secret or
   * a missing archive state in the fingerprint chain, a step not known to be determined by it); absent: it may be.
   */
  unsharedLayer?: string;
}

/** sha256 (hex) of the regular file an O_PATH | O_NOFOLLOW handle holds; hostPath names it (messages, the cache's key). */
export type HostFileHasher = (handle: number, hostPath: string) => string;

/** A program on the host that a step runs, with the Debian package that ships it. */
export interface HostTool {
  name: string;
  pkg: string;
  /** What the build uses it for, in a few words (doctor and preflight print it). */
  why: string;
  /** Arguments that make it print its version (the first line with a number is taken). */
  versionArgs: string[];
}

/** A host file (not a program) that a step reads, with the Debian package that ships it. */
export interface HostFile {
  path: string;
  pkg: string;
  why: string;
}

export interface StepDef {
  id: string;
  title: string;
  /** Bump when the step's behaviour changes, so old checkpoints of it are not reused. */
  version: number;
  /**
   * How the step touches the rootfs: "base" creates the lowest layer, "overlay" writes its own
   * overlayfs upper layer over the layers before it, "none" only reads them.
   */
  layer: 'base' | 'overlay' | 'none';
  /** Which of the twelve build phases (docs/profiles.md) the step belongs to; `ailinux plan` shows it. */
  phase: number;
  /**
   * Steps that must come earlier in the profile's list, because this one uses what they made (a rootfs, the apt
   * lists, the kernel, the ISO). The list is checked against them at load, before anything is written
   * (resolveSteps in src/steps/registry.ts): each one present, and before this step.
   */
  needs?: readonly string[];
  /**
   * The step only reads the host and writes nothing into the image (preflight): SOURCE_DATE_EPOCH
   * is not one of its inputs, so changing it does not rerun the steps after it.
   */
  hostOnly?: boolean;
  /**
   * Config fields (dotted paths) whose values are this step's inputs: its fingerprint covers exactly these, so a
   * field it reads and does not declare would let a stale checkpoint be reused (tests/unit/step-fields.test.ts).
   */
  configFields: readonly ConfigPath[];
  /**
   * Config fields the step reads that are not inputs of what it makes, so not in its fingerprint: how it reaches the
   * archives (`apt.proxy`). The rule that no field is silently ignored (src/steps/field-use.ts) counts them as read.
   */
  runtimeFields?: readonly ConfigPath[];
  /**
   * Programs this step runs on the host for this config. Chroot steps get `chroot` and the namespace tools from
   * their layer kind (src/steps/host-requirements.ts); list only what the step itself adds.
   */
  hostTools?(config: BuildConfig): HostTool[];
  /** Host files (GRUB modules, firmware, boot images) this step reads for this config. */
  hostFiles?(config: BuildConfig): HostFile[];
  /** Host files this step reads, as the config names them. */
  inputFiles?(config: BuildConfig): string[];
  /**
   * Values built into ailinux that this step's result depends on for this config (the archive keys a fetched keyring
   * must hold): its fingerprint covers them as `pinned.<name>`, so a new pin reruns the step.
   */
  pinned?(config: BuildConfig): Record<string, unknown>;
  /**
   * Host directory trees this step copies (the overlays), as fingerprint material: one entry per path, its key and
   * a line with its kind, mode, owner, link text and content hash. hashFile hashes a regular file through an
   * O_PATH handle (the engine's input hash cache: read once per build, reused while size and times hold).
   */
  inputTree?(config: BuildConfig, baseDir: string, hashFile: HostFileHasher): Record<string, string>;
  /**
   * A step no profile needs to list: when the config uses it (its field is set), it joins the steps at the index
   * this returns, given the listed steps; null keeps it out. A list that names it keeps it where it stands
   * (expandSteps in src/steps/registry.ts).
   */
  autoPlace?(config: BuildConfig, listed: readonly StepDef[]): number | null;
  /**
   * The archive suites the step installs from (src/steps/archive-suites.ts). The engine reads each one's InRelease
   * once per run, and the step's fingerprint covers its digest as `archive:<uri> <suite>`: when the archive
   * publishes updates, the step runs again (`plan` says `archive noble-updates changed (Release of … -> …)`).
   */
  archiveSuites?(config: BuildConfig): ArchiveSuite[];
  /** Disk space the step may need at its peak, in MiB; checked before it starts. */
  diskEstimateMb?(config: BuildConfig): number;
  run(ctx: StepContext): Promise<Artifact[]>;
  verify(ctx: StepContext): Promise<void>;
  /** Removes everything run may have left, so the step can start again from a clean state. Idempotent. */
  undo(ctx: StepContext): Promise<void>;
}
