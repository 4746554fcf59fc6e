/**
 * installer: Calamares and what it needs to install a bootloader, then its configuration from the
 * profile: settings.conf (pages and jobs), the module configs and the branding component. The
 * branding images are placeholders here; the branding step, later and cheaper to rerun, puts the
 * real ones over them.
 */
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { findInLayers, readLayerFile, writeLayerFile } from '../runtime/layers.js';
import { CALAMARES_IMAGES, calamaresBrandingDir, renderBrandingDesc, renderShowQml } from './calamares/branding.js';
import { renderModuleConfs } from './calamares/modules.js';
import { solidPng } from './calamares/png.js';
import { renderSettingsConf } from './calamares/settings.js';
import { assertInstalled, installPackageSet } from './desktop.js';
import { writeLayerBytes } from './layer-files.js';
import { discardLayer, layerArtifact, prepareLayer } from './layer-step.js';
import type { StepContext, StepDef } from './types.js';
import { aptSuites } from './archive-suites.js';

/** Display managers Calamares can configure, by the program that shows one is in the image. */
const DISPLAY_MANAGERS: ReadonlyArray<[string, string]> = [
  ['sddm', 'usr/bin/sddm'],
  ['lightdm', 'usr/sbin/lightdm'],
  ['gdm', 'usr/sbin/gdm3'],
  ['lxdm', 'usr/sbin/lxdm'],
  ['slim', 'usr/bin/slim'],
];

export function displayManagersIn(ctx: Pick<StepContext, 'layers'>): string[] {
  return DISPLAY_MANAGERS.filter(([, bin]) => findInLayers(ctx.layers, bin) !== null).map(([dm]) => dm);
}

/** Every file the installer step writes, relative to the rootfs, with its contents. */
export function calamaresFiles(config: BuildConfig, displayManagers: readonly string[]): Record<string, string> {
  const files: Record<string, string> = { 'etc/calamares/settings.conf': renderSettingsConf(config) };
  for (const [name, text] of Object.entries(renderModuleConfs(config, displayManagers)))
    files[`etc/calamares/modules/${name}`] = text;
  const branding = calamaresBrandingDir(config);
  files[`${branding}/branding.desc`] = renderBrandingDesc(config);
  files[`${branding}/show.qml`] = renderShowQml(config);
  return files;
}

/** The image has Calamares when its program is there (the profile's installer list decides that, not code). */
export function hasCalamares(ctx: Pick<StepContext, 'layers'>): boolean {
  return findInLayers(ctx.layers, 'usr/bin/calamares') !== null;
}

export const PLACEHOLDER_COLOUR = '#3daee9';

export const installerStep: StepDef = {
  id: 'installer',
  title: 'Install and configure the Calamares installer',
  version: 1,
  layer: 'overlay',
  phase: 6,
  // apt reads the lists configure fetched
  needs: ['configure'],
  // apt downloads through it; not an input of what the step makes
  runtimeFields: ['apt.proxy'],
  // apt installs from every suite of the sources: their Release digests are in the fingerprint
  archiveSuites: aptSuites,
  configFields: [
    // the chroot's LANG (command-env.ts) comes from it
    'locale.lang',
    'packages.installer',
    'packages.installRecommends',
    'installer',
    'liveSystem',
    'liveUser.name',
    'liveUser.shell',
    'branding.id',
    'branding.productName',
    'branding.version',
    'branding.url',
  ],
  diskEstimateMb: (config) => (config.packages.installer.length > 0 ? 600 : 0),
  async run(ctx) {
    prepareLayer(ctx);
    const names = ctx.config.packages.installer;
    if (names.length === 0) {
      ctx.log.info('no installer packages in the profile (packages.installer is empty)');
      return [layerArtifact(ctx)];
    }
    await installPackageSet(ctx, 'installer', names);
    if (!hasCalamares(ctx)) {
      ctx.log.info('the image has no /usr/bin/calamares: no Calamares configuration written');
      return [layerArtifact(ctx)];
    }
    const dms = displayManagersIn(ctx);
    for (const [rel, text] of Object.entries(calamaresFiles(ctx.config, dms)))
      writeLayerFile(ctx.layers, rel, text, 0o644);
    // Calamares refuses to start when a branding image is missing
    const dir = calamaresBrandingDir(ctx.config);
    for (const image of Object.values(CALAMARES_IMAGES))
      writeLayerBytes(ctx.layers, path.posix.join(dir, image), solidPng(64, 64, PLACEHOLDER_COLOUR), 0o644);
    ctx.log.info(
      `Calamares configured: branding ${ctx.config.branding.id}, display managers ${dms.join(', ') || 'none'}`,
    );
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    assertInstalled(ctx, 'installer', ctx.config.packages.installer);
    if (ctx.config.packages.installer.length === 0 || !hasCalamares(ctx)) return;
    for (const [rel, text] of Object.entries(calamaresFiles(ctx.config, displayManagersIn(ctx)))) {
      if (readLayerFile(ctx.layers, rel) !== text)
        throw new StepError('installer', `/${rel} in the rootfs is not the one the profile asks for`);
    }
  },
  undo: discardLayer,
};
