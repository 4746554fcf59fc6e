/** The small set of error classes. Only the CLI entry maps them to exit codes. */

export type ErrorCode =
  | 'CONFIG'
  | 'USAGE'
  | 'STATE'
  | 'LOCKED'
  | 'COMMAND'
  | 'STEP'
  | 'UNSAFE'
  | 'DISK_FULL'
  | 'ARCHIVE';

export interface ErrorOptions {
  cause?: unknown;
  hint?: string;
  hintArgv?: readonly string[];
}

export class AilinuxError extends Error {
  readonly code: ErrorCode;
  /** A line telling the user how to get past this error. */
  readonly hint: string | undefined;
  /**
   * The command the hint suggests, as argv (e.g. ['ailinux', 'resume']): the CLI renders it with the user's own
   * --work-dir and --config, so a pasted fix acts on the same build.
   */
  readonly hintArgv: readonly string[] | undefined;
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.hintArgv = options.hintArgv;
  }
}

export interface ConfigIssue {
  path: string;
  value: unknown;
  expected: string;
  /**
   * 'unknown-field': the key itself is wrong, so its line names the fix (`expected`), not the value.
   * 'unused-field': the field is fine, but no step of the config's steps reads it; `expected` says which would.
   */
  kind?: 'unknown-field' | 'unused-field';
}

export class ConfigError extends AilinuxError {
  readonly issues: ConfigIssue[];
  readonly file: string | undefined;
  constructor(message: string, issues: ConfigIssue[] = [], file?: string, options: ErrorOptions = {}) {
    super('CONFIG', message, options);
    this.issues = issues;
    this.file = file;
  }
}

/** A config file that is not valid JSON or YAML: where it broke (1-based), and that line as written. */
export class ConfigSyntaxError extends ConfigError {
  readonly line: number;
  readonly column: number;
  readonly sourceLine: string;
  constructor(message: string, file: string, at: { line: number; column: number; sourceLine: string }, cause: unknown) {
    super(message, [], file, { cause });
    this.line = at.line;
    this.column = at.column;
    this.sourceLine = at.sourceLine;
  }
}

export class UsageError extends AilinuxError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('USAGE', message, options);
  }
}

export class StateError extends AilinuxError {
  readonly backupPath: string | undefined;
  constructor(message: string, options: ErrorOptions & { backupPath?: string } = {}) {
    super('STATE', message, options);
    this.backupPath = options.backupPath;
  }
}

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
  /** Start time of the owner process in clock ticks since boot, to tell a reused pid apart. */
  procStart: number | null;
}

export class LockHeldError extends AilinuxError {
  /** null: the holder has not written its owner record yet. */
  readonly owner: LockOwner | null;
  constructor(lockPath: string, owner: LockOwner | null) {
    super(
      'LOCKED',
      owner
        ? `another build holds ${lockPath}: pid ${owner.pid} on ${owner.host}, started ${owner.startedAt}, running "${owner.command}"`
        : `another build holds ${lockPath} (it has not recorded its owner yet)`,
      { hint: 'wait for it to finish, or stop that process; ailinux never takes over a live lock' },
    );
    this.owner = owner;
  }
}

export interface CommandFailure {
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  stderrTail: string;
  /** A command line the user can paste to rerun the command. */
  rerun: string;
  timedOut: boolean;
  cancelled: boolean;
}

export class CommandError extends AilinuxError {
  readonly failure: CommandFailure;
  /** A transient failure (network, mirror hiccup) may succeed when retried. */
  readonly transient: boolean;
  constructor(failure: CommandFailure, transient: boolean, options: { cause?: unknown; hint?: string } = {}) {
    const how = failure.cancelled
      ? 'was cancelled'
      : failure.timedOut
        ? 'timed out'
        : failure.signal
          ? `was killed by ${failure.signal}`
          : `exited with code ${failure.exitCode}`;
    super('COMMAND', `command ${commandLabel(failure.argv)} ${how}`, options);
    this.failure = failure;
    this.transient = transient;
  }
}

/** Wrappers whose own options end at `--`, before the command they run (env: mksquashfs without SOURCE_DATE_EPOCH). */
const WRAPPERS = ['unshare', 'ailinux-ns-run', 'setpriv', 'env'];

/** Names the program a wrapped argv really runs (apt-get, not unshare or setpriv); kept here so errors need no imports. */
export function commandLabel(argv: readonly string[]): string {
  let cmd = argv;
  for (;;) {
    const program = cmd[0] ?? '';
    const i = cmd.indexOf('--');
    if (i < 0 || !WRAPPERS.some((w) => program === w || program.endsWith(`/${w}`))) break;
    cmd = cmd.slice(i + 1);
  }
  if (cmd[0] === 'chroot' && cmd.length > 2) cmd = cmd.slice(2);
  return cmd.slice(0, cmd[0] === 'apt-get' ? 2 : 1).join(' ') || '?';
}

export class StepError extends AilinuxError {
  readonly step: string;
  readonly transient: boolean;
  constructor(step: string, message: string, options: ErrorOptions & { transient?: boolean } = {}) {
    super('STEP', message, options);
    this.step = step;
    this.transient = options.transient ?? false;
  }
}

export class UnsafeOperationError extends AilinuxError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('UNSAFE', message, options);
  }
}

/**
 * The disk filled while ailinux wrote a file of its own before a build ran (the work dir's mark, the lock's owner
 * record): exit 75, like every full disk. Nothing half written is left.
 */
export class DiskFullError extends AilinuxError {
  /** What was being written, e.g. "marking the work dir /w". */
  readonly where: string;
  constructor(where: string, options: ErrorOptions = {}) {
    super('DISK_FULL', `no space left on device while ${where}`, options);
    this.where = where;
  }
}

/** Whether an error from a step may succeed on retry. */
export function isTransient(error: unknown): boolean {
  return (error instanceof CommandError || error instanceof StepError) && error.transient;
}
