/**
 * Rootfs layers: the base layer is a plain directory made by the bootstrap step; each
 * chroot-changing step after it writes only into its own overlayfs upper layer. A failed or
 * interrupted step's layer is thrown away whole, so a rerun never trusts a half-modified tree.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  at,
  copyRegularFile,
  errnoCode,
  fdPath,
  openDir,
  openDirAt,
  openEntryAt,
  readLinkAt,
  readRegularFile,
} from './dir-fd.js';
import { nsRunPath } from './package-root.js';

export interface OwnLayer {
  stepId: string;
  /** The directory that holds everything of this layer; removing it undoes the step. */
  dir: string;
  /** Where the step's changes land: the base root, or the overlay upper dir. */
  upper: string;
  /** overlayfs work dir (overlay layers only). */
  work: string | null;
}

export interface RootfsLayers {
  own: OwnLayer | null;
  /** Sealed layers below, topmost first: overlay upper dirs, then the base root. */
  below: string[];
  /** Where the merged view is mounted inside the private namespace. */
  mountPoint: string;
}

export interface LayerStep {
  id: string;
  layer: 'base' | 'overlay' | 'none';
}

export function ownLayer(layersDir: string, step: LayerStep): OwnLayer | null {
  const dir = path.join(layersDir, step.id);
  if (step.layer === 'base') return { stepId: step.id, dir, upper: path.join(dir, 'root'), work: null };
  if (step.layer === 'overlay')
    return { stepId: step.id, dir, upper: path.join(dir, 'upper'), work: path.join(dir, 'work') };
  return null;
}

/** The layers a step sees: its own, over the layers of the steps before it in the profile's order. */
export function layersFor(steps: readonly LayerStep[], index: number, layersDir: string, mntDir: string): RootfsLayers {
  const step = steps[index];
  if (!step) throw new Error(`no step at index ${index}`);
  const below: string[] = [];
  for (let i = index - 1; i >= 0; i--) {
    const l = ownLayer(layersDir, steps[i]!);
    if (l) below.push(l.upper);
  }
  return { own: ownLayer(layersDir, step), below, mountPoint: path.join(mntDir, step.id) };
}

export interface MountSpec {
  type: string;
  source: string;
  target: string;
  options: string | null;
  bind?: boolean;
  /** Bind read-only (a view of a sealed layer must not be able to change it). */
  readonly?: boolean;
  /** A read-only bind skipped when its source is absent (a kernel file this kernel may lack). */
  ifPresent?: boolean;
}

const UNSAFE_IN_MOUNT_OPTION = /[,:\n\0\\]/;

function checkLayerPath(p: string): string {
  if (UNSAFE_IN_MOUNT_OPTION.test(p)) {
    throw new Error(`layer path ${p} contains a character overlayfs options cannot carry (, : \\ or newline)`);
  }
  return p;
}

/** The mount that assembles the merged rootfs: writable when the step owns an overlay layer. */
export function rootfsMount(layers: RootfsLayers): MountSpec {
  const own = layers.own;
  if (own?.work) {
    const lower = layers.below.map(checkLayerPath).join(':');
    if (lower === '') throw new Error(`overlay step ${own.stepId} has no layer below it; a base step must come first`);
    return {
      type: 'overlay',
      source: 'overlay',
      target: layers.mountPoint,
      options: `lowerdir=${lower},upperdir=${checkLayerPath(own.upper)},workdir=${checkLayerPath(own.work)}`,
    };
  }
  if (own && !own.work) {
    return { type: 'none', source: own.upper, target: layers.mountPoint, options: null, bind: true };
  }
  if (layers.below.length === 0) throw new Error('no rootfs layer exists before this step');
  if (layers.below.length === 1) {
    // overlayfs refuses a single lowerdir without an upper, so a lone sealed layer is bound read-only.
    return {
      type: 'none',
      source: layers.below[0]!,
      target: layers.mountPoint,
      options: null,
      bind: true,
      readonly: true,
    };
  }
  // Only lower dirs: overlayfs mounts it read-only.
  return {
    type: 'overlay',
    source: 'overlay',
    target: layers.mountPoint,
    options: `lowerdir=${layers.below.map(checkLayerPath).join(':')}`,
  };
}

