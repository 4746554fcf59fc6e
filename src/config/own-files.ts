/**
 * The user's own files (branding assets, helper files, hook scripts) are named relative to the config file and must stay in its
 * directory: the schema refuses "/" and "..", and a symlink on the way that leads out is refused, so a host file
 * (/etc/shadow) can never end up in the image. The check at load and the read share one walk down from the config
 * dir by descriptors, never following a symlink on the host (symlinks are resolved by hand and must stay inside);
 * the bytes are read once per loaded config and both the fingerprint and the step use those same bytes, so nothing
 * swapped in between is read. Repository keys and the keyring are host paths (absolute paths are allowed there,
 * and each key is pinned by sha256), so they are not held to this.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { BuildConfig } from './schema.js';

export interface OwnFile {
  /** The dotted config field, e.g. `helper.files.0.source`. */
  field: string;
  /** The path the field names, relative to the config file's directory. */
  rel: string;
}

/** Every config field that names one of the user's own files, with the path relative to the config's directory. */
export function ownFiles(config: BuildConfig): OwnFile[] {
  const out: OwnFile[] = [];
  const b = config.branding;
  if (b.dir !== undefined) {
    out.push({ field: 'branding.dir', rel: b.dir });
    for (const role of ['logo', 'welcome', 'splash', 'wallpaper'] as const) {
      const name = b[role];
      if (name !== undefined) out.push({ field: `branding.${role}`, rel: path.join(b.dir, name) });
    }
  }
  config.helper?.files.forEach((f, i) => {
    out.push({ field: `helper.files.${i}.source`, rel: f.source });
  });
  if (config.packages.local !== undefined) out.push({ field: 'packages.local', rel: config.packages.local });
  config.hooks.forEach((h, i) => {
    out.push({ field: `hooks.${i}.script`, rel: h.script });
  });
  return out;
}

const MAX_LINKS = 40;

// config imports nothing from runtime (docs/architecture.md), so the few descriptor steps of runtime/dir-fd.ts it
// needs are spelled out here: /proc/self/fd/<fd>/<name> looks up only name inside the directory fd holds.
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const O_PATH = 0o10000000;
const inDir = (dirFd: number, name: string) => `/proc/self/fd/${dirFd}/${name}`;
const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException | null)?.code;

