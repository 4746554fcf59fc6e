/**
 * The descriptor-relative walk of removeTree and writeLayerFile (src/runtime/dir-fd.ts), with the race made
 * deterministic: a spy swaps a directory for a symlink to a decoy dir at the worst moment (right after the
 * walk listed it, or right after the write checked its parent). Every tree and decoy is in a temp dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UnsafeOperationError } from '../../src/errors.js';
import { writeLayerFile, type RootfsLayers } from '../../src/runtime/layers.js';
import { parseMountinfo, type MountEntry } from '../../src/runtime/mountinfo.js';
import { removeTree } from '../../src/runtime/safe-remove.js';

/** When set, the mount table removeTree reads instead of /proc/self/mountinfo. */
let mountTable: MountEntry[] | null = null;
vi.mock('../../src/runtime/mountinfo.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/runtime/mountinfo.js')>();
  return { ...actual, readMountinfo: () => mountTable ?? actual.readMountinfo() };
});

let tmp = '';
let within = '';
let decoy = '';

function write(file: string, content = 'x'): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

function decoyNames(): string[] {
  return fs.readdirSync(decoy).sort();
}

/** The path a /proc/self/fd/<fd>/<name> path stands for (the walk's own view), or p itself. */
function realOf(p: fs.PathLike): string {
  const m = /^\/proc\/self\/fd\/(\d+)(\/.*)?$/.exec(String(p));
  if (!m) return path.resolve(String(p));
  return `${fs.readlinkSync(`/proc/self/fd/${m[1]}`)}${m[2] ?? ''}`;
}

/** Swaps dir for a symlink to the decoy dir (keeping the real dir beside it, as an attacker would). */
function swapForSymlink(dir: string): void {
  fs.renameSync(dir, `${dir}~`);
  fs.symlinkSync(decoy, dir);
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-walk-test-'));
  within = path.join(tmp, 'work');
  decoy = path.join(tmp, 'decoy');
  fs.mkdirSync(within);
  for (const name of ['group', 'passwd', 'shadow', 'sudoers']) write(path.join(decoy, name), `decoy ${name}\n`);
});

