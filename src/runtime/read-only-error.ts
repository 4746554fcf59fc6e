/**
 * EROFS from the sandbox (src/runtime/sandbox.ts), said plainly: a write outside the work dir met the read-only
 * host. That is a bug in ailinux or in what a step ran, never the user's doing, and the message names the path.
 */
import { CommandError, UnsafeOperationError } from '../errors.js';

const READ_ONLY = 'Read-only file system';

function onTheHost(p: string, workDir: string | undefined): string {
  return `${p} is on the read-only host; ailinux only writes inside its work dir${workDir ? ` (${workDir})` : ''}`;
}

const HINT =
  'nothing outside the work dir was changed; this is a bug in ailinux or in what the step ran: report it with the step log';

/**
 * The path a command's stderr says was read-only, or null: the last absolute path before `Read-only file system`
 * on its line, as tools print it (`rm: cannot remove '<path>': Read-only file system`, `sh: 1: cannot create <path>: …`).
 */
export function readOnlyPathIn(stderr: string): string | null {
  for (const line of stderr.split('\n')) {
    const at = line.indexOf(READ_ONLY);
    if (at < 0) continue;
    const paths = line.slice(0, at).match(/\/[^\s:'"`‘’]*/g);
    if (paths) return paths[paths.length - 1]!;
  }
  return null;
}

/** The error a user should read for one that came from the read-only host; any other error as it was. */
export function explainReadOnly(error: unknown, workDir?: string): unknown {
  if (error instanceof CommandError) {
    const p = readOnlyPathIn(error.failure.stderrTail);
    if (p === null || error.hint !== undefined) return error;
    return new CommandError(error.failure, error.transient, {
      cause: error,
      hint: `${onTheHost(p, workDir)}: ${HINT}`,
    });
  }
  const e = error as NodeJS.ErrnoException | null;
  if (e?.code === 'EROFS' && !(error instanceof UnsafeOperationError)) {
    return new UnsafeOperationError(onTheHost(e.path ?? 'a path it wrote', workDir), { cause: error, hint: HINT });
  }
  return error;
}
