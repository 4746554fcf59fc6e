/**
 * packages: the userland and live system first, then the kernel in its own apt call,
 * so the initramfs is built once (one call that has both builds it twice).
 */
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { readLayerFile } from '../runtime/layers.js';
import { discardLayer, installedPackages, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import type { StepDef } from './types.js';

export function userlandPackages(config: BuildConfig): string[] {
  const p = config.packages;
  return [...new Set([...p.live, ...p.desktop, ...p.installer, ...p.extra])];
}

export function aptInstallArgv(config: BuildConfig, packages: readonly string[]): string[] {
  return ['apt-get', 'install', '-y', config.packages.installRecommends ? '--install-recommends' : '--no-install-recommends', ...packages];
}

export const packagesStep: StepDef = {
  id: 'packages',
  title: 'Install the live system and the kernel',
  version: 1,
  layer: 'overlay',
  configFields: ['packages'],
  // A KDE desktop unpacks to several GB; a console system to well under one.
  diskEstimateMb: (config) => (config.packages.desktop.length > 0 ? 6000 : 1000) + 25 * config.packages.extra.length,
  async run(ctx) {
    prepareLayer(ctx);
    const apt = { aptArchives: ctx.paths.aptArchives, network: true };
    const userland = userlandPackages(ctx.config);
    ctx.log.info(`installing ${userland.length} package(s): ${userland.join(' ')}`);
    await runInChroot(ctx, aptInstallArgv(ctx.config, userland), apt);
    ctx.log.info(`installing the kernel: ${ctx.config.packages.kernel.join(' ')}`);
    await runInChroot(ctx, aptInstallArgv(ctx.config, ctx.config.packages.kernel), apt);
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    const status = readLayerFile(ctx.layers, 'var/lib/dpkg/status') ?? '';
    const installed = installedPackages(status);
    const missing = [...userlandPackages(ctx.config), ...ctx.config.packages.kernel].filter((p) => !installed.has(p));
    if (missing.length > 0) {
      throw new StepError('packages', `apt finished, but these packages are not installed: ${missing.join(', ')}`, {
        hint: 'see the step log: ailinux log packages',
      });
    }
  },
  undo: discardLayer,
};
