/**
 * Removing build trees without ever reaching the host. The old scripts lost user sessions by
 * deleting through mounts of /dev and /run; here nothing is deleted under a path that still has a
 * mount, the walk never leaves the target's filesystem, and symlinks are unlinked, never followed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UnsafeOperationError } from '../errors.js';
import { isAtOrUnder, mountContaining, mountsUnder, readMountinfo, type MountEntry } from './mountinfo.js';

const MOUNTED_HINT = 'ailinux never unmounts what it did not mount; unmount it yourself or reboot, then retry';

/** How many entries are removed between two yields to the event loop, so a big rootfs does not freeze the UI. */
export const REMOVE_YIELD_EVERY = 2000;

export interface RemoveTreeOptions {
  /** The directory the target must lie strictly inside (the work dir). */
  within: string;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Throws UnsafeOperationError naming the mount point if anything is mounted at dir or beneath it, now. */
export function assertNoMountsUnder(dir: string, entries: readonly MountEntry[] = readMountinfo()): void {
  const real = realOrResolved(dir);
  const mounted = mountsUnder(real, entries);
  const first = mounted[0];
  if (first) {
    const list = mounted.map((m) => `${m.mountPoint} (${m.fsType})`).join(', ');
    throw new UnsafeOperationError(
      `refusing to remove ${dir}: ${first.mountPoint} is still mounted${mounted.length > 1 ? ` (all mounts there: ${list})` : ` (${first.fsType})`}`,
      { hint: MOUNTED_HINT },
    );
  }
}

function refuse(target: string, why: string, cause?: unknown): never {
  throw new UnsafeOperationError(`refusing to remove ${target}: ${why}`, {
    cause,
    hint: 'ailinux only deletes what lies inside its own work dir',
  });
}

/** Resolves and checks the target; returns its real path, or null when it does not exist. */
function checkTarget(target: string, within: string): string | null {
  const abs = path.resolve(target);
  if (abs === '/') refuse(target, 'it is the root directory');
  try {
    fs.lstatSync(abs);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
  let realWithin: string;
  let realTarget: string;
  try {
    realWithin = fs.realpathSync(within);
  } catch (error) {
    refuse(target, `the directory it must lie in, ${within}, cannot be resolved`, error);
  }
  try {
    realTarget = fs.realpathSync(abs);
  } catch (error) {
    // A dangling symlink: it points nowhere we could check.
    refuse(target, 'it is a symlink that cannot be resolved', error);
  }
  if (realTarget === '/') refuse(target, 'it resolves to the root directory');
  if (realWithin === '/') refuse(target, 'the directory it must lie in is the root directory');
  if (realTarget === realWithin || !isAtOrUnder(realTarget, realWithin)) {
    refuse(target, `it resolves to ${realTarget}, which is not strictly inside ${realWithin}`);
  }
  const entries = readMountinfo();
  const fsRoot = mountContaining(realWithin, entries);
  if (fsRoot && realTarget === fsRoot.mountPoint)
    refuse(target, `it is the root of the filesystem ${fsRoot.mountPoint}`);
  assertNoMountsUnder(realTarget, entries);
  return realTarget;
}

class TreeRemover {
  private count = 0;
  constructor(
    private readonly top: string,
    private readonly dev: number,
  ) {}

  /** Every REMOVE_YIELD_EVERY entries: look at the mount table again, then let the event loop run. */
  private async tick(): Promise<void> {
    if (++this.count % REMOVE_YIELD_EVERY !== 0) return;
    // A bind mount of the same filesystem has the same st_dev; only the mount table shows it.
    assertNoMountsUnder(this.top);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Removes a directory's content, then the directory; the caller has lstat'ed it as a directory. */
  async removeDir(dir: string, st: fs.Stats): Promise<void> {
    // A second, independent guard: whatever path the walk took, the directory it is about to
    // empty must really lie inside the tree being removed (a followed symlink would not).
    const real = fs.realpathSync(dir);
    if (real !== this.top && !real.startsWith(`${this.top}/`)) {
      throw new UnsafeOperationError(
        `refusing to remove ${this.top}: the walk reached ${dir}, which is really ${real}, outside it`,
      );
    }
    if (st.dev !== this.dev) {
      throw new UnsafeOperationError(
        `refusing to remove ${this.top}: ${dir} is on another filesystem (device ${st.dev}, not ${this.dev}); something was mounted there`,
        { hint: MOUNTED_HINT },
      );
    }
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (error) {
      if (errnoCode(error) !== 'EACCES') throw error;
      fs.chmodSync(dir, 0o700); // only reached when not root: make our own tree walkable
      names = fs.readdirSync(dir);
    }
    names.sort(); // a stable order makes a failed removal easy to reason about
    for (const name of names) {
      const child = path.join(dir, name);
      let cst: fs.Stats;
      try {
        cst = fs.lstatSync(child);
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') continue;
        throw error;
      }
      if (cst.isDirectory()) await this.removeDir(child, cst);
      else this.unlink(child, dir);
      await this.tick();
    }
    this.rmdir(dir);
  }

  /** Files, symlinks (never followed), overlay whiteouts (0:0 char devices), fifos, sockets. */
  unlink(file: string, parent: string): void {
    try {
      fs.unlinkSync(file);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT') return;
      if (code !== 'EACCES') throw error;
      fs.chmodSync(parent, 0o700);
      fs.unlinkSync(file);
    }
  }

  rmdir(dir: string): void {
    try {
      fs.rmdirSync(dir);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT') return;
      if (code === 'EBUSY') {
        throw new UnsafeOperationError(`refusing to remove ${this.top}: ${dir} is a mount point`, {
          cause: error,
          hint: MOUNTED_HINT,
        });
      }
      throw error;
    }
  }
}

/**
 * Removes a directory tree (or a single file or symlink) that lies strictly inside opts.within.
 * Refuses, with UnsafeOperationError, targets outside it, / and filesystem roots, and any tree
 * that has a mount at or below it. A missing target is not an error.
 */
export async function removeTree(target: string, opts: RemoveTreeOptions): Promise<void> {
  const real = checkTarget(target, opts.within);
  if (real === null) return;
  // The target itself may be a symlink to somewhere inside `within`: remove the link, not what it names.
  const abs = path.resolve(target);
  const own = fs.lstatSync(abs);
  if (own.isSymbolicLink()) {
    fs.unlinkSync(abs);
    return;
  }
  const st = fs.lstatSync(real);
  if (!st.isDirectory()) {
    fs.unlinkSync(real);
    return;
  }
  await new TreeRemover(real, st.dev).removeDir(real, st);
}
