/**
 * One build per work dir, held by the kernel: flock(2) on state/lock. Node has no flock call, so flock(1) takes it
 * on a descriptor this process keeps open; the lock belongs to that open file description, so it is held until we
 * close it or exit, and the kernel releases it however we die (kill -9 included). Who holds it is the kernel's
 * answer alone: a lock whose flock is free is simply taken, there is no stale-lock dance.
 *
 * The owner (pid, host, start time, command) is for display: it is written beside the lock, in state/lock.owner,
 * by rename once the lock is held, so a reader sees a whole owner or none. lockState() is the one answer to "who
 * holds it", for status and doctor; it reads /proc/locks and the owner file and never takes the lock.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DiskFullError, LockHeldError, type LockOwner, UsageError } from '../errors.js';
import { runWithDescriptorSync } from './spawn-sync.js';
import { mountContaining, readMountinfo } from './mountinfo.js';
import { writeNewFileWhole } from './new-file.js';
import { isProcessAlive, readProcStartTicks } from './process-groups.js';

export interface LockHandle {
  readonly owner: LockOwner;
  release(): void;
  /**
   * Releases the lock and removes the lock file with it (clean --all): the owner record and the file go while the
   * lock is still ours, so no other process can hold a lock on the removed file (a taker that opened it checks,
   * once its flock succeeds, that the path still names what it locked, and takes the new file instead).
   */
  releaseRemovingFile(): void;
}

export interface AcquireLockOptions {
  /**
   * When the owner record cannot be written for lack of disk space, hold the lock without it (warned) instead of
   * throwing DiskFullError: clean, whose work is to free space, must not need any.
   */
  ownerOptional?: boolean;
}

/** flock(1)'s exit code when another open file description holds the lock (-E). */
const CONFLICT_EXIT = 75;
/** A taker writes its owner right after it gets the lock; a reader that finds the lock held waits this long for it. */
const OWNER_WAIT_MS = 1000;
/** A refused taker waits less: the owner only makes its message better. */
const REFUSED_OWNER_WAIT_MS = 250;
const OWNER_POLL_MS = 10;
const DISK_FULL_WORDS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'the disk quota is used up',
};

/** Where the holder's owner record lives, beside the lock file. */
export function lockOwnerFile(lockFile: string): string {
  return `${lockFile}.owner`;
}

/**
 * Takes the lock, or throws LockHeldError when another process holds it. An owner record left by a holder that
 * died is overwritten with a warning; one that names another host is never taken over (its build may run there).
 */
export function acquireLock(
  lockFile: string,
  command: string,
  warn: (msg: string) => void,
  options: AcquireLockOptions = {},
): LockHandle {
  const fd = openLocked(lockFile);
  if (fd === null) throw new LockHeldError(lockFile, waitForOwner(lockFile));
  const ownerFile = lockOwnerFile(lockFile);
  const owner: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    command,
    procStart: readProcStartTicks(process.pid),
  };
  try {
    const left = readOwner(ownerFile);
    if (typeof left === 'object') {
      if (left.host !== owner.host) throw new LockHeldError(lockFile, left);
      warn(
        `taking over a stale lock left by pid ${left.pid} (started ${left.startedAt}, "${left.command}"); ${whyStale(left)}`,
      );
    } else if (left !== 'missing') {
      warn(`taking over an unreadable lock ${ownerFile} (${left}); its owner is unknown`);
    }
    writeOwnerOrSayFull(ownerFile, owner, options, warn);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }

  let released = false;
  const release = (removeFile: boolean): void => {
    if (released) return;
    released = true;
    try {
      // the owner goes while the lock is still ours, so no reader sees it beside a free lock
      const current = readOwner(ownerFile);
      if (typeof current === 'object' && isSameOwner(current, owner)) fs.rmSync(ownerFile, { force: true });
      // only the file we hold: removing another would free a lock that someone else holds
      if (removeFile && sameFile(fd, lockFile)) fs.unlinkSync(lockFile);
    } finally {
      fs.closeSync(fd);
    }
  };
  return {
    owner,
    // the lock file itself stays: removed after the lock is free, a taker of the old inode and one of a new file
    // could both hold it
    release: () => release(false),
    releaseRemovingFile: () => release(true),
  };
}

