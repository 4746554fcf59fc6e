/**
 * The CLI's entry (bin/ailinux.js). `ailinux status` in its plain forms starts without commander and the other
 * commands' definitions (src/cli/status-plain.ts; issue 11, point 7): this module imports nothing else up front.
 * Every other command line goes to main (src/cli/main.ts), as before.
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

/** Runs the CLI and resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIO = processIO(argv)): Promise<number> {
  const plain = plainStatusArgs(argv);
  if (plain !== null) return (await import('./status-plain.js')).runPlainStatus(plain, io);
  return (await import('./main.js')).main(argv, io);
}
