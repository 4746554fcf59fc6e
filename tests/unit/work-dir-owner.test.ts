/**
 * An owned work dir (issue 9, findings 2, 9, 12): the mark, whose a directory is, adoption of a work dir from
 * before the mark, the work dir argument's edge cases, and removal that never goes through a symlinked entry.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseStateFile, STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { StateStore } from '../../state/store.js';
import { DiskFullError, UnsafeOperationError, UsageError } from '../../src/errors.js';
import { type WorkDirEntry, WORK_DIR_MARKER, workPaths } from '../../src/runtime/paths.js';
import { assertRemovable, BUILD_TREES, removeWorkEntries } from '../../src/runtime/remove-work-entries.js';
import { checkWorkDir } from '../../src/runtime/work-dir.js';
import { readMark, writeMark } from '../../src/engine/work-dir-mark.js';
import {
  assertWorkDirUsable,
  claimAndLockWorkDir,
  claimWorkDir,
  inspectWorkDir,
} from '../../src/engine/work-dir-owner.js';
import { lockState } from '../../src/runtime/lock.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-work-dir-owner-'));
let dirs = 0;
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function newDir(files: Record<string, string> = {}): string {
  const dir = path.join(tmp, `d${++dirs}`);
  fs.mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

function validState(): StateFile {
  const now = new Date().toISOString();
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'succeeded',
    createdAt: now,
    updatedAt: now,
    order: [],
    ledger: {},
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [],
  };
}

/** A work dir as ailinux wrote it before the mark: a valid state and some of its own trees. */
function oldWorkDir(): string {
  const dir = newDir({ 'layers/bootstrap/root/etc/hostname': 'x\n', 'logs/build.ndjson': '{}\n' });
  StateStore.open(workPaths(dir).stateFile).save(validState());
  return dir;
}

/** Every file and directory under dir, relative, with file contents: what a refusal must leave as it was. */
function snapshot(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => {
      const p = path.join(e.parentPath, e.name);
      const rel = path.relative(dir, p);
      return e.isFile() ? `${rel}=${fs.readFileSync(p, 'utf8')}` : `${rel}/`;
    })
    .sort();
}

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('inspectWorkDir: whose the directory is', () => {
  it('a missing path, an empty dir and a marked dir are ailinux’s to use', () => {
    expect(inspectWorkDir(path.join(tmp, 'nowhere')).kind).toBe('missing');
    expect(inspectWorkDir(newDir()).kind).toBe('empty');
    const marked = newDir();
    const mark = writeMark(marked);
    expect(inspectWorkDir(marked)).toEqual({ kind: 'marked', mark });
  });

  it('a source checkout with its own state/ folder is foreign, and the error names what it found', () => {
    const checkout = newDir({
      'README.md': '# x\n',
      'package.json': '{}\n',
      'state/schema.ts': 'export {};\n',
      'state/store.ts': 'export {};\n',
      'src/main.ts': 'export {};\n',
    });
    const ownership = inspectWorkDir(checkout);
    expect(ownership).toMatchObject({ kind: 'foreign', entries: ['README.md', 'package.json', 'src'] });
    const error = usageError(() => assertWorkDirUsable(checkout, ownership));
    expect(error.message).toBe(
      `refusing to use ${checkout} as the work dir: it holds files ailinux did not make: README.md, package.json, src`,
    );
    expect(error.hint).toMatch(/an empty or new directory, e\.g\. --work-dir \.\/ailinux-build/);
  });

  it('a dir holding only a state/ folder of source files is foreign too (it has no valid state)', () => {
    const dir = newDir({ 'state/schema.ts': 'export {};\n', 'state/store.ts': 'export {};\n' });
    expect(inspectWorkDir(dir)).toMatchObject({ kind: 'foreign', entries: ['state/schema.ts', 'state/store.ts'] });
  });

  it('names at most five entries, then how many more', () => {
    const files = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, '']));
    const error = usageError(() => assertWorkDirUsable(newDir(files), inspectWorkDir(newDir(files))));
    expect(error.message).toMatch(/: f0, f1, f2, f3, f4 and 3 more$/);
  });

  it('adopts a work dir from before the mark: a valid state and only its own entries', () => {
    expect(inspectWorkDir(oldWorkDir())).toEqual({ kind: 'adoptable' });
    // what ailinux keeps in state/ beside the state does not stop the adoption
    const dir = oldWorkDir();
    const own = [
      'lock',
      'lock.owner',
      'fingerprint.key',
      'state.json.bad-20260101T000000',
      '.lock.owner.7.tmp',
      'durations.json',
      // the no-op fast path's digest (noop-digest.ts) and its temp file
      'noop-digest.json',
      'noop-digest.json.4242.tmp',
    ];
    for (const name of own) fs.writeFileSync(path.join(dir, 'state', name), '');
    expect(inspectWorkDir(dir)).toEqual({ kind: 'adoptable' });
  });

  it('does not adopt an unmarked dir whose state is invalid or missing', () => {
    const bad = newDir({ 'state/state.json': '{"schemaVersion": 1}', 'layers/x': '' });
    const badOwnership = inspectWorkDir(bad);
    expect(badOwnership).toMatchObject({ kind: 'foreign' });
    expect(usageError(() => assertWorkDirUsable(bad, badOwnership)).message).toMatch(
      /has no \.ailinux-work-dir mark, and its state\/state\.json is not a valid ailinux state/,
    );
    const none = newDir({ 'layers/x': '', 'cache/y': '' });
    expect(inspectWorkDir(none)).toMatchObject({
      kind: 'foreign',
      reason: expect.stringMatching(/no state\/state\.json/),
    });
  });

  it('does not adopt an old work dir with a foreign file beside its own entries', () => {
    const dir = oldWorkDir();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine\n');
    expect(inspectWorkDir(dir)).toMatchObject({ kind: 'foreign', entries: ['notes.txt'] });
  });

  it('refuses a symlinked or non-directory own entry, even in a marked dir', () => {
    const decoy = newDir({ 'precious.txt': 'keep\n' });
    const dir = newDir();
    writeMark(dir);
    fs.symlinkSync(decoy, path.join(dir, 'layers'));
    fs.writeFileSync(path.join(dir, 'cache'), 'not a dir\n');
    const ownership = inspectWorkDir(dir);
    expect(ownership).toMatchObject({
      kind: 'foreign',
      entries: ['cache (not a directory)', `layers (a symlink to ${decoy})`],
    });
    expect(usageError(() => assertWorkDirUsable(dir, ownership)).hint).toMatch(/remove or rename them/);
  });

  it('a regular file as the work dir is a UsageError', () => {
    const file = path.join(newDir({ f: 'x' }), 'f');
    expect(usageError(() => inspectWorkDir(file)).message).toBe(`the work dir ${file} is not a directory`);
  });
});

