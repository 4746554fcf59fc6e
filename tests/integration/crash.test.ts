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
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, skipUnlessRoot } from '../helpers/root.js';
import { fakeToolsEnv, runCli, startCli, type CliLogged, type CliRun } from '../helpers/cli.js';
import {
  allProcesses,
  hostMountinfo,
  markedProcesses,
  mountPointsUnder,
  prepareBuildTest,
  processesOfWorkDirsIn,
  readWorkState,
  stillAlive,
  type ProcInfo,
} from '../helpers/host.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = path.join(REPO, 'tests', 'fixtures', 'crash.config.json');
const NS_RUN = path.join(REPO, 'libexec', 'ailinux-ns-run');
const PAUSE_REMOVAL = path.join(REPO, 'tests', 'fixtures', 'pause-removal.mjs');
const SOURCE_DATE_EPOCH = '1700000000';
const FAKE_TOOL_DELAY = '0.05';
/** The fake apt-get installs take this long, so a kill there leaves orphans that outlive the next run's start. */
const FAKE_APT_INSTALL_DELAY = '0.6';
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
const EXPECTED_PACKAGES = [
  'apt',
  'base-files',
  'bash',
  'dpkg',
  'libc6',
  'linux-image-amd64',
  'live-boot',
  'systemd-sysv',
  'zstd',
];

if (!isRoot)
  console.warn(
    'crash.test.ts: skipped: it runs `ailinux build` for real (unshare, overlay mounts, chroot) and needs root',
  );

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

let tmp = '';
/** A whole run of the CLI gets this long before it is SIGKILLed. */
const RUN_LIMIT_MS = 240_000;

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return fakeToolsEnv(tmp, { SOURCE_DATE_EPOCH, FAKE_TOOL_DELAY, FAKE_APT_INSTALL_DELAY, ...extra });
}

/** Starts the CLI with its output in a file in tmp (a pipe would stay open as long as an orphan holds it). */
function start(args: string[], env: NodeJS.ProcessEnv = cliEnv()): CliRun<CliLogged> {
  return startCli(args, { env, logDir: tmp });
}

/** Runs the CLI to its end, SIGKILLed after RUN_LIMIT_MS. */
function runToEnd(args: string[]): Promise<CliLogged> {
  return runCli(args, { env: cliEnv(), logDir: tmp, killAfterMs: RUN_LIMIT_MS });
}

/** SIGKILL to one pid we spawned; it may have exited on its own a moment ago. */
function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
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
  return readWorkState<StateView>(workDir);
}

/** Live processes of the build: the marker in their environment, or the work dir in their command line. */
function buildProcesses(workId: string, workDir: string): string[] {
  const marker = `AILINUX_WORK_ID=${workId}`;
  return allProcesses()
    .filter((p) => p.environ.includes(marker) || p.cmdline.includes(workDir))
    .map((p) => `${p.pid} [${p.state}] ${p.cmdline}`);
}

/**
 * Watches a run start: once it has written its own state (its runId replaces runIdBefore), it has
 * reaped what the killed runs left, so none of the given orphans may still be alive.
 */
async function watchReaping(
  workDir: string,
  runIdBefore: string | null,
  orphans: ProcInfo[],
  exited: Promise<unknown>,
) {
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  for (;;) {
    const state = readState(workDir);
    if (state !== null && state.runId !== runIdBefore) return { checked: true, alive: orphans.filter(stillAlive) };
    if (ended) return { checked: false, alive: [] as ProcInfo[] };
    await sleep(5);
  }
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
    [
      '--mount',
      '--propagation',
      'private',
      '--fork',
      '--',
      NS_RUN,
      '--mount',
      'overlay',
      'overlay',
      mnt,
      `lowerdir=${lower.join(':')}`,
      '--',
      'cp',
      '-a',
      `${mnt}/.`,
      dest,
    ],
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
  expect(status.split(/\n\n/).filter((s) => s.trim() !== '').length, 'dpkg status: one stanza per package').toBe(
    EXPECTED_PACKAGES.length,
  );

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

/** The lines two fake ISOs (text: options, then the tree with each file's sha256) differ in, for a readable failure. */
function isoDiff(a: Buffer, b: Buffer): string {
  const left = a.toString('latin1').split('\n');
  const right = b.toString('latin1').split('\n');
  const onlyLeft = left.filter((l) => !right.includes(l)).map((l) => `- ${l}`);
  const onlyRight = right.filter((l) => !left.includes(l)).map((l) => `+ ${l}`);
  return [...onlyLeft, ...onlyRight].slice(0, 20).join('\n');
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
  ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-crash-'));
});

