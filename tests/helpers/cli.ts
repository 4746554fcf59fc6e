/** Runs the real CLI (the compiled one, as users run it) and collects its output. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'bin', 'ailinux.js');
/** The ailinux command as installed: it execs node on CLI with the same pid, as root in the sandbox for build/resume/clean. */
export const LAUNCHER = path.join(REPO, 'bin', 'ailinux');

/** Throws unless the CLI has been compiled (bin/ailinux.js runs dist/'s entry, which loads main or status-plain). */
export function assertCliBuilt(): void {
  for (const file of ['entry.js', 'main.js', 'status-plain.js'])
    if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', file)))
      throw new Error(`dist/src/cli/${file} is missing: run \`npm run build\` first`);
}

export const FAKE_BIN = path.join(REPO, 'tests', 'fixtures', 'bin');
/** The Release file every suite answers with in fake-tools builds (AILINUX_ARCHIVE_RELEASE_FILE, vitest.config.ts). */
export const FIXED_RELEASE = path.join(REPO, 'tests', 'fixtures', 'archive', 'Release');

/**
 * The environment of a CLI run against the fake host tools (tests/fixtures/bin first on PATH), none
 * of our own or the fakes' variables leaking in from ours. The fakes' effects log is off: in the sandbox only the work
 * dir is writable, so a test that reads it sets FAKE_EFFECTS_LOG inside the work dir.
 */
export function fakeToolsEnv(tmp: string, settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('AILINUX_') || key.startsWith('FAKE_')) delete env[key];
  return {
    ...env,
    PATH: `${FAKE_BIN}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    NO_COLOR: '1',
    // chroot commands run with env -i: the fake chroot is found on this PATH and reads its FAKE_* settings
    AILINUX_CHROOT_ENV_KEEP: 'PATH,FAKE_*,AILINUX_NS_RUN_TRACE',
    // no network: every suite's Release is the fixture (vitest.config.ts); a test of the archive check overrides it
    AILINUX_ARCHIVE_RELEASE_FILE: FIXED_RELEASE,
    // the shared deb cache in the test's temp dir, never the host's ~/.cache/ailinux
    AILINUX_CACHE_DIR: path.join(tmp, 'deb-cache'),
    // every step runs: a layer kept in that cache by one test's build would otherwise stand in for the next one's step
    AILINUX_LAYER_CACHE: 'off',
    ...settings,
  };
}

interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the start to the exit. */
  ms: number;
}

/** A run on pipes: each stream alone, and both together as they came. */
export interface CliOutput extends CliExit {
  stdout: string;
  stderr: string;
  output: string;
}

/** A run with its output in a file: stdout and stderr interleaved there, as the CLI wrote them. */
export interface CliLogged extends CliExit {
  output: string;
  log: string;
}

export interface CliOptions {
  /** The CLI's whole environment; ours when not given. */
  env?: NodeJS.ProcessEnv;
  /** The repository when not given. */
  cwd?: string;
  /**
   * Both streams into a numbered file in this directory instead of pipes: a pipe stays open (and
   * the run unfinished) as long as an orphan of the CLI holds it, a file does not.
   */
  logDir?: string;
  /** In its own process group (its pgid is its pid), so a test can signal the whole group. */
  detached?: boolean;
  /** SIGKILL to the CLI after this long, so a test that fails half-way leaves no CLI running. */
  killAfterMs?: number;
  /** Run as this uid, with the same gid and no supplementary groups (we must be root). */
  uid?: number;
}

export interface CliRun<R extends CliExit = CliOutput> {
  child: ChildProcess;
  pid: number;
  /** The exit, once the CLI is gone (on pipes: once both streams are closed too). */
  done: Promise<R>;
  /** What it wrote so far, both streams together. */
  output(): string;
}

/** CLIs this module started that have not exited yet. */
const running = new Set<ChildProcess>();
let runs = 0;

/** Starts the compiled CLI with args, through the ailinux command (bin/ailinux), so its pid is node's. */
export function startCli(args: string[], options: CliOptions & { logDir: string }): CliRun<CliLogged>;
export function startCli(args: string[], options?: CliOptions & { logDir?: undefined }): CliRun<CliOutput>;
export function startCli(args: string[], options: CliOptions = {}): CliRun<CliOutput> | CliRun<CliLogged> {
  return start(args, options);
}

function start(args: string[], options: CliOptions): CliRun<CliOutput> | CliRun<CliLogged> {
  const started = Date.now();
  const log = options.logDir
    ? path.join(options.logDir, `cli-${String(++runs).padStart(3, '0')}-${args[0] ?? 'none'}.log`)
    : null;
  const fd = log === null ? null : fs.openSync(log, 'w');
  let child: ChildProcess;
  try {
    child = spawn(LAUNCHER, args, {
      cwd: options.cwd ?? REPO,
      env: options.env ?? process.env,
      stdio: fd === null ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
      detached: options.detached ?? false,
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
    });
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${LAUNCHER}`);
  running.add(child);
  const watchdog =
    options.killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  const exited = new Promise<CliExit>((resolve, reject) => {
    child.once('error', reject);
    // on pipes, 'close' comes once the streams are read to their end too
    child.once(log === null ? 'close' : 'exit', (code: number | null, signal: NodeJS.Signals | null) =>
      resolve({ code, signal, ms: Date.now() - started }),
    );
  }).finally(() => {
    running.delete(child);
    if (watchdog) clearTimeout(watchdog);
  });

  if (log !== null) {
    const output = () => fs.readFileSync(log, 'utf8');
    const done: Promise<CliLogged> = exited.then((e) => ({ ...e, output: output(), log }));
    return { child, pid: child.pid, output, done };
  }
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    output += d.toString();
  });
  const done: Promise<CliOutput> = exited.then((e) => ({ ...e, stdout, stderr, output }));
  return { child, pid: child.pid, output: () => output, done };
}

/** Runs the CLI to its exit. */
export function runCli(args: string[], options: CliOptions & { logDir: string }): Promise<CliLogged>;
export function runCli(args: string[], options?: CliOptions & { logDir?: undefined }): Promise<CliOutput>;
export function runCli(args: string[], options: CliOptions = {}): Promise<CliOutput | CliLogged> {
  return start(args, options).done;
}

/** SIGKILL to every CLI this module started that is still running, by the handle it holds. */
export function killRunningClis(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export const NOBODY = 65534;

/**
 * The CLI as nobody (so we must be root), with a bare environment, from /. TMPDIR is kept: the tests' own temp dir,
 * the only place outside a work dir a test may write (the root tiers run in a sandbox where /tmp is read-only).
 */
export function runCliAsNobody(args: string[]): Promise<CliOutput> {
  const tmp = process.env['TMPDIR'];
  return runCli(args, {
    uid: NOBODY,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: '/nonexistent',
      ...(tmp ? { TMPDIR: tmp } : {}),
      // plan reads the archive: the fixed Release, as in every CLI run of these tiers
      AILINUX_ARCHIVE_RELEASE_FILE: FIXED_RELEASE,
    },
    cwd: '/',
  });
}
