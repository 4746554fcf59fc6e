/**
 * identity: host name and live user: the account, its sudo rule in /etc/sudoers.d, SDDM autologin,
 * desktop launchers, and for casper the casper.conf its initramfs reads. It comes after the
 * packages, desktop and installer on purpose: these change often (the host name belongs to base
 * configuration, phase 3, but is set here), and changing them must not reinstall anything.
 */
import { StepError } from '../errors.js';
import { entryInLayers, findInLayers, readLayerFile, writeLayerFile } from '../runtime/layers.js';
import type { BuildConfig } from '../config/schema.js';
import { hasCalamares } from './installer.js';
import { discardLayer, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import { helperLauncher, installerLauncher, type Launcher } from './launchers.js';
import { writePanelLayout } from './panel-layout.js';
import { chpasswdLine } from './password-hash.js';
import type { StepContext, StepDef } from './types.js';

export function renderHosts(hostname: string): string {
  return `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n`;
}

export function renderSudoers(user: string): string {
  return `# Written by ailinux: the live user may administer the live system.\n${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`;
}

export const SUDOERS_FILE = 'etc/sudoers.d/ailinux-live';
export const SDDM_AUTOLOGIN_FILE = 'etc/sddm.conf.d/autologin.conf';

export function renderSddmAutologin(config: BuildConfig): string {
  return `# Written by ailinux: the live user is logged in at once.\n[Autologin]\nUser=${config.liveUser.name}\nSession=${config.liveUser.session}\n`;
}

/** A word in single quotes for a POSIX shell (casper.conf is sourced by the initramfs). */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** casper's settings: without them casper names the user "ubuntu" and the host "ubuntu" at boot. */
export function renderCasperConf(config: BuildConfig): string {
  return [
    '# Written by ailinux: casper reads this from the initramfs (chroot-cleanup rebuilds it).',
    `export USERNAME=${shQuote(config.liveUser.name)}`,
    `export USERFULLNAME=${shQuote(config.liveUser.fullName)}`,
    `export HOST=${shQuote(config.hostname)}`,
    `export BUILD_SYSTEM=${shQuote(config.distribution.family === 'ubuntu' ? 'Ubuntu' : 'Debian')}`,
    // casper ignores USERNAME and HOST unless FLAVOUR is set
    `export FLAVOUR=${shQuote(config.branding.productName)}`,
    '',
  ].join('\n');
}

export function useraddArgv(config: BuildConfig, existingGroups: ReadonlySet<string>): string[] {
  const u = config.liveUser;
  const groups = u.groups.filter((g) => existingGroups.has(g));
  return [
    'useradd',
    '--create-home',
    '--shell',
    u.shell,
    '--comment',
    u.fullName,
    ...(groups.length ? ['--groups', groups.join(',')] : []),
    // the schema refuses a leading "-"; "--" makes sure a name is never read as an option all the same
    '--',
    u.name,
  ];
}

export function groupNames(groupFile: string): Set<string> {
  return new Set(
    groupFile
      .split('\n')
      .map((l) => l.split(':')[0]!)
      .filter(Boolean),
  );
}

function homeOf(config: BuildConfig): string {
  return `home/${config.liveUser.name}`;
}

/** The launchers the live user finds on the desktop: the installer's only in the live user's own home. */
export function launcherPlan(ctx: Pick<StepContext, 'config' | 'layers'>): { skel: Launcher[]; home: Launcher[] } {
  const helper = helperLauncher(ctx.config);
  const install = ctx.config.installer.launcher && hasCalamares(ctx) ? installerLauncher(ctx.config) : null;
  // In /etc/skel the helper's reaches every user, also on the installed system; the installer's
  // would outlive the installer there, so it goes only into the live user's home.
  return { skel: helper ? [helper] : [], home: install ? [install] : [] };
}

export const identityStep: StepDef = {
  id: 'identity',
  title: 'Set the host name and create the live user',
  version: 3,
  layer: 'overlay',
  phase: 8,
  needs: ['bootstrap'],
  configFields: [
    // the chroot's LANG (command-env.ts) comes from it
    'locale.lang',
    'hostname',
    'liveUser',
    'liveSystem',
    'distribution.family',
    'branding.id',
    'branding.productName',
    'installer.launcher',
    // the helper's launcher only (launchers.ts): its files are branding's, so a profile without branding refuses them
    'helper.name',
    'helper.title',
    'helper.comment',
    'helper.launcher',
    // the panel's layout template with its pinned launchers (panel-layout.ts)
    'panel.launchers',
  ],
  async run(ctx) {
    prepareLayer(ctx);
    const { config } = ctx;
    writeLayerFile(ctx.layers, 'etc/hostname', `${config.hostname}\n`, 0o644);
    writeLayerFile(ctx.layers, 'etc/hosts', renderHosts(config.hostname), 0o644);
    if (config.liveSystem === 'casper') writeLayerFile(ctx.layers, 'etc/casper.conf', renderCasperConf(config), 0o644);

    const launchers = launcherPlan(ctx);
    for (const file of writePanelLayout('identity', config, ctx.layers)) ctx.log.info(`panel layout: ${file}`);
    // before useradd, which copies /etc/skel into the new home with the user as owner
    for (const l of launchers.skel) writeLayerFile(ctx.layers, `etc/skel/Desktop/${l.file}`, l.text, 0o755);

    const groups = groupNames(readLayerFile(ctx.layers, 'etc/group') ?? '');
    const absent = config.liveUser.groups.filter((g) => !groups.has(g));
    if (absent.length) ctx.log.info(`groups not present in the image, left out: ${absent.join(', ')}`);
    await runInChroot(ctx, useraddArgv(config, groups));
    // Hashed here with a salt derived from the build's inputs (chpasswd would salt it at random: password-hash.ts);
    // the hash goes through stdin, never argv, so it is not visible in the process list.
    await runInChroot(ctx, ['chpasswd', '--encrypted'], { input: chpasswdLine(config, ctx.sourceDateEpoch) });
    if (findInLayers(ctx.layers, 'usr/bin/sudo') !== null) {
      writeLayerFile(ctx.layers, SUDOERS_FILE, renderSudoers(config.liveUser.name), 0o440);
    }
    if (config.liveUser.autologin && findInLayers(ctx.layers, 'usr/bin/sddm') !== null) {
      writeLayerFile(ctx.layers, SDDM_AUTOLOGIN_FILE, renderSddmAutologin(config), 0o644);
    }
    if (launchers.home.length > 0) {
      for (const l of launchers.home) writeLayerFile(ctx.layers, `${homeOf(config)}/Desktop/${l.file}`, l.text, 0o755);
      await runInChroot(ctx, ['chown', '-R', '--', `${config.liveUser.name}:`, `/${homeOf(config)}/Desktop`]);
    }
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    const { config } = ctx;
    if (readLayerFile(ctx.layers, 'etc/hostname') !== `${config.hostname}\n`) {
      throw new StepError('identity', '/etc/hostname in the rootfs does not hold the configured host name');
    }
    const passwd = readLayerFile(ctx.layers, 'etc/passwd') ?? '';
    if (!passwd.split('\n').some((l) => l.startsWith(`${config.liveUser.name}:`))) {
      throw new StepError('identity', `the live user ${config.liveUser.name} is not in /etc/passwd`);
    }
    if (readLayerFile(ctx.layers, 'etc/sudoers')?.includes(`${config.liveUser.name} ALL=`)) {
      throw new StepError('identity', "the live user's rule is in /etc/sudoers itself; it belongs in /etc/sudoers.d");
    }
    // looked at inside the layers, never through a symlink on the host
    const sudoers = entryInLayers(ctx.layers, SUDOERS_FILE);
    if (sudoers !== null && (sudoers.type !== 'file' || sudoers.mode !== 0o440)) {
      throw new StepError('identity', `/${SUDOERS_FILE} must be a regular file with mode 0440, or sudo ignores it`);
    }
  },
  undo: discardLayer,
};
