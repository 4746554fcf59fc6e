/**
 * What is inside an ISO, read through xorriso without mounting it: one run prints the El Torito
 * and system area reports, an `ls -l` line per node (lsdl) and each file's data extent (report_lba).
 */
import { isoReportArgv } from './xorriso-reports.js';

export type IsoNodeType = 'file' | 'dir' | 'symlink' | 'other';

export interface IsoNode {
  path: string;
  type: IsoNodeType;
  size: number;
  /** First 2048-byte block of the file's data, counted from the start of the image file. */
  lba: number | null;
  /** Where a symlink points, as recorded in Rock Ridge. */
  target: string | null;
}

export type IsoListing = Map<string, IsoNode>;

/** One xorriso run: both boot reports, then every node, then the data extents of the regular files. */
export function isoInspectArgv(iso: string): string[] {
  return [
    ...isoReportArgv(iso),
    '-find',
    '/',
    '-exec',
    'lsdl',
    '--',
    '-find',
    '/',
    '-type',
    'f',
    '-exec',
    'report_lba',
    '--',
  ];
}

/** xorriso prints paths shell-safe: in single quotes, an inner quote as '"'"'. */
export function unquoteXorriso(text: string): string {
  const t = text.trim();
  if (!t.startsWith("'") || !t.endsWith("'") || t.length < 2) return t;
  return t.slice(1, -1).split(`'"'"'`).join("'");
}

/** The first shell-safe quoted word at or after `from`, and where it ends. */
function quotedWordAt(line: string, from: number): { word: string; end: number } | null {
  const start = line.indexOf("'", from);
  if (start < 0) return null;
  let i = start + 1;
  for (;;) {
    const close = line.indexOf("'", i);
    if (close < 0) return null;
    // '"'"' continues the word
    if (line.startsWith(`'"'"'`, close)) {
      i = close + 5;
      continue;
    }
    return { word: unquoteXorriso(line.slice(start, close + 1)), end: close + 1 };
  }
}

// a device node has "major,minor" where other nodes have their size; it is listed with size 0
const LSDL = /^([-dlcbps])[-rwxsStT]{9}\s+\d+\s+\S+\s+\S+\s+(?:(\d+)|\d+,\d+)\s+\S+\s+\d+\s+[\d:]+\s+(?=')/;
const LBA = /^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(?=')/;

/** Reads the lsdl and report_lba lines of `isoInspectArgv`'s stdout; other lines are ignored. */
export function parseIsoListing(stdout: string): IsoListing {
  const nodes: IsoListing = new Map();
  const extents = new Map<string, { lba: number; size: number }[]>();
  for (const raw of stdout.split('\n')) {
    const line = raw.trimEnd();
    const ls = LSDL.exec(line);
    if (ls) {
      const name = quotedWordAt(line, ls[0].length);
      if (!name) continue;
      const kind = ls[1]!;
      const type: IsoNodeType = kind === '-' ? 'file' : kind === 'd' ? 'dir' : kind === 'l' ? 'symlink' : 'other';
      const arrow = type === 'symlink' ? line.indexOf(' -> ', name.end) : -1;
      const target = arrow >= 0 ? (quotedWordAt(line, arrow + 4)?.word ?? null) : null;
      nodes.set(name.word, { path: name.word, type, size: Number(ls[2] ?? 0), lba: null, target });
      continue;
    }
    const lba = LBA.exec(line);
    if (lba) {
      const name = quotedWordAt(line, lba[0].length);
      if (!name) continue;
      const list = extents.get(name.word) ?? [];
      list[Number(lba[1])] = { lba: Number(lba[2]), size: Number(lba[4]) };
      extents.set(name.word, list);
    }
  }
  for (const [file, list] of extents) {
    const first = list[0];
    const node = nodes.get(file);
    // files of 4 GiB and more have several extents; the data starts in the first
    const size = list.reduce((sum, e) => sum + (e?.size ?? 0), 0);
    if (node) node.lba = first?.lba ?? null;
    else nodes.set(file, { path: file, type: 'file', size, lba: first?.lba ?? null, target: null });
  }
  return nodes;
}

/** Finds a node, following symlinks anywhere in the path (relative or absolute targets, a bounded number). */
export function resolveIsoPath(listing: IsoListing, isoPath: string, hops = 16): IsoNode | null {
  const parts = normaliseIsoPath(isoPath).split('/').filter(Boolean);
  let current = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = current === '/' ? `/${parts[i]}` : `${current}/${parts[i]}`;
    const node = listing.get(next);
    if (!node) return null;
    if (node.type === 'symlink' && node.target !== null) {
      if (hops <= 0) return null;
      const target = node.target.startsWith('/') ? node.target : `${current}/${node.target}`;
      const rest = parts.slice(i + 1).join('/');
      return resolveIsoPath(listing, rest ? `${target}/${rest}` : target, hops - 1);
    }
    current = next;
  }
  return listing.get(current) ?? null;
}

/** /a/./b//c/../d → /a/b/d */
export function normaliseIsoPath(isoPath: string): string {
  const out: string[] = [];
  for (const part of isoPath.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/** Names directly inside a directory of the ISO, sorted. */
export function listIsoDir(listing: IsoListing, dir: string): string[] {
  const prefix = dir === '/' ? '/' : `${normaliseIsoPath(dir)}/`;
  return [...listing.keys()]
    .filter((p) => p.startsWith(prefix) && p.length > prefix.length && !p.slice(prefix.length).includes('/'))
    .map((p) => p.slice(prefix.length))
    .sort();
}
