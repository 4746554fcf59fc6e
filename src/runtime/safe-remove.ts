/**
 * Removing build trees without ever reaching the host. The old scripts lost user sessions by
 * deleting through mounts of /dev and /run; here nothing is deleted under a path that still has a
 * mount, the walk never leaves the target's filesystem, and symlinks are unlinked, never followed:
 * the walk works relative to open directories, so a path swapped after a check cannot redirect it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UnsafeOperationError } from '../errors.js';
import { at, chmodDirAt, errnoCode, fdPath, openDir, openDirAt, openDirBeneath } from './dir-fd.js';
import { isAtOrUnder, mountContaining, mountsUnder, readMountinfo, type MountEntry } from './mountinfo.js';

const MOUNTED_HINT = 'ailinux never unmounts what it did not mount; unmount it yourself or reboot, then retry';
const REFILLED_HINT =
  'stop what writes into the work dir (a process of the image, another user in a world-writable dir of a layer), then run the command again';

/** How many entries are removed between two yields to the event loop, so a big rootfs does not freeze the UI. */
export const REMOVE_YIELD_EVERY = 2000;

export interface RemoveTreeOptions {
  /** The directory the target must lie strictly inside (the work dir). */
  within: string;
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

/** What readdir says an entry is; undefined when the filesystem does not say (then lstat tells). */
function kindOfDirent(entry: fs.Dirent): 'dir' | 'other' | undefined {
  if (entry.isDirectory()) return 'dir';
  const known =
    entry.isFile() ||
    entry.isSymbolicLink() ||
    entry.isCharacterDevice() ||
    entry.isBlockDevice() ||
    entry.isFIFO() ||
    entry.isSocket();
  return known ? 'other' : undefined;
}

/** How often one entry is looked at again when it keeps changing under the walk (someone racing it). */
const MAX_TRIES = 16;

/**
 * How often a directory is emptied again when something was put in it while it was emptied (ENOTEMPTY at its
 * rmdir): a user who may write into it (a world-writable tmp of the rootfs) renaming and swapping entries there.
 * Each round is cheap, since only what came back is removed; past this, the removal stops with a clear error.
 */
const MAX_REFILLS = 1000;

/**
 * The walk holds each directory open and works relative to that descriptor (see dir-fd.ts), so a
 * directory that someone swaps for a symlink after a check is never entered: the swapped name is
 * unlinked, or its open fails and it is looked at again.
 */
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