/** A path inside the fresh proc bound onto itself read-only. */
function readOnlyInPlace(target: string, ifPresent = false): MountSpec {
  return {
    type: 'none',
    source: target,
    target,
    options: null,
    bind: true,
    readonly: true,
    ...(ifPresent && { ifPresent }),
  };
}

/**
 * Fresh kernel filesystems for a chroot: never the host's /dev, /dev/pts or /run. /proc/sys, /proc/sysrq-trigger
 * and sysfs are read-only: their files are the host's kernel settings (hostname, core_pattern, drop_caches, a
 * reboot), which root may write without CAP_SYS_ADMIN.
 */
export function chrootKernelMounts(root: string): MountSpec[] {
  return [
    { type: 'proc', source: 'proc', target: path.join(root, 'proc'), options: null },
    readOnlyInPlace(path.join(root, 'proc/sys')),
    readOnlyInPlace(path.join(root, 'proc/sysrq-trigger'), true),
    { type: 'sysfs', source: 'sysfs', target: path.join(root, 'sys'), options: 'ro' },
    {
      type: 'devpts',
      source: 'devpts',
      target: path.join(root, 'dev/pts'),
      options: 'newinstance,ptmxmode=0666,mode=0620',
    },
    {
      type: 'none',
      source: path.join(root, 'dev/pts/ptmx'),
      target: path.join(root, 'dev/ptmx'),
      options: null,
      bind: true,
    },
  ];
}

/**
 * The unshare options of a session's namespaces (`ailinux shell`): a pid namespace too, whose first process is
 * ailinux-ns-run; --kill-child ends it when unshare dies, and the kernel then ends every process of the session, the
 * ones that left its process group or session included, so none can keep its mounts alive.
 */
export const SESSION_UNSHARE = ['--pid', '--kill-child'] as const;

/** argv that runs a command inside a new private mount namespace, after making the given mounts there. */
export function namespaceArgv(
  mounts: readonly MountSpec[],
  command: readonly string[],
  options: { session?: boolean } = {},
): string[] {
  const argv = [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    ...(options.session ? SESSION_UNSHARE : []),
    '--fork',
    '--',
    nsRunPath(),
  ];
  for (const m of mounts) {
    if (m.bind)
      argv.push(m.readonly ? (m.ifPresent ? '--bind-ro-if-present' : '--bind-ro') : '--bind', m.source, m.target);
    else argv.push('--mount', m.type, m.source, m.target, m.options ?? '-');
  }
  argv.push('--', ...command);
  return argv;
}

export interface ChrootOptions {
  /** Bind this host dir on /var/cache/apt/archives, so downloaded debs survive between builds. */
  aptArchives?: string;
  /** Host dirs bound read-only at paths inside the rootfs (packages.local's repository), after the deb cache. */
  readOnlyBinds?: ReadonlyArray<{ source: string; target: string }>;
}

/** argv for a command run inside the step's rootfs, with fresh proc, sysfs and devpts. */
export function chrootArgv(layers: RootfsLayers, command: readonly string[], options: ChrootOptions = {}): string[] {
  const root = layers.mountPoint;
  const mounts = [rootfsMount(layers), ...chrootKernelMounts(root)];
  if (options.aptArchives) {
    mounts.push({
      type: 'none',
      source: options.aptArchives,
      target: path.join(root, 'var/cache/apt/archives'),
      options: null,
      bind: true,
    });
  }
  for (const b of options.readOnlyBinds ?? []) {
    const rel = path.posix.normalize(`/${b.target}`).replace(/^\/+/, '');
    if (rel === '' || rel.split('/').includes('..'))
      throw new Error(`bind target ${b.target} is not a path in the rootfs`);
    mounts.push({
      type: 'none',
      source: b.source,
      target: path.join(root, rel),
      options: null,
      bind: true,
      readonly: true,
    });
  }
  return namespaceArgv(mounts, ['chroot', root, ...command]);
}

