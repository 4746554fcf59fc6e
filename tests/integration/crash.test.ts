/**
 * Crash test: the real CLI (bin/ailinux.js, as root) against fake host tools first on PATH
 * (tests/fixtures/bin), with the real unshare, overlayfs and libexec/ailinux-ns-run. A reference
 * build runs once without interruption; then another work dir is SIGKILLed at random moments at
 * least MIN_KILLS times, resumed after each kill, and finally resumed to completion. Its ISO must
 * be byte-identical to the reference, every step's effect must be in the rootfs exactly once, and
 * nothing of the build (process or mount) may be left. Needs root; skipped otherwise.
 *
 * CRASH_SEED=<n> replays a run (the seed is printed); CRASH_KILLS=<n> changes the number of kills.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'bin', 'ailinux.js');
const FAKE_BIN = path.join(REPO, 'tests', 'fixtures', 'bin');
const CONFIG = path.join(REPO, 'tests', 'fixtures', 'crash.config.json');
const NS_RUN = path.join(REPO, 'libexec', 'ailinux-ns-run');
const SOURCE_DATE_EPOCH = '1700000000';
const FAKE_TOOL_DELAY = '0.25';
const MIN_KILLS = Number(process.env['CRASH_KILLS'] ?? 20);
const ISO_NAME = 'ailinux-minimal-amd64.iso';
/** Rootfs layers of the minimal profile, bottom first, and the directory holding each one's tree. */
const LAYERS: ReadonlyArray<readonly [string, string]> = [
  ['bootstrap', 'root'],
  ['configure', 'upper'],
  ['packages', 'upper'],
  ['identity', 'upper'],
  ['chroot-cleanup', 'upper'],
];
const EXPECTED_PACKAGES = ['apt', 'base-files', 'bash', 'dpkg', 'libc6', 'linux-image-amd64', 'live-boot', 'systemd-sysv', 'zstd'];

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('crash.test.ts: skipped: it runs `ailinux build` for real (unshare, overlay mounts, chroot) and needs root');

/** mulberry32: small, seeded, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CliRun {
  pid: number;
  log: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let tmp = '';
let runCount = 0;

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('AILINUX_') || key.startsWith('FAKE_')) delete env[key];
  return {
    ...env,
    PATH: `${FAKE_BIN}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    SOURCE_DATE_EPOCH,
    FAKE_TOOL_DELAY,
    FAKE_EFFECTS_LOG: path.join(tmp, 'effects.log'),
    NO_COLOR: '1',
    ...extra,
  };
}

/** Starts the CLI with its output in a file (a pipe would stay open as long as an orphan holds it). */
function startCli(args: string[], env: NodeJS.ProcessEnv = cliEnv()): CliRun {
  const log = path.join(tmp, `cli-${String(++runCount).padStart(3, '0')}-${args[0]}.log`);
  const fd = fs.openSync(log, 'w');
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (child.pid === undefined) throw new Error(`could not start ${CLI}`);
  return { pid: child.pid, log, exited };
}

async function runCli(args: string[], timeoutMs = 90_000): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const run = startCli(args);
  const timer = setTimeout(() => process.kill(run.pid, 'SIGKILL'), timeoutMs);
  const { code } = await run.exited.finally(() => clearTimeout(timer));
  return { code, output: fs.readFileSync(run.log, 'utf8'), ms: Date.now() - started };
}

function sleep(ms: number): Promise<null> {
  return new Promise((resolve) => setTimeout(() => resolve(null), ms));
}

interface StateView {
  workId: string;
  runId: string;
  outcome: string;
  current: string | null;
  order: string[];
  ledger: Record<string, { status: string; reason?: string | null; attempts: number }>;
}

function readState(workDir: string): StateView | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(workDir, 'state', 'state.json'), 'utf8')) as StateView;
  } catch {
    return null;
  }
}

function hostMountinfo(): string {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8');
}

