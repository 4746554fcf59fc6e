/** What `ailinux doctor` says about the sandbox (src/runtime/sandbox.ts): can it be made here, and what stays writable. */
import fs from 'node:fs';
import path from 'node:path';
import { CommandError } from '../errors.js';
import { packageRoot } from './package-root.js';
import type { Runner } from './runner.js';
import { sandboxScriptPath } from './sandbox.js';

export interface SandboxCheck {
  /** Whether `unshare --mount` works here; null when not checked (it needs root). */
  namespace: boolean | null;
  /** What build, resume and clean may write: the work dir alone (its caches are inside it). */
  writable: string[];
  /** TMPDIR in the sandbox. */
  tmpDir: string;
  /** Why the sandbox cannot be made, when it cannot. */
  problem: string | null;
}

/** Tries a private mount namespace that is thrown away at once (no mount is made in it); reads and writes nothing. */
export async function checkSandbox(
  paths: { workDir: string; tmpDir: string },
  runner: Runner,
  root: boolean,
): Promise<SandboxCheck> {
  const result: SandboxCheck = { namespace: null, writable: [paths.workDir], tmpDir: paths.tmpDir, problem: null };
  for (const file of [path.join(packageRoot(), 'bin', 'ailinux'), sandboxScriptPath()]) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      result.problem = `${file} is missing or not executable`;
      return result;
    }
  }
  if (!root) return result;
  try {
    await runner.run(['unshare', '--mount', '--propagation', 'private', '--', 'true']);
    result.namespace = true;
  } catch (error) {
    result.namespace = false;
    const why = error instanceof CommandError ? error.failure.stderrTail.trim() || error.message : String(error);
    result.problem = `unshare --mount fails here: ${why}`;
  }
  return result;
}

/** The doctor's line about the sandbox: a build cannot run without it, so as root a failure blocks. */
export function addSandboxFinding(
  check: SandboxCheck,
  root: boolean,
  add: (level: 'ok' | 'warn' | 'block', topic: string, message: string, fix?: string) => void,
): void {
  if (check.problem) {
    add(
      root ? 'block' : 'warn',
      'sandbox',
      `${check.problem}; build, resume and clean run only in a private mount namespace where the host is read-only`,
      check.namespace === false
        ? 'run on a host or in a container that allows mount namespaces (CAP_SYS_ADMIN)'
        : 'reinstall ailinux (npm ci)',
    );
    return;
  }
  const tried = check.namespace === null ? '; unshare not tried (needs root)' : '; unshare works here';
  add(
    'ok',
    'sandbox',
    `build, resume and clean see the host read-only; writable: ${check.writable.join(', ')} (TMPDIR ${check.tmpDir})${tried}`,
  );
}
