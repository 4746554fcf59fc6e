import type { UserFlags } from './hint.js';

/** What the CLI needs from its process, passed in so commands can be run in tests. */
export interface CliIO {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
  cwd: string;
  uid: number;
  commandLine: string;
  /** The arguments after `ailinux`, as given: a fix that repeats the whole command (under sudo, say) quotes them. */
  argv?: readonly string[];
  /** The -C, --work-dir and --config the user typed, set once the command is parsed: fix lines carry them. */
  hintFlags?: UserFlags;
}

/** A terminal that went away (SIGHUP, a closed pipe) must not crash a build that is cleaning up. */
function ignoreClosedStream(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
  });
}

export function processIO(argv: readonly string[]): CliIO {
  ignoreClosedStream(process.stdout);
  ignoreClosedStream(process.stderr);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    uid: process.getuid?.() ?? -1,
    commandLine: ['ailinux', ...argv].join(' '),
    argv,
  };
}
