/**
 * configure: apt sources (the distribution's and extra repositories, each with its pinned key),
 * locale, time zone, keyboard, the config's debconf answers (before any package is installed, the locales package
 * included), and a policy-rc.d so package scripts start no services. The host
 * name is not set here but in identity, late in the build: it changes often, and changing it
 * must not reinstall the packages that come after this step.
 */
import fs from 'node:fs';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { readLayerFile, writeLayerFile } from '../runtime/layers.js';
import { dearmorKey, keyringPathOf } from './apt-keys.js';
import { aptSuites, buildSources } from './archive-suites.js';
import { readPinnedFile } from './config-files.js';
import { writeLayerBytes } from './layer-files.js';
import { discardLayer, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import type { StepContext, StepDef } from './types.js';

export function renderSourcesList(config: BuildConfig): string {
  const lines = ['# Written by ailinux from the profile; edit the config, not this file.'];
  // with distribution.snapshot, the snapshot service's URIs; its Release files may be past their Valid-Until
  const snapshot = config.distribution.snapshot !== undefined;
  for (const s of buildSources(config)) {
    const options = [...(s.signedBy ? [`signed-by=${s.signedBy}`] : []), ...(snapshot ? ['check-valid-until=no'] : [])];
    const opts = options.length ? ` [${options.join(' ')}]` : '';
    for (const suite of s.suites) lines.push(`deb${opts} ${s.uri} ${suite} ${s.components.join(' ')}`);
  }
  for (const r of config.distribution.extraRepositories) {
    lines.push(`# extra repository ${r.name}`);
    for (const suite of r.suites)
      lines.push(`deb [signed-by=${keyringPathOf(r.name)}] ${r.uri} ${suite} ${r.components.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Each extra repository's key, from its host file (sha256 checked), into /etc/apt/keyrings: never from the network. */
function installRepositoryKeys(ctx: StepContext): void {
  ctx.config.distribution.extraRepositories.forEach((r, i) => {
    const field = `distribution.extraRepositories.${i}.key`;
    const key = dearmorKey(readPinnedFile('configure', ctx, r.key.path, field, r.key.sha256), field);
    writeLayerBytes(ctx.layers, keyringPathOf(r.name).slice(1), key, 0o644);
  });
}

/** Exits 101 ("action forbidden") for every service, so maintainer scripts start nothing during the build. */
export const POLICY_RC_D = '#!/bin/sh\n# Written by ailinux for the build; removed by chroot-cleanup.\nexit 101\n';

/** debconf-set-selections' input: one "package question type value" line per answer, in the config's order. */
export function renderSelections(config: BuildConfig): string {
  return config.debconf.map((s) => `${s.package} ${s.question} ${s.type} ${s.value}\n`).join('');
}

export function renderLocaleGen(locales: readonly string[]): string {
  return `${locales.map((l) => `${l} ${l.split('.')[1] ?? 'UTF-8'}`).join('\n')}\n`;
}

export const configureStep: StepDef = {
  id: 'configure',
  title: 'Configure apt, locale and services policy',
  version: 2,
  layer: 'overlay',
  phase: 3,
  needs: ['bootstrap'],
  // apt downloads through it; not an input of what the step makes
  runtimeFields: ['apt.proxy'],
  configFields: [
    'distribution.sources',
    'distribution.extraRepositories',
    // the sources' snapshot URIs, when it is set (the service is the family's)
    'distribution.snapshot',
    'distribution.family',
    'locale',
    'debconf',
    // INITRD=No in the chroot's environment on casper (initramfsMadeLater in layer-step.ts)
    'liveSystem',
  ],
  // apt-get update and the locales package: every suite of the sources
  archiveSuites: aptSuites,
  inputFiles: (config) => config.distribution.extraRepositories.map((r) => r.key.path),
  async run(ctx) {
    prepareLayer(ctx);
    const { config } = ctx;
    installRepositoryKeys(ctx);
    writeLayerFile(ctx.layers, 'etc/apt/sources.list', renderSourcesList(config), 0o644);
    writeLayerFile(ctx.layers, 'usr/sbin/policy-rc.d', POLICY_RC_D, 0o755);
    // apt inside the chroot resolves names like the host does; chroot-cleanup empties it again.
    const resolv = fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '';
    writeLayerFile(ctx.layers, 'etc/resolv.conf', resolv, 0o644);
    writeLayerFile(ctx.layers, 'etc/default/locale', `LANG=${config.locale.lang}\n`, 0o644);
    writeLayerFile(ctx.layers, 'etc/timezone', `${config.locale.timezone}\n`, 0o644);
    writeLayerFile(
      ctx.layers,
      'etc/default/keyboard',
      `XKBMODEL="pc105"\nXKBLAYOUT="${config.locale.keyboardLayout}"\nXKBVARIANT=""\nXKBOPTIONS=""\nBACKSPACE="guess"\n`,
      0o644,
    );
    await runInChroot(ctx, ['ln', '-sf', `/usr/share/zoneinfo/${config.locale.timezone}`, '/etc/localtime']);
    if (config.debconf.length > 0) {
      // on stdin, so a password answer is in no argv; the log names the questions only
      ctx.log.info(
        `preseeding ${config.debconf.length} debconf answer(s): ${config.debconf.map((s) => s.question).join(' ')}`,
      );
      await runInChroot(ctx, ['debconf-set-selections'], { input: renderSelections(config) });
    }
    await runInChroot(ctx, ['apt-get', 'update'], { network: true });
    if (config.locale.generate.length > 0) {
      writeLayerFile(ctx.layers, 'etc/locale.gen', renderLocaleGen(config.locale.generate), 0o644);
      await runInChroot(ctx, ['apt-get', 'install', '-y', '--no-install-recommends', 'locales'], {
        aptArchives: ctx.paths.aptArchives,
        network: true,
      });
      await runInChroot(ctx, ['locale-gen']);
    }
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    if (readLayerFile(ctx.layers, 'etc/apt/sources.list') !== renderSourcesList(ctx.config)) {
      throw new StepError('configure', 'etc/apt/sources.list in the rootfs is not the one the profile asks for');
    }
    if (readLayerFile(ctx.layers, 'usr/sbin/policy-rc.d') === null) {
      throw new StepError(
        'configure',
        'the rootfs has no /usr/sbin/policy-rc.d, so package scripts could start services',
      );
    }
  },
  undo: discardLayer,
};
