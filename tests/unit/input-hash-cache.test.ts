import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INPUT_HASHES_FILE, InputHashCache, RACY_WINDOW_NS } from '../../src/engine/input-hash-cache.js';

const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
/** A clock well past every file's times, so the entries are stored (not racy). */
const later = () => BigInt(Date.now()) * 1_000_000n + 10n * RACY_WINDOW_NS;

let dir: string;
let cacheDir: string;
beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-hash-cache-')));
  cacheDir = path.join(dir, 'cache');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Waits until the file's ctime has moved on from before (timestamps are as coarse as the kernel's tick). */
async function ctimeMovedOn(file: string, before: bigint): Promise<void> {
  for (let i = 0; i < 100 && fs.statSync(file, { bigint: true }).ctimeNs === before; i++) {
    await new Promise((r) => setTimeout(r, 5));
    const st = fs.statSync(file);
    fs.utimesSync(file, st.atime, st.mtime); // sets ctime to now, leaves mtime
  }
  expect(fs.statSync(file, { bigint: true }).ctimeNs).not.toBe(before);
}

describe('input hash cache', () => {
  it('hashes a file once per build, and reuses the stored hash in the next build without reading it', () => {
    const file = path.join(dir, 'motd');
    fs.writeFileSync(file, 'hello\n');
    const first = InputHashCache.forWorkDir(cacheDir, later);
    expect(first.hashFile(file)).toBe(sha('hello\n'));
    expect(first.hashFile(file)).toBe(sha('hello\n'));
    expect(first.stats).toEqual({ reads: 1, hits: 1 });
    first.save();

    const second = InputHashCache.forWorkDir(cacheDir, later);
    expect(second.hashFile(file)).toBe(sha('hello\n'));
    expect(second.stats).toEqual({ reads: 0, hits: 1 });
  });

  it('a hit does not read the file: only its O_PATH handle is opened, no open for reading', () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'abc');
    const first = InputHashCache.forWorkDir(cacheDir, later);
    first.hashFile(file);
    first.save();
    // every open for reading now throws; the hit must not need one
    const second = InputHashCache.forWorkDir(cacheDir, later);
    const openSync = fs.openSync;
    const opened: string[] = [];
    (fs as { openSync: typeof fs.openSync }).openSync = ((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      opened.push(String(p));
      if (typeof flags === 'number' && (flags & 0o10000000) === 0) throw new Error(`read open of ${String(p)}`);
      return openSync(p, flags as fs.OpenMode, mode);
    }) as typeof fs.openSync;
    try {
      expect(second.hashFile(file)).toBe(sha('abc'));
    } finally {
      (fs as { openSync: typeof fs.openSync }).openSync = openSync;
    }
    expect(second.stats).toEqual({ reads: 0, hits: 1 });
    expect(opened).toEqual([file]); // the O_PATH handle only
  });

  it('catches a same-size change whose mtime was put back (touch -d) by its ctime', async () => {
    const file = path.join(dir, 'motd');
    fs.writeFileSync(file, 'version A\n');
    const old = new Date('2024-01-02T03:04:05Z');
    fs.utimesSync(file, old, old);
    const first = InputHashCache.forWorkDir(cacheDir, later);
    expect(first.hashFile(file)).toBe(sha('version A\n'));
    first.save();
    const before = fs.statSync(file, { bigint: true });

    fs.writeFileSync(file, 'version B\n'); // same size
    fs.utimesSync(file, old, old); // touch -d: the mtime put back
    await ctimeMovedOn(file, before.ctimeNs);
    const after = fs.statSync(file, { bigint: true });
    expect(after.size).toBe(before.size);
    expect(after.mtimeNs).toBe(before.mtimeNs);
    expect(after.ino).toBe(before.ino);

    const second = InputHashCache.forWorkDir(cacheDir, later);
    expect(second.hashFile(file)).toBe(sha('version B\n'));
    expect(second.stats).toEqual({ reads: 1, hits: 0 });
  });

  it('a file replaced by another (new inode, same size and times) is hashed again', () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'one');
    const first = InputHashCache.forWorkDir(cacheDir, later);
    first.hashFile(file);
    first.save();
    fs.writeFileSync(`${file}.new`, 'two');
    fs.renameSync(`${file}.new`, file);
    const second = InputHashCache.forWorkDir(cacheDir, later);
    expect(second.hashFile(file)).toBe(sha('two'));
    expect(second.stats.reads).toBe(1);
  });

  it('does not store a hash made within the racy window of the file changing', () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'fresh');
    const now = () => BigInt(Date.now()) * 1_000_000n;
    const first = InputHashCache.forWorkDir(cacheDir, now);
    first.hashFile(file);
    first.save();
    const stored = JSON.parse(fs.readFileSync(path.join(cacheDir, INPUT_HASHES_FILE), 'utf8'));
    expect(stored).toEqual({ version: 1, entries: {} });
    const second = InputHashCache.forWorkDir(cacheDir, later);
    second.hashFile(file);
    expect(second.stats.reads).toBe(1);
  });

  it('keeps only the entries this build used, in the documented format, written by rename', () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    fs.writeFileSync(a, 'a');
    fs.writeFileSync(b, 'b');
    const first = InputHashCache.forWorkDir(cacheDir, later);
    first.hashFile(a);
    first.hashFile(b);
    first.save();
    const second = InputHashCache.forWorkDir(cacheDir, later);
    second.hashFile(a);
    second.save();
    const stored = JSON.parse(fs.readFileSync(path.join(cacheDir, INPUT_HASHES_FILE), 'utf8'));
    expect(Object.keys(stored.entries)).toEqual([a]);
    const st = fs.statSync(a, { bigint: true });
    expect(stored.entries[a]).toMatchObject({
      dev: String(st.dev),
      ino: String(st.ino),
      size: '1',
      mtimeNs: String(st.mtimeNs),
      ctimeNs: String(st.ctimeNs),
      sha256: sha('a'),
    });
    expect(fs.readdirSync(cacheDir)).toEqual([INPUT_HASHES_FILE]); // no temp file left
  });

  it('a corrupt or foreign cache file is an empty cache, never trusted in part', () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'x');
    const first = InputHashCache.forWorkDir(cacheDir, later);
    first.hashFile(file);
    first.save();
    const storePath = path.join(cacheDir, INPUT_HASHES_FILE);
    const stored = JSON.parse(fs.readFileSync(storePath, 'utf8'));
    stored.entries['/elsewhere'] = { sha256: 'not hex' };
    fs.writeFileSync(storePath, JSON.stringify(stored));
    const second = InputHashCache.forWorkDir(cacheDir, later);
    second.hashFile(file);
    expect(second.stats.reads).toBe(1);
    fs.writeFileSync(storePath, '{ not json');
    const third = InputHashCache.forWorkDir(cacheDir, later);
    third.hashFile(file);
    expect(third.stats.reads).toBe(1);
  });

  it('never follows a symlink at the file itself, nor reads the cache file through one', () => {
    const target = path.join(dir, 'target');
    fs.writeFileSync(target, 't');
    fs.symlinkSync(target, path.join(dir, 'link'));
    const cache = InputHashCache.forWorkDir(cacheDir, later);
    expect(() => cache.hashFile(path.join(dir, 'link'))).toThrow(/not a regular file/);
    fs.mkdirSync(cacheDir);
    const decoy = path.join(dir, 'decoy.json');
    fs.writeFileSync(decoy, JSON.stringify({ version: 1, entries: {} }));
    fs.symlinkSync(decoy, path.join(cacheDir, INPUT_HASHES_FILE));
    const viaLink = InputHashCache.forWorkDir(cacheDir, later);
    viaLink.hashFile(target);
    viaLink.save(); // replaces the link by rename, never writes through it
    expect(fs.readFileSync(decoy, 'utf8')).toBe(JSON.stringify({ version: 1, entries: {} }));
    expect(fs.lstatSync(path.join(cacheDir, INPUT_HASHES_FILE)).isFile()).toBe(true);
  });
});
