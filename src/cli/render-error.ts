/** Turns errors into the messages a user reads: what went wrong, the field or command, and the fix. */
import { AilinuxError, CommandError, ConfigError, LockHeldError } from '../errors.js';
import { showValue } from '../config/load.js';
import { terminalText } from '../runtime/terminal-text.js';
import { renderHintCommand, type UserFlags } from './hint.js';

export function renderError(error: unknown, flags: UserFlags = {}): string {
  const lines: string[] = [];
  if (error instanceof ConfigError) {
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
  }
  if (error instanceof AilinuxError && error.hint) lines.push(`  fix: ${error.hint}`);
  if (error instanceof AilinuxError && error.hintArgv) lines.push(`  run: ${renderHintCommand(error.hintArgv, flags)}`);
  // a command's stderr, a path or a config value may carry escape sequences
  return terminalText(lines.join('\n'));
}
