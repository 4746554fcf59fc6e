/** Config discovery: the config file in a directory when no --config is given (src/cli/config-discovery.ts). */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** The names a config is found by in the current directory when no --config is given, in this order. */
export const DISCOVERED_NAMES = ['ailinux.config.yaml', 'ailinux.config.yml', 'ailinux.config.json'] as const;

/**
 * The config file in `dir` when no --config is given: one of DISCOVERED_NAMES, or null when there is none. Two or
 * more is an error naming them, since either could be the one meant. A name that is there but no file (a directory,
 * a dangling link) is found too, and refused when read.
 */
export function discoverConfigFile(dir: string): string | null {
  const present = DISCOVERED_NAMES.filter((name) => {
    try {
      fs.lstatSync(path.join(dir, name));
      return true;
    } catch {
      return false;
    }
  });
  if (present.length > 1) {
    throw new ConfigError(
      `${dir} holds more than one config file (${present.join(', ')}); ailinux cannot tell which one to use`,
      [],
      undefined,
      { hint: `keep one of them, or name one with --config (e.g. --config ./${present[0]})` },
    );
  }
  return present[0] ? path.join(dir, present[0]) : null;
}