afterEach(() => {
  vi.restoreAllMocks();
  mountTable = null;
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('removeTree walks by descriptors', () => {
  it('unlinks a symlink in the tree and never follows it, to a file or to a dir', async () => {
    const tree = path.join(within, 'layers/x');
    write(path.join(tree, 'root/etc/hostname'));
    fs.symlinkSync(decoy, path.join(tree, 'root/home-link'));
    fs.symlinkSync(path.join(decoy, 'passwd'), path.join(tree, 'root/etc/passwd'));
    await removeTree(tree, { within });
    expect(fs.existsSync(tree)).toBe(false);
    expect(decoyNames()).toEqual(['group', 'passwd', 'shadow', 'sudoers']);
  });

  it('a dir swapped for a symlink right after it was listed: the decoys survive and the tree goes', async () => {
    const victim = path.join(within, 'layers/x/root/tmp/d');
    for (const name of ['a', 'group', 'passwd', 'shadow', 'sudoers']) write(path.join(victim, name));
    const readdir = fs.readdirSync;
    let swapped = false;
    vi.spyOn(fs, 'readdirSync').mockImplementation(((p: fs.PathLike, o?: unknown) => {
      const listing = readdir(p, o as never);
      if (!swapped && realOf(p) === victim) {
        swapped = true;
        swapForSymlink(victim); // the walk goes on to unlink the names it listed
      }
      return listing;
    }) as typeof fs.readdirSync);
    const error = await removeTree(path.join(within, 'layers'), { within }).catch((e: unknown) => e);
    expect(swapped).toBe(true);
    expect(decoyNames()).toEqual(['group', 'passwd', 'shadow', 'sudoers']);
    expect(error).toBeUndefined();
    expect(fs.readdirSync(within)).toEqual([]); // the symlink was unlinked, the moved dir removed too
  });

  it('a dir swapped for a symlink between its listing in the parent and its open: looked at again, unlinked', async () => {
    const victim = path.join(within, 'layers/x/d');
    write(path.join(victim, 'passwd'));
    const open = fs.openSync;
    let swapped = false;
    vi.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      if (!swapped && /^\/proc\/self\/fd\/\d+\/d$/.test(String(p)) && realOf(p) === victim) {
        swapped = true;
        swapForSymlink(victim);
      }
      return open(p, flags ?? 'r', mode);
    }) as typeof fs.openSync);
    await removeTree(path.join(within, 'layers'), { within });
    expect(swapped).toBe(true);
    expect(decoyNames()).toEqual(['group', 'passwd', 'shadow', 'sudoers']);
    expect(fs.readdirSync(within)).toEqual([]);
  });

  it('does not cross into another filesystem: a dir on another device is refused before anything in it goes', async () => {
    const tree = path.join(within, 'layers/x');
    write(path.join(tree, 'a-first'));
    write(path.join(tree, 'mnt/keep'));
    const fstat = fs.fstatSync;
    vi.spyOn(fs, 'fstatSync').mockImplementation(((fd: number, o?: unknown) => {
      const st = fstat(fd, o as never) as fs.Stats;
      // what a mount there would show: the directory's own device differs from the tree's
      if (realOf(`/proc/self/fd/${fd}`) === path.join(tree, 'mnt')) return Object.assign(st, { dev: st.dev + 1 });
      return st;
    }) as typeof fs.fstatSync);
    const error = await removeTree(tree, { within }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeOperationError);
    expect((error as Error).message).toMatch(/\/layers\/x\/mnt is on another filesystem/);
    expect(fs.existsSync(path.join(tree, 'mnt/keep'))).toBe(true);
  });

  it('refuses a tree with a mount below it before it removes or even opens anything', async () => {
    const tree = path.join(within, 'layers/x');
    write(path.join(tree, 'file'));
    const real = fs.realpathSync(tree);
    mountTable = parseMountinfo(
      ['27 1 254:0 / / rw,relatime - ext4 /dev/vda rw', `90 27 0:50 / ${real}/proc rw - proc proc rw`].join('\n'),
    );
    const open = vi.spyOn(fs, 'openSync');
    const error = await removeTree(tree, { within }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeOperationError);
    expect((error as Error).message).toContain(`${real}/proc is still mounted`);
    expect(open).not.toHaveBeenCalled();
    expect(fs.existsSync(path.join(tree, 'file'))).toBe(true);
  });

  it('refuses when a directory on the path from the work dir to the target was swapped for a symlink', async () => {
    write(path.join(within, 'layers/x/file'));
    const real = fs.realpathSync;
    let swapped = false;
    vi.spyOn(fs, 'realpathSync').mockImplementation(((p: fs.PathLike, o?: unknown) => {
      const r = real(p, o as never);
      // after the checks resolved the target, layers/ becomes a symlink to the decoy
      if (!swapped && String(p) === path.join(within, 'layers')) {
        swapped = true;
        swapForSymlink(path.join(within, 'layers'));
      }
      return r;
    }) as typeof fs.realpathSync);
    const error = await removeTree(path.join(within, 'layers/x'), { within }).catch((e: unknown) => e);
    expect(swapped).toBe(true);
    expect(error).toBeInstanceOf(UnsafeOperationError);
    expect((error as Error).message).toMatch(/was replaced while it was being removed/);
    expect(decoyNames()).toEqual(['group', 'passwd', 'shadow', 'sudoers']);
  });
});

