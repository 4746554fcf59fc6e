/**
 * One build per work dir: a lock file that names its owner (pid, host, start time, command),
 * so a lock left behind by `kill -9` is recognised as stale and taken over. lockState() is the one
 * answer to "who holds it", for the acquire path here and for `status` and `doctor`.
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
    const found = lockState(lockFile);
    switch (found.kind) {
      case 'held':
      case 'foreign':
        throw new LockHeldError(lockFile, found.owner);
      case 'unreadable':
        warn(`taking over an unreadable lock ${lockFile}; its owner is unknown`);
        break;
      case 'stale':
        warn(
          `taking over a stale lock left by pid ${found.owner.pid} (started ${found.owner.startedAt}, "${found.owner.command}"); ${found.why}`,
        );
        break;
      case 'free':
        // released again since our second try: the rename below and the re-read settle who gets it
        break;
    }
    replaceAtomically(lockFile, text);
    // two runs may take over the same stale lock at once: the rename that landed last wins
    const winner = readLock(lockFile);
    if (winner === null || !isSameOwner(winner, owner)) {
      throw new LockHeldError(lockFile, winner ?? ('owner' in found ? found.owner : owner));
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

/**
 * Who holds the lock, read only (it never takes, writes or removes the lock):
 * - free: there is no lock file;
 * - held: its owner runs on this host, with the start time it recorded;
 * - foreign: its owner is on another host, where we cannot check it; it counts as held, never as dead;
 * - stale: its owner was on this host and is gone (its pid is dead or now runs another process);
 * - unreadable: the file is there but cannot be read or is not a lock.
 */
export type LockState =
  | { kind: 'free' }
  | { kind: 'held'; owner: LockOwner }
  | { kind: 'foreign'; owner: LockOwner }
  | { kind: 'stale'; owner: LockOwner; why: string }
  | { kind: 'unreadable'; why: string };

export function lockState(lockFile: string): LockState {
  const read = readOwner(lockFile);
  if (read === 'missing') return { kind: 'free' };
  if (typeof read === 'string') return { kind: 'unreadable', why: read };
  const owner = read;
  if (owner.host !== os.hostname()) return { kind: 'foreign', owner };
  if (!isProcessAlive(owner.pid)) return { kind: 'stale', owner, why: 'that process is gone' };
  // without a recorded start time a live pid cannot be told apart from its owner, so it holds
  if (owner.procStart !== null && readProcStartTicks(owner.pid) !== owner.procStart)
    return { kind: 'stale', owner, why: 'that process is gone (its pid now runs another process)' };
  return { kind: 'held', owner };
}

/** The lock's owner as the file names it; null when there is no lock or it cannot be read. */
export function readLock(lockFile: string): LockOwner | null {
  const read = readOwner(lockFile);
  return typeof read === 'string' ? null : read;
}

/** The owner the file names; 'missing' without a file; otherwise why it is no lock we can read. */
function readOwner(lockFile: string): LockOwner | 'missing' | string {
  let text: string;
  try {
    text = fs.readFileSync(lockFile, 'utf8');
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
