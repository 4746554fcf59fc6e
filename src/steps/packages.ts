/**
 * packages: the userland, live system and firmware first, then the kernel in its own apt call,
 * so the initramfs is built once (one call that has both builds it twice). The desktop and the
 * installer have steps of their own, after this one.
 */
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { readLayerFile, writeLayerFile } from '../runtime/layers.js';
import { discardLayer, installedPackages, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import {
  buildLocalRepo,
  dpkgScanpackagesTool,
  LOCAL_SOURCE_FILE,
  LOCAL_SOURCE_LINE,
  LOCAL_UPDATE_ARGV,
  localPackageNames,
  localPackagesMaterial,
  packageAptOptions,
  readLocalIndex,
} from './local-packages.js';
import type { StepDef } from './types.js';
import { aptSuites } from './archive-suites.js';

export function userlandPackages(config: BuildConfig): string[] {
  const p = config.packages;
  return [...new Set([...p.live, ...p.firmware, ...p.extra])];
}

export function aptInstallArgv(config: BuildConfig, packages: readonly string[]): string[] {
  return [
    'apt-get',
    'install',
    '-y',
    config.packages.installRecommends ? '--install-recommends' : '--no-install-recommends',
    ...packages,
  ];
}

export const packagesStep: StepDef = {
  id: 'packages',
  title: 'Install the live system and the kernel',
  version: 2,
  layer: 'overlay',
  phase: 4,
  // apt reads the lists configure fetched
  needs: ['configure'],
  // apt downloads through it; not an input of what the step makes
  runtimeFields: ['apt.proxy'],
  // apt installs from every suite of the sources: their Release digests are in the fingerprint
  archiveSuites: aptSuites,
  configFields: [
    // the chroot's LANG (command-env.ts) comes from it
    'locale.lang',
    'packages.live',
    'packages.firmware',
    'packages.extra',
    'packages.kernel',
    'packages.installRecommends',
    // the directory as configured; its .deb files are in the fingerprint through inputTree
    'packages.local',
    // on casper the kernel's install makes no initramfs (INITRD=No, layer-step.ts): chroot-cleanup makes it
    'liveSystem',
  ],
  hostTools: (config) => (config.packages.local === undefined ? [] : [dpkgScanpackagesTool]),
  // each .deb of packages.local by name and sha256: `plan` says `local package foo_1.0_all.deb changed`
  inputTree: localPackagesMaterial,
  // a kernel with its modules unpacks to about 600 MB and its debs stay in the cache; firmware adds about 1.5 GB
  diskEstimateMb: (config) =>
    1000 + (config.packages.firmware.length > 0 ? 1500 : 0) + 25 * config.packages.extra.length,
  async run(ctx) {
    prepareLayer(ctx);
    let local: string[] = [];
    if (ctx.config.packages.local !== undefined) {
      // the repository first (host side), then ailinux's own source entry, and the lists of that source alone
      local = localPackageNames(await buildLocalRepo(ctx, 'packages'));
      writeLayerFile(ctx.layers, LOCAL_SOURCE_FILE, `${LOCAL_SOURCE_LINE}\n`, 0o644);
      ctx.log.info(`local packages from ${ctx.config.packages.local}: ${local.join(' ')}`);
      await runInChroot(ctx, LOCAL_UPDATE_ARGV, packageAptOptions(ctx));
    }
    const apt = packageAptOptions(ctx);
    const userland = [...new Set([...userlandPackages(ctx.config), ...local])];
    ctx.log.info(`installing ${userland.length} package(s): ${userland.join(' ')}`);
    await runInChroot(ctx, aptInstallArgv(ctx.config, userland), apt);
    ctx.log.info(`installing the kernel: ${ctx.config.packages.kernel.join(' ')}`);
    await runInChroot(ctx, aptInstallArgv(ctx.config, ctx.config.packages.kernel), apt);
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    const status = readLayerFile(ctx.layers, 'var/lib/dpkg/status') ?? '';
    const installed = installedPackages(status);
    const local = ctx.config.packages.local === undefined ? [] : localPackageNames(readLocalIndex(ctx.paths) ?? []);
    const missing = [...userlandPackages(ctx.config), ...local, ...ctx.config.packages.kernel].filter(
      (p) => !installed.has(p),
    );
    if (missing.length > 0) {
      throw new StepError('packages', `apt finished, but these packages are not installed: ${missing.join(', ')}`, {
        hint: 'see the step log',
        hintArgv: ['ailinux', 'log', 'packages'],
      });
    }
  },
  undo: discardLayer,
};
