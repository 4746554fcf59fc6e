/**
 * File operations relative to an open directory, which a path string that someone swaps cannot redirect.
 * Node has no openat or unlinkat; `/proc/self/fd/<fd>/<name>` is their equivalent: the kernel resolves the
 * descriptor's magic link to the very directory it holds, whatever happened to its path since, and looks
 * up only the last component by name. Unlink, rmdir, rename, mkdir and lstat never follow that component;
 * opens here add O_NOFOLLOW. So a directory swapped for a symlink is unlinked, or fails the open, and is
 * never entered.
 */
import fs from 'node:fs';
import path from 'node:path';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

/** Opening a directory here never follows a symlink, and fails on anything that is not a directory. */
export const DIR_OPEN_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

/** O_PATH (Linux; not in fs.constants): a handle to an inode that needs no read permission on it. */
const O_PATH = 0o10000000;

/** The path through which the kernel reaches the directory behind dirFd itself. */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** The path of name inside the directory dirFd holds: only name is looked up as a string. */
export function at(dirFd: number, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0'))
    throw new Error(`not a single file name: ${JSON.stringify(name)}`);
  return `${fdPath(dirFd)}/${name}`;
}

export function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/**
 * Opens an absolute directory path that the caller trusts up to its last component (the work dir, a
 * layer root), refusing a symlink there; then checks that /proc really shows this descriptor, so the
 * fd-relative paths cannot silently name nothing (a missing /proc would make every entry look absent).
 */
export function openDir(dir: string): number {
  const fd = fs.openSync(dir, DIR_OPEN_FLAGS);
  try {
    const viaProc = fs.statSync(fdPath(fd));
    const own = fs.fstatSync(fd);
    if (viaProc.ino !== own.ino || viaProc.dev !== own.dev) throw new Error(`${fdPath(fd)} is not ${dir}`);
  } catch (error) {
    fs.closeSync(fd);
    throw new Error(`cannot reach ${dir} through /proc/self/fd (is /proc mounted?): ${(error as Error).message}`, {
      cause: error,
    });
  }
  return fd;
}

/** Opens the directory name inside dirFd; ENOTDIR or ELOOP when it is a symlink or not a directory. */
export function openDirAt(dirFd: number, name: string): number {
  return fs.openSync(at(dirFd, name), DIR_OPEN_FLAGS);
}

/** Walks rel ('a/b/c', '' for dirFd itself) down from dirFd one directory at a time; returns a new descriptor. */
export function openDirBeneath(dirFd: number, rel: string): number {
  // a second descriptor of the same directory (the magic link is the last component: no O_NOFOLLOW here)
  let fd = fs.openSync(fdPath(dirFd), O_RDONLY | O_DIRECTORY);
  for (const part of rel === '' ? [] : rel.split('/')) {
    try {
      const next = openDirAt(fd, part);
      fs.closeSync(fd);
      fd = next;
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }
  return fd;
}

/** Why openDirUnder could not open a directory: the base itself, or a component of the path below it. */
export interface DirUnderProblem {
  /** The path as the caller resolved it (the base's real path joined with dir), for the message. */
  where: string;
  /** 'does not exist', 'is not a directory (or <part> on the way is a symlink …)', 'cannot be opened (EACCES)' */
  problem: string;
  /** True when the base directory itself could not be reached. */
  base: boolean;
}

/**
 * Opens dir (relative to baseDir, whose real path is taken first) one component at a time, never through a
 * symlink, and returns a descriptor of it. On failure it calls refuse, which must throw the caller's own error.
 */
export function openDirUnder(
  baseDir: string,
  dir: string,
  refuse: (p: DirUnderProblem) => never,
): { fd: number; where: string } {
  let root: string;
  try {
    root = fs.realpathSync(path.resolve(baseDir));
  } catch {
    return refuse({ where: baseDir, problem: 'cannot be reached', base: true });
  }
  const where = path.join(root, dir);
  let fd = openDir(root);
  try {
    for (const part of dir.split(/[\\/]+/).filter((p) => p !== '' && p !== '.')) {
      let next: number;
      try {
        next = openDirAt(fd, part);
      } catch (error) {
        const code = errnoCode(error);
        const problem =
          code === 'ENOENT'
            ? 'does not exist'
            : code === 'ELOOP' || code === 'ENOTDIR'
              ? `is not a directory (or ${part} on the way is a symlink, which the path may not cross)`
              : `cannot be opened (${code})`;
        return refuse({ where, problem, base: false });
      }
      fs.closeSync(fd);
      fd = next;
    }
    return { fd, where };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * A handle (O_PATH | O_NOFOLLOW) on the entry name inside dirFd, whatever it is: a symlink gives the link itself, a
 * device or FIFO is not opened, so nothing has side effects. fstat tells what it is; a directory handle serves as
 * dirFd for at(); readRegularFile reads a regular file through it.
 */
export function openEntryAt(dirFd: number, name: string): number {
  return fs.openSync(at(dirFd, name), O_PATH | O_NOFOLLOW);
}

/**
 * Reads the file a handle from openEntryAt holds, if it is a regular file (null otherwise): the kernel reopens that
 * very inode through the descriptor's magic link, so no path is looked up again and nothing swapped in is read.
 */
export function readRegularFile(handle: number): Buffer | null {
  if (!fs.fstatSync(handle).isFile()) return null;
  // the magic link is the last component, so no O_NOFOLLOW: it leads to the handle's inode, never elsewhere
  const fd = fs.openSync(fdPath(handle), O_RDONLY);
  try {
    // the same inode, checked again: a regular file cannot become anything else, this guards the reopen itself
    const a = fs.fstatSync(fd);
    const b = fs.fstatSync(handle);
    if (a.ino !== b.ino || a.dev !== b.dev) throw new Error(`${fdPath(handle)} reopened another file`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Copies the file a handle from openEntryAt holds to dest, if it is a regular file (false otherwise), as
 * readRegularFile reads it but streamed by the kernel (a kernel or initrd is tens of MB): never read whole.
 */
export function copyRegularFile(handle: number, dest: string): boolean {
  if (!fs.fstatSync(handle).isFile()) return false;
  const fd = fs.openSync(fdPath(handle), O_RDONLY);
  try {
    const a = fs.fstatSync(fd);
    const b = fs.fstatSync(handle);
    if (a.ino !== b.ino || a.dev !== b.dev) throw new Error(`${fdPath(handle)} reopened another file`);
    // fd's own magic link: it leads to the inode just checked, whatever happened to any path since
    fs.copyFileSync(fdPath(fd), dest);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** The text of the symlink name inside dirFd (read by name: its text is only ever resolved inside a root). */
export function readLinkAt(dirFd: number, name: string): string {
  return fs.readlinkSync(at(dirFd, name));
}

/**
 * chmod of the directory name inside dirFd when it cannot be opened for reading (not root): through an
 * O_PATH handle, so it changes that directory and nothing a symlink put in its place points to.
 */
export function chmodDirAt(dirFd: number, name: string, mode: number): void {
  const fd = fs.openSync(at(dirFd, name), O_PATH | O_DIRECTORY | O_NOFOLLOW);
  try {
    fs.chmodSync(fdPath(fd), mode);
  } finally {
    fs.closeSync(fd);
  }
}