/** The rootfs of an `ailinux shell` session: the sealed layers read-only, under a throwaway upper of its own. */
export interface SessionLayers {
  /** Sealed layers, topmost first: overlay upper dirs, then the base root. */
  sealed: string[];
  /** The session's upper and overlayfs work dirs (one file system), removed when it ends. */
  upper: string;
  work: string;
  mountPoint: string;
}

/**
 * argv for a command in a shell session's rootfs: an overlay of the sealed layers under the session's own upper, the
 * chroot's fresh kernel file systems, in a mount and pid namespace of its own (SESSION_UNSHARE).
 */
export function sessionArgv(layers: SessionLayers, command: readonly string[]): string[] {
  if (layers.sealed.length === 0) throw new Error('a shell session needs at least one sealed layer');
  const root = layers.mountPoint;
  const overlay: MountSpec = {
    type: 'overlay',
    source: 'overlay',
    target: root,
    options: `lowerdir=${layers.sealed.map(checkLayerPath).join(':')},upperdir=${checkLayerPath(layers.upper)},workdir=${checkLayerPath(layers.work)}`,
  };
  return namespaceArgv([overlay, ...chrootKernelMounts(root)], ['chroot', root, ...command], { session: true });
}

/** argv for a host command that reads the merged rootfs (read-only unless the step owns a layer). */
export function viewArgv(layers: RootfsLayers, command: readonly string[]): string[] {
  return namespaceArgv([rootfsMount(layers)], command);
}

/** A 0:0 character device is an overlayfs whiteout: the file was deleted in that layer. */
function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Like the kernel's limit on symlinks followed in one lookup. */
const MAX_SYMLINKS = 40;

interface LayerEntry {
  /** Where the entry is on the host: for messages and existence only, never opened by this path. */
  path: string;
  st: fs.Stats;
  /** An O_PATH handle on the entry itself (see dir-fd.ts), valid only while the lookup's callback runs. */
  handle: number;
  /** The directory handle the entry was found in, and its name there. */
  parentFd: number;
  name: string;
}

interface LayerLookup {
  /** rel with every symlink met on the way resolved inside the rootfs. */
  rel: string;
  /** The topmost entry for rel, or null when it is absent, whited out, or a parent is not a directory. */
  entry: LayerEntry | null;
  /** When entry is a directory: the layers' directories merged at rel, topmost first (handles, as entry's). */
  dirs: readonly OpenLayer[];
}

interface OpenLayer {
  dir: string;
  fd: number;
}

function cleanRel(rel: string): string {
  // A leading '/' makes '..' stop at the rootfs root, as it does inside a chroot.
  return path.posix.normalize(`/${rel}`).replace(/^\/+/, '');
}

function closeAll(fds: number[]): void {
  for (const fd of fds.splice(0)) fs.closeSync(fd);
}

/** Each layer root that exists, opened (the layer roots are ailinux's own; what lies in them is not). */
function openLayerRoots(dirs: readonly string[]): OpenLayer[] {
  const roots: OpenLayer[] = [];
  try {
    for (const dir of dirs) {
      try {
        roots.push({ dir, fd: openDir(dir) });
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    }
  } catch (error) {
    for (const r of roots) fs.closeSync(r.fd);
    throw error;
  }
  return roots;
}

/**
 * Looks rel up in the merged view of dirs (topmost first) as overlayfs would show it: the topmost
 * entry wins, whiteouts hide what is below, directories merge down to the first non-directory.
 * Symlinks are resolved against the rootfs root, never the host's, like a chroot does: always in
 * parent components, in the last one only when followLast. Opaque-dir xattrs are not read.
 * The walk goes from each layer's root down by descriptors and never follows a symlink on the host,
 * so a directory someone swaps for a symlink (a user's home in a layer, its /tmp) cannot lead it out
 * of the layers; use gets the result while the entry's handle is still open.
 */
function lookupInLayers<T>(
  dirs: readonly string[],
  rel: string,
  followLast: boolean,
  use: (found: LayerLookup) => T,
): T {
  const roots = openLayerRoots(dirs);
  const held: number[] = [];
  try {
    let current = cleanRel(rel);
    for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
      const found = walkLayersOnce(roots, current, followLast, held);
      if (typeof found === 'object') return use(found);
      closeAll(held);
      current = found;
    }
    throw new Error(`too many levels of symbolic links resolving ${rel} in the rootfs layers`);
  } finally {
    closeAll(held);
    for (const r of roots) fs.closeSync(r.fd);
  }
}

