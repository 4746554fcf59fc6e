/**
 * The options before the command, as git, make and tar take them: `-C DIR` changes directory first, so config and
 * work-dir discovery and every relative path start there; `-w DIR` stands for the command's own -w. bin/ailinux
 * reads the same words to find the command, and must agree with VALUE_FLAGS on which options take a value.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';

/** The options before the command that take a value (as the next word, or joined: -Cdir, --directory=dir). */
export const VALUE_FLAGS = { directory: ['-C', '--directory'], workDir: ['-w', '--work-dir'] } as const;

export interface LeadingOptions {
  /** Each -C/--directory value, in order: each is relative to the one before, as in git. */
  readonly directories: readonly string[];
  /** Where the command word is in argv; -1 when there is none. */
  readonly commandIndex: number;
}

/** The value of a flag given as one word (-Cdir, --directory=dir), or null when arg is not that flag so joined. */
function joinedValue(arg: string, short: string, long: string): string | null {
  if (arg.startsWith(`${long}=`)) return arg.slice(long.length + 1);
  if (arg.startsWith(short) && arg.length > short.length && !arg.startsWith('--')) return arg.slice(short.length);
  return null;
}

/**
 * Reads the options before the command word. It leaves checking them to commander: a flag that lacks its value, or
 * an unknown one, is commander's usage error.
 */
export function leadingOptions(argv: readonly string[]): LeadingOptions {
  const directories: string[] = [];
  const [shortC, longC] = VALUE_FLAGS.directory;
  const [shortW, longW] = VALUE_FLAGS.workDir;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { directories, commandIndex: i + 1 < argv.length ? i + 1 : -1 };
    if (!arg.startsWith('-') || arg === '-') return { directories, commandIndex: i };
    if (arg === shortC || arg === longC) {
      const value = argv[i + 1];
      if (value !== undefined) directories.push(value);
      i++;
      continue;
    }
    if (arg === shortW || arg === longW) {
      i++;
      continue;
    }
    const joined = joinedValue(arg, shortC, longC);
    if (joined !== null) directories.push(joined);
  }
  return { directories, commandIndex: -1 };
}

/** The directories of -C as one path, as the user would type it again: each relative to the one before. */
export function joinDirectories(directories: readonly string[]): string | null {
  if (directories.length === 0) return null;
  return directories.reduce((from, dir) => (path.isAbsolute(dir) ? dir : path.join(from, dir)));
}

/**
 * The directory -C names, resolved from cwd and checked: it exists and is a directory. A UsageError (exit 2)
 * names the -C value and what is wrong with it; null when no -C was given.
 */
export function resolveDirectories(directories: readonly string[], cwd: string): string | null {
  let dir = cwd;
  for (const given of directories) {
    if (given === '')
      throw new UsageError('-C was given an empty directory name', { hint: 'give -C the directory to run in' });
    dir = path.resolve(dir, given);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(
        `cannot change to ${dir} (-C ${given}): ${code === 'ENOENT' ? 'no such directory' : (error as Error).message}`,
        { hint: 'give -C an existing directory' },
      );
    }
    if (!stat.isDirectory())
      throw new UsageError(`cannot change to ${dir} (-C ${given}): it is not a directory`, {
        hint: 'give -C a directory',
      });
  }
  return directories.length ? dir : null;
}
