/**
 * The mark at the top of a work dir (`.ailinux-work-dir`): JSON written once, when ailinux creates or adopts the
 * directory. Only a marked directory is one ailinux may clean; the state records the mark it was built under.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirectory } from '../../state/durable-adapter.js';
import { UsageError } from '../errors.js';
import { packageVersion } from '../runtime/package-root.js';
import { writeNewFileWhole } from '../runtime/new-file.js';
import { WORK_DIR_MARKER } from '../runtime/paths.js';

export interface WorkDirMark {
  tool: 'ailinux';
  /** The ailinux version that made the mark. */
  version: string;
  /** Random, fixed for the life of the mark. */
  id: string;
  createdAt: string;
}

/**
 * The mark in `data`, its four fields alone (others are dropped); null when one is missing or of the wrong kind.
 * Checked by hand, not with zod: every command reads the mark when it looks for its work dir, and zod's ~95 modules
 * would double `ailinux status`'s start-up (issue 11, point 7; docs/performance.md).
 */
/** The mark's `tool`: the program's name, not a profile's. */
const MARK_TOOL: WorkDirMark['tool'] = 'ailinux';

function markFrom(data: unknown): WorkDirMark | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  const { tool, version, id, createdAt } = data as Record<string, unknown>;
  if (tool !== MARK_TOOL || typeof version !== 'string' || typeof createdAt !== 'string') return null;
  if (typeof id !== 'string' || id.length === 0) return null;
  return { tool, version, id, createdAt };
}

/** The temp file a mark is written to before it is linked into place; a crash can leave one behind. */
export const MARK_TEMP = /^\.ailinux-work-dir\.\d+\.tmp$/;

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

function unreadableMark(file: string, why: string): UsageError {
  return new UsageError(`${file} is not an ailinux work dir mark: ${why}`, {
    hint: 'if the directory is an ailinux work dir, remove that file and retry (a valid state gets it adopted); else use a new directory',
  });
}

/** The mark of workDir; null when there is none. A symlink or a file that is not a mark is a UsageError. */
export function readMark(workDir: string): WorkDirMark | null {
  const file = path.join(workDir, WORK_DIR_MARKER);
  let fd: number;
  try {
    // never through a symlink: a mark is a regular file that ailinux wrote here
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw unreadableMark(file, 'it is a symlink');
    throw unreadableMark(file, (error as Error).message);
  }
  let text: string;
  try {
    if (!fs.fstatSync(fd).isFile()) throw unreadableMark(file, 'it is not a regular file');
    const buffer = Buffer.alloc(4096);
    const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
    text = buffer.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw unreadableMark(file, 'it does not hold JSON');
  }
  const mark = markFrom(data);
  if (mark === null) throw unreadableMark(file, 'it lacks {tool: "ailinux", version, id, createdAt}');
  return mark;
}

/**
 * Marks workDir (which must exist) and returns the mark. Written to a temp file and linked into place, so the
 * mark appears whole or not at all; when another run marked it first, that mark is returned.
 */
export function writeMark(workDir: string): WorkDirMark {
  const mark: WorkDirMark = {
    tool: MARK_TOOL,
    version: packageVersion(),
    id: crypto.randomUUID(),
    createdAt: new Date().toISOString(),
  };
  const file = path.join(workDir, WORK_DIR_MARKER);
  const temp = path.join(workDir, `${WORK_DIR_MARKER}.${process.pid}.tmp`);
  fs.rmSync(temp, { force: true });
  writeNewFileWhole(temp, `${JSON.stringify(mark)}\n`, 0o644);
  try {
    fs.linkSync(temp, file);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
    const theirs = readMark(workDir);
    if (theirs) return theirs;
    throw error;
  } finally {
    fs.rmSync(temp, { force: true });
  }
  fsyncDirectory(workDir);
  return mark;
}
