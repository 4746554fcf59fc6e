/**
 * Process groups we started, and how to end them. Only groups and pids proven to be ours
 * (recorded start time, or this work dir's marker and a root or working directory inside it) are ever signalled.
 * sendSignal is the one guarded door every signal goes through: it refuses anything else and
 * journals what it sends.
 */
import fs from 'node:fs';
import { UnsafeOperationError } from '../errors.js';
import { isAtOrUnder } from './mountinfo.js';
import { readProcStat } from './proc-stat.js';

/** A command's process group as the engine persists it, so a crashed build's orphans can be found. */
export interface SpawnedGroup {
  pgid: number;
  argv: string[];
  /** Start time of the group leader in clock ticks since boot (field 22 of /proc/PID/stat). */
  startTicks: number | null;
  startedAt: string;
}

const POLL_MS = 50;
/** After SIGKILL the kernel needs a moment to tear processes down; we do not wait forever for it. */
const KILL_SETTLE_MS = 2000;

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

/** Why the guard let a signal through. */
export type SignalAuthority = 'runner-group' | 'orphan-group' | 'orphan-process';

/** One signal this process sent, as the guard journals it. */
export interface SignalRecord {
  at: string;
  /** The pid signalled, or minus the pgid of a group. */
  target: number;
  signal: NodeJS.Signals;
  reason: string;
  authority: SignalAuthority;
  delivered: boolean;
}

/** Groups a runner in this process started: pgid to the leader's start ticks. */
const runnerGroups = new Map<number, number | null>();
/** Leftovers reapOrphans verified (signed target to start ticks); only for the duration of the reap. */
const verifiedOrphans = new Map<number, number>();
const journal: SignalRecord[] = [];
const JOURNAL_LIMIT = 10_000;
let refusals = 0;

/** A runner records each group it starts, before anything can signal it. */
export function registerRunnerGroup(pgid: number, startTicks: number | null): void {
  runnerGroups.set(pgid, startTicks);
}

/** Once a group is gone (its leftovers included), it can no longer be signalled. */
export function releaseRunnerGroup(pgid: number): void {
  runnerGroups.delete(pgid);
}

/** Every signal this process sent, oldest first. */
export function signalJournal(): SignalRecord[] {
  return journal.map((r) => ({ ...r }));
}

/** How many signals the guard refused in this process (each one a bug it caught). */
export function signalRefusals(): number {
  return refusals;
}

/** Our ancestors, parent first, up to and including pid 1. */
export function ancestorPids(pid: number = process.pid): number[] {
  const chain: number[] = [];
  let ppid = readProcStat(pid)?.ppid ?? 0;
  while (ppid >= 1 && !chain.includes(ppid)) {
    chain.push(ppid);
    if (ppid === 1) break;
    ppid = readProcStat(ppid)?.ppid ?? 0;
  }
  return chain;
}

function refuseSignal(target: number, signal: NodeJS.Signals, why: string): never {
  refusals++;
  throw new UnsafeOperationError(
    `refusing to send ${signal} to ${target < 0 ? `process group ${-target}` : `pid ${target}`}: ${why}`,
    {
      hint: 'ailinux only signals process groups it started, and leftovers of its own builds verified by start time or marker',
    },
  );
}

/** Decides whether target may be signalled; throws UnsafeOperationError when not. */
function authoriseSignal(target: number, signal: NodeJS.Signals): SignalAuthority {
  if (!Number.isSafeInteger(target) || Math.abs(target) <= 1)
    refuseSignal(target, signal, "it addresses init, the caller's own group or every process");
  const id = Math.abs(target);
  if (id === process.pid) refuseSignal(target, signal, 'it is this process');
  const ancestors = ancestorPids();
  if (ancestors.includes(id)) refuseSignal(target, signal, 'it is an ancestor of this process (our session)');
  if (target < 0) {
    const inGroup = [process.pid, ...ancestors].find((pid) => readProcStat(pid)?.pgrp === id);
    if (inGroup !== undefined)
      refuseSignal(target, signal, `pid ${inGroup}, this process or an ancestor, is in that group`);
    const leader = readProcStat(id);
    if (runnerGroups.has(id)) {
      const ticks = runnerGroups.get(id)!;
      // the leader's pid now names another process: the group number was reused
      if (leader !== null && ticks !== null && leader.startTicks !== ticks)
        refuseSignal(target, signal, 'its leader pid was reused by another process');
      return 'runner-group';
    }
    const ticks = verifiedOrphans.get(target);
    if (ticks !== undefined) {
      if (leader !== null && leader.startTicks !== ticks)
        refuseSignal(target, signal, 'its leader pid was reused by another process');
      return 'orphan-group';
    }
  } else {
    const ticks = verifiedOrphans.get(target);
    if (ticks !== undefined) {
      if (readProcStartTicks(id) !== ticks) refuseSignal(target, signal, 'the pid was reused by another process');
      return 'orphan-process';
    }
  }
  return refuseSignal(
    target,
    signal,
    'it is neither a process group this runner started nor a leftover of this work dir verified by start time or marker',
  );
}

/**
 * The one function that sends signals. Refuses (UnsafeOperationError) any target that is not a
 * group a runner here started or a verified leftover; journals each signal sent. Returns whether
 * it was delivered (false: the target was already gone).
 */
