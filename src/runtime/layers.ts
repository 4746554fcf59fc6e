/**
 * Rootfs layers: the base layer is a plain directory made by the bootstrap step; each
 * chroot-changing step after it writes only into its own overlayfs upper layer. A failed or
 * interrupted step's layer is thrown away whole, so a rerun never trusts a half-modified tree.
 */
import fs from 'node:fs';
import path from 'node:path';
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
  if (step.layer === 'overlay') return { stepId: step.id, dir, upper: path.join(dir, 'upper'), work: path.join(dir, 'work') };
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
  if (own && own.work) {
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
    return { type: 'none', source: layers.below[0]!, target: layers.mountPoint, options: null, bind: true };
  }
  // Only lower dirs: overlayfs mounts it read-only.
  return { type: 'overlay', source: 'overlay', target: layers.mountPoint, options: `lowerdir=${layers.below.map(checkLayerPath).join(':')}` };
}

/** Fresh kernel filesystems for a chroot: never the host's /dev, /dev/pts or /run. */
export function chrootKernelMounts(root: string): MountSpec[] {
  return [
    { type: 'proc', source: 'proc', target: path.join(root, 'proc'), options: null },
    { type: 'sysfs', source: 'sysfs', target: path.join(root, 'sys'), options: null },
    { type: 'devpts', source: 'devpts', target: path.join(root, 'dev/pts'), options: 'newinstance,ptmxmode=0666,mode=0620' },
    { type: 'none', source: path.join(root, 'dev/pts/ptmx'), target: path.join(root, 'dev/ptmx'), options: null, bind: true },
  ];
}

/** argv that runs a command inside a new private mount namespace, after making the given mounts there. */
export function namespaceArgv(mounts: readonly MountSpec[], command: readonly string[]): string[] {
  const argv = ['unshare', '--mount', '--propagation', 'private', '--fork', '--', nsRunPath()];
  for (const m of mounts) {
    if (m.bind) argv.push('--bind', m.source, m.target);
    else argv.push('--mount', m.type, m.source, m.target, m.options ?? '-');
  }
  argv.push('--', ...command);
  return argv;
}

export interface ChrootOptions {
  /** Bind this host dir on /var/cache/apt/archives, so downloaded debs survive between builds. */
  aptArchives?: string;
}

/** argv for a command run inside the step's rootfs, with fresh proc, sysfs and devpts. */
export function chrootArgv(layers: RootfsLayers, command: readonly string[], options: ChrootOptions = {}): string[] {
  const root = layers.mountPoint;
  const mounts = [rootfsMount(layers), ...chrootKernelMounts(root)];
  if (options.aptArchives) {
    mounts.push({ type: 'none', source: options.aptArchives, target: path.join(root, 'var/cache/apt/archives'), options: null, bind: true });
  }
  return namespaceArgv(mounts, ['chroot', root, ...command]);
}

/** argv for a host command that reads the merged rootfs (read-only unless the step owns a layer). */
export function viewArgv(layers: RootfsLayers, command: readonly string[]): string[] {
  return namespaceArgv([rootfsMount(layers)], command);
}

/** Finds a file in the topmost layer that has it, honouring overlayfs whiteouts. */
export function findInLayers(layers: RootfsLayers, rel: string): string | null {
  const dirs = layers.own ? [layers.own.upper, ...layers.below] : layers.below;
  for (const dir of dirs) {
    const p = path.join(dir, rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    // A 0:0 character device is an overlayfs whiteout: the file was deleted in that layer.
    if (st.isCharacterDevice() && st.rdev === 0) return null;
    return p;
  }
  return null;
}

export function readLayerFile(layers: RootfsLayers, rel: string): string | null {
  const p = findInLayers(layers, rel);
  return p === null ? null : fs.readFileSync(p, 'utf8');
}

/**
 * Writes a file into the step's own layer. Missing parent dirs are created with the mode and
 * owner they have in the layers below, so the merged view keeps them.
 */
export function writeLayerFile(layers: RootfsLayers, rel: string, content: string, mode: number): string {
  const own = layers.own;
  if (!own) throw new Error('this step has no layer of its own to write into');
  const clean = path.posix.normalize(rel).replace(/^\/+/, '');
  if (clean.startsWith('..')) throw new Error(`refusing to write outside the rootfs: ${rel}`);
  const parts = clean.split('/');
  let dirRel = '';
  for (const part of parts.slice(0, -1)) {
    dirRel = dirRel ? `${dirRel}/${part}` : part;
    const target = path.join(own.upper, dirRel);
    if (fs.existsSync(target)) continue;
    const model = layers.below.map((d) => path.join(d, dirRel)).find((p) => fs.existsSync(p));
    fs.mkdirSync(target, { mode: 0o755 });
    if (model) {
      const st = fs.statSync(model);
      fs.chmodSync(target, st.mode & 0o7777);
      if (process.getuid?.() === 0) fs.chownSync(target, st.uid, st.gid);
    }
  }
  const file = path.join(own.upper, clean);
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode); // the umask must not weaken or widen an explicit mode
  return file;
}
