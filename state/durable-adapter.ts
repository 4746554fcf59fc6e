/**
 * A lowdb sync adapter that survives a crash or power loss at any point of a write:
 * write a temp file beside the target, fsync it, rename it over the target, fsync the directory.
 * lowdb's own JSONFileSync renames but never fsyncs, so a crash can leave an empty or stale file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { SyncAdapter } from 'lowdb';

/** The file exists but does not parse as JSON (e.g. truncated by a crash of a non-durable writer). */
export class CorruptStateFileError extends Error {
  readonly file: string;
  /** Size of the unparseable contents in bytes. */
  readonly rawLength: number;
  constructor(file: string, rawLength: number, options: { cause?: unknown } = {}) {
    const why = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(
      `${file} is not valid JSON (${rawLength} bytes)${why}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'CorruptStateFileError';
    this.file = file;
    this.rawLength = rawLength;
  }
}

/** Name of the temp file a process writes before renaming it over `file`. */
export function tempFileFor(file: string, pid: number = process.pid): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`);
}

// Filesystems that cannot fsync a directory report one of these; the rename is then as durable as they allow.
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EISDIR']);

/** Makes a directory entry change (create, rename, unlink) durable. */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } catch (error) {
    if (!DIR_FSYNC_UNSUPPORTED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    fs.closeSync(fd);
  }
}

// write(2) may write less than asked (e.g. a disk filling up), so loop until all bytes are out.
function writeAll(fd: number, buffer: Buffer): void {
  let offset = 0;
  while (offset < buffer.length) offset += fs.writeSync(fd, buffer, offset, buffer.length - offset);
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
// a new file only, never through a symlink: whatever stands at the temp name is not ours to write into
const TEMP_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/** Creates the temp file afresh; one left by a crashed writer with our pid (or a planted link) is unlinked first. */
function openTempFile(tmp: string): number {
  try {
    return fs.openSync(tmp, TEMP_FLAGS, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  fs.unlinkSync(tmp); // removes a symlink itself, never its target
  return fs.openSync(tmp, TEMP_FLAGS, 0o644);
}

export class DurableJsonFileSync<T> implements SyncAdapter<T> {
  readonly filename: string;
  /** The file's mode whatever the umask (set on the temp file before the rename); else 0644 less the umask. */
  readonly mode: number | undefined;

  constructor(filename: string, mode?: number) {
    this.filename = filename;
    this.mode = mode;
  }

  /** The parsed file, or null when it does not exist. Throws CorruptStateFileError on invalid JSON. */
  read(): T | null {
    let raw: Buffer;
    try {
      raw = fs.readFileSync(this.filename);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      return JSON.parse(raw.toString('utf8')) as T;
    } catch (error) {
      throw new CorruptStateFileError(this.filename, raw.length, { cause: error });
    }
  }

  /** Replaces the file atomically and durably; on failure the previous file is left as it was. */
  write(data: T): void {
    const dir = path.dirname(this.filename);
    const tmp = tempFileFor(this.filename);
    const text = JSON.stringify(data, null, 2);
    try {
      const fd = openTempFile(tmp);
      try {
        if (this.mode !== undefined) fs.fchmodSync(fd, this.mode);
        writeAll(fd, Buffer.from(text, 'utf8'));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.filename);
    } catch (error) {
      fs.rmSync(tmp, { force: true });
      throw error;
    }
    fsyncDirectory(dir);
  }
}
