/**
 * What a list of steps needs from the host for one config: every program and file, each with the steps that
 * use it. doctor, preflight and `ailinux plan --json` all ask this one function, so they cannot disagree.
 */
import type { BuildConfig } from '../config/schema.js';
import type { HostFile, HostTool, StepDef } from './types.js';

/** Every step that touches the rootfs runs its commands in a private mount namespace (libexec/ailinux-ns-run). */
export const NAMESPACE_TOOLS: readonly HostTool[] = [
  {
    name: 'unshare',
    pkg: 'util-linux',
    why: 'private mount namespace for every chroot command',
    versionArgs: ['--version'],
  },
  {
    name: 'mount',
    pkg: 'mount',
    why: 'mounts inside the private namespace (libexec/ailinux-ns-run)',
    versionArgs: ['--version'],
  },
  { name: 'umount', pkg: 'mount', why: 'teardown inside the private namespace', versionArgs: ['--version'] },
  {
    name: 'setpriv',
    pkg: 'util-linux',
    why: 'runs each command in the namespace without CAP_SYS_ADMIN, once its mounts are made',
    versionArgs: ['--version'],
  },
];

export const CHROOT_TOOL: HostTool = {
  name: 'chroot',
  pkg: 'coreutils',
  why: 'commands inside the rootfs',
  versionArgs: ['--version'],
};

/** A step whose layer is an overlay writes the rootfs by running commands inside it. */
export function needsChroot(step: Pick<StepDef, 'layer'>): boolean {
  return step.layer === 'overlay';
}

/** The programs one step runs for this config: those its layer kind implies, then its own. */
export function stepHostTools(step: StepDef, config: BuildConfig): HostTool[] {
  const implied = step.layer === 'none' ? [] : [...NAMESPACE_TOOLS, ...(needsChroot(step) ? [CHROOT_TOOL] : [])];
  return [...implied, ...(step.hostTools?.(config) ?? [])];
}

export interface HostRequirements {
  /** Each program once, in the order the build first needs it, with the ids of the steps that run it. */
  tools: Array<HostTool & { steps: string[] }>;
  /** Each host file once, in the order the build first reads it, with the ids of the steps that read it. */
  files: Array<HostFile & { steps: string[] }>;
}

/** Everything these steps need from the host for this config. */
export function hostRequirements(steps: readonly StepDef[], config: BuildConfig): HostRequirements {
  const tools = new Map<string, HostTool & { steps: string[] }>();
  const files = new Map<string, HostFile & { steps: string[] }>();
  for (const step of steps) {
    for (const tool of stepHostTools(step, config)) {
      const seen = tools.get(tool.name);
      if (seen) {
        if (!seen.steps.includes(step.id)) seen.steps.push(step.id);
      } else tools.set(tool.name, { ...tool, steps: [step.id] });
    }
    for (const file of step.hostFiles?.(config) ?? []) {
      const seen = files.get(file.path);
      if (seen) {
        if (!seen.steps.includes(step.id)) seen.steps.push(step.id);
      } else files.set(file.path, { ...file, steps: [step.id] });
    }
  }
  return { tools: [...tools.values()], files: [...files.values()] };
}
