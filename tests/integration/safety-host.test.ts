/**
 * Host safety, proven with the real CLI (bin/ailinux.js, as root) and fake host tools on PATH
 * (tests/fixtures/safety/bin, then tests/fixtures/bin), with the real unshare, overlayfs and
 * libexec/ailinux-ns-run. Sentinel processes run beside every build: the same user, session and
 * process group as the CLI, named like build tools (a sleep with argv0 debootstrap, copies of
 * sleep named debootstrap, apt-get, mksquashfs, unshare), one naming a work dir in its command
 * line, one carrying another work dir's marker. After builds that succeed, fail, are interrupted
 * by SIGINT, SIGTERM, SIGQUIT, SIGHUP (sent, and from a terminal that hangs up), and are SIGKILLed
 * then cleaned or resumed, every sentinel is alive and the host's /proc/self/mountinfo is
 * byte-identical. Disk-full runs and a mount under the work dir run in a private mount namespace
 * (tests/fixtures/safety/in-namespace.mjs). Each build's state records the session-safety
 * invariant at start and after every step. Needs root; skipped otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLockHeld } from '../../src/runtime/lock.js';
import { skipUnlessRoot } from '../helpers/root.js';
import {
  LAUNCHER,
  REPO,
  SAFETY_CONFIG,
  cliEnv,
  deadSentinels,
  hostMountinfo,
  isRoot,
  makeTmp,
  markedProcesses,
  procStat,
  readState,
  runCli,
  NAMESPACE_SCENARIO_TIMEOUT_MS,
  runInNamespace,
  startCli,
  startSentinels,
  stopSentinels,
  waitFor,
  type Sentinel,
  type StateView,
} from '../fixtures/safety/harness.js';

if (!isRoot)
  console.warn(
    'safety-host.test.ts: skipped: it runs `ailinux build` for real (unshare, overlay mounts, chroot) and needs root',
  );

/** Longer than any test takes: a build held in its packages step stays there until the test acts. */
const APT_DELAY_S = 600;
const EXIT_FOR: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGQUIT: 131, SIGHUP: 129 };
const FINAL = ['done', 'skipped', 'failed', 'interrupted'];
const SIGNAL_AUTHORITIES = ['runner-group', 'orphan-group', 'orphan-process'];

let tmp = '';
let sentinels: Sentinel[] = [];
let mountinfoBefore = '';

beforeAll(async () => {
  if (!isRoot) return;
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  tmp = makeTmp('ailinux-safety-');
  sentinels = await startSentinels(tmp);
  mountinfoBefore = hostMountinfo();
});

