/** Running the CLI and other tools for the benchmark: timed, output to a log file, never to a pipe it could fill. */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTree } from '../../src/runtime/safe-remove.js';
import { writeMark } from '../../src/engine/work-dir-mark.js';
import type { BenchArgs } from './args.js';
import type { Row } from './results.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'bin', 'ailinux.js');
/** The ailinux command as installed: build and resume run only through it (it makes their sandbox). */
export const LAUNCHER = path.join(REPO, 'bin', 'ailinux');

/** A measure that cannot run here, and why (the table says so; it is not a failure). */
export class SkipMeasure extends Error {}

/** A measure that failed part-way, with the rows it had measured before (kept in the results). */
export class MeasureFailed extends Error {
  readonly rows: Row[];
  constructor(cause: unknown, rows: Row[]) {
    super((cause as Error).message ?? String(cause), { cause });
    this.rows = rows;
  }
}

/** What one measure gives back: its rows and what they mean. */
export interface MeasureOutput {
  rows: Row[];
  notes: string[];
}

export interface BuiltWorkDir {
  work: string;
  config: string;
  /** The shared deb cache dir it built with (AILINUX_CACHE_DIR). */
  cacheDir: string;
  /** The build's wall time, ms. */
  ms: number;
  steps: Record<string, StepTime>;
}

export interface StepTime {
  status: string;
  ms: number | null;
}

export interface BenchContext {
  args: BenchArgs;
  /** The bench's own temp dir: everything it writes but the results lives here, and it removes only this. */
  root: string;
  /** Root, in a private mount namespace whose host is read-only (npm run bench): what the real builds need. */
  sandboxed: boolean;
  /** Built once, shared: the minimal profile without its boot check (measures 2, 3, 4a). */
  shared: { minimal?: BuiltWorkDir; ailinux?: BuiltWorkDir };
  log(message: string): void;
}

export interface Timed {
  code: number | null;
  ms: number;
  /** Where stdout and stderr went, interleaved. */
  logFile: string;
}

let logCount = 0;

/** Runs file with args, both streams into a numbered log file under root/logs, and times it from spawn to exit. */
export function timed(
  ctx: Pick<BenchContext, 'root'>,
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; name?: string } = {},
): Promise<Timed> {
  const logs = path.join(ctx.root, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const logFile = path.join(logs, `${String(++logCount).padStart(3, '0')}-${options.name ?? path.basename(file)}.log`);
  const fd = fs.openSync(logFile, 'w');
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, {
      stdio: ['ignore', fd, fd],
      env: options.env ?? { ...process.env, NO_COLOR: '1' },
      cwd: options.cwd ?? ctx.root,
    });
    child.on('error', (error) => {
      fs.closeSync(fd);
      reject(error);
    });
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      fs.closeSync(fd);
      resolve({ code, ms, logFile });
    });
  });
}

/** The last lines of a log, for an error message. */
export function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** The environment variable that names ailinux's shared deb cache (src/runtime/deb-cache.ts, in the works). */
export const CACHE_DIR_ENV = 'AILINUX_CACHE_DIR';

/** A deb cache dir of the bench's own, under its temp dir: never the user's cache home. */
export function benchCacheDir(ctx: Pick<BenchContext, 'root'>, name: string): string {
  return path.join(ctx.root, 'debcache', name);
}

/**
 * Runs the ailinux command (bin/ailinux, which execs node on the compiled tree) and times it. The shared deb cache
 * is the bench's own unless the caller names one: a build never reads or fills the user's cache home.
 */
export function ailinux(
  ctx: Pick<BenchContext, 'root'>,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; name?: string } = {},
): Promise<Timed> {
  const env = { ...(options.env ?? { ...process.env, NO_COLOR: '1' }) };
  env[CACHE_DIR_ENV] ??= benchCacheDir(ctx, 'default');
  return timed(ctx, LAUNCHER, args, { env, name: options.name ?? `ailinux-${args[0]}` });
}

/** Like ailinux(), but a non-zero exit is an error quoting the log's end. */
export async function ailinuxOk(
  ctx: Pick<BenchContext, 'root'>,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; name?: string } = {},
): Promise<Timed> {
  const r = await ailinux(ctx, args, options);
  if (r.code !== 0)
    throw new Error(`ailinux ${args.join(' ')} exited ${r.code} (log ${r.logFile}):\n${tail(r.logFile)}`);
  return r;
}

/** Writes a config file under root/configs and returns its path. */
export function writeConfig(ctx: Pick<BenchContext, 'root'>, name: string, config: unknown): string {
  const dir = path.join(ctx.root, 'configs');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/** Each step's status and duration in a work dir, from `ailinux status --json`. */
export async function stepTimes(ctx: Pick<BenchContext, 'root'>, work: string): Promise<Record<string, StepTime>> {
  const r = await ailinuxOk(ctx, ['status', '--json', '-w', work], { name: 'status-json' });
  const status = JSON.parse(fs.readFileSync(r.logFile, 'utf8')) as {
    steps: Array<{ id: string; status: string; durationMs: number | null }>;
  };
  return Object.fromEntries(status.steps.map((s) => [s.id, { status: s.status, ms: s.durationMs }]));
}

/** The steps that ran (done) in the last build, with their times. */
export function ran(steps: Record<string, StepTime>): Record<string, number | null> {
  return Object.fromEntries(
    Object.entries(steps)
      .filter(([, s]) => s.status === 'done')
      .map(([id, s]) => [id, s.ms]),
  );
}

/** The environment of a build with this shared deb cache dir. */
export function cacheEnv(cacheDir: string): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: '1', [CACHE_DIR_ENV]: cacheDir };
}

