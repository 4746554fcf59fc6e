/** Domain types shared by the machine, the engine and the state store. */

export type StepStatus =
  | 'pending'
  | 'running'
  | 'verifying'
  | 'retrying'
  | 'recovering'
  | 'done'
  | 'skipped'
  | 'failed'
  | 'interrupted';

export interface Artifact {
  /** Path relative to the work dir. */
  path: string;
  kind: 'file' | 'dir';
  size?: number;
  sha256?: string;
}

export interface StepErrorSummary {
  message: string;
  code: string;
  transient: boolean;
  command?: string;
  exitCode?: number | null;
  signal?: string | null;
  stderrTail?: string;
}

/** What a step's fingerprint is made of; kept so the planner can say which input changed. */
export interface FingerprintMaterial {
  stepVersion: number;
  /** Config field path to its value. */
  config: Record<string, unknown>;
  /** Input file path (as the config names it) to the sha256 of its contents, or "missing". */
  files: Record<string, string>;
  /** Fingerprint of the step before, so a change flows down the chain. */
  previous: string | null;
}

export interface LedgerEntry {
  id: string;
  status: StepStatus;
  fingerprint: string | null;
  material: FingerprintMaterial | null;
  /** Attempts in the run that last executed this step. */
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  artifacts: Artifact[];
  error: StepErrorSummary | null;
  /** Why the step was skipped, for a skipped step. */
  reason: string | null;
  /** Id of the build run that last executed (not skipped) this step. */
  runId: string | null;
}

export type Ledger = Record<string, LedgerEntry>;

/** paused: stopped cleanly for lack of a resource (disk); resumable once it is freed. */
export type BuildOutcome = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'paused';

export interface RetryPolicy {
  maxAttempts: number;
  backoffMs: number;
  backoffFactor: number;
}

export function emptyLedgerEntry(id: string): LedgerEntry {
  return {
    id,
    status: 'pending',
    fingerprint: null,
    material: null,
    attempts: 0,
    startedAt: null,
    endedAt: null,
    durationMs: null,
    artifacts: [],
    error: null,
    reason: null,
    runId: null,
  };
}