/** One pass down current; a string is the path to walk again from the root (a symlink met, or a racing change). */
function walkLayersOnce(
  roots: readonly OpenLayer[],
  current: string,
  followLast: boolean,
  held: number[],
): LayerLookup | string {
  const parts = current === '' ? [] : current.split('/');
  if (parts.length === 0) {
    const top = roots[0];
    if (top === undefined) return { rel: '', entry: null, dirs: [] };
    const entry = { path: top.dir, st: fs.fstatSync(top.fd), handle: top.fd, parentFd: -1, name: '' };
    return { rel: '', entry, dirs: roots };
  }
  let live: readonly OpenLayer[] = roots;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    let top: LayerEntry | null = null;
    const merged: OpenLayer[] = [];
    for (const layer of live) {
      let handle: number;
      try {
        handle = openEntryAt(layer.fd, part);
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') continue;
        throw error;
      }
      held.push(handle);
      const st = fs.fstatSync(handle);
      if (isWhiteout(st)) break;
      if (top === null) {
        const where = path.join(layer.dir, ...parts.slice(0, i + 1));
        top = { path: where, st, handle, parentFd: layer.fd, name: part };
      }
      if (!st.isDirectory()) break;
      if (!top.st.isDirectory()) break;
      merged.push({ dir: layer.dir, fd: handle });
    }
    if (top === null) return { rel: current, entry: null, dirs: [] };
    if (top.st.isSymbolicLink() && (!last || followLast)) {
      let link: string;
      try {
        link = readLinkAt(top.parentFd, top.name);
      } catch (error) {
        // replaced since it was opened: walk the same path again (a racer only burns the hop budget)
        if (errnoCode(error) === 'EINVAL' || errnoCode(error) === 'ENOENT') return current;
        throw error;
      }
      const base = link.startsWith('/') ? '' : parts.slice(0, i).join('/');
      return cleanRel(path.posix.join(base, link, ...parts.slice(i + 1)));
    }
    if (last) return { rel: current, entry: top, dirs: top.st.isDirectory() ? merged : [] };
    if (!top.st.isDirectory()) return { rel: current, entry: null, dirs: [] };
    live = merged;
  }
  throw new Error('unreachable: the walk returns at the last component');
}

function layerDirs(layers: RootfsLayers): string[] {
  return layers.own ? [layers.own.upper, ...layers.below] : [...layers.below];
}

/**
 * Finds a file in the topmost layer that has it, honouring overlayfs whiteouts and resolving
 * symlinked parent dirs (merged /usr: lib -> usr/lib) inside the rootfs. A symlink as the last
 * component is returned itself, not followed. The host path is for messages: never open it.
 */
export function findInLayers(layers: RootfsLayers, rel: string): string | null {
  return lookupInLayers(layerDirs(layers), rel, false, (found) => found.entry?.path ?? null);
}

export interface LayerEntryInfo {
  /** Where it is on the host, for messages only. */
  hostPath: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** A symlink's text, as it was when the entry was looked at; null for anything else. */
  link: string | null;
  /** Its permission bits (the entry's own, a symlink's not followed). */
  mode: number;
}

