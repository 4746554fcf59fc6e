/**
 * Digests of the big outputs (filesystem.squashfs, the ISO), computed once per build process and reused by the
 * steps after the one that wrote the file: the squashfs step's artifact record and the iso step's md5sum.txt read the
 * image once; the iso step's artifact record, the checksums step (run and verify) and the verify step's checksum check
 * read the ISO once. Without it a hostname change on minimal hashed the ISO five times.
 *
 * A digest is reused only while the file's (dev, ino, size, mtime, ctime) are what they were when it was read: any
 * write to the file changes its ctime, which nobody can set back, so a file changed after it was hashed is read again
 * (and a corrupted ISO fails the checksum check as before). As in git's index, a file whose ctime lay within the
 * racy window of the end of its read is not remembered: a later write in the same clock tick could leave the times as
 * they were. The window is RACY_WINDOW_NS (a tick is 1-10 ms), or COARSE_WINDOW_NS where the file system keeps whole
 * seconds (a ctime of whole seconds, on ext4 with 128-byte inodes, or FAT). Big files take longer than that to read,
 * so it is the small ones that are read again.
 * Nothing is stored on disk: `ailinux verify`, another process, always reads the whole ISO.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type DigestAlgorithm = 'sha256' | 'md5';
export type Digests = Partial<Record<DigestAlgorithm, string>>;

/** A file changed less than this before its read ended is read again next time (timestamps are coarse: one tick). */
export const RACY_WINDOW_NS = 100_000_000n;
/** The window where ctimes are whole seconds (as input-hash-cache.ts's). */
export const COARSE_WINDOW_NS = 2_000_000_000n;
/** At most this many files are remembered; then the oldest go. */
const MAX_ENTRIES = 4096;
const CHUNK = 4 * 1024 * 1024;

interface Identity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

function identityOf(st: fs.BigIntStats): Identity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

export interface DigestStats {
  /** Files read and hashed (a read may compute several algorithms). */
  reads: number;
  /** Requests answered without reading the file. */
  hits: number;
  /** The bytes those reads hashed. */
  bytes: number;
}

export class DigestMemo {
  private readonly known = new Map<string, { id: Identity; digests: Digests }>();
  readonly stats: DigestStats = { reads: 0, hits: 0, bytes: 0 };

  /** now in ns since the epoch, the clock file times are in. */
  constructor(private readonly nowNs: () => bigint = () => BigInt(Date.now()) * 1_000_000n) {}

  /** The file's digests in these algorithms: those known for the file as it is now, the others read in one pass. */
  async digests<A extends DigestAlgorithm>(file: string, algorithms: readonly A[]): Promise<Record<A, string>> {
    const abs = path.resolve(file);
    const before = identityOf(fs.statSync(abs, { bigint: true }));
    const entry = this.known.get(abs);
    const known: Digests = entry && sameIdentity(entry.id, before) ? entry.digests : {};
    const missing = algorithms.filter((a) => known[a] === undefined);
    if (missing.length === 0) {
      this.stats.hits++;
      return pick(known, algorithms);
    }
    this.stats.reads++;
    const hashes = missing.map((a) => [a, crypto.createHash(a)] as const);
    for await (const chunk of fs.createReadStream(abs, { highWaterMark: CHUNK })) {
      for (const [, h] of hashes) h.update(chunk as Buffer);
      this.stats.bytes += (chunk as Buffer).length;
    }
    const read: Digests = { ...known };
    for (const [a, h] of hashes) read[a] = h.digest('hex');
    const after = identityOf(fs.statSync(abs, { bigint: true }));
    // a write sets the ctime, and nobody can set it back: the ctime is the guard (mtimes are pinned to the epoch)
    const window = after.ctimeNs % 1_000_000_000n === 0n ? COARSE_WINDOW_NS : RACY_WINDOW_NS;
    // changed while it was read, or too recently to tell a later write by its times: not remembered
    if (sameIdentity(before, after) && after.ctimeNs < this.nowNs() - window) this.remember(abs, after, read);
    else this.known.delete(abs);
    return pick(read, algorithms);
  }

  /** Forgets every file (tests; a step that rewrites a file in place needs no call: its times change). */
  clear(): void {
    this.known.clear();
  }

  private remember(abs: string, id: Identity, digests: Digests): void {
    this.known.delete(abs);
    if (this.known.size >= MAX_ENTRIES) this.known.delete(this.known.keys().next().value!);
    this.known.set(abs, { id, digests });
  }
}

function pick<A extends DigestAlgorithm>(digests: Digests, algorithms: readonly A[]): Record<A, string> {
  return Object.fromEntries(algorithms.map((a) => [a, digests[a]!])) as Record<A, string>;
}

/** The build process's memo, which the steps share. */
export const fileDigests = new DigestMemo();
