/**
 * A file-system error from the operating system (a missing directory, a read-only disk) that reached the CLI: an
 * ordinary mistake at the edge, said in one line with its fix, never an internal error with a stack trace.
 */

export interface SystemError {
  code: string;
  path: string | null;
  syscall: string | null;
}

/** What each errno means for the user, and what to do about it. */
const FIXES: Record<string, { what: string; fix: string }> = {
  ENOENT: { what: 'no such file or directory', fix: 'create the missing directory, or name a path that exists' },
  EACCES: { what: 'permission denied', fix: 'name a path you may use, or run as a user who may' },
  EPERM: { what: 'operation not permitted', fix: 'name a path you may use, or run as a user who may' },
  EISDIR: { what: 'it is a directory', fix: 'name a file, not a directory' },
  ENOTDIR: {
    what: 'a part of the path is not a directory',
    fix: 'check the path: a file stands where a directory should',
  },
  EROFS: { what: 'the file system is read-only', fix: 'name a path on a writable file system' },
  ENOSPC: { what: 'no space left on the device', fix: 'free some space, then run the command again' },
  EDQUOT: { what: 'the disk quota is used up', fix: 'free some space in your quota, then run the command again' },
  ELOOP: { what: 'too many levels of symbolic links', fix: 'check the path for a symlink loop' },
  ENAMETOOLONG: { what: 'the name is too long', fix: 'name a shorter path' },
  EEXIST: { what: 'it already exists', fix: 'remove it or name another path' },
};

const VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create the directory',
  rmdir: 'remove the directory',
  unlink: 'remove',
  rename: 'rename',
  scandir: 'list',
  opendir: 'list',
  stat: 'read',
  lstat: 'read',
  copyfile: 'copy',
  symlink: 'link',
  chmod: 'change the mode of',
  chown: 'change the owner of',
  mkdtemp: 'create a directory in',
};

/** The errno error this is, when it is one of the file-system mistakes a user can fix; null for anything else. */
export function systemErrorOf(error: unknown): SystemError | null {
  if (!(error instanceof Error)) return null;
  const e = error as NodeJS.ErrnoException;
  if (typeof e.code !== 'string' || !(e.code in FIXES)) return null;
  // an errno error carries the syscall that failed; a code alone on some other error is not the OS speaking
  if (typeof e.syscall !== 'string') return null;
  return { code: e.code, path: typeof e.path === 'string' ? e.path : null, syscall: e.syscall };
}

/** `cannot <verb> <path>: <what>` and its fix. */
export function describeSystemError(e: SystemError): { message: string; fix: string } {
  const known = FIXES[e.code]!;
  const verb = (e.syscall && VERBS[e.syscall]) ?? e.syscall ?? 'use';
  return { message: `cannot ${verb}${e.path ? ` ${e.path}` : ''}: ${known.what} (${e.code})`, fix: known.fix };
}
