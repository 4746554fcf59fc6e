/**
 * Constants the CLI's start-up needs from commands whose code is loaded only when they run (src/cli/main.ts imports
 * the commands lazily): the help's exit-code tables and the flags' defaults.
 */

/** `ailinux doctor`'s own exit codes. */
export const DOCTOR_EXIT = { ok: 0, blocked: 1 } as const;

/** The port `ailinux inspect --serve` listens on by default. */
export const DEFAULT_INSPECT_PORT = 7357;
