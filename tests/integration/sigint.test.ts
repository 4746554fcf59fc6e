/**
 * Signals: the real CLI (bin/ailinux.js, as root) against fake host tools first on PATH
 * (tests/fixtures/bin), with the real unshare, overlayfs and libexec/ailinux-ns-run. SIGINT and
 * SIGTERM during the packages step (whose fake apt-get "downloads" for 10 minutes) must stop the build
 * with 130 / 143, leave a resumable state, end the command's whole process group (the fake
 * apt-get's sleep grandchild included) and leave nothing mounted; resume then finishes, reusing
 * the steps before. Also: `build` on an interrupted work dir is refused (2), and a second build on
 * a running one is refused with the owner's pid (3). Needs root; skipped otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, skipUnlessRoot } from '../helpers/root.js';
import { fakeToolsEnv, killRunningClis, startCli, type CliLogged, type CliRun } from '../helpers/cli.js';
import {
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
/** Longer than the test may take: a build that stops at all did not wait for the fake download. */
const APT_DELAY_S = 600;
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
    'sigint.test.ts: skipped: it runs `ailinux build` for real (unshare, overlay mounts, chroot) and needs root',
  );

let tmp = '';
let mountinfoBefore = '';
/** A test that fails half-way must not leave the CLI running: it is SIGKILLed after this long. */
const RUN_LIMIT_MS = 240_000;

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return fakeToolsEnv(tmp, { SOURCE_DATE_EPOCH: '1700000000', FAKE_TOOL_DELAY: '0.1', ...extra });
}

/** Starts the CLI with its output in a file in tmp (a pipe would stay open as long as an orphan holds it). */
function start(args: string[], env: NodeJS.ProcessEnv): CliRun<CliLogged> {
  return startCli(args, { env, logDir: tmp, killAfterMs: RUN_LIMIT_MS });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface StateView {
  workId: string;
  runId: string;
  outcome: string;
  current: string | null;
  interruptSignal: string | null;
  ledger: Record<string, { status: string; reason?: string | null }>;
  safety?: { signals: Array<{ runId: string; signal: string; target: number; reason: string }> };
}

function readState(workDir: string): StateView | null {
  return readWorkState<StateView>(workDir);
}

/** Waits until the build is in the packages step and the fake apt-get is sleeping in its "download". */
async function waitForAptSleep(workDir: string): Promise<{ state: StateView; sleepProc: ProcInfo; apt: ProcInfo }> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const state = readState(workDir);
    if (state?.current === 'packages' && state.ledger['packages']?.status === 'running') {
      const procs = markedProcesses(state.workId);
      const sleepProc = procs.find((p) => p.argv[0]?.endsWith('sleep') && p.argv[1] === String(APT_DELAY_S));
      const apt = procs.find((p) => p.argv.some((a) => a.endsWith('chroot-bin/apt-get')));
      if (sleepProc && apt) return { state, sleepProc, apt };
    }
    await sleep(20);
  }
  throw new Error(`the build in ${workDir} never reached the fake apt-get's sleep in the packages step`);
}

beforeAll(() => {
  if (!isRoot) return;
  ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-sigint-'));
});

afterAll(async () => {
  // A test that failed half-way may leave its CLI and the CLI's commands running: end them by pid.
  killRunningClis();
  for (const p of processesOfWorkDirsIn(tmp)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await sleep(200);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skipUnlessRoot())('signals during a build', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s in the packages step exits %i, stops cleanly, and resume finishes it', async (signal, exitCode) => {
    const work = path.join(tmp, signal.toLowerCase());
    const slowApt = cliEnv({ FAKE_APT_INSTALL_DELAY: String(APT_DELAY_S) });
    const build = start(['build', '--config', CONFIG, '-w', work], slowApt);
    const { state: running, sleepProc, apt } = await waitForAptSleep(work);

    // A second build on the same work dir while this one runs: refused, naming the owner.
    const second = await start(['build', '--config', CONFIG, '-w', work], slowApt).done;
    expect(second.code, second.output).toBe(3);
    expect(second.output).toContain(`pid ${build.pid}`);
    expect(readState(work)?.runId, 'the refused build wrote nothing').toBe(running.runId);

    const signalled = Date.now();
    process.kill(build.pid, signal);
    const exit = await build.done;
    const stopMs = Date.now() - signalled;
    expect(exit.code, build.output()).toBe(exitCode);
    console.log(`sigint test: ${signal} -> exit ${exit.code} after ${stopMs} ms`);
    expect(build.output()).toContain('ailinux resume');

    const stopped = readState(work)!;
    // the command's group was sent TERM, which ended it: no KILL after the runner's grace period
    const sent = (stopped.safety?.signals ?? []).filter((s) => s.runId === stopped.runId);
    console.log(
      `sigint test: signals the build sent: ${sent.map((s) => `${s.signal} ${s.target} (${s.reason})`).join('; ')}`,
    );
    expect(
      sent.filter((s) => s.signal === 'SIGTERM' && s.target < 0).length,
      'a TERM to a command group',
    ).toBeGreaterThan(0);
    expect(sent.filter((s) => s.signal === 'SIGKILL')).toEqual([]);
    expect(stopped.outcome).toBe('interrupted');
    expect(stopped.interruptSignal).toBe(signal);
    expect(stopped.ledger['packages']?.status).toBe('interrupted');
    expect(stopped.ledger['bootstrap']?.status).toBe('done');
    expect(stopped.ledger['configure']?.status).toBe('done');
    expect(stillAlive(sleepProc), `the fake apt-get's sleep (pid ${sleepProc.pid}) is gone`).toBe(false);
    expect(stillAlive(apt), `the fake apt-get (pid ${apt.pid}) is gone`).toBe(false);
    expect(markedProcesses(stopped.workId).map((p) => `${p.pid} ${p.argv.join(' ')}`)).toEqual([]);
    expect(mountPointsUnder(work, hostMountinfo())).toEqual([]);
    expect(hostMountinfo()).toBe(mountinfoBefore);

    // `build` without --fresh on the interrupted work dir: refused, pointing at resume and --fresh.
    const again = await start(['build', '--config', CONFIG, '-w', work], cliEnv()).done;
    expect(again.code, again.output).toBe(2);
    expect(again.output).toContain('ailinux resume');
    expect(again.output).toContain('--fresh');
    expect(readState(work)?.runId, 'the refused build wrote nothing').toBe(stopped.runId);

    const resumed = await start(['resume', '-w', work], cliEnv()).done;
    expect(resumed.code, resumed.output).toBe(0);
    const done = readState(work)!;
    expect(done.outcome).toBe('succeeded');
    for (const id of ['bootstrap', 'configure']) {
      expect(done.ledger[id]?.status, `${id} was reused`).toBe('skipped');
      expect(done.ledger[id]?.reason ?? '', `${id} says why it was skipped`).toMatch(/\S/);
    }
    for (const [id, entry] of Object.entries(done.ledger)) {
      if (id !== 'bootstrap' && id !== 'configure') expect(entry.status, `step ${id}`).toBe('done');
    }
    // The interrupted layer was thrown away, not continued: each package once in the packages layer.
    const status = fs.readFileSync(
      path.join(work, 'layers', 'packages', 'upper', 'var', 'lib', 'dpkg', 'status'),
      'utf8',
    );
    expect([...status.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]).sort()).toEqual(EXPECTED_PACKAGES);
    expect(markedProcesses(done.workId)).toEqual([]);
    expect(hostMountinfo()).toBe(mountinfoBefore);
  });
});
