/**
 * Process groups we started, and how to end them. Only groups and pids proven to be ours
 * (recorded start time, or an exact environment marker) are ever signalled.
 */
import fs from 'node:fs';

/** A command's process group as the engine persists it, so a crashed build's orphans can be found. */
export interface SpawnedGroup {
  pgid: number;
  argv: string[];
  /** Start time of the group leader in clock ticks since boot (field 22 of /proc/PID/stat). */
  startTicks: number | null;
  startedAt: string;
}

interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  startTicks: number;
}

const POLL_MS = 50;
/** After SIGKILL the kernel needs a moment to tear processes down; we do not wait forever for it. */
const KILL_SETTLE_MS = 2000;

function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm is in parentheses and may itself contain spaces or ')': split after the last ')'
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state), so field N is fields[N - 3]
  const state = fields[0];
  const ppid = Number(fields[1]);
  const pgrp = Number(fields[2]);
  const startTicks = Number(fields[19]);
  if (state === undefined || !Number.isInteger(ppid) || !Number.isInteger(pgrp) || !Number.isInteger(startTicks)) return null;
  return { state, ppid, pgrp, startTicks };
}

/** Start time of a process in clock ticks since boot, or null if it is gone or unreadable. */
export function readProcStartTicks(pid: number): number | null {
  return readProcStat(pid)?.startTicks ?? null;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** Whether signal 0 reaches the target (a negative number addresses a group). EPERM means it exists. */
function canSignal(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

export function isGroupAlive(pgid: number): boolean {
  return canSignal(-pgid);
}

export function isProcessAlive(pid: number): boolean {
  return canSignal(pid);
}

function listPids(): number[] {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9]+$/.test(n)).map(Number);
}

/**
 * Whether the group still has a member that is not a zombie. Our pid 1 may never reap
 * orphans, so a group of zombies answers signal 0 forever yet holds nothing.
 */
export function groupHasLiveMembers(pgid: number): boolean {
  if (!isGroupAlive(pgid)) return false;
  let seen = 0;
  for (const pid of listPids()) {
    const stat = readProcStat(pid);
    if (stat === null || stat.pgrp !== pgid) continue;
    seen++;
    if (stat.state !== 'Z') return true;
  }
  // members we cannot see in /proc (hidepid): trust the kernel's answer
  return seen === 0;
}

function processHasLife(pid: number): boolean {
  if (!isProcessAlive(pid)) return false;
  const stat = readProcStat(pid);
  return stat === null || stat.state !== 'Z';
}

/** Sends a signal, ignoring a target that is already gone. Returns whether it was delivered. */
export function sendSignal(target: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(target, signal);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ESRCH') return false;
    throw error;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
  }
}

/** TERM a group we created, KILL it if anything survives the grace period; resolves once it is empty. */
export async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  if (!groupHasLiveMembers(pgid)) return;
  sendSignal(-pgid, 'SIGTERM');
  if (await waitUntil(() => !groupHasLiveMembers(pgid), graceMs)) return;
  sendSignal(-pgid, 'SIGKILL');
  await waitUntil(() => !groupHasLiveMembers(pgid), KILL_SETTLE_MS);
}

function readEnviron(pid: number): string[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  } catch {
    return null;
  }
}

/** Pids (other than ours) whose environment holds exactly `name=value`. */
export function listProcessesWithMarker(name: string, value: string): number[] {
  const entry = Buffer.from(`${name}=${value}`, 'utf8').toString('latin1');
  return listPids().filter((pid) => pid !== process.pid && (readEnviron(pid)?.includes(entry) ?? false));
}

/** Our own pid, group and every ancestor: none of these may ever be signalled. */
function listProtectedPids(): { pids: Set<number>; ownPgid: number | null } {
  const pids = new Set<number>([1, process.pid]);
  const own = readProcStat(process.pid);
  let ppid = own?.ppid ?? 0;
  while (ppid > 1 && !pids.has(ppid)) {
    pids.add(ppid);
    ppid = readProcStat(ppid)?.ppid ?? 0;
  }
  return { pids, ownPgid: own?.pgrp ?? null };
}

interface Target {
  /** Negative for a group. */
  id: number;
  /** Start ticks of the pid, or of the group leader, when we signalled it, to tell a reused pid apart. */
  startTicks: number | null;
}

export interface ReapOptions {
  groups: SpawnedGroup[];
  marker?: { name: string; value: string };
  graceMs?: number;
}

/** Ends what a crashed earlier run left behind, and only that. Returns the pids and pgids signalled. */
export async function reapOrphans(options: ReapOptions): Promise<{ killed: number[] }> {
  const graceMs = options.graceMs ?? 3000;
  const { pids: guarded, ownPgid } = listProtectedPids();
  const targets = new Map<number, Target>();
  const addTarget = (id: number, startTicks: number | null): void => {
    const n = Math.abs(id);
    if (n <= 1 || guarded.has(n) || (id < 0 && n === ownPgid)) return;
    targets.set(id, { id, startTicks });
  };

  for (const group of options.groups) {
    if (group.startTicks === null) continue;
    const stat = readProcStat(group.pgid);
    if (stat === null || stat.startTicks !== group.startTicks) continue;
    // a leader that moved to another group no longer speaks for the recorded one
    addTarget(stat.pgrp === group.pgid ? -group.pgid : group.pgid, stat.startTicks);
  }
  if (options.marker !== undefined) {
    for (const pid of listProcessesWithMarker(options.marker.name, options.marker.value)) {
      const stat = readProcStat(pid);
      if (stat === null) continue;
      addTarget(pid, stat.startTicks);
      if (stat.pgrp === pid) addTarget(-pid, stat.startTicks);
    }
  }

  // single pids before groups, so a group's TERM never beats the signal to one of its own members
  const list = [...targets.values()].sort((a, b) => Number(a.id < 0) - Number(b.id < 0));
  const stillOurs = (t: Target): boolean => {
    const n = Math.abs(t.id);
    if (t.id < 0) return groupHasLiveMembers(n);
    return readProcStartTicks(n) === t.startTicks && processHasLife(n);
  };
  const signalled: Target[] = [];
  for (const t of list) {
    if (stillOurs(t) && sendSignal(t.id, 'SIGTERM')) signalled.push(t);
  }
  const settled = await waitUntil(() => !signalled.some(stillOurs), graceMs);
  if (!settled) {
    for (const t of signalled) if (stillOurs(t)) sendSignal(t.id, 'SIGKILL');
    await waitUntil(() => !signalled.some(stillOurs), KILL_SETTLE_MS);
  }
  return { killed: [...new Set(signalled.map((t) => Math.abs(t.id)))] };
}
