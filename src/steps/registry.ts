/** Every step the profiles can name, by id. A profile's `steps` list picks and orders them. */
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
import { packagesStep } from './packages.js';
import { createPreflightStep, hostProbe } from './preflight.js';
import { reportStep } from './report.js';
import { squashfsStep } from './squashfs.js';
import type { StepDef } from './types.js';
import { verifyStep } from './verify.js';

/** preflight sees the steps of the config it checks (their disk estimates), resolved when it runs. */
export const preflightStep = createPreflightStep({
  probe: hostProbe,
  steps: (config) => resolveSteps(config).filter((s) => s.id !== 'preflight'),
});

export const allSteps: readonly StepDef[] = [
  preflightStep,
  bootstrapStep,
  configureStep,
  packagesStep,
  desktopStep,
  installerStep,
  brandingStep,
  identityStep,
  chrootCleanupStep,
  squashfsStep,
  bootloadersStep,
  isoStep,
  checksumsStep,
  verifyStep,
  reportStep,
];

const byId = new Map(allSteps.map((s) => [s.id, s]));

/** The profile's ordered steps; the first must make the base layer and overlay steps need one below. */
export function resolveSteps(config: BuildConfig): StepDef[] {
  const steps = config.steps.map((id, i) => {
    const step = byId.get(id);
    if (!step) {
      throw new ConfigError(`unknown step "${id}"`, [
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
  let haveBase = false;
  steps.forEach((step, i) => {
    if (step.layer === 'base') haveBase = true;
    else if (step.layer === 'overlay' && !haveBase) {
      throw new ConfigError(`step "${step.id}" changes the rootfs, but no step before it creates one`, [
        { path: `steps.${i}`, value: step.id, expected: 'a base step such as bootstrap earlier in the list' },
      ]);
    }
  });
  return steps;
}
