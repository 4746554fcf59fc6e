/** How the CLI ends on an error: the message with its fix on stderr, and the documented exit code. */
import fs from 'node:fs';
import { explainReadOnly } from '../runtime/read-only-error.js';
import { inSandboxNamespace } from '../runtime/sandbox.js';
import { exitCodeForError } from './exit-codes.js';
import type { UserFlags } from './hint.js';
import type { CliIO } from './io.js';
import { renderError } from './render-error.js';

/**
 * Writes `error` for the user and returns its exit code. `flags`: what the user typed, for the fix line;
 * `buildLog`: the build log of a build or resume (named when it exists), else null.
 */
export function reportError(
  error: unknown,
  io: CliIO,
  flags: UserFlags,
  duringBuild: boolean,
  buildLog: string | null,
): number {
  // in the sandbox, a write that met the read-only host outside a step (clean) names its path too
  const shown = inSandboxNamespace(io.env) ? explainReadOnly(error) : error;
  io.stderr.write(`${renderError(shown, flags, buildLog !== null && fs.existsSync(buildLog) ? buildLog : null)}\n`);
  return exitCodeForError(shown, duringBuild);
}
