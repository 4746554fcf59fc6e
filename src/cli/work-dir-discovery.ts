/**
 * Which work dir a command means when no -w was given: ./ailinux-build, as ever, unless the current directory lies
 * inside a work dir; then that one, found by walking up to the directory that carries the work dir's mark
 * (`.ailinux-work-dir`, src/engine/work-dir-mark.ts), as git finds .git. Reads only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readMark } from '../engine/work-dir-mark.js';
import { DEFAULT_WORK_DIR } from '../runtime/paths.js';

/** The marked work dir that holds dir (dir itself or one above it); null when none does. */
export function enclosingWorkDir(dir: string): string | null {
  let current = path.resolve(dir);
  for (;;) {
    try {
      if (readMark(current) !== null) return current;
    } catch {
      // a mark that is no mark (a symlink, not JSON) names no work dir: build refuses such a directory anyway
    }
    const parent = path.dirname(current);
    if (parent === current) return null;
    current = parent;
  }
}

export interface DiscoveredWorkDir {
  readonly workDir: string;
  /** The line that says which work dir was found, for stderr. */
  readonly note: string;
}

/**
 * The work dir found from cwd when no -w was given, or null when the default (./ailinux-build) applies: it exists,
 * or cwd lies in no work dir.
 */
export function discoverWorkDir(cwd: string): DiscoveredWorkDir | null {
  if (fs.existsSync(path.resolve(cwd, DEFAULT_WORK_DIR))) return null;
  const found = enclosingWorkDir(cwd);
  if (found === null) return null;
  const where = found === path.resolve(cwd) ? 'is the work dir' : 'is inside the work dir';
  return { workDir: found, note: `ailinux: the current directory ${where} ${found}; using it (-w chooses another)` };
}
