import type { StepFingerprint } from '../../src/engine/fingerprint.js';
import type { Ledger } from '../../src/types.js';

/** A ledger in which each step of fps is done with that fingerprint: what a finished build leaves, for planBuild. */
export function doneLedger(fps: readonly StepFingerprint[]): Ledger {
  const ledger: Ledger = {};
  for (const f of fps)
    ledger[f.id] = {
      id: f.id,
      status: 'done',
      fingerprint: f.fingerprint,
      material: f.material,
      attempts: 1,
      startedAt: null,
      endedAt: null,
      artifacts: [],
      error: null,
    } as unknown as Ledger[string];
  return ledger;
}