/** Mount points (field 5 of mountinfo, octal escapes decoded) at or under dir. */
function mountsUnder(dir: string, table: string): string[] {
  return table
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

function procState(pid: number): string | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** Live (non-zombie) processes whose environment holds the marker or whose command line mentions text. */
function buildProcesses(marker: string, text: string): string[] {
  const found: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let environ = '';
    let cmdline = '';
    try {
      environ = fs.readFileSync(`/proc/${name}/environ`, 'latin1');
      cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    const state = procState(Number(name));
    if (state === null || state === 'Z') continue;
    if (environ.split('\0').includes(marker) || cmdline.includes(text)) found.push(`${name} [${state}] ${cmdline.split('\0').join(' ').trim()}`);
  }
  return found;
}

/**
 * Materialises the merged rootfs of a work dir with the kernel's own overlayfs, in a private mount
 * namespace made by the real ailinux-ns-run, so whiteouts and layer order are the kernel's.
 */
function mergedRootfs(workDir: string, dest: string): string {
  fs.rmSync(dest, { recursive: true, force: true });
  const lower = [...LAYERS].reverse().map(([id, sub]) => path.join(workDir, 'layers', id, sub));
  for (const dir of lower) expect(fs.existsSync(dir), `layer ${dir} exists`).toBe(true);
  const mnt = fs.mkdtempSync(path.join(tmp, 'view-'));
  fs.mkdirSync(dest, { recursive: true });
  const r = spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', '--fork', '--', NS_RUN, '--mount', 'overlay', 'overlay', mnt, `lowerdir=${lower.join(':')}`, '--', 'cp', '-a', `${mnt}/.`, dest],
    { env: { ...process.env, AILINUX_HOST_MNTNS: fs.readlinkSync('/proc/self/ns/mnt') }, encoding: 'utf8' },
  );
  expect(r.stderr, 'materialising the merged rootfs').toBe('');
  expect(r.status).toBe(0);
  return dest;
}

function read(root: string, rel: string): string {
  return fs.readFileSync(path.join(root, rel), 'utf8');
}

function countLines(text: string, prefix: string): number {
  return text.split('\n').filter((l) => l.startsWith(prefix)).length;
}

/** Every effect of every chroot step, present once: no stanza, user, group member or line twice. */
function checkEffectsOnce(root: string): void {
  const status = read(root, 'var/lib/dpkg/status');
  const names = [...status.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]!);
  expect([...names].sort(), 'dpkg status: each package exactly once').toEqual(EXPECTED_PACKAGES);
  expect(status.split(/\n\n/).filter((s) => s.trim() !== '').length, 'dpkg status: one stanza per package').toBe(EXPECTED_PACKAGES.length);

  const passwd = read(root, 'etc/passwd');
  expect(countLines(passwd, 'live:'), '/etc/passwd: one line for the live user').toBe(1);
  expect(passwd.split('\n').filter(Boolean)).toHaveLength(3);
  expect(countLines(read(root, 'etc/shadow'), 'live:'), '/etc/shadow: one line for the live user').toBe(1);
  const group = read(root, 'etc/group');
  expect(countLines(group, 'live:'), '/etc/group: one private group').toBe(1);
  expect(group).toContain('\nsudo:x:27:live\n');
  expect(group).toContain('\naudio:x:29:live\n');
  expect(read(root, 'home/live/.profile').split('\n').filter(Boolean)).toHaveLength(1);

  expect(read(root, 'etc/hostname')).toBe('ailinux-minimal\n');
  expect(fs.readlinkSync(path.join(root, 'etc/localtime'))).toBe('/usr/share/zoneinfo/Etc/UTC');
  expect(fs.readlinkSync(path.join(root, 'vmlinuz'))).toBe('boot/vmlinuz-fake');
  expect(fs.existsSync(path.join(root, 'usr/sbin/policy-rc.d')), 'chroot-cleanup removed policy-rc.d').toBe(false);
  expect(read(root, 'etc/machine-id')).toBe('');
  expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
  expect(read(root, 'etc/apt/sources.list')).toMatch(/^deb http:\/\/deb\.debian\.org\/debian bookworm main$/m);
}

/** Where a kill landed, from the state file the killed process left (runIdBefore: the state's run before it started). */
function landing(workDir: string, runIdBefore: string | null): string {
  const state = readState(workDir);
  if (state === null) return '(no state yet)';
  if (state.runId === runIdBefore) return '(before its own state was written)';
  if (state.current === null) return state.outcome === 'succeeded' ? '(after success)' : '(before the first step)';
  return `${state.current}:${state.ledger[state.current]?.status ?? '?'}`;
}