/** What rel is in the merged rootfs, without following a symlink at rel itself (parents resolve inside the rootfs). */
export function entryInLayers(layers: RootfsLayers, rel: string): LayerEntryInfo | null {
  return lookupInLayers(layerDirs(layers), rel, false, ({ entry }) => {
    if (entry === null) return null;
    const st = entry.st;
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
    const link = type === 'symlink' ? readLinkAt(entry.parentFd, entry.name) : null;
    return { hostPath: entry.path, type, link, mode: st.mode & 0o7777 };
  });
}

/**
 * Reads a regular file as the merged rootfs shows it, following symlinks inside the rootfs only, through the
 * descriptor the lookup opened: null when it is absent or not a regular file (a device, a FIFO, a directory).
 */
export function readFileInLayers(layers: RootfsLayers, rel: string): { hostPath: string; data: Buffer } | null {
  return lookupInLayers(layerDirs(layers), rel, true, ({ entry }) => {
    const data = entry === null ? null : readRegularFile(entry.handle);
    return data === null ? null : { hostPath: entry!.path, data };
  });
}

/**
 * The names in the directory rel of the merged rootfs (parents resolved inside it, rel itself not followed), read
 * through the lookup's handles: null when rel is no directory. Whiteouts are listed too: look each name up.
 */
export function namesInLayersDir(layers: RootfsLayers, rel: string): string[] | null {
  return lookupInLayers(layerDirs(layers), rel, false, ({ entry, dirs }) => {
    if (entry === null || !entry.st.isDirectory()) return null;
    const names = new Set<string>();
    for (const dir of dirs) for (const name of fs.readdirSync(fdPath(dir.fd))) names.add(name);
    return [...names].sort();
  });
}

/** Whether rel leads to a regular file in the merged rootfs, following symlinks inside the rootfs only. */
export function isFileInLayers(layers: RootfsLayers, rel: string): boolean {
  return lookupInLayers(layerDirs(layers), rel, true, ({ entry }) => entry?.st.isFile() ?? false);
}

/**
 * Copies a regular file as the merged rootfs shows it to dest (a path of ailinux's own), following symlinks inside
 * the rootfs only, streamed from the descriptor the lookup opened: null when it is absent or not a regular file.
 */
export function copyFileFromLayers(layers: RootfsLayers, rel: string, dest: string): { hostPath: string } | null {
  return lookupInLayers(layerDirs(layers), rel, true, ({ entry }) =>
    entry !== null && copyRegularFile(entry.handle, dest) ? { hostPath: entry.path } : null,
  );
}

/** Reads a text file as the merged rootfs shows it, following symlinks inside the rootfs only. */
export function readLayerFile(layers: RootfsLayers, rel: string): string | null {
  return readFileInLayers(layers, rel)?.data.toString('utf8') ?? null;
}

/**
 * Writes a file into the step's own layer. Missing parent dirs are created with the mode and
 * owner they have in the layers below, so the merged view keeps them. Symlinked parents are
 * followed inside the rootfs (writing lib/x on a merged-/usr system lands in usr/lib/x); a
 * symlink at the file itself is replaced by the file. The write walks down from the layer's root
 * by descriptors and never follows a symlink there, so nothing swapped in (a user's home in the
 * layer belongs to a uid that may exist on the host) can redirect it out of the layer.
 */
export function writeLayerFile(layers: RootfsLayers, rel: string, content: string | Uint8Array, mode: number): string {
  const own = layers.own;
  if (!own) throw new Error('this step has no layer of its own to write into');
  const normal = path.posix.normalize(rel).replace(/^\/+/, '');
  if (normal === '' || normal === '.' || normal.startsWith('..'))
    throw new Error(`refusing to write outside the rootfs: ${rel}`);
  const name = path.posix.basename(normal);
  const parentRel = lookupInLayers(layerDirs(layers), path.posix.dirname(normal), true, (found) => found.rel);
  let dirFd = openDir(own.upper);
  try {
    let dirRel = '';
    for (const part of parentRel === '' ? [] : parentRel.split('/')) {
      dirRel = dirRel ? `${dirRel}/${part}` : part;
      const next = openOrMakeLayerDir(layers, dirFd, part, dirRel, rel);
      fs.closeSync(dirFd);
      dirFd = next;
    }
    writeFileAt(dirFd, name, content, mode);
  } finally {
    fs.closeSync(dirFd);
  }
  return path.join(own.upper, parentRel, name);
}

