/**
 * squashfs: the merged rootfs layers packed into the live medium, with the kernel, initrd, package
 * manifest and filesystem.size (what the unpacked tree takes on disk; installers read it).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { copyFileFromLayers, entryInLayers, type RootfsLayers, viewArgv } from '../runtime/layers.js';
import { removeTree } from '../runtime/safe-remove.js';
import { fileArtifact } from './artifacts.js';
import { fileDigests } from './file-digests.js';
import { checkDpkgAdmindir, DPKG_ADMINDIR } from './dpkg-admindir.js';
import { pinMtimes } from './iso-tree.js';
import { NAMESPACE_TOOLS } from './host-requirements.js';
import { hasCalamares } from './installer.js';
import { kernelLinks, liveMedium } from './live-medium.js';
import {
  cachedImage,
  cachedImagePaths,
  excludeFileText,
  hiddenByUpperLayers,
  type LayerImage,
  layerImageKey,
  mediumLayerImages,
  renderModuleFile,
  stripXattrsArgv,
} from './squashfs-layers.js';
import type { StepContext, StepDef } from './types.js';

export function mksquashfsArgv(
  config: BuildConfig,
  source: string,
  output: string,
  cores: number,
  sourceDateEpoch: number | null,
  /** More options, before -e (which takes every argument after it as a path to leave out). */
  extra: readonly string[] = [],
): string[] {
  const s = config.squashfs;
  const argv = ['mksquashfs', source, output, '-noappend', '-comp', s.compression];
  if (s.level !== undefined && (s.compression === 'zstd' || s.compression === 'gzip')) {
    argv.push('-Xcompression-level', String(s.level));
  }
  if (s.compression === 'xz') argv.push('-b', '1M', '-Xbcj', 'x86');
  argv.push('-processors', String(Math.max(1, cores)));
  // every file gets the one time, not only those after it (which is all SOURCE_DATE_EPOCH would do)
  if (sourceDateEpoch !== null) argv.push('-mkfs-time', String(sourceDateEpoch), '-all-time', String(sourceDateEpoch));
  argv.push(...extra);
  for (const e of s.exclude) argv.push('-e', e);
  // mksquashfs (4.5) refuses these options while SOURCE_DATE_EPOCH is in its environment, where the user's variable
  // reaches every host command: env -u takes it out for this one
  return sourceDateEpoch === null ? argv : ['env', '-u', 'SOURCE_DATE_EPOCH', '--', ...argv];
}

/** What a directory counts for in filesystem.size: one block, whatever its size on the build's file system. */
export const DIRECTORY_BYTES = 4096;

/**
 * find over the read-only view of the rootfs, leaving out what mksquashfs leaves out: `d` for a directory, the
 * device and inode and the apparent size of anything else (filesystem.size, which installers read, as Ubuntu's).
 * Not du: a directory's own size is what its history on the build's file system left (ext4 never shrinks one), so
 * the same tree bootstrapped there or unpacked from the deb cache's tar, or built on another file system, would give
 * another number, and the ISO other bytes.
 */
export function sizeListArgv(config: BuildConfig, root: string): string[] {
  const excluded = config.squashfs.exclude.flatMap((e, i) => [...(i > 0 ? ['-o'] : []), '-path', `${root}/${e}`]);
  return [
    'find',
    root,
    '-xdev',
    ...(excluded.length > 0 ? ['(', ...excluded, ')', '-prune', '-o'] : []),
    '(',
    '-type',
    'd',
    '-printf',
    'd\\n',
    '-o',
    '-printf',
    '%D:%i %s\\n',
    ')',
  ];
}

/** The bytes of find's listing: each directory one block, each file or link once (hard links share an inode). */
export function parseSizeList(stdout: string): number {
  let total = 0;
  const seen = new Set<string>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    if (line === 'd') {
      total += DIRECTORY_BYTES;
      continue;
    }
    const m = /^(\d+:\d+) (\d+)$/.exec(line);
    if (!m)
      throw new StepError('squashfs', `find printed a line that is no size: ${JSON.stringify(line.slice(0, 200))}`);
    if (seen.has(m[1]!)) continue;
    seen.add(m[1]!);
    total += Number(m[2]);
  }
  if (total === 0) throw new StepError('squashfs', 'find listed nothing in the rootfs');
  return total;
}

/**
 * Copies the kernel or initrd at rel (a link the kernel's postinst made) out of the layers into dest, the link
 * resolved inside the rootfs: never cp by path, which resolves an absolute link against the host's root.
 */
export function copyKernelFile(layers: RootfsLayers, rel: string, dest: string): void {
  if (copyFileFromLayers(layers, rel, dest) !== null) return;
  const entry = entryInLayers(layers, rel);
  const what =
    entry === null
      ? 'is missing'
      : entry.type === 'symlink'
        ? `is a symlink to ${entry.link}, which leads to no regular file inside the rootfs`
        : 'is not a regular file';
  throw new StepError('squashfs', `the rootfs's /${rel} ${what}; is a kernel in packages.kernel?`);
}

