/** What the CLI needs from its process, passed in so commands can be run in tests. */
export interface CliIO {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
  cwd: string;
  uid: number;
  commandLine: string;
}

export function processIO(argv: readonly string[]): CliIO {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    uid: process.getuid?.() ?? -1,
    commandLine: ['ailinux', ...argv].join(' '),
  };
}
