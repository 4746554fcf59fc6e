/**
 * squashfs.layers: one SquashFS image per rootfs layer, which the live system stacks at boot as overlayfs lower
 * layers. live-boot reads their order from live/filesystem.module, bottom first. casper stacks the chain that the
 * kernel argument layerfs-path=<top image> names: casper/a.b.c.squashfs stands on casper/a.b.squashfs, which stands
 * on casper/a.squashfs (setup_overlay in casper's scripts/casper; docs/profiles.md has the line numbers). An overlay
 * upper dir packs as it is: its whiteouts (0/0 character devices) and opaque directories (the trusted.overlay.opaque
 * xattr) go into the image, and the live system's overlay honours them in its lower layers as the build's own mounts
 * did (both live systems pass the mounted images to overlayfs as lowerdir, and do nothing to them themselves).
 *
 * What a layer above hides (a file it replaces, removes or truncates: chroot-cleanup's logs, caches and debootstrap's
 * .debs) is left out of the image below, so each file is stored once, in the topmost layer that has it, and the
 * build-time bytes that differ between two builds (logs, aux-cache, machine-id) never reach the medium.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import type { RootfsLayers } from '../runtime/layers.js';

/** One rootfs layer as the live medium carries it. */
export interface LayerImage {
  /** The step whose layer it is. */
  stepId: string;
  /** The layer's tree on the host: the base root, or an overlay upper dir. */
  dir: string;
  /**
   * Its image's file name in the live directory: live-boot NN-<step>.squashfs, NN its place from the bottom; casper
   * the dotted chain (casperChainNames).
   */
  name: string;
}

/** The layers the squashfs step sees, bottom first, each with the name live-boot's image of it gets. */
export function layerImages(layers: RootfsLayers): LayerImage[] {
  return [...layers.below].reverse().map((dir, i) => {
    const stepId = path.basename(path.dirname(dir));
    return { stepId, dir, name: `${String(i + 1).padStart(2, '0')}-${stepId}.squashfs` };
  });
}

/**
 * casper's image names for these layers (their step ids, bottom first): each is the name below it with its own step
 * added after a dot, so bootstrap.squashfs, bootstrap.packages.squashfs, bootstrap.packages.desktop.squashfs. casper
 * finds the stack from the top name alone, dropping the last dotted part until none is left, and panics when an image
 * on the way is missing: so a step id must hold no dot (step and hook ids cannot), and no layer may be left out.
 */
export function casperChainNames(stepIds: readonly string[]): string[] {
  const dotted = stepIds.find((id) => id.includes('.') || id === '');
  if (dotted !== undefined) throw new Error(`step id "${dotted}" cannot name a casper layer image (no dots allowed)`);
  return stepIds.map((_, i) => `${stepIds.slice(0, i + 1).join('.')}.squashfs`);
}

/**
 * The images the medium carries, bottom first: one per non-empty layer (an empty upper dir adds nothing), named as the
 * live system stacks them. The squashfs step packs these, and the bootloaders step names casper's top one: both read
 * the same sealed layers, so they agree.
 */
export function mediumLayerImages(layers: RootfsLayers, liveSystem: BuildConfig['liveSystem']): LayerImage[] {
  const kept = layerImages(layers).filter((l) => fs.readdirSync(l.dir).length > 0);
  if (liveSystem !== 'casper') return kept;
  const names = casperChainNames(kept.map((l) => l.stepId));
  return kept.map((l, i) => ({ ...l, name: names[i]! }));
}

/**
 * The kernel arguments a layered casper medium needs in every boot entry (without layerfs-path= casper stacks every
 * *.squashfs in casper/, the merged one and the layers together, in name order):
 * - layerfs-path=<top image>, relative to casper/ (casper's LIVE_MEDIA_PATH);
 * - locale=<locale.lang>: casper's 14locales reads the locale from /rofs/etc/default/locale, and /rofs is the first
 *   image it mounted, the bottom layer, which has none (debootstrap writes none; the configure layer does); it would
 *   write LANG=C.UTF-8 over the image's own. With locale= it writes the image's locale instead (and a locale.gen of that
 *   one locale, in the live session only; locale-gen --keep-existing keeps the ones the image has). Left out for
 *   C and POSIX: casper writes C.UTF-8 then anyway.
 */
export function casperLayerArgs(config: Pick<BuildConfig, 'locale'>, images: readonly LayerImage[]): string[] {
  const top = images[images.length - 1];
  if (top === undefined) throw new Error('a layered casper medium needs at least one layer image');
  const lang = config.locale.lang;
  return [`layerfs-path=${top.name}`, ...(/^(C|POSIX)(\.|$)/.test(lang) ? [] : [`locale=${lang}`])];
}

/**
 * Every path in dir (relative, / separated), walked without following a symlink: directories, and the
 * non-directories (files, links, devices, whiteouts) apart, since only those hide what lies below them.
 */