afterAll(() => {
  stopSentinels(sentinels);
  // everything mounted by these tests lived in private namespaces that are gone
  if (tmp && !hostMountinfo().includes(tmp)) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Every sentinel alive (same pid, same start time), and the host's mount table unchanged to the byte. */
function expectHostUnharmed(label: string): void {
  expect(deadSentinels(sentinels), `${label}: sentinels that died`).toEqual([]);
  const now = hostMountinfo();
  if (now !== mountinfoBefore) expect(now, `${label}: /proc/self/mountinfo changed`).toBe(mountinfoBefore);
}

/** The run's recorded invariant: a check at start, one per ended step, one at the end, all signals ours. */
function expectInvariant(state: StateView, options: { ancestorsAlive?: boolean } = {}) {
  const safety = state.safety!;
  expect(safety, 'state.safety').toBeDefined();
  const checks = safety.checks.filter((c) => c.runId === state.runId);
  expect(checks[0]).toMatchObject({ phase: 'start', step: null });
  expect(checks[checks.length - 1]!.phase).toBe('end');
  const stepChecks = new Set(checks.filter((c) => c.phase === 'step').map((c) => c.step));
  for (const id of state.order)
    if (FINAL.includes(state.ledger[id]?.status ?? 'pending'))
      expect(stepChecks.has(id), `a check after step ${id}`).toBe(true);
  for (const c of checks) {
    expect(c.allOurs, `allOurs at ${c.phase} ${c.step ?? ''}`).toBe(true);
    expect(c.refused).toBe(0);
    if (options.ancestorsAlive !== false)
      expect(c.ancestorsAlive, `ancestorsAlive at ${c.phase} ${c.step ?? ''}`).toBe(true);
  }
  const signals = safety.signals.filter((s) => s.runId === state.runId);
  expect(checks[checks.length - 1]!.signalsSent).toBe(signals.length);
  const ancestors = new Set(safety.ancestors.map((a) => a.pid));
  for (const s of signals) {
    expect(SIGNAL_AUTHORITIES).toContain(s.authority);
    expect(ancestors.has(Math.abs(s.target)), `signal to ancestor ${s.target}`).toBe(false);
  }
  return { checks, signals };
}

/** The fake apt-get of this build is in its long "download" (its sleep child runs, with our marker). */
function aptIsDownloading(workId: string): boolean {
  return markedProcesses(`AILINUX_WORK_ID=${workId}`).some((p) => p.argv === `sleep ${APT_DELAY_S}`);
}

/** Starts a build whose packages step "downloads" for 10 minutes, and waits until the fake apt-get is in it. */
async function startHeldInPackages(work: string, extraEnv: Record<string, string> = {}) {
  const run = startCli(
    tmp,
    ['build', '--config', SAFETY_CONFIG, '-w', work],
    cliEnv(tmp, { FAKE_APT_INSTALL_DELAY: String(APT_DELAY_S), ...extraEnv }),
  );
  const state = await waitFor(
    () => {
      const s = readState(work);
      if (s?.current !== 'packages' || s.ledger['packages']?.status !== 'running' || s.processes.length === 0)
        return null;
      return aptIsDownloading(s.workId) ? s : null;
    },
    120_000,
    'the packages step with the fake apt-get downloading',
  );
  return { run, state };
}

/** Live members of the given process groups. */
function groupMembers(pgids: readonly number[]): number[] {
  const wanted = new Set(pgids);
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => {
      const s = procStat(pid);
      return s !== null && s.state !== 'Z' && wanted.has(s.pgrp);
    });
}

describe.skipIf(skipUnlessRoot())('host safety: sentinels, the mount table and the recorded invariant', () => {
  it('(a) a build that succeeds sends no signal, records the invariant after every step, and harms nothing', async () => {
    const work = path.join(tmp, 'w-success');
    const r = await runCli(tmp, ['build', '--config', SAFETY_CONFIG, '-w', work], cliEnv(tmp));
    expect(r.code, r.output).toBe(0);
    const state = readState(work)!;
    expect(state.outcome).toBe('succeeded');
    const { checks, signals } = expectInvariant(state);
    expect(signals).toEqual([]);
    expect(checks.filter((c) => c.phase === 'step').map((c) => c.step)).toEqual(state.order);
    expect(state.safety!.session).toMatchObject({ kind: 'none', tty: null });
    expect(state.safety!.ancestors[0]!.pid).toBe(process.pid);
    expect(state.safety!.ancestors[state.safety!.ancestors.length - 1]!.pid).toBe(1);
    expectHostUnharmed('success');
  });

  it('(b) a build whose tool fails exits 1 naming the step, harms nothing, and resumes', async () => {
    const work = path.join(tmp, 'w-fail');
    const r = await runCli(
      tmp,
      ['build', '--config', SAFETY_CONFIG, '-w', work],
      cliEnv(tmp, { FAKE_FAIL_TOOL: 'mksquashfs' }),
    );
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/build failed at step squashfs/);
    expect(r.output).toMatch(/simulated failure/);
    const state = readState(work)!;
    expect(state.outcome).toBe('failed');
    expectInvariant(state);
    expectHostUnharmed('failure');
    const resumed = await runCli(tmp, ['resume', '-w', work], cliEnv(tmp));
    expect(resumed.code, resumed.output).toBe(0);
    expectInvariant(readState(work)!);
    expectHostUnharmed('resume after failure');
  });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGQUIT'] as const) {
    it(`(c) ${signal} stops the build cleanly (exit ${EXIT_FOR[signal]}), ends only its own groups, and it resumes`, async () => {
      const work = path.join(tmp, `w-${signal}`);
      const { run, state: held } = await startHeldInPackages(work);
      const groups = held.processes.map((p) => p.pgid);
      run.child.kill(signal);
      const { code } = await run.done;
      expect(code, run.output()).toBe(EXIT_FOR[signal]);
      expect(run.output()).toMatch(new RegExp(`build interrupted by ${signal}; the state is saved`));
      const state = readState(work)!;
      expect(state).toMatchObject({ outcome: 'interrupted', interruptSignal: signal });
      expect(state.ledger['packages']!.status).toBe('interrupted');
      const { signals } = expectInvariant(state);
      expect(signals.length).toBeGreaterThan(0);
      for (const s of signals) {
        expect(s.authority).toBe('runner-group');
        expect(groups).toContain(-s.target);
      }
      expect(groupMembers(groups), 'members of the build groups left').toEqual([]);
      expect(markedProcesses(`AILINUX_WORK_ID=${state.workId}`)).toEqual([]);
      expectHostUnharmed(signal);
      const resumed = await runCli(tmp, ['resume', '-w', work], cliEnv(tmp));
      expect(resumed.code, resumed.output).toBe(0);
      expectHostUnharmed(`resume after ${signal}`);
    });
  }

  it('(c) SIGHUP, as when an ssh session drops, stops cleanly with exit 129, records the ssh session, and resumes', async () => {
    const work = path.join(tmp, 'w-SIGHUP');
    const { run } = await startHeldInPackages(work, { SSH_CONNECTION: '192.0.2.10 50022 192.0.2.1 22' });
    run.child.kill('SIGHUP');
    const { code } = await run.done;
    expect(code, run.output()).toBe(129);
    expect(run.output()).toMatch(/build interrupted by SIGHUP; the state is saved. Continue with: ailinux resume/);
    const state = readState(work)!;
    expect(state).toMatchObject({ outcome: 'interrupted', interruptSignal: 'SIGHUP' });
    expect(state.safety!.session).toMatchObject({ kind: 'ssh', evidence: ['SSH_CONNECTION'] });
    expectInvariant(state);
    expect(markedProcesses(`AILINUX_WORK_ID=${state.workId}`)).toEqual([]);
    expect(isLockHeld(path.join(work, 'state', 'lock')), 'the lock is released').toBe(false);
    expect(fs.existsSync(path.join(work, 'state', 'lock.owner')), 'with its owner record').toBe(false);
    expectHostUnharmed('SIGHUP');
    const resumed = await runCli(tmp, ['resume', '-w', work], cliEnv(tmp));
    expect(resumed.code, resumed.output).toBe(0);
    expect(readState(work)!.outcome).toBe('succeeded');
    expectHostUnharmed('resume after SIGHUP');
  });

  it('(c) a terminal that hangs up (its pty closed) stops the build cleanly and resumably; its death is not ours', async () => {
    const work = path.join(tmp, 'w-hangup');
    const log = path.join(tmp, 'script-hangup.log');
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const command = [LAUNCHER, 'build', '--config', SAFETY_CONFIG, '-w', work].map(quote).join(' ');
    const fd = fs.openSync(log, 'w');
    // `script` gives the CLI a pty as its controlling terminal; killing `script` closes the pty's master side
    const terminal = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: REPO,
      env: cliEnv(tmp, { FAKE_APT_INSTALL_DELAY: String(APT_DELAY_S), SHELL: '/bin/bash' }),
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    const held = await waitFor(
      () => {
        const s = readState(work);
        return s?.current === 'packages' && s.ledger['packages']?.status === 'running' && aptIsDownloading(s.workId)
          ? s
          : null;
      },
      120_000,
      'the packages step under a pty',
    );
    const owner = JSON.parse(fs.readFileSync(path.join(work, 'state', 'lock.owner'), 'utf8')) as {
      pid: number;
      procStart: number;
    };
    terminal.kill('SIGKILL');
    await waitFor(
      () => {
        const s = procStat(owner.pid);
        return s === null || s.startTicks !== owner.procStart || s.state === 'Z';
      },
      120_000,
      'the CLI to stop after the hang-up',
    );
    const state = readState(work)!;
    expect(state).toMatchObject({ outcome: 'interrupted', interruptSignal: 'SIGHUP' });
    expect(state.safety!.session.kind).toBe('console');
    expect(state.safety!.session.tty).toMatch(/^\/dev\/pts\/\d+$/);
    // `script`, an ancestor, was killed by the test: recorded, and not by any signal of ours
    const { checks, signals } = expectInvariant(state, { ancestorsAlive: false });
    expect(checks[checks.length - 1]!.ancestorsAlive).toBe(false);
    for (const s of signals) expect(held.processes.map((p) => -p.pgid)).toContain(s.target);
    expect(markedProcesses(`AILINUX_WORK_ID=${state.workId}`)).toEqual([]);
    expectHostUnharmed('terminal hang-up');
    const resumed = await runCli(tmp, ['resume', '-w', work], cliEnv(tmp));
    expect(resumed.code, resumed.output).toBe(0);
    expectHostUnharmed('resume after hang-up');
  });

  it('a build started with nohup whose shell then exits is no violation: it runs to the end, its checks see the shell gone', async () => {
    const work = path.join(tmp, 'w-nohup');
    const log = path.join(tmp, 'nohup.log');
    const stateFile = path.join(work, 'state', 'state.json');
    // the shell waits until the build has recorded its ancestors (the first state write), then exits
    const script = `nohup "${LAUNCHER}" build --config "${SAFETY_CONFIG}" -w "${work}" >"${log}" 2>&1 </dev/null &
for i in $(seq 1 600); do [ -s "${stateFile}" ] && exit 0; sleep 0.2; done; exit 1`;
    const shell = spawnSync('sh', ['-c', script], { cwd: REPO, env: cliEnv(tmp), encoding: 'utf8', timeout: 150_000 });
    expect(shell.status, fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : 'no log').toBe(0);
    const state = await waitFor(
      () => {
        const s = readState(work);
        return s && s.outcome !== 'running' ? s : null;
      },
      240_000,
      'the nohup build to end',
    );
    expect(state.outcome, fs.readFileSync(log, 'utf8')).toBe('succeeded');
    const checks = state.safety!.checks.filter((c) => c.runId === state.runId);
    expect(checks.at(-1)!.ancestorsAlive, 'the shell that started it is gone by the end').toBe(false);
    expect(checks.every((c) => c.allOurs && c.refused === 0)).toBe(true);
    expect(fs.readFileSync(log, 'utf8')).not.toMatch(/session check|violation/i);
    expectHostUnharmed('nohup');
  });

  it('(d) SIGKILL leaves its own groups running; clean ends exactly those, and a new build succeeds', async () => {
    const work = path.join(tmp, 'w-kill-clean');
    const { run, state: held } = await startHeldInPackages(work);
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    const marker = `AILINUX_WORK_ID=${held.workId}`;
    expect(markedProcesses(marker).length, 'orphans of the killed build').toBeGreaterThan(0);
    expectHostUnharmed('SIGKILL');
    const clean = await runCli(tmp, ['clean', '-w', work], cliEnv(tmp));
    expect(clean.code, clean.output).toBe(0);
    expect(clean.output).toMatch(/ended \d+ process\(es\) left by an earlier build/);
    expect(markedProcesses(marker)).toEqual([]);
    expect(groupMembers(held.processes.map((p) => p.pgid))).toEqual([]);
    expectHostUnharmed('clean after SIGKILL');
    const rebuilt = await runCli(tmp, ['build', '--config', SAFETY_CONFIG, '-w', work], cliEnv(tmp));
    expect(rebuilt.code, rebuilt.output).toBe(0);
    expectInvariant(readState(work)!);
    expectHostUnharmed('build after clean');
  });

  it('(d) SIGKILL, then resume: the leftovers are verified and ended, signals recorded as theirs, and the build completes', async () => {
    const work = path.join(tmp, 'w-kill-resume');
    const { run, state: held } = await startHeldInPackages(work);
    run.child.kill('SIGKILL');
    await run.done;
    const marker = `AILINUX_WORK_ID=${held.workId}`;
    const orphans = markedProcesses(marker).map((p) => p.pid);
    expect(orphans.length).toBeGreaterThan(0);
    const resumed = await runCli(tmp, ['resume', '-w', work], cliEnv(tmp));
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toMatch(/ended \d+ process\(es\) left running by an earlier build of this work dir/);
    expect(markedProcesses(marker)).toEqual([]);
    const state = readState(work)!;
    expect(state.outcome).toBe('succeeded');
    const { signals } = expectInvariant(state);
    const reaped = signals.filter((s) => s.authority.startsWith('orphan-'));
    expect(reaped.length).toBeGreaterThan(0);
    for (const s of reaped) expect([...orphans, ...held.processes.map((p) => p.pgid)]).toContain(Math.abs(s.target));
    expectHostUnharmed('resume after SIGKILL');
  });

  it(
    'disk floor: a download that fills a tmpfs work dir pauses the build (exit 75, "paused: disk"), not ENOSPC; resume completes once space is freed',
    () => {
      const r = runInNamespace(tmp, 'disk-floor', cliEnv(tmp)) as {
        runs: Array<{ label: string; code: number; output: string }>;
        afterPause: { outcome: string; pauseReason: string; packages: string; freeMb: number; packagesLog: string };
        afterSecondPause: { outcome: string; pauseReason: string };
        final: { outcome: string };
        fixtureError?: string;
        umountError?: string;
      };
      expect(r.fixtureError).toBeUndefined();
      expect(r.umountError).toBeUndefined();
      const [build, stillFull, resume] = r.runs;
      expect(build!.code, build!.output).toBe(75);
      expect(build!.output).toMatch(
        /build paused: disk: \d+ MiB free in .*, below the floor of 24 MiB \(resources\.minFreeDiskMb\)/,
      );
      expect(r.afterPause).toMatchObject({ outcome: 'paused', packages: 'interrupted' });
      expect(r.afterPause.pauseReason).toMatch(/^disk: /);
      expect(r.afterPause.packagesLog).not.toMatch(/No space left|write failed/);
      expect(stillFull!.code, 'resume before space is freed pauses again').toBe(75);
      expect(r.afterSecondPause.pauseReason).toMatch(/^disk: packages needs about 0 MiB plus the floor of 24 MiB/);
      expect(resume!.code, resume!.output).toBe(0);
      expect(r.final.outcome).toBe('succeeded');
      expectHostUnharmed('disk floor');
    },
    NAMESPACE_SCENARIO_TIMEOUT_MS,
  );

  it.each(['in-command', 'after-command'])(
    'disk full %s: the build pauses (exit 75) with a valid state kept, not internal error: ENOSPC; a resume while still full pauses again and changes nothing; resume completes once there is room',
    (kind) => {
      type Run = { label: string; code: number; output: string };
      const r = runInNamespace(tmp, `disk-full-${kind}`, cliEnv(tmp)) as {
        runs: Run[];
        afterPause: { outcome: string; pauseReason: string | null; packages: string | null };
        stateUnchangedWhileFull: boolean;
        final: { outcome: string };
        fixtureError?: string;
        umountError?: string;
      };
      expect(r.fixtureError).toBeUndefined();
      expect(r.umountError).toBeUndefined();
      const [build, stillFull, resume] = r.runs;
      expect(build!.code, build!.output).toBe(75);
      expect(build!.output).toMatch(/build paused: disk: no space left on device while /);
      expect(build!.output).not.toMatch(/internal error|ENOSPC/);
      // the state on disk is the last one written before the disk filled: valid, the build not finished
      expect(r.afterPause.outcome).toMatch(/^(running|paused)$/);
      expect(r.afterPause.packages).toMatch(/^(running|verifying|interrupted)$/);
      expect(stillFull!.code, stillFull!.output).toBe(75);
      expect(stillFull!.output).toMatch(/build paused: disk: no space left on device while /);
      expect(r.stateUnchangedWhileFull).toBe(true);
      expect(resume!.code, resume!.output).toBe(0);
      expect(r.final.outcome).toBe('succeeded');
      expectHostUnharmed(`disk full ${kind}`);
    },
    NAMESPACE_SCENARIO_TIMEOUT_MS,
  );

  it(
    'disk estimate: a step whose estimate does not fit pauses before it starts (exit 75); resume completes once there is room',
    () => {
      const r = runInNamespace(tmp, 'disk-estimate', cliEnv(tmp)) as {
        runs: Array<{ label: string; code: number; output: string }>;
        afterPause: { outcome: string; pauseReason: string; aptInstallsBeforePause: number };
        final: { outcome: string };
        fixtureError?: string;
      };
      expect(r.fixtureError).toBeUndefined();
      expect(r.runs[0]!.code, r.runs[0]!.output).toBe(75);
      expect(r.afterPause.outcome).toBe('paused');
      expect(r.afterPause.pauseReason).toMatch(
        /^disk: packages needs about 1000 MiB plus the floor of 16 MiB, but .* has \d+ MiB free; free some space$/,
      );
      expect(r.afterPause.aptInstallsBeforePause, 'the packages step never started').toBe(0);
      expect(r.runs[1]!.code, r.runs[1]!.output).toBe(0);
      expect(r.final.outcome).toBe('succeeded');
      expectHostUnharmed('disk estimate');
    },
    NAMESPACE_SCENARIO_TIMEOUT_MS,
  );

  it(
    'a mount under the work dir: build --fresh and clean refuse (exit 2) naming it, and leave it and its files alone',
    () => {
      const r = runInNamespace(tmp, 'clean-mount', cliEnv(tmp)) as {
        runs: Array<{ label: string; code: number; output: string }>;
        mountPoint: string;
        preciousKept: boolean;
        stillMounted: boolean;
        layersLeft: boolean;
        fixtureError?: string;
      };
      expect(r.fixtureError).toBeUndefined();
      const byLabel = Object.fromEntries(r.runs.map((run) => [run.label, run]));
      expect(byLabel['build']!.code, byLabel['build']!.output).toBe(0);
      for (const label of ['fresh-refused', 'clean-refused']) {
        expect(byLabel[label]!.code, byLabel[label]!.output).toBe(2);
        expect(byLabel[label]!.output).toContain(`${r.mountPoint} is still mounted`);
        expect(byLabel[label]!.output).toMatch(/ailinux never unmounts what it did not mount/);
      }
      expect(r.preciousKept).toBe(true);
      expect(r.stillMounted).toBe(true);
      expect(byLabel['clean']!.code, byLabel['clean']!.output).toBe(0);
      expect(r.layersLeft).toBe(false);
      expectHostUnharmed('mount under the work dir');
    },
    NAMESPACE_SCENARIO_TIMEOUT_MS,
  );
});