describe('claimWorkDir: creating, marking and adopting', () => {
  it('creates a new work dir and marks it with {tool, version, id, createdAt}', () => {
    const dir = path.join(tmp, `new${++dirs}`, 'deeper');
    const mark = claimWorkDir(dir, inspectWorkDir(dir), () => expect.fail('no notice for a new dir'));
    expect(fs.readdirSync(dir)).toEqual([WORK_DIR_MARKER]);
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, WORK_DIR_MARKER), 'utf8'));
    expect(onDisk).toEqual(mark);
    expect(mark).toMatchObject({ tool: 'ailinux', version: expect.stringMatching(/^\d+\.\d+/) });
    expect(mark.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(readMark(dir)).toEqual(mark);
  });

  it('adopts an old work dir with a notice, and keeps its state as it was', () => {
    const dir = oldWorkDir();
    const state = fs.readFileSync(workPaths(dir).stateFile, 'utf8');
    const notices: string[] = [];
    const mark = claimWorkDir(dir, inspectWorkDir(dir), (m) => notices.push(m));
    expect(notices).toEqual([expect.stringMatching(new RegExp(`^adopted ${dir}, a work dir from before`))]);
    expect(readMark(dir)).toEqual(mark);
    expect(fs.readFileSync(workPaths(dir).stateFile, 'utf8')).toBe(state);
    expect(inspectWorkDir(dir)).toEqual({ kind: 'marked', mark });
  });

  it('a second mark of the same dir keeps the first', () => {
    const dir = newDir();
    const first = writeMark(dir);
    expect(writeMark(dir)).toEqual(first);
    expect(fs.readdirSync(dir)).toEqual([WORK_DIR_MARKER]);
  });

  it('refuses a mark that is a symlink or not a mark', () => {
    const elsewhere = path.join(newDir({ m: '{}' }), 'm');
    const linked = newDir();
    fs.symlinkSync(elsewhere, path.join(linked, WORK_DIR_MARKER));
    expect(usageError(() => readMark(linked)).message).toMatch(/is not an ailinux work dir mark: it is a symlink/);
    const garbage = newDir({ [WORK_DIR_MARKER]: 'hello' });
    expect(usageError(() => inspectWorkDir(garbage)).message).toMatch(/it does not hold JSON/);
    const other = newDir({ [WORK_DIR_MARKER]: '{"tool":"other"}' });
    expect(usageError(() => readMark(other)).message).toMatch(/it lacks \{tool: "ailinux"/);
  });

  it('reads a mark by hand as zod did: the four fields, each of its kind, an id not empty; other keys dropped', () => {
    const good = { tool: 'ailinux', version: '0.1.0', id: 'i-1', createdAt: '2025-01-01T00:00:00.000Z' };
    const read = (value: unknown) => readMark(newDir({ [WORK_DIR_MARKER]: JSON.stringify(value) }));
    expect(read({ ...good, extra: 1 })).toEqual(good);
    expect(Object.keys(read({ createdAt: good.createdAt, id: 'i-1', version: '0.1.0', tool: 'ailinux' })!)).toEqual(
      Object.keys(good),
    );
    for (const bad of [
      [good],
      null,
      'ailinux',
      { ...good, tool: 'Ailinux' },
      { ...good, version: 1 },
      { ...good, id: '' },
      { ...good, id: null },
      { ...good, createdAt: undefined },
    ])
      expect(usageError(() => read(bad)).message).toMatch(/it lacks \{tool: "ailinux"/);
  });
});

