import { describe, expect, it } from 'vitest';
import { STEP_STATUSES } from '../../src/state-types.js';
import { IN_FLIGHT_STATUSES, isInFlight } from '../../src/types.js';

describe('in-flight statuses', () => {
  it('are the four a step passes through between its start and its end', () => {
    expect([...IN_FLIGHT_STATUSES].sort()).toEqual(['recovering', 'retrying', 'running', 'verifying']);
  });

  it('isInFlight answers for every status: in flight exactly when it is one of them', () => {
    for (const status of STEP_STATUSES)
      expect(isInFlight(status), status).toBe((IN_FLIGHT_STATUSES as readonly string[]).includes(status));
    for (const status of ['pending', 'done', 'skipped', 'failed', 'interrupted'] as const)
      expect(isInFlight(status), status).toBe(false);
  });
});
