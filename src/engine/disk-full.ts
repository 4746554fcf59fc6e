/**
 * A full disk during a build is not a failure: whatever ran out of room (a step's command, a file a step wrote, the
 * state write, a log line) pauses the build with the last good state kept, and `ailinux resume` goes on once there
 * is room (docs/safety.md).
 */
import { CommandError, DiskFullError } from '../errors.js';

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);
/** What tools print when a write found no room: the C library's strerror, and apt's own check. */
const FULL_TEXT = /No space left on device|Disk quota exceeded|You don't have enough free space in /;

/** Whether error (or an error it wraps) says the disk is full: an errno, or a command that said so. */
export function isDiskFull(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof DiskFullError || FULL_CODES.has((e as NodeJS.ErrnoException).code ?? '')) return true;
    if (e instanceof CommandError && FULL_TEXT.test(e.failure.stderrTail)) return true;
  }
  return false;
}

/**
 * The pause reason: where the disk filled and what to do. Starts with `disk:` like the monitor's own pauses. It
 * names no command: the CLI says how to go on (`ailinux resume` with the user's own flags, or the build again).
 */
export function diskFullReason(where: string, workDir: string): string {
  return `disk: no space left on device while ${where}; free some space where ${workDir} lies`;
}