export function layerEntries(dir: string): { dirs: Set<string>; others: Set<string> } {
  const dirs = new Set<string>();
  const others = new Set<string>();
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(rel === '' ? dir : path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        dirs.add(child);
        walk(child);
      } else others.add(child);
    }
  };
  walk('');
  return { dirs, others };
}

/**
 * For each layer (bottom first), the paths it holds that a layer above replaces with a non-directory (a file, a
 * link, a whiteout), sorted: the live system would never show them, so its image leaves them out. A directory
 * above merges with the one below and hides nothing by itself (an opaque one does, read from an xattr node cannot
 * read: what it hides stays in the image below, hidden at boot, a few bytes more on the medium).
 */
export function hiddenByUpperLayers(dirs: readonly string[]): string[][] {
  const entries = dirs.map(layerEntries);
  const hiding = new Set<string>();
  const out: string[][] = new Array(dirs.length);
  for (let i = dirs.length - 1; i >= 0; i--) {
    const own = entries[i]!;
    out[i] = [...hiding].filter((p) => own.others.has(p) || own.dirs.has(p)).sort();
    for (const p of own.others) hiding.add(p);
  }
  return out;
}

/**
 * One line of mksquashfs's -ef file: a path relative to the source, with a backslash before each whitespace
 * character, '#' and backslash (mksquashfs strips leading whitespace, skips '#' lines and reads backslash
 * escapes). null for a name with a newline, which the file cannot carry (it then stays in the image, hidden).
 */
export function excludeLine(rel: string): string | null {
  if (/[\n\r]/.test(rel)) return null;
  return rel.replace(/[\s#\\]/g, (c) => `\\${c}`);
}

/** The -ef file's text for these paths (the config's squashfs.exclude goes as -e, as for the merged image). */
export function excludeFileText(paths: readonly string[]): string {
  return paths
    .map(excludeLine)
    .filter((l): l is string => l !== null)
    .map((l) => `${l}\n`)
    .join('');
}

/**
 * What a layer's image is made from besides the layer's own tree, whose life the cache follows (it lives in the
 * layer's directory, removed with it): the options, the time, the paths left out. Not the processor count.
 */
export function layerImageKey(config: BuildConfig, sourceDateEpoch: number | null, hidden: readonly string[]): string {
  const s = config.squashfs;
  return crypto
    .createHash('sha256')
    .update(
      JSON.stringify({
        format: 1,
        compression: s.compression,
        level: s.level ?? null,
        exclude: s.exclude,
        sourceDateEpoch,
        hidden,
      }),
    )
    .digest('hex');
}

/** Where a layer keeps its packed image between builds: in its own directory, so it goes when the layer goes. */
export function cachedImagePaths(layerDir: string): { image: string; key: string } {
  const own = path.dirname(layerDir);
  return { image: path.join(own, 'layer.squashfs'), key: path.join(own, 'layer.squashfs.key') };
}

/** The cached image of a layer when it was made with this key, else null. */
export function cachedImage(layerDir: string, key: string): string | null {
  const at = cachedImagePaths(layerDir);
  try {
    if (fs.readFileSync(at.key, 'utf8').trim() !== key) return null;
    return fs.statSync(at.image).isFile() ? at.image : null;
  } catch {
    return null;
  }
}

/**
 * overlayfs's own bookkeeping in an upper dir that means nothing once the layer is sealed and makes two builds
 * differ: origin holds a file handle of the lower file (its file system's uuid and inode number), impure marks a
 * directory whose entries' inode numbers came from below. The opaque marks (and whiteouts) stay: they are the
 * layer's meaning. A metacopy (a file whose data is still below) would not survive the trip, and stops the step.
 */
export const STRIP_OVERLAY_XATTRS = [
  'import os, sys',
  'drop = ("trusted.overlay.origin", "trusted.overlay.impure")',
  'meta = []',
  'for top in sys.argv[1:]:',
  '    for d, ds, fs in os.walk(top):',
  '        for p in [d] + [os.path.join(d, n) for n in ds + fs]:',
  '            for x in os.listxattr(p, follow_symlinks=False):',
  '                if x in drop: os.removexattr(p, x, follow_symlinks=False)',
  '                elif x == "trusted.overlay.metacopy": meta.append(p)',
  'if meta:',
  '    sys.stderr.write("metadata-only copy-up (overlayfs metacopy=on) in: " + ", ".join(meta[:5]) + "\\n")',
  '    sys.exit(3)',
].join('\n');

/** argv that strips the overlay bookkeeping xattrs from the given layer trees (as root: trusted.* needs it). */
export function stripXattrsArgv(dirs: readonly string[]): string[] {
  return ['python3', '-c', STRIP_OVERLAY_XATTRS, ...dirs];
}

/** live-boot's filesystem.module: the images it stacks, bottom first, one a line. */
export function renderModuleFile(images: readonly string[]): string {
  return images.map((n) => `${n}\n`).join('');
}