/** The owner record written; a full disk is a DiskFullError (exit 75), or only a warning when the owner is optional. */
function writeOwnerOrSayFull(
  ownerFile: string,
  owner: LockOwner,
  options: AcquireLockOptions,
  warn: (msg: string) => void,
): void {
  try {
    writeOwner(ownerFile, owner);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw error;
    if (options.ownerOptional) {
      warn(
        `the lock's owner record ${ownerFile} cannot be written: ${DISK_FULL_WORDS[code]}; holding the lock without it`,
      );
      return;
    }
    throw new DiskFullError(`writing the lock's owner record ${ownerFile}`, {
      cause: error,
      hint: `free some space where ${path.dirname(path.dirname(ownerFile))} lies, then run the command again`,
    });
  }
}

/**
 * The lock file opened and flock'ed (exclusive, non-blocking) by flock(1) on that descriptor; null when another
 * open file description holds it. Node opens with O_CLOEXEC, so no command the build runs inherits the lock.
 */
function openLocked(lockFile: string): number | null {
  const { O_RDWR, O_CREAT, O_NOFOLLOW } = fs.constants;
  for (let attempt = 0; ; attempt++) {
    // made anew on each attempt: clean --all removes state/ with the lock in it
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    let fd: number;
    try {
      fd = fs.openSync(lockFile, O_RDWR | O_CREAT | O_NOFOLLOW, 0o644);
    } catch (error) {
      // state/ went between the mkdir and the open (clean --all removes it once the lock is free): make it again
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 5) continue;
      throw error;
    }
    let locked: boolean;
    try {
      if (!fs.fstatSync(fd).isFile()) throw new UsageError(`${lockFile} is not a regular file`);
      locked = runFlock(fd, lockFile);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
    if (!locked) {
      fs.closeSync(fd);
      return null;
    }
    // the file was removed or replaced between our open and our flock (clean --all): the lock we hold is on a
    // file nobody else will open, so take the one the path names now
    if (sameFile(fd, lockFile)) return fd;
    fs.closeSync(fd);
    if (attempt >= 5) throw new UsageError(`cannot lock ${lockFile}: it is removed or replaced again and again`);
  }
}

function runFlock(fd: number, lockFile: string): boolean {
  const result = runWithDescriptorSync(
    ['flock', '--exclusive', '--nonblock', '--conflict-exit-code', String(CONFLICT_EXIT), '3'],
    fd,
  );
  if (result.error) {
    throw new UsageError(`cannot lock ${lockFile}: flock cannot be run (${result.error.message})`, {
      hint: 'install util-linux, which provides flock(1)',
      cause: result.error,
    });
  }
  if (result.status === 0) return true;
  if (result.status === CONFLICT_EXIT) return false;
  throw new UsageError(`cannot lock ${lockFile}: flock failed (${result.stderr.trim() || result.status})`);
}

function sameFile(fd: number, file: string): boolean {
  try {
    const open = fs.fstatSync(fd);
    const named = fs.lstatSync(file);
    return open.ino === named.ino && open.dev === named.dev;
  } catch {
    return false;
  }
}

/**
 * Who holds the lock, read only (it never takes, writes or removes anything):
 * - free: no process holds it, and no owner record is left;
 * - held: a process here holds it (the kernel says so); owner is null when it has not written its record yet;
 * - foreign: the record names another host, where we cannot check; it counts as held, never as dead;
 * - stale: no process holds it, but the record of a holder that died (or was killed) is left;
 * - unreadable: no process holds it, and the record left is not one we can read.
 * The next build takes a stale or unreadable lock over (warned); never a foreign one.
 */
export type LockState =
  | { kind: 'free' }
  | { kind: 'held'; owner: LockOwner | null }
  | { kind: 'foreign'; owner: LockOwner }
  | { kind: 'stale'; owner: LockOwner; why: string }
  | { kind: 'unreadable'; why: string };

export function lockState(lockFile: string, ownerWaitMs = OWNER_WAIT_MS): LockState {
  const ownerFile = lockOwnerFile(lockFile);
  const deadline = Date.now() + ownerWaitMs;
  for (;;) {
    const held = isLockHeld(lockFile);
    const read = readOwner(ownerFile);
    if (held === false) {
      if (read === 'missing') return { kind: 'free' };
      if (typeof read === 'string') return { kind: 'unreadable', why: read };
      if (read.host !== os.hostname()) return { kind: 'foreign', owner: read };
      return { kind: 'stale', owner: read, why: whyStale(read) };
    }
    if (held === null) return stateWithoutKernel(read);
    if (typeof read === 'object' && read.host === os.hostname() && ownerRuns(read))
      return { kind: 'held', owner: read };
    // held, but the record is not yet its holder's: the taker writes it right after it gets the lock
    if (Date.now() >= deadline) return { kind: 'held', owner: null };
    sleepSync(OWNER_POLL_MS);
  }
}