/** An entry an overlay puts into a step's own layer (src/steps/overlays.ts): owners are numeric. */
export type LayerNode =
  | {
      kind: 'dir';
      mode: number;
      uid: number;
      gid: number;
      /** Give a directory the rootfs already has this mode and owner too (else it keeps its own). */
      force: boolean;
    }
  | { kind: 'file'; mode: number; uid: number; gid: number; write(fd: number): void }
  | { kind: 'symlink'; target: string; uid: number; gid: number };

/** What writeLayerNode did at rel: made it anew, or (a directory) found it in the rootfs already. */
export type LayerNodeResult = 'created' | 'existed';

const isRoot = () => process.getuid?.() === 0;

/**
 * Puts one entry into the step's own layer at rel, as writeLayerFile puts a file: parents are resolved inside the
 * rootfs (a symlinked directory such as lib -> usr/lib is entered, never replaced) and walked down by descriptors,
 * never through a symlink on the host. A directory that the rootfs has is kept (mode and owner unless force); a
 * file or symlink replaces what stands at rel (a symlink is replaced, never written through), but never a
 * directory: an overlay that puts a file where the rootfs has a directory is refused. Owners are set only as root,
 * before the mode, since chown clears setuid and setgid bits.
 */
export function writeLayerNode(layers: RootfsLayers, rel: string, node: LayerNode): LayerNodeResult {
  const own = layers.own;
  if (!own) throw new Error('this step has no layer of its own to write into');
  const normal = cleanRel(rel);
  if (normal === '') throw new Error(`refusing to write the rootfs root itself: ${rel}`);
  const dirs = layerDirs(layers);
  if (node.kind === 'dir') {
    const found = lookupInLayers(dirs, normal, true, (f) => ({ rel: f.rel, st: f.entry?.st ?? null }));
    if (found.st && !found.st.isDirectory())
      throw new Error(`cannot make the directory ${rel}: ${found.rel} is not a directory in the rootfs`);
    const fd = openLayerPath(layers, own.upper, found.rel, rel, found.st ? null : node);
    try {
      if (found.st && node.force) setOwnerAndMode(fd, node);
    } finally {
      fs.closeSync(fd);
    }
    return found.st ? 'existed' : 'created';
  }
  const name = path.posix.basename(normal);
  const parentRel = lookupInLayers(dirs, path.posix.dirname(normal), true, (found) => found.rel);
  const at_ = parentRel === '' ? name : `${parentRel}/${name}`;
  const there = lookupInLayers(dirs, at_, false, (found) => found.entry?.st ?? null);
  if (there?.isDirectory()) throw new Error(`cannot put a ${node.kind} at ${rel}: ${at_} is a directory in the rootfs`);
  const dirFd = openLayerPath(layers, own.upper, parentRel, rel, null);
  try {
    const temp = `.${name}.ailinux-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      if (node.kind === 'symlink') {
        fs.symlinkSync(node.target, at(dirFd, temp));
        if (isRoot()) fs.lchownSync(at(dirFd, temp), node.uid, node.gid);
      } else {
        const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
        const fd = fs.openSync(at(dirFd, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        try {
          node.write(fd);
          setOwnerAndMode(fd, node);
        } finally {
          fs.closeSync(fd);
        }
      }
      fs.renameSync(at(dirFd, temp), at(dirFd, name));
    } catch (error) {
      fs.rmSync(at(dirFd, temp), { force: true });
      throw error;
    }
  } finally {
    fs.closeSync(dirFd);
  }
  return 'created';
}

function setOwnerAndMode(fd: number, owner: { uid: number; gid: number; mode: number }): void {
  if (isRoot()) fs.fchownSync(fd, owner.uid, owner.gid);
  fs.fchmodSync(fd, owner.mode); // after chown, which would clear setuid and setgid; the umask plays no part
}

/**
 * Opens dirRel (resolved inside the rootfs already) in the own layer, making each missing directory like the one
 * the layers below have; the last one, when the rootfs has none and fresh is given, with fresh's mode and owner.
 */
function openLayerPath(
  layers: RootfsLayers,
  upper: string,
  dirRel: string,
  rel: string,
  fresh: { mode: number; uid: number; gid: number } | null,
): number {
  let dirFd = openDir(upper);
  try {
    const parts = dirRel === '' ? [] : dirRel.split('/');
    let sofar = '';
    for (const [i, part] of parts.entries()) {
      sofar = sofar ? `${sofar}/${part}` : part;
      const next =
        i === parts.length - 1 && fresh !== null
          ? makeFreshDir(dirFd, part, sofar, rel, fresh)
          : openOrMakeLayerDir(layers, dirFd, part, sofar, rel);
      fs.closeSync(dirFd);
      dirFd = next;
    }
    return dirFd;
  } catch (error) {
    fs.closeSync(dirFd);
    throw error;
  }
}

/** A new directory the rootfs does not have yet, with the overlay's mode and owner. */
function makeFreshDir(
  dirFd: number,
  part: string,
  dirRel: string,
  rel: string,
  fresh: { mode: number; uid: number; gid: number },
): number {
  try {
    fs.mkdirSync(at(dirFd, part), { mode: 0o700 });
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
    throw new Error(`cannot make the directory ${rel}: ${dirRel} is already in the step's own layer`, { cause: error });
  }
  const fd = openDirAt(dirFd, part);
  setOwnerAndMode(fd, fresh);
  return fd;
}