/** The bytes of the regular file a handle holds, reopened through its magic link (no path is looked up again). */
function readHeld(handle: number): Buffer | null {
  if (!fs.fstatSync(handle).isFile()) return null;
  const fd = fs.openSync(`/proc/self/fd/${handle}`, O_RDONLY);
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

interface Link {
  link: string;
  target: string;
}

/** What the walk found at rel: out means a symlink led out of the directory (resolved says where). */
type Walked =
  | { kind: 'file'; data: Buffer | null }
  | { kind: 'dir' | 'other' | 'missing' | 'unreadable' }
  | { kind: 'out'; resolved: string; links: Link[] };

function partsOf(rel: string): string[] {
  return rel.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
}

function isInside(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * Walks rel down from root (a real path) one entry at a time through descriptors opened with O_NOFOLLOW; a symlink
 * is read and its text resolved here, inside root only. read: read a regular file at the end, through its handle.
 */
function walkInside(root: string, rel: string, read: boolean): Walked {
  const links: Link[] = [];
  const stack = [fs.openSync(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)];
  const names: string[] = [];
  const closeFrom = (depth: number) => {
    for (const fd of stack.splice(depth)) fs.closeSync(fd);
    names.splice(depth - 1);
  };
  try {
    let todo = partsOf(rel);
    for (let hops = 0; todo.length > 0; ) {
      const part = todo.shift()!;
      if (part === '..') {
        if (stack.length === 1) return { kind: 'out', resolved: path.resolve(root, '..', ...todo), links };
        closeFrom(stack.length - 1);
        continue;
      }
      const dirFd = stack[stack.length - 1]!;
      let handle: number;
      try {
        handle = fs.openSync(inDir(dirFd, part), O_PATH | O_NOFOLLOW);
      } catch (error) {
        const code = errnoOf(error);
        if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
        throw error;
      }
      let keep = false;
      try {
        const st = fs.fstatSync(handle);
        if (st.isSymbolicLink()) {
          const target = fs.readlinkSync(inDir(dirFd, part));
          links.push({ link: [...names, part].join('/'), target });
          if (++hops > MAX_LINKS) return { kind: 'missing' };
          if (!path.isAbsolute(target)) todo = [...partsOf(target), ...todo];
          else if (!isInside(path.normalize(target), root))
            return { kind: 'out', resolved: path.join(target, ...todo), links };
          else {
            closeFrom(1);
            todo = [...partsOf(path.relative(root, path.normalize(target))), ...todo];
          }
          continue;
        }
        if (st.isDirectory()) {
          if (todo.length === 0) return { kind: 'dir' };
          stack.push(handle);
          names.push(part);
          keep = true;
          continue;
        }
        if (todo.length > 0) return { kind: 'missing' };
        if (!st.isFile()) return { kind: 'other' };
        return { kind: 'file', data: read ? readHeld(handle) : null };
      } finally {
        if (!keep) fs.closeSync(handle);
      }
    }
    return { kind: 'dir' };
  } finally {
    closeFrom(0);
  }
}

/** walkInside, with a file system error on the way (EACCES: a user who may not read it) taken as unreadable. */
function walkOrUnreadable(root: string, rel: string, read: boolean): Walked {
  try {
    return walkInside(root, rel, read);
  } catch (error) {
    if (errnoOf(error) === undefined) throw error;
    return { kind: 'unreadable' };
  }
}

/** The config dir's real path, or null when it cannot be resolved (then every own file is missing). */
function realRoot(baseDir: string): string | null {
  try {
    return fs.realpathSync(path.resolve(baseDir));
  } catch {
    return null;
  }
}

function leadsOut(field: string, rel: string, root: string, walked: Walked & { kind: 'out' }, file?: string): never {
  const via = walked.links.map((l) => `${l.link} -> ${l.target}`).join(', ');
  throw new ConfigError(
    `${field}: ${rel} leads out of the config file's directory ${root}: it resolves to ${walked.resolved}${via ? ` (symlink ${via})` : ''}`,
    [
      {
        path: field,
        value: rel,
        expected: `a path inside ${root}; ${via ? `the symlink ${via} points outside it` : 'this path leaves it'}`,
      },
    ],
    file,
    { hint: 'copy the file into the config directory instead of linking to it' },
  );
}

/** Refuses (exit 2, naming the field and where the link points) an own file whose path leads out of baseDir. */
export function checkOwnFilesInside(config: BuildConfig, baseDir: string, file: string | null = null): void {
  const root = realRoot(baseDir);
  if (root === null) return;
  for (const { field, rel } of ownFiles(config)) {
    const walked = walkOrUnreadable(root, rel, false);
    if (walked.kind === 'out') leadsOut(field, rel, root, walked, file ?? undefined);
  }
}

/** Bytes read once per loaded config object: the fingerprint and the step that installs a file see the same bytes. */
const readOnce = new WeakMap<BuildConfig, Map<string, Buffer | null>>();

/**
 * The bytes of one of the user's own files (rel as ownFiles names it), read through descriptors inside the config
 * dir the first time it is asked for this config, the same bytes every time after; null when it is missing, not a
 * regular file, or cannot be read. A symlink that leads out by now is refused with the ConfigError of the load-time check.
 */
export function readOwnFile(config: BuildConfig, baseDir: string, rel: string): Buffer | null {
  const cache = readOnce.get(config) ?? new Map<string, Buffer | null>();
  readOnce.set(config, cache);
  const key = `${path.resolve(baseDir)}\0${rel}`;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const root = realRoot(baseDir);
  const walked: Walked = root === null ? { kind: 'missing' } : walkOrUnreadable(root, rel, true);
  if (walked.kind === 'out') {
    const field = ownFiles(config).find((o) => o.rel === rel)?.field ?? rel;
    leadsOut(field, rel, root!, walked);
  }
  const data = walked.kind === 'file' ? walked.data : null;
  cache.set(key, data);
  return data;
}

/** Whether rel is one of the config's own files (a path inside the config dir, not a host path like a key). */
export function isOwnFile(config: BuildConfig, rel: string): boolean {
  return ownFiles(config).some((o) => o.rel === rel);
}
