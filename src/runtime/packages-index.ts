/**
 * The archive's Packages index as the shared deb cache reads it (docs/performance.md#the-shared-deb-cache): for each
 * stanza, the package, version and architecture (which name the file apt and debootstrap keep in their archives
 * directory) and the Filename, Size and SHA256 the archive signed through its Release file. Hand-written: it is the
 * one format the check needs, and a stanza's fields are `Name: value` lines up to a blank line.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface PackagesEntry {
  package: string;
  version: string;
  architecture: string;
  /** The pool path in the archive (Filename). */
  filename: string;
  size: number;
  /** Lower-case hex. */
  sha256: string;
}

/**
 * The name apt (pkgAcqArchive) and debootstrap (download_debs) give a downloaded .deb in their archives directory:
 * package_version_architecture.deb, the version's epoch colon written %3a.
 */
export function debFileName(entry: Pick<PackagesEntry, 'package' | 'version' | 'architecture'>): string {
  return `${entry.package}_${entry.version.replace(/:/g, '%3a')}_${entry.architecture}.deb`;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The stanzas of a Packages file that carry all six fields; a stanza without SHA256, Size or Filename (a file not
 * from an archive) is left out, so a .deb that only it names is unknown and never trusted.
 */
export function parsePackagesEntries(text: string): PackagesEntry[] {
  const out: PackagesEntry[] = [];
  let fields: Record<string, string> = {};
  const flush = () => {
    const { Package: pkg, Version: version, Architecture: architecture, Filename: filename } = fields;
    const size = fields['Size'];
    const sha256 = fields['SHA256']?.toLowerCase();
    if (pkg && version && architecture && filename && size && /^\d+$/.test(size) && sha256 && SHA256.test(sha256))
      out.push({ package: pkg, version, architecture, filename, size: Number(size), sha256 });
    fields = {};
  };
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === '') {
      flush();
      continue;
    }
    // a continuation line (a long Description) starts with a space or tab
    if (line[0] === ' ' || line[0] === '\t') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  flush();
  return out;
}

/** Every entry of the given Packages texts, by the file name apt and debootstrap give the .deb. */
export class PackagesIndex {
  private readonly byName = new Map<string, PackagesEntry[]>();

  constructor(entries: Iterable<PackagesEntry>) {
    for (const e of entries) {
      const name = debFileName(e);
      const list = this.byName.get(name);
      if (list === undefined) this.byName.set(name, [e]);
      else if (!list.some((x) => x.sha256 === e.sha256)) list.push(e);
    }
  }

  static fromTexts(texts: Iterable<string>): PackagesIndex {
    const all: PackagesEntry[] = [];
    for (const t of texts) for (const e of parsePackagesEntries(t)) all.push(e);
    return new PackagesIndex(all);
  }

  get size(): number {
    return this.byName.size;
  }

  /** The entries for a cached file name (two archives may publish the same name with other bytes). */
  entriesFor(fileName: string): readonly PackagesEntry[] {
    return this.byName.get(fileName) ?? [];
  }
}

export type DebCheck =
  /** The file's size and sha256 are those of an entry for its name. */
  | { kind: 'ok'; sha256: string }
  /** No entry names the file: it may be right for another archive state, but nothing here vouches for it. */
  | { kind: 'unknown' }
  /** An entry names it, and the bytes are not that entry's: a damaged or tampered file. */
  | { kind: 'corrupt'; reason: string };

/** sha256 (hex) of a regular file, read through a descriptor opened without following a symlink. */
export function sha256OfFile(file: string): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    if (!fs.fstatSync(fd).isFile()) throw new Error(`${file} is not a regular file`);
    const hash = crypto.createHash('sha256');
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
    return hash.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks a cached .deb against the index: the size first (cheap), then the sha256. `hash` is injectable so a caller
 * can reuse a digest it took of the same unchanged inode earlier in the run.
 */
export function checkDeb(index: PackagesIndex, fileName: string, size: number, hash: () => string): DebCheck {
  const entries = index.entriesFor(fileName);
  if (entries.length === 0) return { kind: 'unknown' };
  const sized = entries.filter((e) => e.size === size);
  if (sized.length === 0)
    return {
      kind: 'corrupt',
      reason: `${size} bytes, the Packages index says ${entries.map((e) => e.size).join(' or ')}`,
    };
  const actual = hash();
  if (sized.some((e) => e.sha256 === actual)) return { kind: 'ok', sha256: actual };
  return {
    kind: 'corrupt',
    reason: `sha256 ${actual}, the Packages index says ${sized.map((e) => e.sha256).join(' or ')}`,
  };
}
