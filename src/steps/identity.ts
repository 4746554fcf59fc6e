/**
 * identity: host name and live user. It comes after the packages on purpose: these change
 * often, and changing them must not reinstall packages.
 */
import { StepError } from '../errors.js';
import { findInLayers, readLayerFile, writeLayerFile } from '../runtime/layers.js';
import type { BuildConfig } from '../config/schema.js';
import { discardLayer, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import type { StepDef } from './types.js';

export function renderHosts(hostname: string): string {
  return `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n`;
}

export function renderSudoers(user: string): string {
  return `# Written by ailinux: the live user may administer the live system.\n${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`;
}

export function useraddArgv(config: BuildConfig, existingGroups: ReadonlySet<string>): string[] {
  const u = config.liveUser;
  const groups = u.groups.filter((g) => existingGroups.has(g));
  return [
    'useradd',
    '--create-home',
    '--shell', u.shell,
    '--comment', u.fullName,
    ...(groups.length ? ['--groups', groups.join(',')] : []),
    u.name,
  ];
}

export function groupNames(groupFile: string): Set<string> {
  return new Set(groupFile.split('\n').map((l) => l.split(':')[0]!).filter(Boolean));
}

export const identityStep: StepDef = {
  id: 'identity',
  title: 'Set the host name and create the live user',
  version: 1,
  layer: 'overlay',
  configFields: ['hostname', 'liveUser'],
  async run(ctx) {
    prepareLayer(ctx);
    const { config } = ctx;
    writeLayerFile(ctx.layers, 'etc/hostname', `${config.hostname}\n`, 0o644);
    writeLayerFile(ctx.layers, 'etc/hosts', renderHosts(config.hostname), 0o644);
    const groups = groupNames(readLayerFile(ctx.layers, 'etc/group') ?? '');
    const absent = config.liveUser.groups.filter((g) => !groups.has(g));
    if (absent.length) ctx.log.info(`groups not present in the image, left out: ${absent.join(', ')}`);
    await runInChroot(ctx, useraddArgv(config, groups));
    // The password goes through stdin, never argv, so it is not visible in the process list.
    await runInChroot(ctx, ['chpasswd'], { input: `${config.liveUser.name}:${config.liveUser.password}\n` });
    if (findInLayers(ctx.layers, 'usr/bin/sudo') !== null) {
      writeLayerFile(ctx.layers, `etc/sudoers.d/ailinux-live`, renderSudoers(config.liveUser.name), 0o440);
    }
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    if (readLayerFile(ctx.layers, 'etc/hostname') !== `${ctx.config.hostname}\n`) {
      throw new StepError('identity', '/etc/hostname in the rootfs does not hold the configured host name');
    }
    const passwd = readLayerFile(ctx.layers, 'etc/passwd') ?? '';
    if (!passwd.split('\n').some((l) => l.startsWith(`${ctx.config.liveUser.name}:`))) {
      throw new StepError('identity', `the live user ${ctx.config.liveUser.name} is not in /etc/passwd`);
    }
  },
  undo: discardLayer,
};
