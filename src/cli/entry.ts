/**
 * The CLI's entry (bin/ailinux.js). `ailinux status` in its plain forms starts without commander and the other
 * commands' definitions (src/cli/status-plain.ts; issue 11, point 7), and a plain `ailinux build` with nothing to do
 * ends in src/cli/build-fast.ts when the no-op digest says so: this module imports nothing else up front. Every other
 * command line, and a build the fast path is not sure of, goes to main (src/cli/main.ts), as before.
 */
import { type CliIO, processIO } from './io.js';

/** What a plain `ailinux status` command line gives: its -w as typed, if any, and --json. */
export interface PlainStatusArgs {
  workDir: string | undefined;
  json: boolean;
}

/** A value main would take as is: not empty, not an option. */
const plainValue = (value: string | undefined): value is string =>
  value !== undefined && value !== '' && !value.startsWith('-');

/**
 * `status` first, then at most one --json and one -w DIR, --work-dir DIR or --work-dir=DIR, and nothing else;
 * null for any other command line (-C, options before the command, --help, a repeated option…), which main parses.
 */
export function plainStatusArgs(argv: readonly string[]): PlainStatusArgs | null {
  if (argv[0] !== 'status') return null;
  let workDir: string | undefined;
  let json = false;
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]!;
    const joined = word.startsWith('--work-dir=') ? word.slice('--work-dir='.length) : undefined;
    if (word === '--json' && !json) json = true;
    else if ((word === '-w' || word === '--work-dir') && workDir === undefined && plainValue(argv[i + 1]))
      workDir = argv[++i];
    else if (joined !== undefined && workDir === undefined && plainValue(joined)) workDir = joined;
    else return null;
  }
  return { workDir, json };
}

/** What a plain `ailinux build` command line gives: the options a no-op build may be decided with. */
export interface PlainBuildArgs {
  config?: string;
  profile?: string;
  workDir?: string;
  offline: boolean;
  quiet: boolean;
}

const BUILD_VALUES: Record<string, 'config' | 'profile' | 'workDir'> = {
  '-c': 'config',
  '--config': 'config',
  '-p': 'profile',
  '--profile': 'profile',
  '-w': 'workDir',
  '--work-dir': 'workDir',
};

/**
 * `build` first, then at most one each of -c/--config FILE, -p/--profile NAME, -w/--work-dir DIR (as the next word or
 * joined with =), --offline and -q/--quiet; null for any other command line (--fresh, --progress, -C, a repeated
 * option, --help…), which main parses. src/cli/build-fast.ts may then find that there is nothing to do.
 */
export function plainBuildArgs(argv: readonly string[]): PlainBuildArgs | null {
  if (argv[0] !== 'build') return null;
  const out: PlainBuildArgs = { offline: false, quiet: false };
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]!;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const name = eq > 0 ? word.slice(0, eq) : word;
    const key = BUILD_VALUES[name];
    if (key !== undefined) {
      const value = eq > 0 ? word.slice(eq + 1) : argv[++i];
      if (out[key] !== undefined || !plainValue(value)) return null;
      out[key] = value;
    } else if (word === '--offline' && !out.offline) out.offline = true;
    else if ((word === '-q' || word === '--quiet') && !out.quiet) out.quiet = true;
    else return null;
  }
  return out;
}

/** Runs the CLI and resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIO = processIO(argv)): Promise<number> {
  const plain = plainStatusArgs(argv);
  if (plain !== null) return (await import('./status-plain.js')).runPlainStatus(plain, io);
  const build = plainBuildArgs(argv);
  if (build !== null) {
    const code = await (await import('./build-fast.js')).runFastBuild(build, io);
    if (code !== null) return code;
  }
  return (await import('./main.js')).main(argv, io);
}
