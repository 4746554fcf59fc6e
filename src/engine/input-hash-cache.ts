/**
 * The input hash cache: each input file (an overlay's files) is hashed (sha256) once per build, and across builds
 * its stored hash is reused while the file's (dev, ino, size, mtime, ctime) are what they were when it was hashed.
 * ctime is in the check because `touch -d` can put back an mtime after a same-size change, and nobody can put back
 * a ctime. Like git's index, an entry is stored for later builds only when the file had been left alone for a while
 * (RACY_WINDOW_NS) when it was hashed: a change within the timestamps' granularity of the hash could otherwise keep
 * the same times. The file lives in the work dir (cache/input-hashes.json, docs/state-format.md), is written whole
 * and renamed into place, and a file that cannot be read or parsed is an empty cache, never trusted in part.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeNewFileWhole } from '../runtime/new-file.js';

/** A file changed less than this before it was hashed is hashed again next build (timestamps are coarse). */
export const RACY_WINDOW_NS = 2_000_000_000n;
export const INPUT_HASHES_FILE = 'input-hashes.json';
const FORMAT_VERSION = 1;
const CHUNK = 1024 * 1024;
const O_PATH = 0o10000000;

/** What is compared: the identity and the times of the file the hash was made of. */
interface FileIdentity {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface Entry extends FileIdentity {
  sha256: string;
  /** When it was hashed (ns since the epoch, the clock the cache was given). */
  hashedAtNs: string;
}

export interface HashCacheStats {
  /** Files read and hashed. */
  reads: number;
  /** Hashes reused without reading the file (this build's, or a stored one). */
  hits: number;
}

function identityOf(st: fs.BigIntStats): FileIdentity {
  return {
    dev: String(st.dev),
    ino: String(st.ino),
    size: String(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
  };
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

const DIGITS = /^\d{1,40}$/;
const HEX64 = /^[0-9a-f]{64}$/;

function validEntry(v: unknown): v is Entry {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  return (
    ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs', 'hashedAtNs'].every(
      (k) => typeof e[k] === 'string' && DIGITS.test(e[k] as string),
    ) &&
    typeof e['sha256'] === 'string' &&
    HEX64.test(e['sha256'])
  );
}

/** The stored entries, or none when the file is missing, unreadable, not ours or not valid. */
function readStore(file: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      if (!fs.fstatSync(fd).isFile()) return out;
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return out;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return out;
  }
  const d = data as { version?: unknown; entries?: unknown };
  if (d?.version !== FORMAT_VERSION || d.entries === null || typeof d.entries !== 'object') return out;
  for (const [key, entry] of Object.entries(d.entries as Record<string, unknown>)) {
    if (!validEntry(entry)) return new Map(); // one bad entry and the file is not trusted at all
    out.set(key, entry);
  }
  return out;
}

export interface InputHashCacheOptions {
  /** Where the entries are kept across builds; null: this process only. */
  file: string | null;
  /** The clock, ns since the epoch (tests). */
  nowNs?: () => bigint;
}

export class InputHashCache {
  readonly stats: HashCacheStats = { reads: 0, hits: 0 };
  private readonly stored: Map<string, Entry>;
  /** What this build hashed or reused, by key: the entries `save` keeps. */
  private readonly used = new Map<string, Entry>();
  private readonly file: string | null;
  private readonly nowNs: () => bigint;

  constructor(options: InputHashCacheOptions) {
    this.file = options.file;
    this.nowNs = options.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
    this.stored = this.file === null ? new Map() : readStore(this.file);
  }

  /** The cache of a work dir (its cache/ directory). */
  static forWorkDir(cacheDir: string, nowNs?: () => bigint): InputHashCache {
    return new InputHashCache({ file: path.join(cacheDir, INPUT_HASHES_FILE), ...(nowNs ? { nowNs } : {}) });
  }

  /**
   * The sha256 (hex) of the regular file a handle holds (an O_PATH | O_NOFOLLOW descriptor, as dir-fd.ts's
   * openEntryAt gives), key naming it (its host path). The file is read only when no hash of this build or a
   * stored one matches its identity and times; it is read through the handle's own inode, never by path.
   */
  hashHandle(handle: number, key: string): string {
    const st = fs.fstatSync(handle, { bigint: true });
    if (!st.isFile()) throw new Error(`${key} is not a regular file`);
    const id = identityOf(st);
    const known = this.used.get(key) ?? this.stored.get(key);
    if (known && sameIdentity(known, id)) {
      this.stats.hits++;
      this.used.set(key, known);
      return known.sha256;
    }
    const hashedAtNs = this.nowNs();
    const sha256 = hashThroughHandle(handle, key);
    this.stats.reads++;
    // read again: a file written while it was read must not be stored under the times it had before
    const after = identityOf(fs.fstatSync(handle, { bigint: true }));
    if (sameIdentity(after, id)) this.used.set(key, { ...id, sha256, hashedAtNs: String(hashedAtNs) });
    return sha256;
  }

  /** hashHandle for a path whose last component is not followed (a symlink there is refused: ELOOP). */
  hashFile(file: string): string {
    const handle = fs.openSync(file, O_PATH | fs.constants.O_NOFOLLOW);
    try {
      return this.hashHandle(handle, path.resolve(file));
    } finally {
      fs.closeSync(handle);
    }
  }

  /**
   * Writes this build's entries (and only those) for the next build: a new file written whole, then renamed over
   * the old one. Entries of files changed within RACY_WINDOW_NS of their hashing are left out.
   */
  save(): void {
    if (this.file === null) return;
    const entries: Record<string, Entry> = {};
    for (const [key, e] of [...this.used].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const changed = BigInt(e.mtimeNs) > BigInt(e.ctimeNs) ? BigInt(e.mtimeNs) : BigInt(e.ctimeNs);
      if (BigInt(e.hashedAtNs) - changed >= RACY_WINDOW_NS) entries[key] = e;
    }
    const text = `${JSON.stringify({ version: FORMAT_VERSION, entries }, null, 1)}\n`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    writeNewFileWhole(temp, text, 0o600);
    try {
      fs.renameSync(temp, this.file);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
  }
}

/** sha256 of the file behind handle, read in chunks through its magic link (the same inode, checked). */
function hashThroughHandle(handle: number, key: string): string {
  const fd = fs.openSync(`/proc/self/fd/${handle}`, fs.constants.O_RDONLY);
  try {
    const a = fs.fstatSync(fd);
    const b = fs.fstatSync(handle);
    if (a.ino !== b.ino || a.dev !== b.dev) throw new Error(`${key}: reopening it reached another file`);
    const hash = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
    return hash.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}
