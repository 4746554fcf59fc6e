/**
 * A fix that suggests a command carries it as argv; here it becomes a line to paste, with the user's own --work-dir
 * and --config, so the pasted command acts on the same build and not on ./ailinux-build with the default profile.
 */
import { quoteArgv } from '../runtime/runner.js';

/** The flags the user gave on the command line (not defaults), as they typed them. */
export interface UserFlags {
  workDir?: string;
  config?: string;
}

/** Commands that read a config: the others would refuse --config. */
const TAKES_CONFIG = new Set(['build', 'resume', 'plan', 'doctor', 'inspect']);

export function renderHintCommand(argv: readonly string[], flags: UserFlags = {}): string {
  if (argv[0] !== 'ailinux') return quoteArgv(argv);
  const out = [...argv];
  const has = (long: string, short: string) => out.includes(long) || out.includes(short);
  if (flags.workDir !== undefined && !has('--work-dir', '-w')) out.push('--work-dir', flags.workDir);
  if (flags.config !== undefined && TAKES_CONFIG.has(argv[1] ?? '') && !has('--config', '-c'))
    out.push('--config', flags.config);
  return quoteArgv(out);
}
