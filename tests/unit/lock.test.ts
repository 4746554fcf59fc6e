import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DiskFullError, LockHeldError, type LockOwner } from '../../src/errors.js';
import { acquireLock, isLockHeld, lockOwnerFile, lockState, readLock } from '../../src/runtime/lock.js';
import { readProcStartTicks } from '../../src/runtime/process-groups.js';

let tmp: string;
let lockFile: string;
let ownerFile: string;
let children: ChildProcess[] = [];
let warnings: string[] = [];
const warn = (msg: string): void => {
  warnings.push(msg);
};

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-lock-'));
  lockFile = path.join(tmp, 'nested', 'dir', 'build.lock');
  ownerFile = lockOwnerFile(lockFile);
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

/** Another process that holds the lock's flock (the shell's descriptor, kept by the sleep it becomes). */
async function holdElsewhere(): Promise<ChildProcess> {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const child = spawn('sh', ['-c', 'exec 3<>"$0" && flock -n 3 && echo locked && exec sleep 300', lockFile], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
  });
  return child;
}

async function pidOfExitedProcess(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

/** An owner record, as a holder writes it beside the lock. */
function writeOwner(owner: Partial<LockOwner> & { pid: number }): LockOwner {
  const full: LockOwner = {
    host: os.hostname(),
    startedAt: '2024-01-02T03:04:05.000Z',
    command: 'ailinux build --profile minimal',
    procStart: readProcStartTicks(owner.pid),
    ...owner,
  };
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  fs.writeFileSync(ownerFile, JSON.stringify(full));
  return full;
}

describe('acquireLock', () => {
  it('holds the flock, records its owner beside it, and releases both on release, once', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(isLockHeld(lockFile)).toBe(true);
    const onDisk = readLock(lockFile);
    expect(onDisk).toEqual(handle.owner);
    expect(onDisk?.pid).toBe(process.pid);
    expect(onDisk?.host).toBe(os.hostname());
    expect(onDisk?.command).toBe('ailinux build');
    expect(onDisk?.procStart).toBe(readProcStartTicks(process.pid));
    expect(Number.isNaN(Date.parse(onDisk!.startedAt))).toBe(false);
    // the record was renamed into place: no temp file is left
    expect(fs.readdirSync(path.dirname(lockFile)).sort()).toEqual(['build.lock', 'build.lock.owner']);

    handle.release();
    expect(isLockHeld(lockFile)).toBe(false);
    expect(fs.existsSync(ownerFile)).toBe(false);
    // the lock file stays: removing it would let two takers lock two different files
    expect(fs.existsSync(lockFile)).toBe(true);
    expect(() => handle.release()).not.toThrow();
    expect(warnings).toEqual([]);

    acquireLock(lockFile, 'ailinux resume', warn).release();
    expect(fs.existsSync(ownerFile)).toBe(false);
  });

  it('refuses a lock held by this very process', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(() => acquireLock(lockFile, 'ailinux build', warn)).toThrow(LockHeldError);
    expect(readLock(lockFile)).toEqual(handle.owner);
    handle.release();
  });

  it('refuses a lock another process holds, naming the owner it recorded, and changes nothing', async () => {
    const holder = await holdElsewhere();
    const owner = writeOwner({ pid: holder.pid! });
    const before = fs.readFileSync(ownerFile, 'utf8');
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
    expect(fs.readFileSync(ownerFile, 'utf8')).toBe(before);
    expect(warnings).toEqual([]);
  });

  it('refuses a lock held by a process that has not recorded its owner yet', async () => {
    await holdElsewhere();
    let error: unknown;
    try {
      acquireLock(lockFile, 'ailinux build', warn);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as LockHeldError).owner).toBeNull();
    expect((error as LockHeldError).message).toBe(
      `another build holds ${lockFile} (it has not recorded its owner yet)`,
    );
    expect(fs.existsSync(ownerFile)).toBe(false);
  });

  it('refuses an owner record from another host, even with a dead pid: its build may run there', async () => {
    writeOwner({ pid: await pidOfExitedProcess(), host: 'some-other-host.invalid', procStart: 12345 });
    const before = fs.readFileSync(ownerFile, 'utf8');
    expect(() => acquireLock(lockFile, 'ailinux build', warn)).toThrow(LockHeldError);
    expect(fs.readFileSync(ownerFile, 'utf8')).toBe(before);
    expect(isLockHeld(lockFile)).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('takes a free lock over the record of a process that is gone, with a warning', async () => {
    const deadPid = await pidOfExitedProcess();
    writeOwner({ pid: deadPid, procStart: 4242 });
    const handle = acquireLock(lockFile, 'ailinux resume', warn);
    expect(readLock(lockFile)?.pid).toBe(process.pid);
    expect(readLock(lockFile)?.command).toBe('ailinux resume');
    expect(warnings).toEqual([
      `taking over a stale lock left by pid ${deadPid} (started 2024-01-02T03:04:05.000Z, "ailinux build --profile minimal"); that process is gone`,
    ]);
    handle.release();
    expect(fs.existsSync(ownerFile)).toBe(false);
  });

  it('takes a free lock whose record names a pid that now runs another process', () => {
    const reused = startLiveProcess();
    writeOwner({ pid: reused.pid!, procStart: readProcStartTicks(reused.pid!)! - 1 });
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(readLock(lockFile)?.pid).toBe(process.pid);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`stale lock left by pid ${reused.pid}`);
    expect(warnings[0]).toContain('its pid now runs another process');
    handle.release();
  });

  it('takes a free lock whose record names a live process: the kernel, not the record, says who holds it', () => {
    const alive = startLiveProcess();
    writeOwner({ pid: alive.pid! });
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(readLock(lockFile)?.pid).toBe(process.pid);
    expect(warnings).toEqual([expect.stringContaining(`pid ${alive.pid}`)]);
    expect(warnings[0]).toContain('that process no longer holds the lock');
    handle.release();
  });

  it('takes over a corrupt record with a warning', () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(ownerFile, '{"pid": 12, "host": ');
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(readLock(lockFile)?.pid).toBe(process.pid);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('unreadable lock');
    handle.release();
  });

  it('is not inherited by the commands this process starts', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    const seen = spawnSync('ls', ['-l', '/proc/self/fd'], { encoding: 'utf8' });
    expect(seen.status).toBe(0);
    expect(seen.stdout).toContain('/proc/');
    expect(seen.stdout).not.toContain(lockFile);
    // and a command that tries to take it finds it held
    expect(spawnSync('flock', ['-n', lockFile, 'true']).status).toBe(1);
    handle.release();
    expect(spawnSync('flock', ['-n', lockFile, 'true']).status).toBe(0);
  });

  it('takes the lock again after its directory was removed and made anew (clean --all)', () => {
    acquireLock(lockFile, 'ailinux clean --all', warn).release();
    fs.rmSync(path.dirname(lockFile), { recursive: true });
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    expect(isLockHeld(lockFile)).toBe(true);
    handle.release();
  });

  it('takes the file the path names when its directory was removed between the open and the flock', () => {
    // a flock(1) first on PATH that, the first time, removes the lock's directory before it locks
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    const once = path.join(tmp, 'removed-once');
    const realFlock = spawnSync('sh', ['-c', 'command -v flock'], { encoding: 'utf8' }).stdout.trim();
    fs.writeFileSync(
      path.join(bin, 'flock'),
      `#!/bin/sh\nif [ ! -e '${once}' ]; then touch '${once}'; rm -r '${path.dirname(lockFile)}'; fi\nexec '${realFlock}' "$@"\n`,
      { mode: 0o755 },
    );
    const savedPath = process.env['PATH'];
    process.env['PATH'] = `${bin}:${savedPath}`;
    try {
      const handle = acquireLock(lockFile, 'ailinux build', warn);
      expect(fs.existsSync(once)).toBe(true);
      // held on the file that is there now, not on the removed one
      expect(isLockHeld(lockFile)).toBe(true);
      expect(readLock(lockFile)).toEqual(handle.owner);
      handle.release();
    } finally {
      process.env['PATH'] = savedPath;
    }
  });

  it('releaseRemovingFile removes the owner record and the lock file while the lock is held, then frees it', () => {
    const handle = acquireLock(lockFile, 'ailinux clean --all', warn);
    const held = fs.statSync(lockFile).ino;
    // a taker that opened the file before it went: it gets the flock once we close, on a file no path names
    const early = fs.openSync(lockFile, 'r');
    try {
      handle.releaseRemovingFile();
      expect(fs.existsSync(lockFile)).toBe(false);
      expect(fs.existsSync(ownerFile)).toBe(false);
      expect(fs.fstatSync(early).ino).toBe(held);
      // the next taker makes a new file and holds that one: the path names the lock that is held
      const next = acquireLock(lockFile, 'ailinux build', warn);
      expect(fs.statSync(lockFile).ino).not.toBe(held);
      expect(isLockHeld(lockFile)).toBe(true);
      expect(readLock(lockFile)).toEqual(next.owner);
      next.release();
    } finally {
      fs.closeSync(early);
    }
  });

  it('releaseRemovingFile never removes a lock file that is not the one it holds', () => {
    const handle = acquireLock(lockFile, 'ailinux clean --all', warn);
    // another file stands at the path now (made by someone else): it is not ours to remove
    const aside = `${lockFile}.aside`;
    fs.renameSync(lockFile, aside);
    fs.writeFileSync(lockFile, '');
    const theirs = fs.statSync(lockFile).ino;
    handle.releaseRemovingFile();
    expect(fs.statSync(lockFile).ino).toBe(theirs);
  });

  it('takes the lock when its directory goes between the mkdir and the open (clean --all removes an empty state/)', () => {
    const mkdir = fs.mkdirSync;
    let removed = 0;
    const spy = vi.spyOn(fs, 'mkdirSync').mockImplementation(((p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
      const made = mkdir(p, o as fs.MakeDirectoryOptions & { recursive: true });
      // the first time: the directory is gone again before the open
      if (removed++ === 0) fs.rmdirSync(path.dirname(lockFile));
      return made;
    }) as typeof fs.mkdirSync);
    try {
      const handle = acquireLock(lockFile, 'ailinux build', warn);
      expect(removed).toBe(2);
      expect(isLockHeld(lockFile)).toBe(true);
      handle.release();
    } finally {
      spy.mockRestore();
    }
  });

  it('a full disk while writing the owner: DiskFullError naming the record, no owner or temp file left, the lock free', () => {
    const write = fs.writeSync;
    const spy = vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).includes('.build.lock.owner.'))
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
      return (write as (...a: unknown[]) => number)(fd, ...rest);
    }) as typeof fs.writeSync);
    try {
      let thrown: unknown;
      try {
        acquireLock(lockFile, 'ailinux build', warn);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(DiskFullError);
      expect((thrown as DiskFullError).message).toBe(
        `no space left on device while writing the lock's owner record ${ownerFile}`,
      );
      expect(fs.readdirSync(path.dirname(lockFile))).toEqual(['build.lock']);
      expect(isLockHeld(lockFile)).toBe(false);
      // clean, whose work is to free space, holds the lock without the record (warned)
      const handle = acquireLock(lockFile, 'ailinux clean', warn, { ownerOptional: true });
      expect(isLockHeld(lockFile)).toBe(true);
      expect(fs.readdirSync(path.dirname(lockFile))).toEqual(['build.lock']);
      expect(warnings).toEqual([
        `the lock's owner record ${ownerFile} cannot be written: no space left on device; holding the lock without it`,
      ]);
      handle.release();
    } finally {
      spy.mockRestore();
    }
  });

  it('release leaves a record that someone else now owns', () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    const other = startLiveProcess();
    const theirs = writeOwner({ pid: other.pid! });
    handle.release();
    expect(readLock(lockFile)).toEqual(theirs);
  });

  it('refuses a lock path that is a symlink', () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    const target = path.join(tmp, 'elsewhere');
    fs.writeFileSync(target, 'keep');
    fs.symlinkSync(target, lockFile);
    expect(() => acquireLock(lockFile, 'ailinux build', warn)).toThrow(/ELOOP/);
    expect(fs.readFileSync(target, 'utf8')).toBe('keep');
  });
});

