/** Turns errors into the messages a user reads: what went wrong, the field or command, and the fix. */
import { AilinuxError, CommandError, ConfigError, LockHeldError } from '../errors.js';
import { showValue } from '../config/load.js';
import { terminalText } from '../runtime/terminal-text.js';
import { renderHintCommand, type UserFlags } from './hint.js';
import { describeSystemError, systemErrorOf } from './system-error.js';

/** `logPath`: the build log to name under an internal error, when the command has one. */
export function renderError(error: unknown, flags: UserFlags = {}, logPath: string | null = null): string {
  const lines: string[] = [];
  const system = systemErrorOf(error);
  if (system) {
    // an ordinary mistake at the edge (a missing directory, a read-only disk): one line and its fix, no stack
    const { message, fix } = describeSystemError(system);
    lines.push(`ailinux: ${message}`, `  fix: ${fix}`);
  } else if (error instanceof ConfigError) {
    lines.push(`ailinux: ${error.message}`);
    for (const issue of error.issues)
      lines.push(`  ${issue.path}: got ${showValue(issue.value)}; expected ${issue.expected}`);
    if (error.issues.length > 0) lines.push('  nothing was written; fix the config and run the command again');
  } else if (error instanceof LockHeldError) {
    lines.push(`ailinux: ${error.message}`);
  } else if (error instanceof CommandError) {
    lines.push(`ailinux: ${error.message}`, `  command: ${error.failure.rerun}`);
    if (error.failure.stderrTail)
      lines.push('  stderr:', ...error.failure.stderrTail.split('\n').map((l) => `    ${l}`));
  } else if (error instanceof AilinuxError) {
    lines.push(`ailinux: ${error.message}`);
  } else {
    lines.push(`ailinux: internal error: ${(error as Error)?.stack ?? String(error)}`);
    lines.push('  this is a bug in ailinux; please report it with the lines above');
    if (logPath) lines.push(`  log: ${logPath}`);
  }
  if (error instanceof AilinuxError && error.hint) lines.push(`  fix: ${error.hint}`);
  if (error instanceof AilinuxError && error.hintArgv) lines.push(`  run: ${renderHintCommand(error.hintArgv, flags)}`);
  // a command's stderr, a path or a config value may carry escape sequences
  return terminalText(lines.join('\n'));
}
