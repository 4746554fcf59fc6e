/**
 * Config discovery: with no --config and no --profile, where the default profile would apply, a config in the current
 * directory (./ailinux.config.yaml, .yml or .json) is used instead, and the command says so on stderr. A command that
 * has a build's recorded config to use (resume, and plan or doctor on a work dir with a build) keeps using that one:
 * its caller does not ask.
 */
import path from 'node:path';
import { discoverConfigFile } from '../config/load.js';
import type { CliIO } from './io.js';

export interface ConfigChoice {
  config?: string;
  profile?: string;
}

/**
 * The options with the discovered config filled in when neither --config nor --profile is given, else as they are.
 * `say`: where the `using ./ailinux.config.yaml` line goes (nowhere under --quiet).
 */
export function withDiscoveredConfig<T extends ConfigChoice>(
  options: T,
  io: Pick<CliIO, 'cwd'> & Partial<Pick<CliIO, 'stderr'>>,
  say: ((line: string) => void) | null = (line) => io.stderr?.write(`${line}\n`),
): T {
  if (options.config !== undefined || options.profile !== undefined) return options;
  const found = discoverConfigFile(io.cwd);
  if (!found) return options;
  say?.(`using ./${path.basename(found)}`);
  return { ...options, config: found };
}