describe('readLock', () => {
  it('is null without a record, and for a corrupt one', () => {
    expect(readLock(lockFile)).toBeNull();
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(ownerFile, 'not json');
    expect(readLock(lockFile)).toBeNull();
  });
});

describe('lockState', () => {
  /** lockState changes nothing: the same files with the same contents, and the flock as it was. */
  const unchanged = (check: () => void) => {
    const dir = path.dirname(lockFile);
    const snapshot = () => ({
      files: fs.existsSync(dir) ? fs.readdirSync(dir).sort() : null,
      owner: fs.existsSync(ownerFile) ? fs.readFileSync(ownerFile, 'utf8') : null,
      held: isLockHeld(lockFile),
    });
    const before = snapshot();
    check();
    expect(snapshot()).toEqual(before);
  };

  it('is free without a lock file, and with one nobody holds', () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'free' }));
    acquireLock(lockFile, 'ailinux build', warn).release();
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'free' }));
  });

  it('is held by a process that holds the flock, ourselves included', async () => {
    const handle = acquireLock(lockFile, 'ailinux build', warn);
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'held', owner: handle.owner }));
    handle.release();
    const holder = await holdElsewhere();
    const owner = writeOwner({ pid: holder.pid! });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'held', owner }));
    const noTicks = writeOwner({ pid: holder.pid!, procStart: null });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'held', owner: noTicks }));
  });

  it('is held with no owner while the holder has not recorded one, or the record is a dead holder’s', async () => {
    const holder = await holdElsewhere();
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'held', owner: null }));
    writeOwner({ pid: await pidOfExitedProcess(), procStart: 4242 });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'held', owner: null }));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    expect(lockState(lockFile).kind).toBe('stale');
  });

  it('is foreign, never stale, when a record from another host is left, whatever its pid does here', async () => {
    for (const pid of [await pidOfExitedProcess(), startLiveProcess().pid!, process.pid]) {
      const owner = writeOwner({ pid, host: 'some-other-host.invalid', procStart: 12345 });
      unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'foreign', owner }));
    }
  });

  it('is stale when nobody holds the flock and a record is left: its process is gone, reused, or lives on', async () => {
    const dead = writeOwner({ pid: await pidOfExitedProcess(), procStart: 4242 });
    unchanged(() => expect(lockState(lockFile)).toEqual({ kind: 'stale', owner: dead, why: 'that process is gone' }));
    const reused = startLiveProcess();
    const other = writeOwner({ pid: reused.pid!, procStart: readProcStartTicks(reused.pid!)! - 1 });
    unchanged(() =>
      expect(lockState(lockFile)).toEqual({
        kind: 'stale',
        owner: other,
        why: 'that process is gone (its pid now runs another process)',
      }),
    );
    const alive = writeOwner({ pid: reused.pid! });
    unchanged(() =>
      expect(lockState(lockFile)).toEqual({
        kind: 'stale',
        owner: alive,
        why: 'that process no longer holds the lock',
      }),
    );
  });

  it('is unreadable for a record that is no owner, saying why', () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    for (const [text, why] of [
      ['{"pid": 12, "host": ', 'it is not valid JSON'],
      ['', 'it is not valid JSON'],
      ['{"pid": -1, "host": "h", "startedAt": "t", "command": "c"}', 'it does not name its owner'],
      ['[1, 2]', 'it does not name its owner'],
    ] as const) {
      fs.writeFileSync(ownerFile, text);
      unchanged(() => {
        const found = lockState(lockFile);
        expect(found.kind, text).toBe('unreadable');
        expect(found.kind === 'unreadable' && found.why, text).toContain(why);
      });
    }
  });
});
