/** The one port through which every external command runs. argv arrays only, never shell strings. */

export type LineSink = (stream: 'stdout' | 'stderr', line: string) => void;

export interface RunOptions {
  cwd?: string;
  /** Extra environment on top of the runner's base environment. */
  env?: Record<string, string>;
  /** `env -i`: the command gets only `env`, the runner's markers and what AILINUX_CHROOT_ENV_KEEP keeps (chroot). */
  cleanEnv?: boolean;
  /** Data written to the command's stdin. */
  input?: string;
  timeoutMs?: number;
  /** Aborting kills the command's whole process group: TERM, then KILL after the grace period. */
  signal?: AbortSignal;
  /** Every output line, as it arrives. */
  onLine?: LineSink;
  /** Patterns in stderr or stdout that mark a failure as transient (worth a retry). */
  transientPatterns?: RegExp[];
  /** Keep stdout in the result (default true); large outputs can turn it off. */
  captureStdout?: boolean;
  /**
   * 'inherit': the command reads and writes ailinux's own stdin, stdout and stderr (ailinux shell), still in its own
   * process group; nothing is captured, so the result's stdout and stderr are empty.
   */
  stdio?: 'inherit';
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface Runner {
  /** Runs argv to completion; rejects with CommandError on a non-zero exit, signal, timeout or cancellation. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Resolves when no command started by this runner is alive any more. */
  drain(): Promise<void>;
  /** Sends a signal to every process group this runner started and that is still alive. */
  signalAll(signal: NodeJS.Signals): void;
}

/** Quotes argv for a POSIX shell so a user can paste the line to rerun a command by hand. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}

function quoteArg(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  // a quote at either end of arg leaves an empty '' there, which goes: 'it'\''s'\' and not 'it'\''s'\'''
  return `'${arg.replace(/'/g, `'\\''`)}'`.replace(/^''(?=.)/, '').replace(/(?<=.)''$/, '');
}

/** Transient network failures of apt, debootstrap and friends. */
export const NETWORK_TRANSIENT_PATTERNS: RegExp[] = [
  /Temporary failure resolving/i,
  /Could not resolve/i,
  /Could not connect to/i,
  /Connection (timed out|refused|reset)/i,
  /Failed to fetch/i,
  /Couldn't download/i,
  /Unable to connect to/i,
  /Hash Sum mismatch/i,
  /Network is unreachable/i,
  /Failed getting release file/i,
  /Failed getting release signature file/i,
  /503 Service Unavailable/i,
  /502 Bad Gateway/i,
];

export function matchesAny(text: string, patterns: readonly RegExp[] | undefined): boolean {
  return (patterns ?? []).some((p) => p.test(text));
}

export function tailLines(text: string, count: number): string {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-count).join('\n');
}
