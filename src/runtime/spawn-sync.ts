/**
 * A short command run synchronously with node's spawnSync, apart from the execa runner: the lock (src/runtime/lock.ts)
 * needs it, and `status` and `plan` read the lock without loading execa.
 */
import { spawnSync } from 'node:child_process';

/** What a short synchronous command did: its exit status, its stderr, or why it could not run. */
export interface SyncOutcome {
  status: number | null;
  stderr: string;
  error: Error | null;
}

/**
 * A short command run synchronously with one of our descriptors as its fd 3: flock(1) on the work dir's lock, which
 * must be held before anything else happens. No timeout and no signal: it ends on its own at once, and what it did
 * to the descriptor (the lock) outlives it.
 */
export function runWithDescriptorSync(argv: readonly string[], fd: number): SyncOutcome {
  const program = argv[0];
  if (program === undefined) throw new TypeError('runWithDescriptorSync() needs a non-empty argv');
  const result = spawnSync(program, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe', fd] });
  return { status: result.status, stderr: result.stderr?.toString() ?? '', error: result.error ?? null };
}
