/**
 * One build per work dir: a lock file that names its owner (pid, host, start time, command),
 * so a lock left behind by `kill -9` is recognised as stale and taken over.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockHeldError, type LockOwner } from '../errors.js';
import { isProcessAlive, readProcStartTicks } from './process-groups.js';

export interface LockHandle {
  readonly owner: LockOwner;
  release(): void;
}

/** Takes the lock, replacing a stale one (warned); throws LockHeldError when a live owner holds it. */
export function acquireLock(lockFile: string, command: string, warn: (msg: string) => void): LockHandle {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const owner: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    command,
    procStart: readProcStartTicks(process.pid),
  };
  const text = `${JSON.stringify(owner, null, 2)}\n`;

  // a lock released between our create and our look at it is simply free: try once more
  const created = createExclusive(lockFile, text) || (!fs.existsSync(lockFile) && createExclusive(lockFile, text));
  if (!created) {
    const current = readLock(lockFile);
    if (current === null) {
      warn(`taking over an unreadable lock ${lockFile}; its owner is unknown`);
    } else if (isOwnerGone(current)) {
      warn(
        `taking over a stale lock left by pid ${current.pid} (started ${current.startedAt}, "${current.command}"); that process is gone`,
      );
    } else {
      throw new LockHeldError(lockFile, current);
    }
    replaceAtomically(lockFile, text);
    // two runs may take over the same stale lock at once: the rename that landed last wins
    const winner = readLock(lockFile);
    if (winner === null || !isSameOwner(winner, owner)) {
      throw new LockHeldError(lockFile, winner ?? current ?? owner);
    }
  }

  let released = false;
  return {
    owner,
    release(): void {
      if (released) return;
      released = true;
      const current = readLock(lockFile);
      if (current !== null && isSameOwner(current, owner)) fs.rmSync(lockFile, { force: true });
    },
  };
}

/** The lock's owner, for status display; null when there is no lock or it cannot be read. */
export function readLock(lockFile: string): LockOwner | null {
  let text: string;
  try {
    text = fs.readFileSync(lockFile, 'utf8');
  } catch {
    return null;
  }
  try {
    return parseOwner(JSON.parse(text));
  } catch {
    return null;
  }
}

function parseOwner(value: unknown): LockOwner | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return null;
  if (typeof v.host !== 'string' || typeof v.startedAt !== 'string' || typeof v.command !== 'string') return null;
  const procStart = typeof v.procStart === 'number' ? v.procStart : null;
  return { pid: v.pid, host: v.host, startedAt: v.startedAt, command: v.command, procStart };
}

/** Gone means: on this host, and the pid is dead or now belongs to a process started at another time. */
function isOwnerGone(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return false;
  if (!isProcessAlive(owner.pid)) return true;
  // without a recorded start time a live pid cannot be told apart from its owner, so it holds
  return owner.procStart !== null && readProcStartTicks(owner.pid) !== owner.procStart;
}

function isSameOwner(a: LockOwner, b: LockOwner): boolean {
  return a.pid === b.pid && a.host === b.host && a.procStart === b.procStart && a.startedAt === b.startedAt;
}

/** Creates the file only if it does not exist; false when it does. */
function createExclusive(file: string, text: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  syncDirectory(path.dirname(file));
  return true;
}

function replaceAtomically(file: string, text: string): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(temp, 'w', 0o644);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  syncDirectory(path.dirname(file));
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
