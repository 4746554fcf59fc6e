/** Domain types shared by the machine, the engine and the state store. */

import type { LedgerEntry, StepStatus } from './state-types.js';

// The ledger's types come from its zod schema (src/state-types.ts), which the state store validates with.
export type {
  Artifact,
  BuildOutcome,
  FingerprintMaterial,
  Ledger,
  LedgerEntry,
  StepErrorSummary,
  StepStatus,
} from './state-types.js';

/** The statuses of a step that started and has not ended; a crash leaves them in the state file as they were. */
export const IN_FLIGHT_STATUSES = [
  'running',
  'verifying',
  'retrying',
  'recovering',
] as const satisfies readonly StepStatus[];
export type InFlightStatus = (typeof IN_FLIGHT_STATUSES)[number];

const IN_FLIGHT: ReadonlySet<StepStatus> = new Set(IN_FLIGHT_STATUSES);

export function isInFlight(status: StepStatus): status is InFlightStatus {
  return IN_FLIGHT.has(status);
}

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
