/** A build step is data plus three functions: run, verify, undo. The machine is generated from a list of these. */
import type { BuildConfig } from '../config/schema.js';
import type { Runner } from '../runtime/runner.js';
import type { WorkPaths } from '../runtime/paths.js';
import type { Artifact, Ledger } from '../types.js';
import type { RootfsLayers } from '../runtime/layers.js';
import type { BuildReport } from './report.js';

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
  /** The ledger so far (read-only), for the report. */
  ledger: Ledger;
  /** Seconds since the epoch used for timestamps in the image, from SOURCE_DATE_EPOCH when set. */
  sourceDateEpoch: number | null;
  /** Number of processors for parallel tools. */
  cores: number;
  /** Renders the HTML report (machine picture and timeline); the engine provides it, steps cannot import the renderers. */
  renderReportHtml?: (report: BuildReport, ledger: Ledger) => Promise<string>;
  /** Host resource figures per step so far (lowest free disk, peak memory, peak load), for the report. */
  resourcePeaks?: Record<string, { minDiskFreeMb: number; peakMemUsedMb: number; peakLoad1: number }>;
  /** The tool's own version, for reports. */
  toolVersion: string;
  /** Directory that relative host paths in the config (branding, helper files, keys) resolve against: the config file's. */
  baseDir?: string;
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
  phase?: number;
  /**
   * The step only reads the host and writes nothing into the image (preflight): SOURCE_DATE_EPOCH
   * is not one of its inputs, so changing it does not rerun the steps after it.
   */
  hostOnly?: boolean;
  /** Config field paths (dotted) whose values are this step's inputs. */
  configFields: readonly string[];
  /** Host files this step reads, as the config names them. */
  inputFiles?(config: BuildConfig): string[];
  /** Disk space the step may need at its peak, in MiB; checked before it starts. */
  diskEstimateMb?(config: BuildConfig): number;
  run(ctx: StepContext): Promise<Artifact[]>;
  verify(ctx: StepContext): Promise<void>;
  /** Removes everything run may have left, so the step can start again from a clean state. Idempotent. */
  undo(ctx: StepContext): Promise<void>;
}
