/**
 * /proc/PID/mountinfo, parsed: the kernel's own account of what is mounted where, in a given
 * process's mount namespace. Safety checks read it at the moment they act, never a cached copy.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface MountEntry {
  /** Mount id (field 1). */
  id: number;
  /** Id of the parent mount (field 2); the root mount is its own parent or points outside the namespace. */
  parentId: number;
  /** major:minor of the filesystem's device, as st_dev shows it. */
  majorMinor: string;
  /** The directory of the filesystem that forms the root of this mount (a bind mount's source). */
  root: string;
  /** Where it is mounted, relative to the process's root, with octal escapes (\040 …) decoded. */
  mountPoint: string;
  /** Per-mount options (rw, nosuid, relatime …). */
  options: string;
  /** Optional fields such as shared:N, master:N, propagate_from:N, unbindable. */
  optionalFields: string[];
  fsType: string;
  /** The mount source (device, "overlay", "proc" …), escapes decoded. */
  source: string;
  /** Per-superblock options (lowerdir=…, upperdir=… for overlay). */
  superOptions: string;
}

/** The kernel escapes space, tab, newline and backslash in mountinfo paths as \ooo octal. */
function decodeMountinfoField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function parseMountinfoLine(line: string, lineNo: number): MountEntry {
  const fields = line.split(' ');
  const sep = fields.indexOf('-', 6);
  if (fields.length < 10 || sep < 0 || fields.length < sep + 3) {
    throw new Error(`mountinfo line ${lineNo} is malformed: ${line}`);
  }
  const id = Number(fields[0]);
  const parentId = Number(fields[1]);
  if (!Number.isInteger(id) || !Number.isInteger(parentId)) {
    throw new Error(`mountinfo line ${lineNo} has no numeric mount ids: ${line}`);
  }
  return {
    id,
    parentId,
    majorMinor: fields[2]!,
    root: decodeMountinfoField(fields[3]!),
    mountPoint: decodeMountinfoField(fields[4]!),
    options: fields[5]!,
    optionalFields: fields.slice(6, sep),
    fsType: decodeMountinfoField(fields[sep + 1]!),
    source: decodeMountinfoField(fields[sep + 2]!),
    // Super options never contain a raw space (the kernel escapes them), but be lenient.
    superOptions: fields.slice(sep + 3).join(' '),
  };
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    entries.push(parseMountinfoLine(line, i + 1));
  }
  return entries;
}

/** The mount table of a process's mount namespace (our own by default), read now. */
export function readMountinfo(pid: number | 'self' = 'self'): MountEntry[] {
  return parseMountinfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

function depth(p: string): number {
  return p === '/' ? 0 : p.split('/').length - 1;
}

/** Whether p is dir itself or lies beneath it, by whole path components: /a/b/c is under /a/b, /a/bc is not. */
export function isAtOrUnder(p: string, dir: string): boolean {
  const d = path.posix.resolve(dir);
  const q = path.posix.resolve(p);
  if (d === '/') return true;
  return q === d || q.startsWith(`${d}/`);
}

/**
 * The mounts at dir or beneath it, deepest first (the order they can be unmounted in); mounts
 * stacked on one mount point come topmost (listed later) first. dir is compared as given: pass a
 * real path, since the kernel reports mount points with symlinks resolved.
 */
export function mountsUnder(dir: string, entries: readonly MountEntry[]): MountEntry[] {
  return entries
    .map((entry, index) => ({ entry, index }))
    .filter(({ entry }) => isAtOrUnder(entry.mountPoint, dir))
    .sort((a, b) => depth(b.entry.mountPoint) - depth(a.entry.mountPoint) || b.index - a.index)
    .map(({ entry }) => entry);
}

/** The mount whose filesystem holds p: the deepest mount point at or above it (the last one stacked there). */
export function mountContaining(p: string, entries: readonly MountEntry[]): MountEntry | null {
  let best: MountEntry | null = null;
  for (const entry of entries) {
    if (!isAtOrUnder(p, entry.mountPoint)) continue;
    if (best === null || depth(entry.mountPoint) >= depth(best.mountPoint)) best = entry;
  }
  return best;
}