export function sendSignal(target: number, signal: NodeJS.Signals, reason = 'unspecified'): boolean {
  const authority = authoriseSignal(target, signal);
  let delivered = true;
  try {
    process.kill(target, signal);
  } catch (error) {
    if (errnoCode(error) !== 'ESRCH') throw error;
    delivered = false;
  }
  if (journal.length >= JOURNAL_LIMIT) journal.shift();
  journal.push({ at: new Date().toISOString(), target, signal, reason, authority, delivered });
  return delivered;
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
  sendSignal(-pgid, 'SIGTERM', 'ending a command group this runner started');
  if (await waitUntil(() => !groupHasLiveMembers(pgid), graceMs)) return;
  sendSignal(-pgid, 'SIGKILL', `the command group outlived the ${graceMs} ms grace period`);
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
  const pids = new Set<number>([1, process.pid, ...ancestorPids()]);
  return { pids, ownPgid: readProcStat(process.pid)?.pgrp ?? null };
}

interface Target {
  /** Negative for a group. */
  id: number;
  /** Start ticks of the pid, or of the group leader, when we signalled it, to tell a reused pid apart. */
  startTicks: number | null;
}

/** The work dir's real path, in the environment of every command a build of it starts. */
export const WORK_DIR_ENV = 'AILINUX_WORK_DIR';
/** The id of the build (or resume) run that started the command: new for every run. */
export const BUILD_ID_ENV = 'AILINUX_BUILD_ID';

/** What marks a leftover of one work dir's builds: its real path, and the ids of the runs its state records. */
export interface WorkMarker {
  workDir: string;
  buildIds: readonly string[];
}

/** The marker variables for the commands of one run. */
export function markerEnv(workDir: string, buildId: string): Record<string, string> {
  return { [WORK_DIR_ENV]: realPath(workDir), [BUILD_ID_ENV]: buildId };
}

/** The marker of a work dir's builds as its state records them: its last run and every run in its history. */
export function workMarker(
  workDir: string,
  state: { runId: string; history: readonly { runId: string }[] },
): WorkMarker {
  return { workDir, buildIds: [...new Set([state.runId, ...state.history.map((h) => h.runId)])] };
}

function realPath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

function readEnvValue(environ: readonly string[], name: string): string | undefined {
  const prefix = Buffer.from(`${name}=`, 'utf8').toString('latin1');
  const entry = environ.find((e) => e.startsWith(prefix));
  return entry === undefined ? undefined : Buffer.from(entry.slice(prefix.length), 'latin1').toString('utf8');
}

/** Whether the process's root or working directory lies inside dir (a copy of the state elsewhere has neither). */
function livesIn(pid: number, dir: string): boolean {
  for (const link of ['root', 'cwd']) {
    try {
      if (isAtOrUnder(fs.readlinkSync(`/proc/${pid}/${link}`).replace(/ \(deleted\)$/, ''), dir)) return true;
    } catch {
      // gone, or not ours to read
    }
  }
  return false;
}

/**
 * Whether pid is a leftover of this work dir's builds: its marker names this work dir's real path and one of its
 * runs, and its root or working directory lies inside the work dir. A copy of the work dir (state and all) shares
 * the run ids but not the path; a process that merely copied the environment does not live in the work dir.
 */
export function isWorkDirLeftover(pid: number, marker: WorkMarker): boolean {
  const environ = readEnviron(pid);
  if (environ === null) return false;
  const dir = realPath(marker.workDir);
  if (readEnvValue(environ, WORK_DIR_ENV) !== dir) return false;
  const buildId = readEnvValue(environ, BUILD_ID_ENV);
  return buildId !== undefined && marker.buildIds.includes(buildId) && livesIn(pid, dir);
}

/**
 * A recorded group's leader that carries a marker must carry this work dir's: the record may have been copied
 * along with the state, and then names a live group of the original's build. A leader without a marker (one that
 * replaced its environment) is vouched for by its start time alone.
 */
function leaderMayBeOurs(pgid: number, marker: WorkMarker | undefined): boolean {
  if (marker === undefined) return true;
  const environ = readEnviron(pgid);
  const named = environ === null ? undefined : readEnvValue(environ, WORK_DIR_ENV);
  return named === undefined || named === realPath(marker.workDir);
}

/** Pids (other than ours) that are leftovers of this work dir's builds. */
export function listWorkDirLeftovers(marker: WorkMarker): number[] {
  return listPids().filter((pid) => pid !== process.pid && isWorkDirLeftover(pid, marker));
}

export interface ReapOptions {
  groups: SpawnedGroup[];
  marker?: WorkMarker;
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
    if (!leaderMayBeOurs(group.pgid, options.marker)) continue;
    // a leader that moved to another group no longer speaks for the recorded one
    addTarget(stat.pgrp === group.pgid ? -group.pgid : group.pgid, stat.startTicks);
  }
  if (options.marker !== undefined) {
    for (const pid of listWorkDirLeftovers(options.marker)) {
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
  // vouch to the guard for exactly the targets verified above, and only while this reap runs
  for (const t of list) if (t.startTicks !== null) verifiedOrphans.set(t.id, t.startTicks);
  try {
    for (const t of list) {
      if (stillOurs(t) && sendSignal(t.id, 'SIGTERM', 'a leftover of an earlier build of this work dir'))
        signalled.push(t);
    }
    const settled = await waitUntil(() => !signalled.some(stillOurs), graceMs);
    if (!settled) {
      for (const t of signalled)
        if (stillOurs(t)) sendSignal(t.id, 'SIGKILL', `the leftover outlived the ${graceMs} ms grace period`);
      await waitUntil(() => !signalled.some(stillOurs), KILL_SETTLE_MS);
    }
  } finally {
    for (const t of list) verifiedOrphans.delete(t.id);
  }
  return { killed: [...new Set(signalled.map((t) => Math.abs(t.id)))] };
}
