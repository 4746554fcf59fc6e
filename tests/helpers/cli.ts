/** Runs the real CLI (the compiled one, as users run it) and collects its output. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'bin', 'ailinux.js');

/** Throws unless the CLI has been compiled (bin/ailinux.js runs dist/). */
export function assertCliBuilt(): void {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
}

export const FAKE_BIN = path.join(REPO, 'tests', 'fixtures', 'bin');

/**
 * The environment of a CLI run against the fake host tools (tests/fixtures/bin first on PATH), none
 * of our own or the fakes' variables leaking in from ours; the fakes log their effects in tmp.
 */
export function fakeToolsEnv(tmp: string, settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('AILINUX_') || key.startsWith('FAKE_')) delete env[key];
  return {
    ...env,
    PATH: `${FAKE_BIN}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    FAKE_EFFECTS_LOG: path.join(tmp, 'effects.log'),
    NO_COLOR: '1',
    ...settings,
  };
}

export interface CliRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = REPO): CliRun {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
    ms: number;
  }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
  return { child, done };
}

export function runCli(args: string[], env?: NodeJS.ProcessEnv, cwd?: string) {
  return startCli(args, env, cwd).done;
}

export const NOBODY = 65534;

/** The CLI as nobody (through setpriv, so we must be root), with a bare environment, from /. */
export function runCliAsNobody(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(
    'setpriv',
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', process.execPath, CLI, ...args],
    {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent' },
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })),
  );
}