describe('claimAndLockWorkDir: the mark is checked again once the lock is held', () => {
  const opts = (dir: string, beforeLock?: () => Promise<void>) => ({
    lockFile: workPaths(dir).lockFile,
    command: 'ailinux build (test)',
    warn: () => undefined,
    notice: () => undefined,
    ...(beforeLock ? { beforeLock } : {}),
  });

  it('a marked work dir: the lock and the mark it was claimed with', async () => {
    const dir = newDir();
    const mark = writeMark(dir);
    const { mark: claimed, lock } = await claimAndLockWorkDir(dir, inspectWorkDir(dir), opts(dir));
    expect(claimed).toEqual(mark);
    expect(lockState(workPaths(dir).lockFile, 0)).toMatchObject({ kind: 'held', owner: { pid: process.pid } });
    lock.release();
  });

  it('an unmarked dir that holds only state/ with at most the lock in it (clean --all midway) is empty; anything more is not', () => {
    const dir = newDir({ 'state/lock': '', 'state/lock.owner': '{}', 'state/.lock.owner.12.ab': '' });
    expect(inspectWorkDir(dir)).toEqual({ kind: 'empty' });
    const emptyState = newDir();
    fs.mkdirSync(path.join(emptyState, 'state'));
    expect(inspectWorkDir(emptyState)).toEqual({ kind: 'empty' });
    for (const more of ['state/notes.txt', 'state/state.json', 'layers/x', 'README'])
      expect(inspectWorkDir(newDir({ 'state/lock': '', [more]: 'x' })).kind).toBe('foreign');
    expect(inspectWorkDir(newDir({ 'state/.keep': '' })).kind).toBe('foreign');
  });

  it('the mark removed between the claim and the lock (clean --all): it claims again, and holds a marked work dir', async () => {
    const dir = newDir();
    const first = writeMark(dir);
    // what a clean --all does meanwhile: it removes the mark under its lock, then lets the lock go
    const cleanAll = async () => fs.rmSync(path.join(dir, WORK_DIR_MARKER));
    const { mark, lock } = await claimAndLockWorkDir(dir, inspectWorkDir(dir), opts(dir, cleanAll));
    expect(mark.id).not.toBe(first.id);
    expect(readMark(dir)).toEqual(mark);
    expect(inspectWorkDir(dir)).toEqual({ kind: 'marked', mark });
    lock.release();
  });
});

