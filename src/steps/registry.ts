/** Every step the profiles can name, by id. A profile's `steps` list picks and orders them. */
import { didYouMean } from '../config/nearest-name.js';
import type { BuildConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { bootloadersStep } from './bootloaders.js';
import { bootstrapStep } from './bootstrap.js';
import { brandingStep } from './branding.js';
import { checksumsStep } from './checksums.js';
import { chrootCleanupStep } from './chroot-cleanup.js';
import { configureStep } from './configure.js';
import { desktopStep } from './desktop.js';
import { identityStep } from './identity.js';
import { installerStep } from './installer.js';
import { isoStep } from './iso.js';
import { overlayEarlyStep, overlayLateStep } from './overlays.js';
import { packagesStep } from './packages.js';
import { packagesRemoveStep } from './packages-remove.js';
import { createPreflightStep, hostProbe } from './preflight.js';
import { reportStep } from './report.js';
import { squashfsStep } from './squashfs.js';
import { isHookStepOf, placeHooks } from './hooks.js';
import type { StepDef } from './types.js';
import { verifyStep } from './verify.js';

/** preflight sees the steps of the config it checks (their disk estimates), resolved when it runs. */
export const preflightStep = createPreflightStep({
  probe: hostProbe,
  steps: (config) => resolveSteps(config).filter((s) => s.id !== 'preflight'),
});

/** The built-in steps, in the order the `ailinux` profile runs them. */
export const builtInSteps: readonly StepDef[] = [
  preflightStep,
  bootstrapStep,
  overlayEarlyStep,
  configureStep,
  packagesStep,
  desktopStep,
  installerStep,
  brandingStep,
  packagesRemoveStep,
  overlayLateStep,
  identityStep,
  chrootCleanupStep,
  squashfsStep,
  bootloadersStep,
  isoStep,
  checksumsStep,
  verifyStep,
  reportStep,
];

const byId = new Map<string, StepDef>(builtInSteps.map((s) => [s.id, s]));

/** Every step a profile can name: the built-in ones, then any registered after them. */
export function allSteps(): StepDef[] {
  return [...byId.values()];
}

export function stepById(id: string): StepDef | undefined {
  return byId.get(id);
}

/**
 * Adds a step a profile can then name in `steps`. One entry is all a step needs: doctor, preflight, the planner,
 * `plan` and `inspect` all ask the step itself (its tools, files, fields, phase and layer).
 */
export function registerStep(step: StepDef): void {
  if (!/^[a-z][a-z0-9-]*$/.test(step.id))
    throw new Error(`step id "${step.id}" must be lowercase letters, digits and -`);
  if (byId.has(step.id)) throw new Error(`a step "${step.id}" is already registered`);
  byId.set(step.id, step);
}

/** Removes a step added with registerStep (tests); built-in steps stay. */
export function unregisterStep(id: string): void {
  if (builtInSteps.some((s) => s.id === id)) throw new Error(`step "${id}" is built in`);
  byId.delete(id);
}

/** The profile's ordered steps: each once, overlay steps over a base, and each step after the steps it needs. */
export function resolveSteps(config: BuildConfig): StepDef[] {
  const listed = knownSteps(config);
  const steps = placeSteps(config);
  const ids = steps.map((s) => s.id);
  let haveBase = false;
  steps.forEach((step, i) => {
    if (step.layer === 'base') haveBase = true;
    else if (step.layer === 'overlay' && !haveBase) {
      throw new ConfigError(`step "${step.id}" changes the rootfs, but no step before it creates one`, [
        {
          path: stepPath(step, listed, i, config),
          value: step.id,
          expected: 'a base step such as bootstrap earlier in the list',
        },
      ]);
    }
    checkNeeds(step, i, ids, stepPath(step, listed, i, config));
  });
  return steps;
}

/** Where a step's problem is reported: its place in `steps`, or the field that brought it in (autoPlace). */
function stepPath(step: StepDef, listed: readonly StepDef[], i: number, config: BuildConfig): string {
  const at = config.steps.indexOf(step.id);
  if (at !== -1) return `steps.${at}`;
  return step.configFields[0] ?? `steps.${Math.min(i, listed.length)}`;
}

/**
 * The step ids a build runs: the config's `steps`, and each step that places itself (autoPlace) and that the config
 * uses without listing it, at the place it asks for, in registry order. A step the list names stays where it is.
 */
export function expandSteps(config: BuildConfig): string[] {
  return placeSteps(config).map((s) => s.id);
}

/** expandSteps as steps, then the config's hooks, each a step hook-<name> after the step it names (placeHooks). */
function placeSteps(config: BuildConfig): StepDef[] {
  let steps = knownSteps(config);
  for (const step of byId.values()) {
    if (!step.autoPlace || steps.includes(step)) continue;
    const at = step.autoPlace(config, steps);
    if (at === null) continue;
    steps = [...steps.slice(0, at), step, ...steps.slice(at)];
  }
  return placeHooks(config, steps);
}

/** The loaded config with its `steps` as a build runs them (expandSteps): what plan, inspect and the report show. */
export function withPlacedSteps<T extends { config: BuildConfig }>(loaded: T): T {
  const steps = expandSteps(loaded.config);
  if (steps.length === loaded.config.steps.length) return loaded;
  return { ...loaded, config: { ...loaded.config, steps } };
}

/**
 * The listed steps, each known and listed once (errors name the entry of `steps`). A hook's step (hook-<name>) in the
 * list is one a placed list (withPlacedSteps) carries: it is left out here and placed again by its hook.
 */
function knownSteps(config: BuildConfig): StepDef[] {
  const listed = config.steps.filter((id) => !isHookStepOf(config, id));
  const steps = listed.map((id) => {
    const i = config.steps.indexOf(id);
    const step = byId.get(id);
    if (!step) {
      throw new ConfigError(`unknown step "${id}"${didYouMean(id, [...byId.keys()])}`, [
        { path: `steps.${i}`, value: id, expected: `one of: ${[...byId.keys()].join(', ')}` },
      ]);
    }
    return step;
  });
  const dup = config.steps.find((id, i) => config.steps.indexOf(id) !== i);
  if (dup)
    throw new ConfigError(`step "${dup}" is listed twice`, [
      { path: 'steps', value: config.steps, expected: 'each step once' },
    ]);
  return steps;
}

/** Each step the step at index i declares in `needs` is in the list, and before it. */
function checkNeeds(step: StepDef, i: number, list: readonly string[], where: string): void {
  for (const need of step.needs ?? []) {
    const at = list.indexOf(need);
    if (at === -1) {
      throw new ConfigError(`step "${step.id}" needs step "${need}", which the step list does not have`, [
        { path: where, value: step.id, expected: `"${need}" earlier in steps (${step.id} uses what it makes)` },
      ]);
    }
    if (at > i) {
      throw new ConfigError(`step "${step.id}" (${where}) needs step "${need}" (steps.${at}) to run before it`, [
        { path: where, value: step.id, expected: `"${need}" earlier in steps than "${step.id}"` },
      ]);
    }
  }
}
