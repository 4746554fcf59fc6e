/** The documented exit codes, and the one place errors become them. */
import { AilinuxError } from '../errors.js';
import { systemErrorOf } from './system-error.js';

export const EXIT = {
  ok: 0,
  buildFailed: 1,
  usage: 2,
  locked: 3,
  /** The archive's Release files could not be read to check it for updates (sysexits' EX_UNAVAILABLE). */
  unavailable: 69,
  paused: 75,
  sighup: 129,
  sigint: 130,
  sigquit: 131,
  sigterm: 143,
} as const;

/** `duringBuild`: the error ended a build or resume, where a file-system mistake is a failed build (1), not usage. */
export function exitCodeForError(error: unknown, duringBuild = false): number {
  if (systemErrorOf(error)) return duringBuild ? EXIT.buildFailed : EXIT.usage;
  if (error instanceof AilinuxError) {
    switch (error.code) {
      case 'LOCKED':
        return EXIT.locked;
      case 'DISK_FULL':
        return EXIT.paused;
      case 'ARCHIVE':
        return EXIT.unavailable;
      case 'CONFIG':
      case 'USAGE':
      case 'STATE':
      case 'UNSAFE':
        return EXIT.usage;
      default:
        return EXIT.buildFailed;
    }
  }
  return EXIT.buildFailed;
}

export function exitCodeForSignal(signal: string | null): number {
  if (signal === 'SIGTERM') return EXIT.sigterm;
  if (signal === 'SIGHUP') return EXIT.sighup;
  if (signal === 'SIGQUIT') return EXIT.sigquit;
  return EXIT.sigint;
}
