/** Turns errors into the messages a user reads: what went wrong, the field or command, and the fix. */
import { AilinuxError, CommandError, ConfigError, ConfigSyntaxError, LockHeldError } from '../errors.js';
import { issueLine } from '../config/issue-line.js';
import { terminalText } from '../runtime/terminal-text.js';
import { renderHintCommand, renderHintText, type UserFlags } from './hint.js';
import { describeSystemError, systemErrorOf } from './system-error.js';

/** `logPath`: the build log to name under an internal error, when the command has one. */
export function renderError(error: unknown, flags: UserFlags = {}, logPath: string | null = null): string {
  const lines: string[] = [];
  const system = systemErrorOf(error);
  if (system) {
    // an ordinary mistake at the edge (a missing directory, a read-only disk): one line and its fix, no stack
    const { message, fix } = describeSystemError(system);
    lines.push(`ailinux: ${message}`, `  fix: ${fix}`);
  } else if (error instanceof ConfigSyntaxError) {
    lines.push(`ailinux: ${error.message}`, ...sourceExcerpt(error));
  } else if (error instanceof ConfigError) {
    lines.push(`ailinux: ${error.message}`);
    for (const issue of error.issues) lines.push(`  ${issueLine(issue)}`);
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
  // a command in the fix's prose (`ailinux build --fresh`) carries the user's flags as the run line does
  if (error instanceof AilinuxError && error.hint) lines.push(`  fix: ${renderHintText(error.hint, flags)}`);
  if (error instanceof AilinuxError && error.hintArgv) lines.push(`  run: ${renderHintCommand(error.hintArgv, flags)}`);
  // a command's stderr, a path or a config value may carry escape sequences
  return terminalText(lines.join('\n'));
}

/** The line a syntax error is on, as written, and a caret under its column; a long line is cut around the column. */
function sourceExcerpt(error: ConfigSyntaxError): string[] {
  const width = 100;
  const from = Math.max(0, error.column - 1 - width / 2);
  const shown = error.sourceLine.slice(from, from + width).replace(/\t/g, ' ');
  const gutter = String(error.line);
  return [
    `  ${gutter} | ${from > 0 ? '...' : ''}${shown}`,
    `  ${' '.repeat(gutter.length)} | ${' '.repeat((from > 0 ? 3 : 0) + error.column - 1 - from)}^`,
  ];
}