describe('claimWorkDir on a full disk', () => {
  /** fs.writeSync that finds no room for the mark's temp file, as on a full disk. */
  function fullForMarks() {
    const write = fs.writeSync;
    return vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).includes(`${WORK_DIR_MARKER}.`))
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
      return (write as (...a: unknown[]) => number)(fd, ...rest);
    }) as typeof fs.writeSync);
  }

  it('a new work dir: DiskFullError naming the mark, and the directories it made are gone again', () => {
    const top = path.join(tmp, `full${++dirs}`);
    const dir = path.join(top, 'deeper');
    const spy = fullForMarks();
    try {
      const error = (() => {
        try {
          claimWorkDir(dir, inspectWorkDir(dir), () => undefined);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(DiskFullError);
      expect((error as DiskFullError).message).toBe(
        `no space left on device while marking the work dir ${dir} (${WORK_DIR_MARKER})`,
      );
      expect((error as DiskFullError).hint).toBe(`free some space where ${dir} lies, then run the command again`);
      expect(fs.existsSync(top)).toBe(false);
    } finally {
      spy.mockRestore();
    }
  });

  it('an empty or old work dir: DiskFullError, and no mark or temp mark is left (nothing half written)', () => {
    const empty = newDir();
    const old = oldWorkDir();
    const before = fs.readdirSync(old).sort();
    const spy = fullForMarks();
    try {
      for (const dir of [empty, old]) {
        expect(() => claimWorkDir(dir, inspectWorkDir(dir), () => undefined)).toThrow(DiskFullError);
      }
    } finally {
      spy.mockRestore();
    }
    expect(fs.readdirSync(empty)).toEqual([]);
    expect(fs.readdirSync(old).sort()).toEqual(before);
    // once there is room, the same claim goes through
    expect(claimWorkDir(empty, inspectWorkDir(empty), () => undefined)).toEqual(readMark(empty));
  });
});

describe('checkWorkDir: the argument itself', () => {
  it('refuses an empty or blank --work-dir, which would be the current directory', () => {
    for (const arg of ['', '   ']) {
      const error = usageError(() => checkWorkDir(arg));
      expect(error.message).toBe('the work dir is empty (--work-dir "")');
      expect(error.hint).toMatch(/\.\/ailinux-build/);
    }
  });

  it('refuses a regular file, and a path below one', () => {
    const file = path.join(newDir({ notes: 'x' }), 'notes');
    expect(usageError(() => checkWorkDir(file)).message).toBe(`the work dir ${file} is not a directory`);
    expect(usageError(() => checkWorkDir(path.join(file, 'build'))).message).toBe(
      `the work dir ${file}/build cannot be made: ${file} is not a directory`,
    );
  });

  it('still accepts a new path and an existing directory', () => {
    const dir = newDir();
    expect(checkWorkDir(dir)).toBe(dir);
    expect(checkWorkDir(path.join(dir, 'a', 'b'))).toBe(path.join(dir, 'a', 'b'));
  });
});

describe('removing entries of an owned work dir', () => {
  it('never follows a symlinked top-level entry: refused before anything is removed, the decoy survives', async () => {
    const decoy = newDir({ passwd: 'root:x:0:0\n', 'sub/shadow': 'root:*\n' });
    const before = snapshot(decoy);
    const dir = newDir({ 'iso/boot/x': 'iso\n' });
    fs.symlinkSync(decoy, path.join(dir, 'layers'));
    expect(() => assertRemovable(dir, BUILD_TREES)).toThrow(UnsafeOperationError);
    await expect(removeWorkEntries(dir, BUILD_TREES)).rejects.toThrow(
      /it is a symlink \(to .*\), and ailinux never follows/,
    );
    expect(snapshot(decoy)).toEqual(before);
    expect(fs.lstatSync(path.join(dir, 'layers')).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(path.join(dir, 'iso', 'boot', 'x')), 'refused before anything was removed').toBe(true);
  });

  it('removes only the names it makes, and names what it removed', async () => {
    const dir = newDir({ 'layers/a': '', 'tmp/b': '', 'mine.txt': 'keep\n', 'cache/c': '' });
    expect(await removeWorkEntries(dir, BUILD_TREES)).toEqual(['layers', 'tmp']);
    expect(fs.readdirSync(dir).sort()).toEqual(['cache', 'mine.txt']);
    expect(() => assertRemovable(dir, ['mine.txt' as WorkDirEntry])).toThrow(/ailinux does not make it/);
  });
});

describe('the state records the mark', () => {
  it('an older state without workDirMark still loads, and one with it too', () => {
    const state = validState();
    expect('state' in parseStateFile(state)).toBe(true);
    expect(parseStateFile({ ...state, workDirMark: { id: 'x', createdAt: 'y' } })).toMatchObject({
      state: { workDirMark: { id: 'x', createdAt: 'y' } },
    });
    expect(parseStateFile({ ...state, workDirMark: { id: 1 } })).toMatchObject({
      problems: [expect.stringMatching(/^field workDirMark\.id must be a string/), expect.anything()],
    });
  });
});