  /**
   * Removes the entry name of the directory parentFd, whatever it is now; shown names it in messages.
   * known is what readdir said it was, which saves an lstat; a wrong guess only costs one retry.
   */
  async removeEntry(parentFd: number, name: string, shown: string, known?: 'dir' | 'other'): Promise<void> {
    let guess = known;
    let lastError: unknown;
    let refills = 0;
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const kind = guess ?? this.kindOf(parentFd, name);
      guess = undefined;
      if (kind === null) return;
      if (kind === 'other') {
        try {
          fs.unlinkSync(at(parentFd, name));
          return;
        } catch (error) {
          const code = errnoCode(error);
          if (code === 'ENOENT') return;
          lastError = error;
          if (code === 'EISDIR') continue; // a directory now: look again
          if (code !== 'EACCES') throw error;
          fs.fchmodSync(parentFd, 0o700); // only reached when not root: make our own tree writable
          continue;
        }
      }
      let fd: number;
      try {
        fd = openDirAt(parentFd, name);
      } catch (error) {
        const code = errnoCode(error);
        if (code === 'ENOENT') return;
        lastError = error;
        if (code === 'ENOTDIR' || code === 'ELOOP') continue; // swapped for a symlink or a file: look again
        if (code !== 'EACCES') throw error;
        chmodDirAt(parentFd, name, 0o700); // only reached when not root: make our own tree readable
        continue;
      }
      try {
        await this.emptyDir(fd, shown);
      } finally {
        fs.closeSync(fd);
      }
      try {
        fs.rmdirSync(at(parentFd, name));
        return;
      } catch (error) {
        const code = errnoCode(error);
        if (code === 'ENOENT') return;
        if (code === 'EBUSY') {
          throw new UnsafeOperationError(`refusing to remove ${this.top}: ${shown} is a mount point`, {
            cause: error,
            hint: MOUNTED_HINT,
          });
        }
        lastError = error;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          // something was put in it while it was emptied: empty it again, on a budget of its own
          if (++refills >= MAX_REFILLS) {
            throw new UnsafeOperationError(
              `could not remove ${this.top}: ${shown} was refilled ${refills} times while it was emptied; something keeps writing into it`,
              { cause: error, hint: REFILLED_HINT },
            );
          }
          tries--;
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        // something else took its place while it was emptied: look again
        if (code === 'ENOTDIR') continue;
        if (code !== 'EACCES') throw error;
        fs.fchmodSync(parentFd, 0o700);
      }
    }
    throw lastError;
  }

  private kindOf(parentFd: number, name: string): 'dir' | 'other' | null {
    try {
      return fs.lstatSync(at(parentFd, name)).isDirectory() ? 'dir' : 'other';
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  /** Removes everything in the directory fd holds; shown is the path it had when the walk reached it. */
  private async emptyDir(fd: number, shown: string): Promise<void> {
    // A second, independent guard: whatever happened to its path, the directory about to be
    // emptied must really lie inside the tree being removed.
    const real = fs.readlinkSync(fdPath(fd));
    if (real !== this.top && !real.startsWith(`${this.top}/`)) {
      throw new UnsafeOperationError(
        `refusing to remove ${this.top}: the walk reached ${shown}, which is really ${real}, outside it`,
      );
    }
    const st = fs.fstatSync(fd);
    if (st.dev !== this.dev) {
      throw new UnsafeOperationError(
        `refusing to remove ${this.top}: ${shown} is on another filesystem (device ${st.dev}, not ${this.dev}); something was mounted there`,
        { hint: MOUNTED_HINT },
      );
    }
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(fdPath(fd), { withFileTypes: true });
    } catch (error) {
      if (errnoCode(error) !== 'EACCES') throw error;
      fs.fchmodSync(fd, 0o700); // only reached when not root: make our own tree walkable
      entries = fs.readdirSync(fdPath(fd), { withFileTypes: true });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // a stable order is easy to reason about
    for (const entry of entries) {
      await this.removeEntry(fd, entry.name, `${shown}/${entry.name}`, kindOfDirent(entry));
      await this.tick();
    }
  }
}

/**
 * Removes a directory tree (or a single file or symlink) that lies strictly inside opts.within.
 * Refuses, with UnsafeOperationError, targets outside it, / and filesystem roots, and any tree
 * that has a mount at or below it. A missing target is not an error. The walk goes from the
 * within directory down by descriptors, so nothing swapped in on the way can redirect it.
 */
export async function removeTree(target: string, opts: RemoveTreeOptions): Promise<void> {
  const real = checkTarget(target, opts.within);
  if (real === null) return;
  // The target itself may be a symlink to somewhere inside `within`: remove the link, not what it names.
  const abs = path.resolve(target);
  const realWithin = fs.realpathSync(opts.within);
  const parent = realOrResolved(path.dirname(abs));
  if (!isAtOrUnder(parent, realWithin)) refuse(target, `it lies in ${parent}, which is not inside ${realWithin}`);
  const withinFd = openDir(realWithin);
  let parentFd: number;
  try {
    parentFd = openDirBeneath(withinFd, path.relative(realWithin, parent));
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'ENOTDIR' && code !== 'ELOOP' && code !== 'ENOENT') throw error;
    refuse(target, `a directory on its path, under ${realWithin}, was replaced while it was being removed`, error);
  } finally {
    fs.closeSync(withinFd);
  }
  try {
    const dev = fs.fstatSync(parentFd).dev;
    await new TreeRemover(real, dev).removeEntry(parentFd, path.basename(abs), real);
  } finally {
    fs.closeSync(parentFd);
  }
}