describe('writeLayerFile writes by descriptors', () => {
  function layersIn(upper: string): RootfsLayers {
    return {
      own: { stepId: 'identity', dir: path.dirname(upper), upper, work: null },
      below: [],
      mountPoint: '/nonexistent',
    };
  }

  it('replaces a symlink at the file itself and never writes through it', () => {
    const upper = path.join(within, 'layers/identity/upper');
    fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
    fs.symlinkSync(path.join(decoy, 'passwd'), path.join(upper, 'etc/passwd'));
    writeLayerFile(layersIn(upper), 'etc/passwd', 'root:x:0:0::/root:/bin/sh\n', 0o644);
    expect(fs.lstatSync(path.join(upper, 'etc/passwd')).isFile()).toBe(true);
    expect(fs.statSync(path.join(upper, 'etc/passwd')).mode & 0o7777).toBe(0o644);
    expect(fs.readFileSync(path.join(decoy, 'passwd'), 'utf8')).toBe('decoy passwd\n');
    expect(fs.readdirSync(path.join(upper, 'etc'))).toEqual(['passwd']); // no temp file left
  });

  it('a parent swapped for a symlink right before the write: the write stays in the layer, the decoy is untouched', () => {
    const upper = path.join(within, 'layers/identity/upper');
    const desktop = path.join(upper, 'home/racer/Desktop');
    fs.mkdirSync(desktop, { recursive: true });
    let swapped = false;
    /** The first touch of anything inside Desktop, once every check is done: the worst moment for a swap. */
    const swapOnFirstTouch =
      <F extends (...args: never[]) => unknown>(real: F) =>
      (...args: Parameters<F>): ReturnType<F> => {
        const p = args[0] as unknown;
        if (!swapped && (typeof p === 'string' || p instanceof URL) && realOf(p).startsWith(`${desktop}/`)) {
          swapped = true;
          swapForSymlink(desktop);
        }
        return real(...args) as ReturnType<F>;
      };
    for (const name of ['openSync', 'rmSync', 'unlinkSync', 'writeFileSync'] as const) {
      const real = fs[name].bind(fs) as (...args: never[]) => unknown;
      vi.spyOn(fs, name).mockImplementation(swapOnFirstTouch(real) as never);
    }
    try {
      writeLayerFile(layersIn(upper), 'home/racer/Desktop/passwd', 'written by the step\n', 0o644);
    } catch {
      // refusing is fine too; writing through the symlink is not
    }
    vi.restoreAllMocks();
    expect(swapped).toBe(true);
    expect(decoyNames()).toEqual(['group', 'passwd', 'shadow', 'sudoers']);
    expect(fs.readFileSync(path.join(decoy, 'passwd'), 'utf8')).toBe('decoy passwd\n');
  });

  it('a parent that is a symlink when the walk reaches it is refused', () => {
    const upper = path.join(within, 'layers/identity/upper');
    const desktop = path.join(upper, 'home/racer/Desktop');
    fs.mkdirSync(desktop, { recursive: true });
    const open = fs.openSync;
    let swapped = false;
    // the lookup takes a handle on the parent (O_PATH, through its dir's descriptor) last; the swap lands right after it
    vi.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode | null) => {
      const fd = open(p, flags ?? 'r', mode);
      if (!swapped && String(p).endsWith('/Desktop') && (Number(flags) & 0o10000000) !== 0) {
        swapped = true;
        swapForSymlink(desktop);
      }
      return fd;
    }) as typeof fs.openSync);
    expect(() => writeLayerFile(layersIn(upper), 'home/racer/Desktop/passwd', 'pwned\n', 0o644)).toThrow(
      /home\/racer\/Desktop is not a directory in the step's own layer/,
    );
    expect(swapped).toBe(true);
    expect(fs.readFileSync(path.join(decoy, 'passwd'), 'utf8')).toBe('decoy passwd\n');
  });

  it('writes bytes and text with the exact mode, whatever the umask', () => {
    const upper = path.join(within, 'layers/identity/upper');
    fs.mkdirSync(upper, { recursive: true });
    const old = process.umask(0o077);
    try {
      writeLayerFile(layersIn(upper), 'etc/sudoers.d/live', 'x ALL=(ALL) ALL\n', 0o440);
      writeLayerFile(layersIn(upper), 'usr/share/logo.png', new Uint8Array([137, 80, 78, 71]), 0o644);
    } finally {
      process.umask(old);
    }
    expect(fs.statSync(path.join(upper, 'etc/sudoers.d/live')).mode & 0o7777).toBe(0o440);
    expect([...fs.readFileSync(path.join(upper, 'usr/share/logo.png'))]).toEqual([137, 80, 78, 71]);
    expect(fs.statSync(path.join(upper, 'usr/share/logo.png')).mode & 0o7777).toBe(0o644);
  });
});
