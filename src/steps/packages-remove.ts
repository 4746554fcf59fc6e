/**
 * packages-remove: the packages of `packages.remove` purged, then `apt-get autoremove --purge`, in the chroot. No
 * profile lists it: it joins the steps when `packages.remove` names a package (autoPlace), right after the last step
 * that installs packages (packages, desktop, installer, branding), so none of them puts a removed package back, and
 * before overlay-late, so a purge never deletes a file of the user's late overlay. A profile that lists it keeps it
 * where it stands.
 *
 * A listed package that is not installed at that point fails the step before apt runs, naming it: a misspelt name
 * would otherwise remove nothing, silently. A package the build installed on purpose (apt's "manual" mark: a package
 * step's list, or the bootstrap) that the purge takes with it, because it depends on a purged one, fails the step
 * after apt, naming it: the image would lack something the config asks for.
 */
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { readLayerFile, type RootfsLayers } from '../runtime/layers.js';
import { discardLayer, installedPackages, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import type { StepDef } from './types.js';

const STEP = 'packages-remove';

/** The two apt calls, in order: the listed packages purged, then what only they needed. */
export function removeCommands(config: BuildConfig): string[][] {
  return [
    ['apt-get', 'purge', '-y', ...config.packages.remove],
    ['apt-get', 'autoremove', '--purge', '-y'],
  ];
}

/** The packages apt marked as installed automatically (a dependency), from its extended_states file. */
export function autoInstalled(extendedStates: string): Set<string> {
  const auto = new Set<string>();
  for (const stanza of extendedStates.split(/\n\s*\n/)) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1]?.trim();
    if (name && /^Auto-Installed: 1\s*$/m.test(stanza)) auto.add(name);
  }
  return auto;
}

function installedIn(layers: RootfsLayers): Set<string> {
  return installedPackages(readLayerFile(layers, 'var/lib/dpkg/status') ?? '');
}

/** After the last step before it that installs packages (an overlay step of phases 3 to 7), never after overlay-late. */
export function placeRemoval(config: BuildConfig, listed: readonly StepDef[]): number | null {
  if (config.packages.remove.length === 0) return null;
  const base = listed.findIndex((s) => s.layer === 'base');
  let at = base + 1; // 0 without a base step, which resolveSteps then refuses by name
  listed.forEach((s, i) => {
    if (i > base && s.layer === 'overlay' && s.phase >= 3 && s.phase <= 7 && s.id !== 'overlay-late') at = i + 1;
  });
  return at;
}

export const packagesRemoveStep: StepDef = {
  id: STEP,
  title: 'Purge the packages the config removes, with autoremove',
  version: 1,
  layer: 'overlay',
  phase: 7,
  needs: ['bootstrap'],
  configFields: [
    // the chroot's LANG (command-env.ts) comes from it
    'locale.lang',
    'packages.remove',
    // INITRD=No in the chroot's environment on casper (initramfsMadeLater in layer-step.ts)
    'liveSystem',
  ],
  autoPlace: placeRemoval,
  async run(ctx) {
    prepareLayer(ctx);
    const names = ctx.config.packages.remove;
    const before = installedIn(ctx.layers);
    const absent = names.filter((p) => !before.has(p));
    if (absent.length > 0) {
      throw new StepError(
        STEP,
        `packages.remove names ${absent.join(', ')}, which ${absent.length === 1 ? 'is' : 'are'} not installed at this point of the build`,
        { hint: `check the name, or take ${absent.length === 1 ? 'it' : 'them'} out of packages.remove` },
      );
    }
    const auto = autoInstalled(readLayerFile(ctx.layers, 'var/lib/apt/extended_states') ?? '');
    const manual = [...before].filter((p) => !auto.has(p));
    ctx.log.info(`purging ${names.length} package(s): ${names.join(' ')}`);
    for (const command of removeCommands(ctx.config)) await runInChroot(ctx, command);
    const after = installedIn(ctx.layers);
    const gone = [...before].filter((p) => !after.has(p));
    ctx.log.info(
      `removed ${gone.length} package(s): ${gone.join(' ')} (${gone.length - names.length} of them by autoremove or as dependents)`,
    );
    const lost = manual.filter((p) => !after.has(p) && !names.includes(p));
    if (lost.length > 0) {
      throw new StepError(
        STEP,
        `purging ${names.join(', ')} also removed ${lost.join(', ')}, which the build installed on purpose: ${lost.length === 1 ? 'it depends' : 'they depend'} on a purged package`,
        {
          hint: `keep the package ${lost.length === 1 ? 'it needs' : 'they need'}, or add ${lost.join(', ')} to packages.remove too`,
        },
      );
    }
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    const installed = installedIn(ctx.layers);
    const left = ctx.config.packages.remove.filter((p) => installed.has(p));
    if (left.length > 0) {
      throw new StepError(STEP, `apt finished, but these packages are still installed: ${left.join(', ')}`, {
        hint: 'see the step log',
        hintArgv: ['ailinux', 'log', STEP],
      });
    }
  },
  undo: discardLayer,
};
