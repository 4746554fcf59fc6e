import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isGroupAlive,
  isWorkDirLeftover,
  listProcessesWithMarker,
  markerEnv,
  readProcStartTicks,
  reapOrphans,
  workMarker,
} from '../../src/runtime/process-groups.js';
import { isRunning, StartedProcesses, waitFor } from '../helpers/processes.js';
import { readProcStat } from '../../src/runtime/proc-stat.js';

let tmp: string;
/** The children this file started and the grandchildren they left, by pid and start ticks. */
const started = new StartedProcesses();
const readPidFile = (file: string): Promise<number> => started.readPidFile(file);

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-pgroups-'));
});

afterEach(() => {
  started.killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function start(
  argv: string[],
  options: { detached?: boolean; env?: Record<string, string>; cwd?: string } = {},
): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: 'ignore',
    detached: options.detached ?? false,
    env: { ...process.env, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  return started.child(child);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

function uptimeTicks(): number {
  return Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100;
}

describe('readProcStartTicks', () => {
  it('reads our own start time', () => {
    const ticks = readProcStartTicks(process.pid);
    expect(typeof ticks).toBe('number');
    expect(ticks).toBeGreaterThan(0);
    expect(ticks!).toBeLessThanOrEqual(uptimeTicks() + 100);
  });

  it('parses a command name with spaces and parentheses', async () => {
    const odd = path.join(tmp, 'a) b (c');
    fs.copyFileSync('/bin/sleep', odd);
    fs.chmodSync(odd, 0o755);
    const child = start([odd, '30']);
    expect(await waitFor(() => fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').includes('(a) b (c)'), 30_000)).toBe(
      true,
    );
    const ticks = readProcStartTicks(child.pid!);
    expect(ticks).not.toBeNull();
    expect(ticks!).toBeGreaterThanOrEqual(readProcStartTicks(process.pid)!);
    expect(ticks!).toBeLessThanOrEqual(uptimeTicks() + 100);
  });

  it('is null for a process that is gone', async () => {
    const child = start(['true']);
    await exited(child);
    expect(readProcStartTicks(child.pid!)).toBeNull();
  });
});

describe('isGroupAlive', () => {
  it('follows a detached group from start to end', async () => {
    const child = start(['sleep', '30'], { detached: true });
    expect(isGroupAlive(child.pid!)).toBe(true);
    child.kill('SIGKILL');
    await exited(child);
    expect(isGroupAlive(child.pid!)).toBe(false);
  });
});

describe('listProcessesWithMarker', () => {
  it('finds exactly the processes that carry the marker', async () => {
    const value = `mark-${process.pid}-${Date.now()}`;
    const marked = start(['sleep', '30'], { env: { AILINUX_TEST_MARK: value } });
    const near = start(['sleep', '30'], { env: { AILINUX_TEST_MARK: `${value}x` } });
    const sentinel = start(['sleep', '30']);
    expect(await waitFor(() => listProcessesWithMarker('AILINUX_TEST_MARK', value).length > 0, 30_000)).toBe(true);
    const found = listProcessesWithMarker('AILINUX_TEST_MARK', value);
    expect(found).toEqual([marked.pid]);
    expect(found).not.toContain(near.pid);
    expect(found).not.toContain(sentinel.pid);
  });
});

describe('reapOrphans', () => {
  it('ends a recorded group whose leader start time matches, grandchildren included', async () => {
    const pidFile = path.join(tmp, 'grandchild');
    const leader = start(['sh', '-c', `sleep 300 & echo $! > ${pidFile}; wait`], { detached: true });
    const grandchild = await readPidFile(pidFile);
    const sentinel = start(['sleep', '300']);
    const group = {
      pgid: leader.pid!,
      argv: ['sh'],
      startTicks: readProcStartTicks(leader.pid!),
      startedAt: new Date().toISOString(),
    };
    const { killed } = await reapOrphans({ groups: [group], graceMs: 1000 });
    expect(killed).toEqual([leader.pid]);
    expect(await waitFor(() => !isRunning(grandchild), 30_000)).toBe(true);
    expect(await waitFor(() => !isRunning(leader.pid!), 30_000)).toBe(true);
    expect(isRunning(sentinel.pid!)).toBe(true);
  });

  it('leaves a recorded pid alone when its start time differs (a reused pid)', async () => {
    const sentinel = start(['sleep', '300'], { detached: true });
    const ticks = readProcStartTicks(sentinel.pid!)!;
    const group = { pgid: sentinel.pid!, argv: ['sleep'], startTicks: ticks - 1, startedAt: new Date().toISOString() };
    const { killed } = await reapOrphans({ groups: [group], graceMs: 300 });
    expect(killed).toEqual([]);
    await new Promise((r) => setTimeout(r, 100));
    expect(isRunning(sentinel.pid!)).toBe(true);
    expect(sentinel.exitCode).toBeNull();
  });

  it("ends the work dir's marked processes living in it, and the groups they lead, but nothing else", async () => {
    const workDir = fs.realpathSync(fs.mkdtempSync(path.join(tmp, 'work-')));
    const buildId = `reap-${process.pid}-${Date.now()}`;
    const marker = workMarker(workDir, { runId: 'r-last', history: [{ runId: buildId }, { runId: 'r-last' }] });
    const ours = { env: markerEnv(workDir, buildId), cwd: workDir };
    // in our own group: only the pid may be signalled, never the group
    const inOurGroup = start(['sleep', '300'], ours);
    const pidFile = path.join(tmp, 'grandchild');
    const leader = start(['sh', '-c', `sleep 300 & echo $! > ${pidFile}; wait`], { ...ours, detached: true });
    const grandchild = await readPidFile(pidFile);
    const sentinel = start(['sleep', '300']);
    const otherBuild = start(['sleep', '300'], { detached: true, cwd: workDir, env: markerEnv(workDir, 'r-other') });
    const otherDir = start(['sleep', '300'], { detached: true, cwd: workDir, env: markerEnv(tmp, buildId) });
    // the right marker, but neither its root nor its working directory is in the work dir
    const outside = start(['sleep', '300'], { detached: true, cwd: tmp, env: markerEnv(workDir, buildId) });
    await waitFor(() => isWorkDirLeftover(inOurGroup.pid!, marker), 30_000);

    const { killed } = await reapOrphans({ groups: [], marker, graceMs: 1000 });
    expect([...killed].sort()).toEqual([inOurGroup.pid!, leader.pid!, grandchild].sort());
    for (const pid of [inOurGroup.pid!, leader.pid!, grandchild]) {
      expect(await waitFor(() => !isRunning(pid), 30_000)).toBe(true);
    }
    for (const c of [sentinel, otherBuild, otherDir, outside]) expect(isRunning(c.pid!)).toBe(true);
    expect(isRunning(process.pid)).toBe(true);
  });

  it("leaves a recorded group alone whose leader carries another work dir's marker (a copied state)", async () => {
    const workDir = fs.realpathSync(fs.mkdtempSync(path.join(tmp, 'work-')));
    const original = fs.realpathSync(fs.mkdtempSync(path.join(tmp, 'original-')));
    const theirs = start(['sleep', '300'], { detached: true, cwd: original, env: markerEnv(original, 'r-1') });
    await waitFor(() => isWorkDirLeftover(theirs.pid!, workMarker(original, { runId: 'r-1', history: [] })), 30_000);
    const group = {
      pgid: theirs.pid!,
      argv: ['sleep'],
      startTicks: readProcStartTicks(theirs.pid!),
      startedAt: new Date().toISOString(),
    };
    const marker = workMarker(workDir, { runId: 'r-1', history: [] });
    expect((await reapOrphans({ groups: [group], marker, graceMs: 300 })).killed).toEqual([]);
    expect(isRunning(theirs.pid!)).toBe(true);
    // the original's own reap ends it
    const own = workMarker(original, { runId: 'r-1', history: [] });
    expect((await reapOrphans({ groups: [group], marker: own, graceMs: 1000 })).killed).toEqual([theirs.pid]);
  });

  it('kills a group that ignores SIGTERM once the grace period is over', async () => {
    const leader = start(['sh', '-c', 'trap "" TERM; sleep 300'], { detached: true });
    // the sleep in the leader's group shows the trap is set: a TERM before it would end the leader by TERM
    const trapSet = await waitFor(
      () =>
        fs
          .readdirSync('/proc')
          .some((p) => /^\d+$/.test(p) && readPgrp(Number(p)) === leader.pid && Number(p) !== leader.pid),
      30_000,
    );
    expect(trapSet).toBe(true);
    const group = {
      pgid: leader.pid!,
      argv: ['sh'],
      startTicks: readProcStartTicks(leader.pid!),
      startedAt: new Date().toISOString(),
    };
    const t0 = Date.now();
    const { killed } = await reapOrphans({ groups: [group], graceMs: 300 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(killed).toEqual([leader.pid]);
    await exited(leader);
    expect(leader.signalCode).toBe('SIGKILL');
  });
});

function readPgrp(pid: number): number | null {
  return readProcStat(pid)?.pgrp ?? null;
}
