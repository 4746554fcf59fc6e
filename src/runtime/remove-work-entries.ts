/**
 * Removing top-level entries of an owned work dir (`clean`, `--fresh`): only names ailinux makes, never through a
 * symlink at the top, and never anything with a mount at or under it. A mount AT the work dir (a dedicated disk,
 * a tmpfs) is fine: the work dir itself is never removed here, only what ailinux made in it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UnsafeOperationError } from '../errors.js';
import { WORK_DIR_ENTRIES, type WorkDirEntry } from './paths.js';
import { assertNoMountsUnder, removeTree } from './safe-remove.js';

/** The trees of a build that `--fresh` and `clean` discard. */
export const BUILD_TREES: readonly WorkDirEntry[] = ['layers', 'mnt', 'iso', 'tmp'];

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** lstat, or null when the entry does not exist. */
function lstatEntry(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Refuses (UnsafeOperationError) before anything is removed: a name ailinux does not make, an entry that is a
 * symlink, or a mount at or under any entry. Returns the names that exist.
 */
export function assertRemovable(workDir: string, names: readonly WorkDirEntry[]): WorkDirEntry[] {
  const present: WorkDirEntry[] = [];
  for (const name of names) {
    if (!(WORK_DIR_ENTRIES as readonly string[]).includes(name))
      throw new UnsafeOperationError(`refusing to remove ${path.join(workDir, name)}: ailinux does not make it`);
    const p = path.join(workDir, name);
    const st = lstatEntry(p);
    if (!st) continue;
    if (st.isSymbolicLink()) {
      throw new UnsafeOperationError(
        `refusing to remove ${p}: it is a symlink (to ${fs.readlinkSync(p)}), and ailinux never follows one at the top of its work dir`,
        { hint: 'remove the link yourself, then retry' },
      );
    }
    if (st.isDirectory()) assertNoMountsUnder(p);
    present.push(name);
  }
  return present;
}

/** Removes the named entries, each checked again right before; returns the names removed, in order. */
export async function removeWorkEntries(workDir: string, names: readonly WorkDirEntry[]): Promise<WorkDirEntry[]> {
  const removed: WorkDirEntry[] = [];
  for (const name of names) {
    if (assertRemovable(workDir, [name]).length === 0) continue;
    await removeTree(path.join(workDir, name), { within: workDir });
    removed.push(name);
  }
  return removed;
}

/**
 * Removes what state/ holds but the lock file and its owner record (clean --all, while it holds the lock, which
 * then goes with releaseRemovingFile); returns the names removed.
 */
export async function removeStateEntries(workDir: string, keep: readonly string[]): Promise<string[]> {
  const stateDir = path.join(workDir, 'state');
  if (assertRemovable(workDir, ['state']).length === 0) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(stateDir).sort()) {
    if (keep.includes(name)) continue;
    await removeTree(path.join(stateDir, name), { within: workDir });
    removed.push(name);
  }
  return removed;
}

/** rmdir: true when the directory went, false when it is gone already or not empty (another process uses it). */
export function removeEmptyDir(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw error;
  }
}
