import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CorruptStateFileError, DurableJsonFileSync, tempFileFor } from '../../state/durable-adapter.js';

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-adapter-'));
  file = path.join(dir, 'state.json');
});

afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Op =
  | { op: 'open'; path: string; fd: number }
  | { op: 'fsync'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'write'; path: string };

/** Records the fs calls of a write, with the path behind every fd, calling through to the real fs. */
function recordFsCalls(): Op[] {
  const ops: Op[] = [];
  const fdPaths = new Map<number, string>();
  const realOpen = fs.openSync.bind(fs);
  const realFsync = fs.fsyncSync.bind(fs);
  const realRename = fs.renameSync.bind(fs);
  const realWrite = fs.writeSync.bind(fs) as (...args: unknown[]) => number;
  vi.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, flags: fs.OpenMode = 'r', mode?: fs.Mode | null) => {
    const fd = realOpen(p, flags, mode);
    fdPaths.set(fd, String(p));
    ops.push({ op: 'open', path: String(p), fd });
    return fd;
  }) as typeof fs.openSync);
  vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
    ops.push({ op: 'write', path: fdPaths.get(fd) ?? `fd ${fd}` });
    return realWrite(fd, ...rest);
  }) as typeof fs.writeSync);
  vi.spyOn(fs, 'fsyncSync').mockImplementation((fd: number) => {
    ops.push({ op: 'fsync', path: fdPaths.get(fd) ?? `fd ${fd}` });
    realFsync(fd);
  });
  vi.spyOn(fs, 'renameSync').mockImplementation((from: fs.PathLike, to: fs.PathLike) => {
    ops.push({ op: 'rename', from: String(from), to: String(to) });
    realRename(from, to);
  });
  return ops;
}

describe('DurableJsonFileSync.read', () => {
  it('returns null when the file does not exist', () => {
    expect(new DurableJsonFileSync<unknown>(file).read()).toBeNull();
  });

  it('returns the parsed JSON', () => {
    fs.writeFileSync(file, '{"a":[1,2],"b":null}');
    expect(new DurableJsonFileSync<unknown>(file).read()).toEqual({ a: [1, 2], b: null });
  });

  it('throws CorruptStateFileError with the raw length on invalid JSON', () => {
    fs.writeFileSync(file, '{"a": [1, 2');
    let caught: unknown;
    try {
      new DurableJsonFileSync<unknown>(file).read();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CorruptStateFileError);
    expect((caught as CorruptStateFileError).rawLength).toBe(11);
    expect((caught as CorruptStateFileError).file).toBe(file);
  });

  it('throws other read errors as they are', () => {
    fs.mkdirSync(file);
    expect(() => new DurableJsonFileSync<unknown>(file).read()).toThrow(/EISDIR/);
  });
});

describe('DurableJsonFileSync.write', () => {
  it('writes pretty JSON that reads back', () => {
    const adapter = new DurableJsonFileSync<{ n: number; list: string[] }>(file);
    adapter.write({ n: 1, list: ['x'] });
    expect(fs.readFileSync(file, 'utf8')).toBe(JSON.stringify({ n: 1, list: ['x'] }, null, 2));
    expect(adapter.read()).toEqual({ n: 1, list: ['x'] });
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('writes a temp file, fsyncs it, renames it over the target, then fsyncs the directory', () => {
    fs.writeFileSync(file, '{"old":true}');
    const ops = recordFsCalls();
    const tmp = tempFileFor(file);
    expect(path.dirname(tmp)).toBe(dir);
    expect(path.basename(tmp)).toBe(`.state.json.${process.pid}.tmp`);

    new DurableJsonFileSync<unknown>(file).write({ old: false });

    expect(ops.filter((o) => o.op === 'write').map((o) => (o as { path: string }).path)).toEqual([tmp]);
    const fsyncs = ops.filter((o) => o.op === 'fsync').map((o) => (o as { path: string }).path);
    expect(fsyncs).toEqual([tmp, dir]);
    const renameAt = ops.findIndex((o) => o.op === 'rename');
    expect(ops[renameAt]).toEqual({ op: 'rename', from: tmp, to: file });
    const fileFsyncAt = ops.findIndex((o) => o.op === 'fsync' && o.path === tmp);
    const dirFsyncAt = ops.findIndex((o) => o.op === 'fsync' && o.path === dir);
    expect(fileFsyncAt).toBeLessThan(renameAt);
    expect(dirFsyncAt).toBeGreaterThan(renameAt);
    // the rename is the last step that touches the target: nothing but the directory fsync follows it
    expect(ops.slice(renameAt + 1).filter((o) => o.op !== 'open' && !(o.op === 'fsync' && o.path === dir))).toEqual([]);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ old: false });
  });

  it('leaves the target untouched until the rename', () => {
    fs.writeFileSync(file, '{"old":true}');
    const seenAtFileFsync: string[] = [];
    const realFsync = fs.fsyncSync.bind(fs);
    vi.spyOn(fs, 'fsyncSync').mockImplementation((fd: number) => {
      if (fs.fstatSync(fd).isFile()) seenAtFileFsync.push(fs.readFileSync(file, 'utf8'));
      realFsync(fd);
    });
    new DurableJsonFileSync<unknown>(file).write({ old: false });
    expect(seenAtFileFsync).toEqual(['{"old":true}']);
  });

  it('keeps the previous file and leaves no temp file when the write fails (disk full)', () => {
    fs.writeFileSync(file, '{"old":true}');
    vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    expect(() => new DurableJsonFileSync<unknown>(file).write({ old: false })).toThrow(/ENOSPC/);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"old":true}');
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('writes everything when the disk takes it in pieces', () => {
    const realWrite = fs.writeSync.bind(fs) as (fd: number, buffer: Buffer, offset: number, length: number) => number;
    vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buffer: Buffer, offset: number, length: number) =>
      realWrite(fd, buffer, offset, Math.min(length, 7))) as typeof fs.writeSync);
    const data = { text: 'a'.repeat(100), list: [1, 2, 3] };
    new DurableJsonFileSync<unknown>(file).write(data);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(data);
  });
});
