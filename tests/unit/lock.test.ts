import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockHeldError, type LockOwner } from '../../src/errors.js';
import { acquireLock, lockState, readLock } from '../../src/runtime/lock.js';
import { readProcStartTicks } from '../../src/runtime/process-groups.js';

let tmp: string;
let lockFile: string;
let children: ChildProcess[] = [];
let warnings: string[] = [];
const warn = (msg: string): void => {
  warnings.push(msg);
};

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-lock-'));
  lockFile = path.join(tmp, 'nested', 'dir', 'build.lock');
  warnings = [];
});

afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children = [];
  fs.rmSync(tmp, { recursive: true, force: true });
});

function startLiveProcess(): ChildProcess {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

async function pidOfExitedProcess(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

function writeLock(owner: Partial<LockOwner> & { pid: number }): LockOwner {
  const full: LockOwner = {
    host: os.hostname(),
    startedAt: '2024-01-02T03:04:05.000Z',
    command: 'ailinux build --profile minimal',
    procStart: readProcStartTicks(owner.pid),
    ...owner,
  };
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  fs.writeFileSync(lockFile, JSON.stringify(full));
  return full;
}

describe('acquireLock', () => {
  it('creates the lock with its owner and removes it on release, once', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    const onDisk = readLock(lockFile);
    expect(onDisk).toEqual(handle.owner);
    expect(onDisk?.pid).toBe(process.pid);
    expect(onDisk?.host).toBe(os.hostname());
    expect(onDisk?.command).toBe('ailinux build');
    expect(onDisk?.procStart).toBe(readProcStartTicks(process.pid));
    expect(Number.isNaN(Date.parse(onDisk!.startedAt))).toBe(false);

    handle.release();
    expect(fs.existsSync(lockFile)).toBe(false);
    expect(() => handle.release()).not.toThrow();
    expect(warnings).toEqual([]);

    acquireLock(lockFile, 'ailinux resume', warn).release();
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  it('refuses a lock held by this very process', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(() => acquireLock(lockFile, 'ailinux build', warn)).toThrow(LockHeldError);
    handle.release();
  });

  it('refuses a lock held by a live process, naming the owner', () => {
    const holder = startLiveProcess();
    const owner = writeLock({ pid: holder.pid! });
    const before = fs.readFileSync(lockFile, 'utf8');
    let error: unknown;
    try {
      acquireLock(lockFile, 'ailinux build', warn);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as LockHeldError).owner).toEqual(owner);
    expect((error as LockHeldError).message).toContain(`pid ${holder.pid}`);
    expect((error as LockHeldError).message).toContain('ailinux build --profile minimal');
    expect(fs.readFileSync(lockFile, 'utf8')).toBe(before);
    expect(warnings).toEqual([]);
  });

  it('refuses a lock held on another host, even with a dead pid', async () => {
    writeLock({ pid: await pidOfExitedProcess(), host: 'some-other-host.invalid', procStart: 12345 });
    const before = fs.readFileSync(lockFile, 'utf8');
    expect(() => acquireLock(lockFile, 'ailinux build', warn)).toThrow(LockHeldError);
    expect(fs.readFileSync(lockFile, 'utf8')).toBe(before);
    expect(warnings).toEqual([]);
  });

  it('takes over a stale lock whose process is gone, with a warning', async () => {
    const deadPid = await pidOfExitedProcess();
    writeLock({ pid: deadPid, procStart: 4242 });
    const handle = acquireLock(lockFile, 'ailinux resume', warn);
    expect(readLock(lockFile)?.pid).toBe(process.pid);
    expect(readLock(lockFile)?.command).toBe('ailinux resume');
    expect(warnings).toEqual([
      `taking over a stale lock left by pid ${deadPid} (started 2024-01-02T03:04:05.000Z, "ailinux build --profile minimal"); that process is gone`,
    ]);
    expect(fs.readdirSync(path.dirname(lockFile))).toEqual(['build.lock']);
    handle.release();
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  it('takes over a lock whose pid now belongs to another process', () => {
    const reused = startLiveProcess();
    writeLock({ pid: reused.pid!, procStart: readProcStartTicks(reused.pid!)! - 1 });
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(readLock(lockFile)?.pid).toBe(process.pid);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`stale lock left by pid ${reused.pid}`);
    expect(warnings[0]).toContain('its pid now runs another process');
    handle.release();
  });

  it('takes over a corrupt lock with a warning', () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(lockFile, '{"pid": 12, "host": ');
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(readLock(lockFile)?.pid).toBe(process.pid);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('unreadable lock');
    handle.release();
  });

  it('release leaves a lock that someone else now holds', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    const other = startLiveProcess();
    const theirs = writeLock({ pid: other.pid! });
    handle.release();
    expect(readLock(lockFile)).toEqual(theirs);
  });
});

describe('readLock', () => {
  it('is null without a lock file, and for a corrupt one', () => {
    expect(readLock(lockFile)).toBeNull();
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(lockFile, 'not json');
    expect(readLock(lockFile)).toBeNull();
  });
});

describe('lockState', () => {
  const unchanged = (check: () => void) => {
    const before = fs.existsSync(lockFile) ? fs.readFileSync(lockFile, 'utf8') : null;
    check();
    expect(fs.existsSync(lockFile) ? fs.readFileSync(lockFile, 'utf8') : null).toBe(before);
    expect(fs.readdirSync(path.dirname(lockFile))).toEqual(before === null ? [] : ['build.lock']);
  };

  it('is free without a lock file', () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'free' }));
  });

  it('is held by a live owner on this host, ourselves included', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'held', owner: handle.owner }));
    handle.release();
    const holder = startLiveProcess();
    const owner = writeLock({ pid: holder.pid! });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'held', owner }));
  });

  it('holds a live pid that recorded no start time: it cannot be told apart from its owner', () => {
    const owner = writeLock({ pid: startLiveProcess().pid!, procStart: null });
    expect(lockState(lockFile)).toEqual({ kind: 'held', owner });
  });

  it('is foreign, never stale, when another host holds it, whatever its pid does here', async () => {
    for (const pid of [await pidOfExitedProcess(), startLiveProcess().pid!, process.pid]) {
      const owner = writeLock({ pid, host: 'some-other-host.invalid', procStart: 12345 });
      unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'foreign', owner }));
    }
  });

  it('is stale when its process is gone, or its pid now runs another process', async () => {
    const dead = writeLock({ pid: await pidOfExitedProcess(), procStart: 4242 });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'stale', owner: dead, why: 'that process is gone' }));
    const reused = startLiveProcess();
    const other = writeLock({ pid: reused.pid!, procStart: readProcStartTicks(reused.pid!)! - 1 });
    unchanged(() =>
      expect(lockState(lockFile)).toEqual({
        kind: 'stale',
        owner: other,
        why: 'that process is gone (its pid now runs another process)',
      }),
    );
  });

  it('is unreadable for a file that is no lock, saying why', () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    for (const [text, why] of [
      ['{"pid": 12, "host": ', 'it is not valid JSON'],
      ['', 'it is not valid JSON'],
      ['{"pid": -1, "host": "h", "startedAt": "t", "command": "c"}', 'it does not name its owner'],
      ['[1, 2]', 'it does not name its owner'],
    ] as const) {
      fs.writeFileSync(lockFile, text);
      unchanged(() => {
        const found = lockState(lockFile);
        expect(found.kind, text).toBe('unreadable');
        expect(found.kind === 'unreadable' && found.why, text).toContain(why);
      });
    }
  });
});
