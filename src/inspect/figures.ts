/**
 * Read-only figures for the live page and `ailinux status`: the tail of a step's log and the
 * host's resources (load, memory, free disk of the work dir, the build process's memory).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Ledger } from '../types.js';

export interface LogTail {
  step: string;
  file: string;
  lines: string[];
  /** Size of the whole log, bytes. */
  size: number;
}

const TAIL_BYTES = 64 * 1024;

/** The last `lines` lines of a file, reading at most its last 64 KiB; null when it does not exist. */
export function tailFile(file: string, lines = 20): { lines: string[]; size: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(len);
    const n = fs.readSync(fd, buf, 0, len, size - len);
    let text = buf.subarray(0, n).toString('utf8');
    if (len < size) text = text.slice(text.indexOf('\n') + 1);
    const all = text.split('\n');
    if (all[all.length - 1] === '') all.pop();
    return { lines: all.slice(-lines), size };
  } finally {
    fs.closeSync(fd);
  }
}

/** Which step's log matters now: the current step, else the failed or interrupted one, else the last that ran. */
export function logStepOf(order: readonly string[], ledger: Ledger, current: string | null): string | null {
  if (current) return current;
  const bad = order.find((id) => ledger[id]?.status === 'failed' || ledger[id]?.status === 'interrupted');
  if (bad) return bad;
  const ran = order.filter(
    (id) => ledger[id]?.startedAt && ledger[id]?.status !== 'skipped' && ledger[id]?.status !== 'pending',
  );
  return ran.sort((a, b) => Date.parse(ledger[a]!.startedAt!) - Date.parse(ledger[b]!.startedAt!)).pop() ?? null;
}

export function stepLogTail(stepLogsDir: string, step: string | null, lines = 20): LogTail | null {
  if (!step) return null;
  // same layout as the engine's build-log (logs/steps/<id>.log); inspect does not import the engine
  const file = path.join(stepLogsDir, `${step}.log`);
  const t = tailFile(file, lines);
  return t ? { step, file, ...t } : { step, file, lines: [], size: 0 };
}

export interface ResourceFigures {
  sampledAt: string;
  load: [number, number, number];
  cpus: number;
  memory: { totalBytes: number; availableBytes: number };
  /** Free space where the work dir is (or its nearest existing parent). */
  disk: { path: string; freeBytes: number; totalBytes: number } | null;
  /** The build process (the work dir's lock owner), when it is alive. */
  build: { pid: number; rssBytes: number | null } | null;
}

function memAvailable(): number {
  try {
    const m = /^MemAvailable:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall back to os
  }
  return os.freemem();
}

function existingDir(dir: string): string {
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export function resourceFigures(workDir: string, buildPid: number | null = null): ResourceFigures {
  const [l1 = 0, l5 = 0, l15 = 0] = os.loadavg();
  let disk: ResourceFigures['disk'] = null;
  try {
    const at = existingDir(workDir);
    const s = fs.statfsSync(at);
    disk = { path: at, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch {
    disk = null;
  }
  return {
    sampledAt: new Date().toISOString(),
    load: [l1, l5, l15],
    cpus: os.availableParallelism(),
    memory: { totalBytes: os.totalmem(), availableBytes: memAvailable() },
    disk,
    build: buildPid ? { pid: buildPid, rssBytes: rssOf(buildPid) } : null,
  };
}
