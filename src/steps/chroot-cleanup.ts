/** chroot-cleanup: what must not ship in the image: apt caches, logs, machine id, the build's policy-rc.d. */
import { StepError } from '../errors.js';
import { findInLayers } from '../runtime/layers.js';
import { discardLayer, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import type { StepDef } from './types.js';

/** Each command runs in the chroot; apt-get clean runs without the shared deb cache bound, so the cache survives. */
export const CLEANUP_COMMANDS: readonly (readonly string[])[] = [
  ['apt-get', 'clean'],
  ['rm', '-f', '/usr/sbin/policy-rc.d', '/var/lib/dbus/machine-id'],
  ['truncate', '-s', '0', '/etc/machine-id', '/etc/resolv.conf'],
  ['find', '/etc/ssh', '-maxdepth', '1', '-name', 'ssh_host_*', '-delete'],
  ['find', '/var/log', '-type', 'f', '-exec', 'truncate', '-s', '0', '{}', '+'],
  ['find', '/tmp', '/var/tmp', '-mindepth', '1', '-delete'],
];

export const chrootCleanupStep: StepDef = {
  id: 'chroot-cleanup',
  title: 'Clean the rootfs for shipping',
  version: 1,
  layer: 'overlay',
  configFields: [],
  async run(ctx) {
    prepareLayer(ctx);
    for (const command of CLEANUP_COMMANDS) {
      if (command[0] === 'find' && findInLayers(ctx.layers, command[1]!.slice(1)) === null) continue;
      await runInChroot(ctx, [...command]);
    }
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    if (findInLayers(ctx.layers, 'usr/sbin/policy-rc.d') !== null) {
      throw new StepError('chroot-cleanup', 'policy-rc.d is still in the rootfs; services would not start on the live system');
    }
  },
  undo: discardLayer,
};
