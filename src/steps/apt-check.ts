/**
 * Before apt-get install: does every requested name exist in the configured archives? apt's own
 * error for a missing name is one line among hundreds; this says which names, before anything runs.
 */
import { StepError } from '../errors.js';
import { runInChroot } from './layer-step.js';
import type { StepContext } from './types.js';

export function aptPolicyArgv(names: readonly string[]): string[] {
  return ['apt-cache', 'policy', ...names];
}

/**
 * Names `apt-cache policy` has no installable version of: absent from its output (unknown) or
 * with "Candidate: (none)" (purely virtual, or no version for this architecture).
 */
export function missingFromPolicy(names: readonly string[], policyOutput: string): string[] {
  const candidates = new Map<string, string>();
  let current: string | null = null;
  for (const line of policyOutput.split('\n')) {
    const head = /^(\S+?)(:[a-z0-9]+)?:$/.exec(line);
    if (head) {
      current = head[1]!;
      continue;
    }
    const candidate = /^\s+Candidate:\s*(.+)$/.exec(line);
    if (candidate && current !== null && !candidates.has(current)) candidates.set(current, candidate[1]!.trim());
  }
  return names.filter((n) => {
    const c = candidates.get(n);
    return c === undefined || c === '(none)';
  });
}

/** Fails the step, naming them, when some packages are not in the archives the image's apt knows. */
export async function assertPackagesExist(ctx: StepContext, step: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const result = await runInChroot(ctx, aptPolicyArgv(names));
  const missing = missingFromPolicy(names, result.stdout);
  if (missing.length > 0) {
    throw new StepError(step, `packages not found in the configured archives: ${missing.join(', ')}`, {
      hint: 'check the names (apt-cache search in the image) and the components in distribution.components, distribution.sources and distribution.extraRepositories',
    });
  }
}
