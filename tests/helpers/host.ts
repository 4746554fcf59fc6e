/**
 * Views of the host a real build runs on, shared by the integration tests: a work dir's state
 * file, the mount table, and live processes read from /proc.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mountsUnder, parseMountinfo } from '../../src/runtime/mountinfo.js';
import { readProcStat } from '../../src/runtime/proc-stat.js';
import { assertCliBuilt } from './cli.js';

/** A work dir's state/state.json as the test's own view of it, or null while there is none (or it is half-written). */
export function readWorkState<T>(workDir: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(workDir, 'state', 'state.json'), 'utf8')) as T;
  } catch {
    return null;
  }
}

/** This process's mount table, as text (to compare before and after). */
export function hostMountinfo(): string {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8');
}

/** Mount points (escapes decoded) at or under dir in a mountinfo table. */
export function mountPointsUnder(dir: string, table: string): string[] {
  return mountsUnder(dir, parseMountinfo(table)).map((entry) => entry.mountPoint);
}

export interface ProcInfo {
  pid: number;
  state: string;
  startTicks: number;
  argv: string[];
  /** argv joined by spaces. */
  cmdline: string;
  environ: string[];
}

export function procInfo(pid: number): ProcInfo | null {
  const stat = readProcStat(pid);
  if (stat === null) return null;
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    return {
      pid,
      state: stat.state,
      startTicks: stat.startTicks,
      argv: raw.filter(Boolean),
      cmdline: raw.join(' ').trim(),
      environ: fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0'),
    };
  } catch {
    return null;
  }
}

/** Live (non-zombie) processes other than this one. */
export function allProcesses(): ProcInfo[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)
    .map((n) => procInfo(Number(n)))
    .filter((p): p is ProcInfo => p !== null && p.state !== 'Z');
}

/** Live (non-zombie) processes carrying the build's environment marker. */
export function markedProcesses(workId: string): ProcInfo[] {
  const marker = `AILINUX_WORK_ID=${workId}`;
  return allProcesses().filter((p) => p.environ.includes(marker));
}

/** Whether that very process (same pid, same start time) is still alive. */
export function stillAlive(p: ProcInfo): boolean {
  const now = procInfo(p.pid);
  return now !== null && now.startTicks === p.startTicks && now.state !== 'Z';
}

/** Live processes of the builds whose work dirs are directly in dir, found by each one's work id marker. */
export function processesOfWorkDirsIn(dir: string): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const name of dir ? fs.readdirSync(dir) : []) {
    const workId = readWorkState<{ workId?: string }>(path.join(dir, name))?.workId;
    if (workId) found.push(...markedProcesses(workId));
  }
  return found;
}

/** Before whole builds run: the compiled CLI there, a fresh tmp dir, and the mount table as it was before. */
export function prepareBuildTest(tmpPrefix: string): { tmp: string; mountinfoBefore: string } {
  assertCliBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  return { tmp, mountinfoBefore: hostMountinfo() };
}
