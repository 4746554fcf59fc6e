/**
 * The flags the user typed, read from commander, for the one formatter of fix lines (src/runtime/hint-command.ts,
 * re-exported here for the CLI's modules). The build records them in its state, so the report and inspect, which
 * may not import the CLI, render a fix with them too.
 */
import type { Command } from 'commander';
import type { UserFlags } from '../runtime/hint-command.js';

export { renderHintCommand, renderHintText, shellWords, type UserFlags } from '../runtime/hint-command.js';

/** The flags of `command` (the command that runs) that came from the command line, here or before the command. */
export function userFlags(command: Command): UserFlags {
  const typed = (name: string): string | undefined => {
    for (let c: Command | null = command; c; c = c.parent) {
      const value = c.getOptionValue(name);
      if (c.getOptionValueSource(name) === 'cli' && typeof value === 'string') return value;
    }
    return undefined;
  };
  const chdir = typed('C') ?? typed('chdir') ?? typed('directory');
  const workDir = typed('workDir');
  const config = typed('config');
  return {
    ...(chdir !== undefined ? { chdir } : {}),
    ...(workDir !== undefined ? { workDir } : {}),
    ...(config !== undefined ? { config } : {}),
  };
}