/**
 * A build, timed; a failure is an error. cacheDir is its shared deb cache: a new, empty one of its own (cold) unless
 * an earlier build's is given (warm).
 */
export async function buildIn(
  ctx: BenchContext,
  name: string,
  config: string,
  work: string,
  options: { extra?: readonly string[]; cacheDir?: string } = {},
): Promise<BuiltWorkDir> {
  const cacheDir = options.cacheDir ?? benchCacheDir(ctx, name);
  const extra = options.extra ?? [];
  ctx.log(`${name}: ailinux build -c ${path.basename(config)} -w ${work} ${extra.join(' ')}`);
  const r = await ailinuxOk(ctx, ['build', '-c', config, '-w', work, ...extra], { name, env: cacheEnv(cacheDir) });
  const steps = await stepTimes(ctx, work);
  ctx.log(`${name}: ${(r.ms / 1000).toFixed(1)} s`);
  return { work, config, cacheDir, ms: r.ms, steps };
}

/** What the caches held after a build: the shared one (when ailinux has it) and the work dir's own. */
export function cacheSizes(b: BuiltWorkDir): { sharedCacheBytes: number; workDirCacheBytes: number } {
  return { sharedCacheBytes: duBytes(b.cacheDir), workDirCacheBytes: duBytes(path.join(b.work, 'cache')) };
}

/** What "warm" meant for ailinux in this run, from what the cold build left in each cache. */
export function ailinuxWarmMeaning(cold: BuiltWorkDir): string {
  const { sharedCacheBytes, workDirCacheBytes } = cacheSizes(cold);
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  return sharedCacheBytes > 1048576
    ? `warm, ailinux: a new work dir and the shared deb cache (AILINUX_CACHE_DIR) the cold build filled (${mib(sharedCacheBytes)}), its .debs and the layers kept by their fingerprints (those below the live user's password); its per-work-dir cache/ (${mib(workDirCacheBytes)}) was copied too.`
    : `warm, ailinux: ailinux has no shared cache in this tree (the cold build left ${mib(sharedCacheBytes)} in AILINUX_CACHE_DIR), so a new work dir, marked, holding a copy of the cold build's cache/debootstrap and cache/apt-archives (${mib(workDirCacheBytes)} of .debs): what the shared cache of issue 11 point 3 should give, re-measurable when it lands. The copy is not timed.`;
}

/**
 * A new work dir with a filled cache, as ailinux has it today: a new directory, marked as ailinux's (the product's
 * own writeMark), holding a copy of another work dir's deb caches (cache/debootstrap, debootstrap's --cache-dir, and
 * cache/apt-archives, bound on the chroot's /var/cache/apt/archives). Nothing else is copied: no layers, no state,
 * no input hashes. The copy is not timed; it stands in for the shared cache outside the work dir that issue 11
 * point 3 asks for.
 */
export function warmWorkDir(ctx: Pick<BenchContext, 'root'>, name: string, from: string): string {
  const work = path.join(ctx.root, name);
  fs.mkdirSync(work);
  writeMark(work);
  fs.mkdirSync(path.join(work, 'cache'));
  for (const sub of ['debootstrap', 'apt-archives']) {
    const src = path.join(from, 'cache', sub);
    if (fs.existsSync(src)) copyTree(src, path.join(work, 'cache', sub));
  }
  return work;
}

/**
 * Copies a tree as it is (cp -a: owners, modes, times, links and device nodes; live-build's cached bootstrap stage
 * holds /dev nodes, which fs.cpSync refuses with ENODEV).
 */
export function copyTree(src: string, dst: string): void {
  execFileSync('cp', ['-a', '--reflink=auto', '--', src, dst], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The size in bytes of what a directory holds (files only), for the notes. */
export function duBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return total;
}

/** Removes something the bench made under its root, with the product's safe remove (never across a mount). */
export async function removeOwn(ctx: Pick<BenchContext, 'root'>, target: string): Promise<void> {
  await removeTree(target, { within: ctx.root });
}

/** The one ISO in a work dir's output/. */
export function isoOf(work: string): string {
  const out = path.join(work, 'output');
  const isos = fs.readdirSync(out).filter((f) => f.endsWith('.iso'));
  if (isos.length !== 1) throw new Error(`expected one ISO in ${out}, found ${isos.length}`);
  return path.join(out, isos[0]!);
}

/** Real builds need root in the bench's sandbox (npm run bench), and the network. */
export function needRealBuilds(ctx: BenchContext): void {
  if (!ctx.sandboxed)
    throw new SkipMeasure('real builds run only as root in the read-only sandbox: run it through `npm run bench`');
}