let mountinfoBefore = '';

beforeAll(() => {
  if (!isRoot) return;
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-crash-'));
  mountinfoBefore = hostMountinfo();
});

afterAll(() => {
  if (tmp && process.env['CRASH_KEEP'] !== '1') fs.rmSync(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`crash test: kept ${tmp}`);
});

describe.skipIf(!isRoot)('crash: SIGKILL at random moments, resume each time', () => {
  it(`ends with the same ISO as an uninterrupted build, each effect once, nothing left (>= ${MIN_KILLS} kills)`, async () => {
    const testStarted = Date.now();
    const w0 = path.join(tmp, 'w0');
    const w1 = path.join(tmp, 'w1');

    const reference = await runCli(['build', '--config', CONFIG, '-w', w0]);
    expect(reference.code, reference.output).toBe(0);
    const T = reference.ms;
    console.log(`crash test: reference build took ${T} ms`);

    const seed = Number(process.env['CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`crash test: seed ${seed} (replay with CRASH_SEED=${seed})`);
    const random = prng(seed);

    const kills: { n: number; command: string; afterMs: number; landed: string }[] = [];
    const completions: string[] = [];
    let next: 'build' | 'resume' | 'fresh' = 'build';
    for (let guard = 0; kills.length < MIN_KILLS; guard++) {
      expect(guard, 'too many runs without reaching the kill count').toBeLessThan(MIN_KILLS * 4);
      const command = next;
      const args = command === 'resume' ? ['resume', '-w', w1] : ['build', '--config', CONFIG, '-w', w1, ...(command === 'fresh' ? ['--fresh'] : [])];
      const afterMs = Math.floor(random() * T);
      const runIdBefore = readState(w1)?.runId ?? null;
      const run = startCli(args);
      const early = await Promise.race([run.exited, sleep(afterMs)]);
      if (early === null) {
        process.kill(run.pid, 'SIGKILL');
        const { signal } = await run.exited;
        if (signal === 'SIGKILL') {
          kills.push({ n: kills.length + 1, command, afterMs, landed: landing(w1, runIdBefore) });
          next = 'resume';
          continue;
        }
      }
      // It finished before its kill moment.
      const { code } = await run.exited;
      const output = fs.readFileSync(run.log, 'utf8');
      completions.push(`${command} -> ${code}`);
      if (code === 0) {
        next = 'fresh'; // the build is complete: crash a fresh one in the same work dir
      } else if (command === 'resume' && code === 2 && output.includes('there is no build to resume')) {
        next = 'build'; // the first kill landed before any state was written
      } else {
        throw new Error(`\`ailinux ${args.join(' ')}\` exited ${code} after a kill; output:\n${output}`);
      }
    }

    const final = await runCli(['resume', '-w', w1]);
    expect(final.code, final.output).toBe(0);

    const byStep = new Map<string, number>();
    for (const k of kills) {
      const where = k.landed.split(':')[0]!;
      byStep.set(where, (byStep.get(where) ?? 0) + 1);
    }
    console.log(
      [
        `crash test: ${kills.length} kills (seed ${seed}, T = ${T} ms); runs that finished before their kill: ${completions.join(', ') || 'none'}`,
        ...kills.map((k) => `  kill ${String(k.n).padStart(2)}: ${k.command.padEnd(6)} after ${String(k.afterMs).padStart(5)} ms -> ${k.landed}`),
        `  by step: ${[...byStep].map(([s, n]) => `${s} ${n}`).join(', ')}`,
      ].join('\n'),
    );
    expect(kills.length).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(byStep.size, 'kills landed in several places').toBeGreaterThanOrEqual(3);

    // Every step done or skipped, by the CLI's own account.
    const status = spawnSync(process.execPath, [CLI, 'status', '-w', w1, '--json'], { encoding: 'utf8', env: cliEnv() });
    expect(status.status, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as { outcome: string; steps: { id: string; status: string }[] };
    expect(report.outcome).toBe('succeeded');
    expect(report.steps.map((s) => s.id)).toEqual(readState(w0)!.order);
    for (const s of report.steps) expect(['done', 'skipped'], `step ${s.id}`).toContain(s.status);

    // Each effect once, in the merged rootfs the kernel assembles from W1's layers.
    expect(fs.readdirSync(path.join(w1, 'layers')).sort()).toEqual(LAYERS.map(([id]) => id).sort());
    checkEffectsOnce(mergedRootfs(w1, path.join(tmp, 'merged-w1')));
    checkEffectsOnce(mergedRootfs(w0, path.join(tmp, 'merged-w0')));

    // Same inputs, same SOURCE_DATE_EPOCH: the same bytes.
    for (const file of [ISO_NAME, `${ISO_NAME}.sha256`, `${ISO_NAME}.md5`]) {
      const a = fs.readFileSync(path.join(w0, 'output', file));
      const b = fs.readFileSync(path.join(w1, 'output', file));
      expect(b.equals(a), `output/${file} of the crashed build equals the reference`).toBe(true);
    }
    expect(fs.readdirSync(path.join(w1, 'output')).filter((f) => f.endsWith('.partial'))).toEqual([]);

    // Nothing of the build left running, nothing mounted.
    const workId = readState(w1)!.workId;
    expect(buildProcesses(`AILINUX_WORK_ID=${workId}`, w1)).toEqual([]);
    const after = hostMountinfo();
    expect(mountsUnder(w1, after)).toEqual([]);
    expect(after).toBe(mountinfoBefore);

    const seconds = (Date.now() - testStarted) / 1000;
    console.log(`crash test: total ${seconds.toFixed(1)} s`);
  });

  it('a kill while `build --fresh` deletes the old layers never leaves a build that trusts a half-deleted layer', async () => {
    const w2 = path.join(tmp, 'w2');
    const EXTRA = 20000;
    // a bootstrap layer big enough that deleting it takes a while, and fast tools
    const env = cliEnv({ FAKE_DEBOOTSTRAP_EXTRA_FILES: String(EXTRA), FAKE_TOOL_DELAY: '0.05' });
    const first = startCli(['build', '--config', CONFIG, '-w', w2], env);
    expect((await first.exited).code, fs.readFileSync(first.log, 'utf8')).toBe(0);
    const iso = path.join(w2, 'output', ISO_NAME);
    const isoBefore = fs.readFileSync(iso);

    const fresh = startCli(['build', '--config', CONFIG, '-w', w2, '--fresh'], env);
    let exitedEarly = false;
    void fresh.exited.then(() => {
      exitedEarly = true;
    });
    const marker = path.join(w2, 'layers', 'bootstrap', 'root', 'etc', 'os-release');
    const deadline = Date.now() + 30_000;
    while (fs.existsSync(marker) && !exitedEarly && Date.now() < deadline) await sleep(2);
    expect(exitedEarly, '--fresh finished its removal before the kill; raise EXTRA').toBe(false);
    process.kill(fresh.pid, 'SIGKILL');
    expect((await fresh.exited).signal).toBe('SIGKILL');
    const docDir = path.join(w2, 'layers', 'bootstrap', 'root', 'usr', 'share', 'fake-doc');
    const left = fs.existsSync(docDir) ? fs.readdirSync(docDir).length : 0;
    console.log(`crash test: killed \`build --fresh\` with ${left} of ${EXTRA} files of the old bootstrap layer not yet deleted`);
    expect(left, 'the kill landed while the old bootstrap layer was half deleted').toBeGreaterThan(0);

    const resumed = startCli(['resume', '-w', w2], env);
    const { code } = await resumed.exited;
    const output = fs.readFileSync(resumed.log, 'utf8');
    expect(code, output).toBe(0);
    const root = mergedRootfs(w2, path.join(tmp, 'merged-w2'));
    expect(fs.existsSync(path.join(root, 'etc', 'os-release')), 'the rootfs has /etc/os-release again').toBe(true);
    expect(fs.readdirSync(path.join(root, 'usr', 'share', 'fake-doc'))).toHaveLength(EXTRA);
    checkEffectsOnce(root);
    expect(fs.readFileSync(iso).equals(isoBefore), 'the rebuilt ISO equals the one before --fresh').toBe(true);
    expect(mountsUnder(w2, hostMountinfo())).toEqual([]);
    expect(buildProcesses(`AILINUX_WORK_ID=${readState(w2)!.workId}`, w2)).toEqual([]);
  });
});
