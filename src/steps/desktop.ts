/**
 * desktop: the desktop environment, display manager, X server and applications, in their own
 * layer over the live system. Every name is looked up first, so a typo fails with its name.
 */
import { StepError } from '../errors.js';
import { readLayerFile } from '../runtime/layers.js';
import { assertPackagesExist } from './apt-check.js';
import { discardLayer, installedPackages, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import { packageAptOptions } from './local-packages.js';
import { aptInstallArgv } from './packages.js';
import type { StepContext, StepDef } from './types.js';
import { aptSuites } from './archive-suites.js';

/** Looks every name up, then installs them in one apt call with the shared deb cache. */
export async function installPackageSet(ctx: StepContext, step: string, names: readonly string[]): Promise<void> {
  await assertPackagesExist(ctx, step, names);
  ctx.log.info(`installing ${names.length} package(s): ${names.join(' ')}`);
  // the deb cache, and packages.local's repository when the packages step built one (its source entry is in the rootfs)
  await runInChroot(ctx, aptInstallArgv(ctx.config, names), packageAptOptions(ctx));
}

export function assertInstalled(ctx: StepContext, step: string, names: readonly string[]): void {
  const installed = installedPackages(readLayerFile(ctx.layers, 'var/lib/dpkg/status') ?? '');
  const missing = names.filter((p) => !installed.has(p));
  if (missing.length > 0) {
    throw new StepError(step, `apt finished, but these packages are not installed: ${missing.join(', ')}`, {
      hint: 'see the step log',
      hintArgv: ['ailinux', 'log', step],
    });
  }
}

export function desktopPackages(config: StepContext['config']): string[] {
  return [...new Set([...config.packages.desktop, ...config.packages.apps])];
}

export const desktopStep: StepDef = {
  id: 'desktop',
  title: 'Install the desktop, display manager and applications',
  version: 1,
  layer: 'overlay',
  phase: 5,
  // apt reads the lists configure fetched
  needs: ['configure'],
  // apt downloads through it; not an input of what the step makes
  runtimeFields: ['apt.proxy'],
  // apt installs from every suite of the sources: their Release digests are in the fingerprint
  archiveSuites: aptSuites,
  configFields: [
    'locale.lang',
    'packages.desktop',
    'packages.apps',
    'packages.installRecommends',
    // INITRD=No in the chroot's environment on casper: no initramfs from a trigger (layer-step.ts)
    'liveSystem',
  ],
  // KDE Plasma with its applications unpacks to about 3 GB, and its debs stay in the cache
  diskEstimateMb: (config) => (desktopPackages(config).length > 0 ? 4000 + 50 * config.packages.apps.length : 0),
  async run(ctx) {
    prepareLayer(ctx);
    const names = desktopPackages(ctx.config);
    if (names.length === 0)
      ctx.log.info('no desktop packages in the profile (packages.desktop and packages.apps are empty)');
    else await installPackageSet(ctx, 'desktop', names);
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    assertInstalled(ctx, 'desktop', desktopPackages(ctx.config));
  },
  undo: discardLayer,
};
