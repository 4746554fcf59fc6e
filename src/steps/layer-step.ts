/** What every rootfs-changing step shares: preparing its own layer, running in it, throwing it away. */
import fs from 'node:fs';
import path from 'node:path';
import { StepError } from '../errors.js';
import { chrootEnv, proxyEnv } from '../runtime/command-env.js';
import { chrootArgv, entryInLayers, writeLayerFile, type ChrootOptions, type RootfsLayers } from '../runtime/layers.js';
import { NETWORK_TRANSIENT_PATTERNS, type RunResult } from '../runtime/runner.js';
import { removeTree } from '../runtime/safe-remove.js';
import type { Artifact } from '../types.js';
import { liveMedium } from './live-medium.js';
import { withSharedDebs } from './shared-debs.js';
import type { StepContext } from './types.js';

/**
 * Environment for package tools inside the chroot: the allow-list alone, with the config's locale and the build's
 * SOURCE_DATE_EPOCH (docs/safety.md, docs/architecture.md#reproducible-builds), and INITRD=No where the initramfs is
 * made later (initramfsMadeLater).
 */
export function chrootCommandEnv(
  ctx: Pick<StepContext, 'config' | 'sourceDateEpoch'> & Partial<Pick<StepContext, 'layers'>>,
): Record<string, string> {
  return chrootEnv({
    lang: ctx.config.locale.lang,
    sourceDateEpoch: ctx.sourceDateEpoch,
    deferInitramfs: ctx.layers !== undefined && initramfsMadeLater(ctx.config, ctx.layers),
  }) as Record<string, string>;
}

/** The step whose commands make casper's initramfs, once, at the end (chroot-cleanup.ts). */
const INITRAMFS_STEP = 'chroot-cleanup';

/**
 * Whether a command in these layers runs before the build's one initramfs build: the image's initramfs embeds what
 * later steps write (casper), the build has chroot-cleanup, and neither this step nor one below it is chroot-cleanup
 * (a hook after it makes its initramfs as usual). Then a kernel's install makes none (INITRD=No):
 * docs/performance.md#dpkg-and-apt-in-the-chroot.
 */
export function initramfsMadeLater(config: StepContext['config'], layers: RootfsLayers): boolean {
  if (!liveMedium(config).initramfsEmbedsConfig || !config.steps.includes(INITRAMFS_STEP)) return false;
  if (layers.own?.stepId === INITRAMFS_STEP) return false;
  // a sealed layer is layers/<step id>/upper (or the base's root)
  return !layers.below.some((dir) => path.basename(path.dirname(dir)) === INITRAMFS_STEP);
}

export function ownLayerOf(ctx: StepContext) {
  const own = ctx.layers.own;
  if (!own) throw new StepError('?', 'this step has no rootfs layer of its own');
  return own;
}

/** Creates the step's empty layer directories and its mount point. */
export function prepareLayer(ctx: StepContext): void {
  const own = ownLayerOf(ctx);
  fs.mkdirSync(own.upper, { recursive: true });
  if (own.work) fs.mkdirSync(own.work, { recursive: true });
  fs.mkdirSync(ctx.layers.mountPoint, { recursive: true });
}

/** Throws the step's layer away whole: the only safe undo for a half-changed tree. */
export async function discardLayer(ctx: StepContext): Promise<void> {
  const own = ctx.layers.own;
  if (own) await removeTree(own.dir, { within: ctx.paths.workDir });
}

export function layerArtifact(ctx: StepContext): Artifact {
  return { path: path.relative(ctx.paths.workDir, ownLayerOf(ctx).dir), kind: 'dir' };
}

/** Runs a command inside the step's rootfs, in a private mount namespace. */
export function runInChroot(
  ctx: StepContext,
  command: string[],
  options: ChrootOptions & { input?: string; network?: boolean } = {},
): Promise<RunResult> {
  const { input, network, ...chroot } = options;
  if (network && ctx.layers.own) ensureResolvConf(ctx);
  const call = (archives?: string) => {
    if (archives) fs.mkdirSync(path.join(archives, 'partial'), { recursive: true });
    return ctx.runner.run(chrootArgv(ctx.layers, command, archives ? { ...chroot, aptArchives: archives } : chroot), {
      // a download goes through the config's proxy, read as the command runs: never written into the image
      env: {
        ...chrootCommandEnv(ctx),
        ...(network ? proxyEnv(ctx.config.apt.proxy) : {}),
      },
      cleanEnv: true,
      signal: ctx.signal,
      onLine: ctx.log.line,
      ...(input === undefined ? {} : { input }),
      ...(network ? { transientPatterns: NETWORK_TRANSIENT_PATTERNS } : {}),
    });
  };
  // the shared deb cache's checked files linked in before, the downloads checked and stored after
  return chroot.aptArchives ? withSharedDebs(ctx, chroot.aptArchives, call) : call();
}

/**
 * Name resolution for a network command in the chroot: a package (systemd-resolved) may have made
 * /etc/resolv.conf a symlink into /run, which is empty in the chroot; then the host's file goes
 * into the step's own layer. chroot-cleanup puts the image's own resolv.conf back.
 */
export function ensureResolvConf(ctx: StepContext): void {
  // looked at through descriptors, its parents resolved inside the rootfs: a symlink here is replaced, never followed
  if (entryInLayers(ctx.layers, 'etc/resolv.conf')?.type === 'file') return;
  const host = fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '';
  writeLayerFile(ctx.layers, 'etc/resolv.conf', host, 0o644);
}

/** Parses dpkg's status file into the set of installed package names. */
export function installedPackages(statusText: string): Set<string> {
  const installed = new Set<string>();
  for (const stanza of statusText.split(/\n\s*\n/)) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    const status = /^Status: (.+)$/m.exec(stanza)?.[1];
    if (name && status && /\binstalled$/.test(status.trim()) && !/not-installed/.test(status))
      installed.add(name.trim());
  }
  return installed;
}
