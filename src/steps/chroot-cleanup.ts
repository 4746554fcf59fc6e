/**
 * chroot-cleanup: what must not ship in the image (apt caches, logs, machine id, SSH host keys,
 * the build's policy-rc.d, caches that would differ between two builds of the same inputs),
 * /etc/resolv.conf as the distribution ships it, and casper's initramfs made once, over everything the steps
 * before changed (casper.conf, the splash): no step before it made one (INITRD=No in their commands' environment).
 */
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { entryInLayers, findInLayers, namesInLayersDir, type RootfsLayers } from '../runtime/layers.js';
import { discardLayer, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import { liveMedium } from './live-medium.js';
import { LOCAL_LISTS_GLOB, LOCAL_REPO_IN_IMAGE, LOCAL_SOURCE_FILE } from './local-packages.js';
import type { StepDef } from './types.js';

/** The kernel versions in the rootfs, by their /boot/vmlinuz-<version>, in version order. */
export function kernelVersions(layers: RootfsLayers): string[] {
  return (
    (namesInLayersDir(layers, 'boot') ?? [])
      // a whiteout is listed too: only a file there now counts
      .filter((name) => name.startsWith('vmlinuz-') && entryInLayers(layers, `boot/${name}`)?.type === 'file')
      .map((name) => name.slice('vmlinuz-'.length))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  );
}

/**
 * The one initramfs build of a casper image, per kernel: update-initramfs -c (it replaces an initrd a layer made
 * before this, on a resume), then the kernel's links as its install makes them when INITRD is not No.
 */
export function initramfsCommands(versions: readonly string[], symlinks: boolean): string[][] {
  return versions.flatMap((v) => [
    ['update-initramfs', '-c', '-k', v],
    ...(symlinks ? [['linux-update-symlinks', 'install', v, `/boot/vmlinuz-${v}`]] : []),
  ]);
}

/** The commands, in order, each run in the chroot; apt-get clean runs without the shared deb cache bound, so the cache survives. */
export function cleanupCommands(config: BuildConfig, layers: RootfsLayers): string[][] {
  const resolv = config.distribution.resolvConf;
  const has = (rel: string) => findInLayers(layers, rel) !== null;
  const commands: string[][] = [['apt-get', 'clean']];
  // packages.local: ailinux's own source entry, its apt lists and the repository's mount point leave no trace
  if (has(LOCAL_SOURCE_FILE)) {
    commands.push(['rm', '-f', `/${LOCAL_SOURCE_FILE}`]);
    if (has('var/lib/apt/lists'))
      commands.push(['find', '/var/lib/apt/lists', '-maxdepth', '1', '-name', LOCAL_LISTS_GLOB, '-delete']);
  }
  if (entryInLayers(layers, LOCAL_REPO_IN_IMAGE.slice(1)) !== null)
    commands.push(['rm', '-rf', '--one-file-system', LOCAL_REPO_IN_IMAGE]);
  // Made here only when it embeds what later steps changed (casper); then no step before made one (INITRD=No,
  // initramfsMadeLater in layer-step.ts), and linux-update-symlinks adds the initrd.img links the kernel's install left out without it.
  if (liveMedium(config).initramfsEmbedsConfig && has('usr/sbin/update-initramfs'))
    commands.push(...initramfsCommands(kernelVersions(layers), has('usr/bin/linux-update-symlinks')));
  commands.push(['rm', '-f', '/usr/sbin/policy-rc.d', '/var/lib/dbus/machine-id']);
  if (resolv === 'empty') commands.push(['truncate', '-s', '0', '/etc/machine-id', '/etc/resolv.conf']);
  else commands.push(['truncate', '-s', '0', '/etc/machine-id'], ['ln', '-sfn', resolv.symlink, '/etc/resolv.conf']);
  // a find over a directory the image does not have would fail
  if (has('etc/ssh')) commands.push(['find', '/etc/ssh', '-maxdepth', '1', '-name', 'ssh_host_*', '-delete']);
  if (has('var/log')) commands.push(['find', '/var/log', '-type', 'f', '-exec', 'truncate', '-s', '0', '{}', '+']);
  if (has('tmp')) commands.push(['find', '/tmp', '/var/tmp', '-mindepth', '1', '-delete']);
  // caches that differ from one build of the same inputs to the next (docs/architecture.md#reproducible-builds):
  // ldconfig's aux-cache holds the libraries' inode numbers and times (ldconfig makes it again when it next runs),
  // debconf's and dpkg's -old copies are whatever the last write before them left
  commands.push(['rm', '-f', '/var/cache/ldconfig/aux-cache']);
  for (const dir of ['var/cache/debconf', 'var/lib/dpkg'])
    if (has(dir)) commands.push(['find', `/${dir}`, '-maxdepth', '1', '-name', '*-old', '-type', 'f', '-delete']);
  return commands;
}

export const chrootCleanupStep: StepDef = {
  id: 'chroot-cleanup',
  title: 'Clean the rootfs for shipping',
  version: 5,
  layer: 'overlay',
  phase: 9,
  needs: ['bootstrap'],
  configFields: ['locale.lang', 'distribution.resolvConf', 'liveSystem'],
  async run(ctx) {
    prepareLayer(ctx);
    // INITRD is not No in this step's commands (initramfsMadeLater): they make the initramfs and its links
    for (const command of cleanupCommands(ctx.config, ctx.layers)) await runInChroot(ctx, command);
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    if (findInLayers(ctx.layers, 'usr/sbin/policy-rc.d') !== null) {
      throw new StepError(
        'chroot-cleanup',
        'policy-rc.d is still in the rootfs; services would not start on the live system',
      );
    }
    for (const rel of [LOCAL_SOURCE_FILE, LOCAL_REPO_IN_IMAGE.slice(1)])
      if (entryInLayers(ctx.layers, rel) !== null)
        throw new StepError('chroot-cleanup', `/${rel} (packages.local's repository) is still in the rootfs`);
    const resolv = ctx.config.distribution.resolvConf;
    const found = entryInLayers(ctx.layers, 'etc/resolv.conf');
    if (resolv !== 'empty' && found !== null && found.link !== resolv.symlink) {
      throw new StepError(
        'chroot-cleanup',
        `/etc/resolv.conf is not the symlink to ${resolv.symlink} the profile asks for`,
      );
    }
  },
  undo: discardLayer,
};
