/**
 * Tiers that need root or a host tool skip themselves on a host without it, so a developer's run stays useful.
 * Under AILINUX_REQUIRE_ROOT_TIERS=1 (set by .ci/run) a missing need fails the run instead: CI can never be
 * green without the integration tier.
 */
import type { TestContext } from 'vitest';

export const REQUIRE_ROOT_TIERS = 'AILINUX_REQUIRE_ROOT_TIERS';

export const isRoot = process.getuid?.() === 0;

/** A tier that must run cannot: the variable is set and the host lacks what the tier needs. */
export class RequiredTierMissingError extends Error {
  override name = 'RequiredTierMissingError';
}

/**
 * The skip flag for a tier that needs what `missing` describes (null when nothing is missing).
 * Under AILINUX_REQUIRE_ROOT_TIERS=1 a missing need throws instead of skipping.
 */
export function skipWithout(missing: string | null, env: NodeJS.ProcessEnv = process.env): boolean {
  if (missing === null) return false;
  if (env[REQUIRE_ROOT_TIERS] === '1')
    throw new RequiredTierMissingError(
      `${REQUIRE_ROOT_TIERS}=1 says this tier must run, but it cannot: ${missing}. ` +
        `Run it as root on a host with the test tools (bash scripts/install-host-tools.sh --with-test-tools), ` +
        `or unset ${REQUIRE_ROOT_TIERS} to let it skip.`,
    );
  return true;
}

/** What a root-only tier lacks when uid is not root, or null. */
export function missingRoot(uid: number | undefined = process.getuid?.()): string | null {
  return uid === 0 ? null : `it needs root and runs as uid ${uid ?? 'unknown'}`;
}

/** The skip flag for a root-only tier (see skipWithout). */
export function skipUnlessRoot(uid: number | undefined = process.getuid?.(), env: NodeJS.ProcessEnv = process.env) {
  return skipWithout(missingRoot(uid), env);
}

/** Inside a running test: skips it for want of what `missing` describes, or fails it under the variable. */
export function skipTestWithout(t: TestContext, missing: string | null, env: NodeJS.ProcessEnv = process.env): void {
  if (skipWithout(missing, env)) t.skip(missing ?? undefined);
}