afterAll(async () => {
  // A failed test may leave a killed run's commands behind: end them, by pid, before deleting their trees.
  for (const p of processesOfWorkDirsIn(tmp)) if (stillAlive(p)) killPid(p.pid);
  await sleep(200);
  if (tmp && process.env['CRASH_KEEP'] !== '1') fs.rmSync(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`crash test: kept ${tmp}`);
});

describe.skipIf(skipUnlessRoot())('crash: SIGKILL at random moments, resume each time', () => {
  // its runs scale with the machine's speed (kills land within T, the time of one build), so its deadline is wide
  it(`ends with the same ISO as an uninterrupted build, each effect once, nothing left (>= ${MIN_KILLS} kills)`, {
    timeout: 1_200_000,
  }, async () => {
    const testStarted = Date.now();
    const w0 = path.join(tmp, 'w0');
    const w1 = path.join(tmp, 'w1');

    const reference = await runToEnd(['build', '--config', CONFIG, '-w', w0]);
    expect(reference.code, reference.output).toBe(0);
    // T: how long an uninterrupted build takes; lowered when a full (--fresh) run finishes sooner, as load changes
    let T = reference.ms;
    console.log(`crash test: reference build took ${T} ms`);

    const seed = Number(process.env['CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`crash test: seed ${seed} (replay with CRASH_SEED=${seed})`);
    const random = prng(seed);

    const kills: { n: number; command: string; afterMs: number; landed: string }[] = [];
    const completions: string[] = [];
    const unreaped: string[] = [];
    let orphans: ProcInfo[] = [];
    let reaped = 0;
    let next: 'build' | 'resume' | 'fresh' = 'build';
    for (let guard = 0; kills.length < MIN_KILLS; guard++) {
      expect(guard, 'too many runs without reaching the kill count').toBeLessThan(MIN_KILLS * 4);
      const command = next;
      const args =
        command === 'resume'
          ? ['resume', '-w', w1]
          : ['build', '--config', CONFIG, '-w', w1, ...(command === 'fresh' ? ['--fresh'] : [])];
      const afterMs = Math.floor(random() * T);
      const runIdBefore = readState(w1)?.runId ?? null;
      const runStarted = Date.now();
      const run = start(args);
      const watch = watchReaping(w1, runIdBefore, orphans, run.done);
      const early = await Promise.race([run.done, sleep(afterMs)]);
      if (early === null) killPid(run.pid);
      const { signal } = await run.done;
      const reaping = await watch;
      if (reaping.checked) {
        unreaped.push(
          ...reaping.alive.map((p) => `${p.pid} ${p.cmdline} (left by the run before \`${args.join(' ')}\`)`),
        );
        reaped += orphans.length;
        orphans = [];
      }
      if (early === null && signal === 'SIGKILL') {
        kills.push({ n: kills.length + 1, command, afterMs, landed: landing(w1, runIdBefore) });
        const workId = readState(w1)?.workId;
        if (workId) orphans.push(...markedProcesses(workId));
        next = 'resume';
        continue;
      }
      // It finished before its kill moment.
      const { code } = await run.done;
      if (!reaping.checked) orphans = orphans.filter(stillAlive);
      const output = run.output();
      completions.push(`${command} -> ${code}`);
      if (code === 0) {
        if (command === 'fresh') T = Math.min(T, Date.now() - runStarted);
        next = 'fresh'; // the build is complete: crash a fresh one in the same work dir
      } else if (command === 'resume' && code === 2 && output.includes('there is no build to resume')) {
        next = 'build'; // the first kill landed before any state was written
      } else {
        throw new Error(`\`ailinux ${args.join(' ')}\` exited ${code} after a kill; output:\n${output}`);
      }
    }

    const final = await runToEnd(['resume', '-w', w1]);
    expect(final.code, final.output).toBe(0);
    expect(unreaped, 'every run ended what the killed runs left before it wrote its state').toEqual([]);

    const byStep = new Map<string, number>();
    for (const k of kills) {
      const where = k.landed.split(':')[0]!;
      byStep.set(where, (byStep.get(where) ?? 0) + 1);
    }
    console.log(
      [
        `crash test: ${kills.length} kills (seed ${seed}, T = ${reference.ms} ms, at the end ${T} ms); runs that finished before their kill: ${completions.join(', ') || 'none'}`,
        `  processes left running by killed runs, then ended by the next run before it wrote its state: ${reaped}`,
        ...kills.map(
          (k) =>
            `  kill ${String(k.n).padStart(2)}: ${k.command.padEnd(6)} after ${String(k.afterMs).padStart(5)} ms -> ${k.landed}`,
        ),
        `  by step: ${[...byStep].map(([s, n]) => `${s} ${n}`).join(', ')}`,
      ].join('\n'),
    );
    expect(kills.length).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(byStep.size, 'kills landed in several places').toBeGreaterThanOrEqual(3);

    // Every step done or skipped, by the CLI's own account.
    const status = await runCli(['status', '-w', w1, '--json'], { env: cliEnv() });
    expect(status.code, status.stderr).toBe(0);
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
      expect(b.equals(a), `output/${file} of the crashed build equals the reference:\n${isoDiff(a, b)}`).toBe(true);
    }
    expect(fs.readdirSync(path.join(w1, 'output')).filter((f) => f.endsWith('.partial'))).toEqual([]);

    // Nothing of the build left running, nothing mounted.
    expect(buildProcesses(readState(w1)!.workId, w1)).toEqual([]);
    const after = hostMountinfo();
    expect(mountPointsUnder(w1, after)).toEqual([]);
    expect(after).toBe(mountinfoBefore);

    const seconds = (Date.now() - testStarted) / 1000;
    console.log(`crash test: total ${seconds.toFixed(1)} s`);
  });

  it('the commands a SIGKILLed build leaves running are ended by the next run before it does anything else', async () => {
    const w3 = path.join(tmp, 'w-orphans');
    // the fake apt-get "downloads" for 10 minutes: its process group outlives the killed CLI for sure
    const build = start(['build', '--config', CONFIG, '-w', w3], cliEnv({ FAKE_APT_INSTALL_DELAY: '600' }));
    let state: StateView | null = null;
    let orphans: ProcInfo[] = [];
    for (const deadline = Date.now() + 180_000; Date.now() < deadline; await sleep(20)) {
      state = readState(w3);
      if (state?.current !== 'packages') continue;
      orphans = markedProcesses(state.workId);
      if (orphans.some((p) => p.cmdline === 'sleep 600')) break;
    }
    expect(
      orphans.map((p) => p.cmdline),
      'the fake apt-get sleeps in the packages step',
    ).toContain('sleep 600');
    killPid(build.pid);
    expect((await build.done).signal).toBe('SIGKILL');
    await sleep(300);
    expect(orphans.filter(stillAlive).length, 'the killed CLI left its commands running').toBe(orphans.length);

    const resume = start(['resume', '-w', w3]);
    const reaping = await watchReaping(w3, state!.runId, orphans, resume.done);
    expect(reaping.checked, 'the resume wrote its state').toBe(true);
    expect(
      reaping.alive.map((p) => `${p.pid} ${p.cmdline}`),
      'alive when the resume wrote its state',
    ).toEqual([]);
    const { code } = await resume.done;
    const output = resume.output();
    expect(code, output).toBe(0);
    expect(output).toMatch(/ended \d+ process\(es\) left running by an earlier build/);
    expect(readState(w3)!.ledger['packages']?.status).toBe('done');
    checkEffectsOnce(mergedRootfs(w3, path.join(tmp, 'merged-w-orphans')));
    expect(buildProcesses(readState(w3)!.workId, w3)).toEqual([]);
  });

  // three whole builds and two killed deleters: wide deadline for a loaded machine
  it('a kill while `build --fresh` or `clean` deletes the old layers never leaves a build that trusts a half-deleted layer', {
    timeout: 900_000,
  }, async () => {
    const w2 = path.join(tmp, 'w-deleters');
    const EXTRA = 3000;
    const build = ['build', '--config', CONFIG, '-w', w2];
    // a bootstrap layer big enough that deleting it takes a while, and fast tools
    const env = cliEnv({
      FAKE_DEBOOTSTRAP_EXTRA_FILES: String(EXTRA),
      FAKE_TOOL_DELAY: '0.05',
      FAKE_APT_INSTALL_DELAY: '0.05',
    });
    const first = start(build, env);
    expect((await first.done).code, first.output()).toBe(0);
    const iso = path.join(w2, 'output', ISO_NAME);
    const isoBefore = fs.readFileSync(iso);

    // `build --fresh` and `clean` delete the layers of a finished build; the command after the kill must not trust them.
    for (const [deleter, then] of [
      [
        [...build, '--fresh'],
        ['resume', '-w', w2],
      ],
      [['clean', '-w', w2], build],
    ] as const) {
      const name = deleter[0] === 'clean' ? 'clean' : 'build --fresh';
      // the deleter stops itself half-way through the old layer's extra files and says so: the kill lands there
      // in the work dir's logs/ (kept by both): outside the work dir the sandbox is read-only
      const paused = path.join(w2, 'logs', `paused-${deleter[0]}`);
      const deleting = start([...deleter], {
        ...env,
        NODE_OPTIONS: `--import ${PAUSE_REMOVAL}`,
        PAUSE_REMOVAL_IN: `${path.join(w2, 'layers', 'bootstrap', 'root', 'usr', 'share', 'fake-doc')}/`,
        PAUSE_REMOVAL_AFTER: String(EXTRA / 2),
        PAUSE_REMOVAL_SIGNAL: paused,
      });
      let exitedEarly = false;
      void deleting.done.then(() => {
        exitedEarly = true;
      });
      for (const deadline = Date.now() + 120_000; !fs.existsSync(paused) && !exitedEarly && Date.now() < deadline; )
        await sleep(20);
      killPid(deleting.pid);
      expect(exitedEarly, `${name} exited before it paused in its removal`).toBe(false);
      expect(fs.existsSync(paused), `${name} paused in its removal`).toBe(true);
      expect((await deleting.done).signal).toBe('SIGKILL');
      const docDir = path.join(w2, 'layers', 'bootstrap', 'root', 'usr', 'share', 'fake-doc');
      const left = fs.existsSync(docDir) ? fs.readdirSync(docDir).length : 0;
      console.log(
        `crash test: killed \`${name}\` with ${left} of ${EXTRA} files of the old bootstrap layer not yet deleted`,
      );
      expect(left, `the kill landed while ${name} had half deleted the old bootstrap layer`).toBe(EXTRA / 2);

      const next = start([...then], env);
      const { code } = await next.done;
      expect(code, next.output()).toBe(0);
      const root = mergedRootfs(w2, path.join(tmp, 'merged-w-deleters'));
      expect(
        fs.existsSync(path.join(root, 'etc', 'os-release')),
        `after a killed ${name}, the rootfs has /etc/os-release again`,
      ).toBe(true);
      expect(fs.readdirSync(path.join(root, 'usr', 'share', 'fake-doc'))).toHaveLength(EXTRA);
      checkEffectsOnce(root);
      const isoAfter = fs.readFileSync(iso);
      expect(
        isoAfter.equals(isoBefore),
        `after a killed ${name}, the rebuilt ISO equals the one before:\n${isoDiff(isoBefore, isoAfter)}`,
      ).toBe(true);
      expect(mountPointsUnder(w2, hostMountinfo())).toEqual([]);
      expect(buildProcesses(readState(w2)!.workId, w2)).toEqual([]);
    }
  });
});