/** When /proc/locks cannot be read, the record's pid and start time are the best answer we have. */
function stateWithoutKernel(read: LockOwner | string): LockState {
  if (read === 'missing') return { kind: 'free' };
  if (typeof read === 'string') return { kind: 'unreadable', why: read };
  if (read.host !== os.hostname()) return { kind: 'foreign', owner: read };
  return ownerRuns(read) ? { kind: 'held', owner: read } : { kind: 'stale', owner: read, why: whyStale(read) };
}

/** The owner of a lock another process holds, once it has written it; null when it does not in time. */
function waitForOwner(lockFile: string): LockOwner | null {
  const found = lockState(lockFile, REFUSED_OWNER_WAIT_MS);
  return 'owner' in found ? found.owner : null;
}

/** The lock's owner as its record names it; null when there is none or it cannot be read. */
export function readLock(lockFile: string): LockOwner | null {
  const read = readOwner(lockOwnerFile(lockFile));
  return typeof read === 'string' ? null : read;
}

/**
 * Whether an flock lock is held on the file, from /proc/locks (MAJ:MIN:INODE of each lock, device numbers in hex);
 * null when /proc/locks cannot be read. A file that does not exist is not locked.
 */
export function isLockHeld(lockFile: string): boolean | null {
  let stat: fs.BigIntStats;
  let text: string;
  try {
    stat = fs.statSync(lockFile, { bigint: true });
  } catch {
    return false;
  }
  try {
    text = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  const devices = new Set([deviceNumbers(stat.dev)]);
  // btrfs subvolumes (and the like) show a st_dev of their own; /proc/locks names the superblock's, as mountinfo does
  try {
    const mount = mountContaining(fs.realpathSync(lockFile), readMountinfo());
    if (mount) devices.add(mount.majorMinor);
  } catch {
    // gone since the stat: its st_dev is all we have
  }
  for (const line of text.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146343 0 EOF"; a "->" line is a waiter, not a holder
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+\S+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (m === null || BigInt(m[3]!) !== stat.ino) continue;
    if (devices.has(`${Number.parseInt(m[1]!, 16)}:${Number.parseInt(m[2]!, 16)}`)) return true;
  }
  return false;
}

/** "major:minor" of a st_dev, as glibc's makedev packs it. */
function deviceNumbers(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** Whether the record's process still runs here with the start time it recorded. */
function ownerRuns(owner: LockOwner): boolean {
  if (!isProcessAlive(owner.pid)) return false;
  // without a recorded start time a live pid cannot be told apart from its owner
  return owner.procStart === null || readProcStartTicks(owner.pid) === owner.procStart;
}

/** Why a record beside a free lock is stale: its holder is gone, or lives on without holding the lock. */
function whyStale(owner: LockOwner): string {
  if (!isProcessAlive(owner.pid)) return 'that process is gone';
  if (owner.procStart !== null && readProcStartTicks(owner.pid) !== owner.procStart)
    return 'that process is gone (its pid now runs another process)';
  return 'that process no longer holds the lock';
}

/** The owner a record names; 'missing' without a record; otherwise why it is no record we can read. */
function readOwner(ownerFile: string): LockOwner | 'missing' | string {
  let text: string;
  try {
    text = fs.readFileSync(ownerFile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'missing' : `it cannot be read (${code ?? (error as Error).message})`;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'it is not valid JSON';
  }
  return parseOwner(value) ?? 'it does not name its owner (pid, host, start time, command)';
}

function parseOwner(value: unknown): LockOwner | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return null;
  if (typeof v.host !== 'string' || typeof v.startedAt !== 'string' || typeof v.command !== 'string') return null;
  const procStart = typeof v.procStart === 'number' ? v.procStart : null;
  return { pid: v.pid, host: v.host, startedAt: v.startedAt, command: v.command, procStart };
}

function isSameOwner(a: LockOwner, b: LockOwner): boolean {
  return a.pid === b.pid && a.host === b.host && a.procStart === b.procStart && a.startedAt === b.startedAt;
}

/** The record, whole or not at all: a fresh temp file (O_EXCL, O_NOFOLLOW), synced, renamed over the old one. */
function writeOwner(ownerFile: string, owner: LockOwner): void {
  const dir = path.dirname(ownerFile);
  const temp = path.join(dir, `.${path.basename(ownerFile)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`);
  writeNewFileWhole(temp, `${JSON.stringify(owner, null, 2)}\n`, 0o644);
  try {
    fs.renameSync(temp, ownerFile);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
  syncDirectory(dir);
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