export function liveDir(ctx: StepContext): string {
  return path.join(ctx.paths.isoDir, liveMedium(ctx.config).dir);
}

/** live-boot's list of the images it stacks, in the live directory. */
export const MODULE_FILE = 'filesystem.module';

function checkSquashfsMagic(squash: string): void {
  const magic = Buffer.alloc(4);
  try {
    const fd = fs.openSync(squash, 'r');
    fs.readSync(fd, magic, 0, 4, 0);
    fs.closeSync(fd);
  } catch {
    throw new StepError('squashfs', `${squash} was not written`);
  }
  if (magic.toString('latin1') !== 'hsqs')
    throw new StepError('squashfs', `${squash} is not a SquashFS image (bad magic)`);
}

/**
 * squashfs.layers: one image per non-empty rootfs layer, each without what the layers above hide, reused from the
 * layer's own directory when it was packed with the same key; returns the names. live-boot: with filesystem.module,
 * its list of them. casper: named as its layerfs-path= chain walks them (the bootloaders step names the top one).
 */
async function packLayers(ctx: StepContext, dir: string): Promise<string[]> {
  const layers = mediumLayerImages(ctx.layers, ctx.config.liveSystem);
  const hidden = hiddenByUpperLayers(layers.map((l) => l.dir));
  const keys = hidden.map((h) => layerImageKey(ctx.config, ctx.sourceDateEpoch, h));
  const fresh = layers.filter((l, i) => cachedImage(l.dir, keys[i]!) === null);
  // overlayfs's bookkeeping xattrs (a lower file's handle) would make two builds' images differ
  if (fresh.length > 0) {
    await ctx.runner
      .run(stripXattrsArgv(fresh.map((l) => l.dir)), { signal: ctx.signal, onLine: ctx.log.line })
      .catch((error: unknown) => {
        throw new StepError(
          'squashfs',
          `could not clear overlayfs's bookkeeping xattrs from the layers (${error instanceof Error ? error.message : String(error)}); a metadata-only copy-up needs overlayfs's metacopy off on the build host`,
        );
      });
  }
  for (const [i, layer] of layers.entries()) {
    const at = cachedImagePaths(layer.dir);
    const dest = path.join(dir, layer.name);
    fs.rmSync(dest, { force: true });
    if (cachedImage(layer.dir, keys[i]!) === null) await packLayer(ctx, layer, hidden[i]!, at, keys[i]!);
    else ctx.log.info(`${layer.name}: the ${layer.stepId} layer is unchanged, its image is kept`);
    fs.linkSync(at.image, dest);
  }
  const names = layers.map((l) => l.name);
  if (ctx.config.liveSystem === 'casper') return names;
  fs.writeFileSync(path.join(dir, MODULE_FILE), renderModuleFile(names));
  return [...names, MODULE_FILE];
}

async function packLayer(
  ctx: StepContext,
  layer: LayerImage,
  hidden: readonly string[],
  at: { image: string; key: string },
  key: string,
): Promise<void> {
  fs.rmSync(at.key, { force: true });
  const partial = `${at.image}.partial`;
  const excludes = `${at.image}.exclude`;
  fs.writeFileSync(excludes, excludeFileText(hidden));
  const argv = mksquashfsArgv(ctx.config, layer.dir, partial, ctx.cores, ctx.sourceDateEpoch, ['-ef', excludes]);
  await ctx.runner.run(argv, { signal: ctx.signal, onLine: ctx.log.line });
  fs.renameSync(partial, at.image);
  fs.rmSync(excludes, { force: true });
  fs.writeFileSync(at.key, `${key}\n`);
  ctx.log.info(
    `${layer.name}: packed the ${layer.stepId} layer (${hidden.length} paths hidden by layers above left out)`,
  );
}

/** The layer images the live directory must hold (squashfs.layers): filesystem.module's list, or casper's chain. */
function layerNamesOnMedium(ctx: StepContext, dir: string): string[] {
  if (ctx.config.liveSystem === 'casper') {
    const names = mediumLayerImages(ctx.layers, 'casper').map((l) => l.name);
    if (names.length === 0)
      throw new StepError('squashfs', 'the rootfs has no non-empty layer to pack (squashfs.layers is on)');
    return names;
  }
  const module = path.join(dir, MODULE_FILE);
  const names = fs.existsSync(module) ? fs.readFileSync(module, 'utf8').split('\n').filter(Boolean) : [];
  if (names.length === 0) throw new StepError('squashfs', `${module} lists no layer image (squashfs.layers is on)`);
  return names;
}