/** The directory part (at dirRel) inside dirFd, made like the one the layers below have when it is missing. */
function openOrMakeLayerDir(layers: RootfsLayers, dirFd: number, part: string, dirRel: string, rel: string): number {
  try {
    return openDirAt(dirFd, part);
  } catch (error) {
    const code = errnoCode(error);
    // A whiteout, a file or a symlink here: a plain mkdir would bring back what the layers below hold.
    if (code === 'ENOTDIR' || code === 'ELOOP')
      throw new Error(`cannot write ${rel}: ${dirRel} is not a directory in the step's own layer`, { cause: error });
    if (code !== 'ENOENT') throw error;
  }
  const model = lookupInLayers(layers.below, dirRel, false, (found) => found.entry?.st ?? null);
  if (model && !model.isDirectory()) throw new Error(`cannot write ${rel}: ${dirRel} is not a directory in the rootfs`);
  fs.mkdirSync(at(dirFd, part), { mode: 0o755 });
  // Opened by name again: if something replaced the new directory meanwhile, this open refuses it.
  const fd = openDirAt(dirFd, part);
  if (model) {
    fs.fchmodSync(fd, model.mode & 0o7777);
    if (process.getuid?.() === 0) fs.fchownSync(fd, model.uid, model.gid);
  }
  return fd;
}

/**
 * Writes name inside dirFd: a new file under a temporary name (O_EXCL | O_NOFOLLOW, so never through a
 * symlink), then renamed over name, which replaces a symlink there instead of following it.
 */
function writeFileAt(dirFd: number, name: string, content: string | Uint8Array, mode: number): void {
  const temp = `.${name}.ailinux-${process.pid}-${randomBytes(6).toString('hex')}`;
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(at(dirFd, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    try {
      fs.writeFileSync(fd, content);
      fs.fchmodSync(fd, mode); // the umask must not weaken or widen an explicit mode
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(at(dirFd, temp), at(dirFd, name));
  } catch (error) {
    fs.rmSync(at(dirFd, temp), { force: true });
    throw error;
  }
}