export const squashfsStep: StepDef = {
  id: 'squashfs',
  title: 'Pack the rootfs into SquashFS',
  version: 3,
  layer: 'none',
  phase: 10,
  // the kernel and initrd it copies come from the packages step
  needs: ['packages'],
  // it reads the rootfs through an overlay view mounted in a private namespace
  hostTools: (config) => [
    ...NAMESPACE_TOOLS,
    {
      name: 'mksquashfs',
      pkg: 'squashfs-tools',
      why: 'the live filesystem (squashfs step)',
      versionArgs: ['-version'],
    },
    { name: 'dpkg-query', pkg: 'dpkg', why: 'the package manifest (squashfs step)', versionArgs: ['--version'] },
    ...(config.squashfs.layers
      ? [
          {
            name: 'python3',
            pkg: 'python3-minimal',
            why: "clears overlayfs's bookkeeping xattrs from the layers (squashfs.layers)",
            versionArgs: ['--version'],
          },
        ]
      : []),
  ],
  // packages.desktop: the disk estimate
  configFields: ['squashfs', 'liveSystem', 'distribution.family', 'packages.desktop'],
  diskEstimateMb: (config) => (config.packages.desktop.length > 0 ? 3000 : 600),
  async run(ctx) {
    const dir = liveDir(ctx);
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(ctx.layers.mountPoint, { recursive: true });
    const root = ctx.layers.mountPoint;
    const run = (argv: string[]) =>
      ctx.runner.run(viewArgv(ctx.layers, argv), { signal: ctx.signal, onLine: ctx.log.line });

    checkDpkgAdmindir(ctx.layers, 'squashfs');
    const manifest = await ctx.runner.run(
      viewArgv(ctx.layers, [
        'dpkg-query',
        `--admindir=${root}/${DPKG_ADMINDIR}`,
        '-W',
        // dpkg-query's own format fields, not a template
        // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query expands these itself
        '--showformat=${Package}\t${Version}\n',
      ]),
      { signal: ctx.signal },
    );
    fs.writeFileSync(path.join(dir, 'filesystem.manifest'), manifest.stdout);

    const links = kernelLinks(ctx.config);
    copyKernelFile(ctx.layers, links.kernel, path.join(dir, 'vmlinuz'));
    copyKernelFile(ctx.layers, links.initrd, path.join(dir, 'initrd.img'));
    // pinned now, not after the packing: so their times have settled when they are hashed, and the digest memo keeps
    // them for the iso step's md5sum.txt (a file changed just before its read is read again)
    const early = ['vmlinuz', 'initrd.img', 'filesystem.manifest'].map((f) => path.join(dir, f));
    pinMtimes(early, ctx.sourceDateEpoch);

    // find walks the rootfs while mksquashfs packs it (both read the same view, each in a namespace of its own)
    const sizes = run(sizeListArgv(ctx.config, root));
    // awaited below; a failure meanwhile is not unhandled
    sizes.catch(() => undefined);

    const images: string[] = [];
    if (ctx.config.squashfs.layers) images.push(...(await packLayers(ctx, dir)));
    // the installer unpacks one merged image (a layer's whiteouts would land on the target as files)
    if (!ctx.config.squashfs.layers || hasCalamares(ctx)) {
      const partial = path.join(dir, 'filesystem.squashfs.partial');
      await run(mksquashfsArgv(ctx.config, root, partial, ctx.cores, ctx.sourceDateEpoch));
      fs.renameSync(partial, path.join(dir, 'filesystem.squashfs'));
      images.push('filesystem.squashfs');
    }
    fs.writeFileSync(path.join(dir, 'filesystem.size'), `${parseSizeList((await sizes).stdout)}\n`);

    const late = [...images, 'filesystem.size'].map((f) => path.join(dir, f));
    pinMtimes(late, ctx.sourceDateEpoch);
    const files = [...late.slice(0, images.length), ...early, late[images.length]!];
    // one read of each for its artifact's sha256 and the iso step's md5sum.txt (the digest memo keeps both)
    for (const f of files) await fileDigests.digests(f, ['sha256', 'md5']);
    return Promise.all(files.map((f) => fileArtifact(ctx.paths.workDir, f)));
  },
  async verify(ctx) {
    const dir = liveDir(ctx);
    const names = ctx.config.squashfs.layers ? layerNamesOnMedium(ctx, dir) : [];
    if (!ctx.config.squashfs.layers || hasCalamares(ctx)) names.push('filesystem.squashfs');
    for (const name of names) checkSquashfsMagic(path.join(dir, name));
    for (const f of ['vmlinuz', 'initrd.img']) {
      if (!fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.size) {
        throw new StepError('squashfs', `the live medium has no ${f}; is a kernel in packages.kernel?`);
      }
    }
    const size = path.join(dir, 'filesystem.size');
    if (!/^\d+\n$/.test(fs.existsSync(size) ? fs.readFileSync(size, 'utf8') : ''))
      throw new StepError('squashfs', `${size} does not hold a byte count`);
  },
  async undo(ctx) {
    await removeTree(liveDir(ctx), { within: ctx.paths.workDir });
  },
};
