/**
 * identity (phase 8, the live user; also the host name, kept late on purpose) for the ailinux
 * profile: the sudo rule in /etc/sudoers.d (0440), SDDM autologin, casper.conf, and the launchers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { identityStep, renderCasperConf, useraddArgv } from '../../src/steps/identity.js';
import {
  chrootOptions,
  layerTreeDir,
  NS_RUN,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type TestStepContext,
  expectedKernelMountArgv,
} from '../helpers/step-context.js';

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-identity-');
});
afterEach(() => removeWorkDir(workDir));

const LOWER = ['branding', 'installer', 'desktop', 'packages', 'configure', 'bootstrap'];
const layerDir = (id: string) => layerTreeDir(workDir, id);

function cmd(command: readonly string[]): string[] {
  const mnt = `${workDir}/mnt/identity`;
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--fork',
    '--',
    NS_RUN,
    '--mount',
    'overlay',
    'overlay',
    mnt,
    `lowerdir=${LOWER.map(layerDir).join(':')},upperdir=${workDir}/layers/identity/upper,workdir=${workDir}/layers/identity/work`,
    ...expectedKernelMountArgv(mnt),
    '--',
    'chroot',
    mnt,
    ...command,
  ];
}

/** The image after the desktop, installer and branding steps: sudo, SDDM, Calamares. */
function desktopImage(): void {
  writeTree(layerDir('bootstrap'), {
    'etc/os-release': 'ID=ubuntu\n',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
    'etc/group': 'root:x:0:\nadm:x:4:\nsudo:x:27:\naudio:x:29:\nvideo:x:44:\nplugdev:x:46:\nnetdev:x:106:\n',
    'etc/sudoers': 'root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n',
    'home/.keep': '',
  });
  writeTree(layerDir('packages'), { 'usr/bin/sudo': '' });
  writeTree(layerDir('desktop'), { 'usr/bin/sddm': '' });
  writeTree(layerDir('installer'), { 'usr/bin/calamares': '' });
}

/** useradd appends the user and copies /etc/skel, as the real one does. */
function runnerWithUseradd(user: string): FakeRunner {
  return new FakeRunner().on((argv) => argv.includes('useradd'), {
    effect: () => {
      const upper = layerDir('identity');
      writeTree(upper, {
        'etc/passwd': `root:x:0:0:root:/root:/bin/bash\n${user}:x:1000:1000::/home/${user}:/bin/bash\n`,
      });
      const skel = `${upper}/etc/skel/Desktop`;
      if (fs.existsSync(skel)) fs.cpSync(skel, `${upper}/home/${user}/Desktop`, { recursive: true });
    },
  });
}

function withHelper(config: BuildConfig): void {
  config.helper = {
    name: 'ailinux-helper',
    title: 'AILinux Helper',
    comment: '',
    files: [{ source: 'h.py', destination: '/usr/local/bin/ailinux-helper', mode: '0755' }],
    launcher: { exec: '/usr/local/bin/ailinux-helper', icon: 'ailinux', terminal: false },
  };
}

const mode = (f: string) => fs.statSync(f).mode & 0o7777;
const upper = () => layerDir('identity');

const INSTALL_LAUNCHER =
  '[Desktop Entry]\nType=Application\nVersion=1.0\nName=Install AILinux\nComment=Install AILinux on this computer\nExec=sudo -E calamares\nIcon=calamares\nTerminal=false\nCategories=System;\n';
const HELPER_LAUNCHER =
  '[Desktop Entry]\nType=Application\nVersion=1.0\nName=AILinux Helper\nExec=/usr/local/bin/ailinux-helper\nIcon=ailinux\nTerminal=false\nCategories=System;\n';

describe('identity: the ailinux live user', () => {
  it('host name, casper.conf, launchers, useradd, chpasswd, sudoers.d 0440, SDDM autologin, chown of the Desktop: exact argv and files', async () => {
    desktopImage();
    const config = profileConfig('ailinux', withHelper);
    const ctx: TestStepContext = stepContext({
      config,
      workDir,
      stepId: 'identity',
      runner: runnerWithUseradd('ailinux'),
    });
    await identityStep.run(ctx);

    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      cmd([
        'useradd',
        '--create-home',
        '--shell',
        '/bin/bash',
        '--comment',
        'AILinux live user',
        '--groups',
        'sudo,adm,audio,video,plugdev,netdev',
        '--',
        'ailinux',
      ]),
      cmd(['chpasswd', '--encrypted']),
      cmd(['chown', '-R', '--', 'ailinux:', '/home/ailinux/Desktop']),
    ]);
    expect(ctx.runner.calls.map((c) => c.options)).toEqual([
      chrootOptions(config),
      chrootOptions(config, {
        input:
          'ailinux:$6$QYVYzOP8fWNjiLcn$rjyULMuwf8w5r3z/80v0XhOvmxFvmtdXmHAlifZed8fRrLKJ5cqkN46ZCN1KfIv5JdupVAF5Drivd4HtZ0PVL.\n',
      }),
      chrootOptions(config),
    ]);

    const u = upper();
    expect(fs.readFileSync(`${u}/etc/hostname`, 'utf8')).toBe('ailinux\n');
    expect(fs.readFileSync(`${u}/etc/sudoers.d/ailinux-live`, 'utf8')).toBe(
      '# Written by ailinux: the live user may administer the live system.\nailinux ALL=(ALL:ALL) NOPASSWD: ALL\n',
    );
    expect(mode(`${u}/etc/sudoers.d/ailinux-live`)).toBe(0o440);
    // /etc/sudoers itself is never touched
    expect(fs.existsSync(`${u}/etc/sudoers`)).toBe(false);
    expect(fs.readFileSync(`${u}/etc/sddm.conf.d/autologin.conf`, 'utf8')).toBe(
      '# Written by ailinux: the live user is logged in at once.\n[Autologin]\nUser=ailinux\nSession=plasma\n',
    );
    expect(mode(`${u}/etc/sddm.conf.d/autologin.conf`)).toBe(0o644);
    expect(fs.readFileSync(`${u}/etc/casper.conf`, 'utf8')).toBe(
      [
        '# Written by ailinux: casper reads this from the initramfs (chroot-cleanup rebuilds it).',
        "export USERNAME='ailinux'",
        "export USERFULLNAME='AILinux live user'",
        "export HOST='ailinux'",
        "export BUILD_SYSTEM='Ubuntu'",
        "export FLAVOUR='AILinux'",
        '',
      ].join('\n'),
    );
    // the helper's launcher goes through /etc/skel (useradd copies it with the user as owner)...
    expect(fs.readFileSync(`${u}/etc/skel/Desktop/ailinux-helper.desktop`, 'utf8')).toBe(HELPER_LAUNCHER);
    expect(mode(`${u}/etc/skel/Desktop/ailinux-helper.desktop`)).toBe(0o755);
    expect(fs.readFileSync(`${u}/home/ailinux/Desktop/ailinux-helper.desktop`, 'utf8')).toBe(HELPER_LAUNCHER);
    // ...the installer's only into the live user's home: on an installed system it would outlive the installer
    expect(fs.readFileSync(`${u}/home/ailinux/Desktop/install-ailinux.desktop`, 'utf8')).toBe(INSTALL_LAUNCHER);
    expect(mode(`${u}/home/ailinux/Desktop/install-ailinux.desktop`)).toBe(0o755);
    expect(fs.existsSync(`${u}/etc/skel/Desktop/install-ailinux.desktop`)).toBe(false);

    await expect(identityStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('no SDDM, no Calamares, no helper: no autologin file, no launchers, no chown', async () => {
    writeTree(layerDir('bootstrap'), { 'etc/passwd': 'root:x:0:0::/root:/bin/bash\n', 'etc/group': 'sudo:x:27:\n' });
    writeTree(layerDir('packages'), { 'usr/bin/sudo': '' });
    const config = profileConfig('ailinux');
    const ctx = stepContext({ config, workDir, stepId: 'identity', runner: runnerWithUseradd('ailinux') });
    await identityStep.run(ctx);
    expect(ctx.runner.calls.map((c) => c.argv.at(cmd([]).length))).toEqual(['useradd', 'chpasswd']);
    expect(fs.existsSync(`${upper()}/etc/sddm.conf.d`)).toBe(false);
    expect(fs.existsSync(`${upper()}/etc/skel`)).toBe(false);
    expect(fs.existsSync(`${upper()}/home`)).toBe(false);
  });

  it('autologin off and a session of choice are data', async () => {
    desktopImage();
    const off = profileConfig('ailinux', (c) => (c.liveUser.autologin = false));
    await identityStep.run(
      stepContext({ config: off, workDir, stepId: 'identity', runner: runnerWithUseradd('ailinux') }),
    );
    expect(fs.existsSync(`${upper()}/etc/sddm.conf.d/autologin.conf`)).toBe(false);
    fs.rmSync(`${workDir}/layers/identity`, { recursive: true });
    const wayland = profileConfig(
      'ailinux',
      (c) => ((c.liveUser.session = 'plasmawayland'), (c.installer.launcher = false)),
    );
    const ctx = stepContext({ config: wayland, workDir, stepId: 'identity', runner: runnerWithUseradd('ailinux') });
    await identityStep.run(ctx);
    expect(fs.readFileSync(`${upper()}/etc/sddm.conf.d/autologin.conf`, 'utf8')).toContain('Session=plasmawayland\n');
    expect(fs.existsSync(`${upper()}/home/ailinux/Desktop`)).toBe(false);
  });

  it('useradd ends its options with "--", so a name that got past the schema is never an option', () => {
    // the schema refuses "-o"; this config skips it on purpose, to test the second line of defence
    const config = profileConfig('ailinux', (c) => {
      c.liveUser.name = '-o';
      c.liveUser.groups = ['sudo'];
    });
    const argv = useraddArgv(config, new Set(['sudo']));
    expect(argv.slice(-2)).toEqual(['--', '-o']);
    expect(argv.indexOf('--')).toBe(argv.length - 2);
    expect(argv.slice(1, -2)).toEqual([
      '--create-home',
      '--shell',
      '/bin/bash',
      '--comment',
      'AILinux live user',
      '--groups',
      'sudo',
    ]);
  });

  it('casper.conf quotes what the initramfs shell would otherwise expand; live-boot profiles get none', async () => {
    const config = profileConfig('ailinux', (c) => (c.liveUser.fullName = `O'Brien $(reboot) "x"`));
    expect(renderCasperConf(config)).toContain(`export USERFULLNAME='O'\\''Brien $(reboot) "x"'\n`);
    writeTree(layerDir('bootstrap'), { 'etc/passwd': '', 'etc/group': '' });
    const minimal = profileConfig('minimal');
    await identityStep.run(stepContext({ config: minimal, workDir, stepId: 'identity' }));
    expect(fs.existsSync(`${upper()}/etc/casper.conf`)).toBe(false);
  });

  it('verify refuses a rule appended to /etc/sudoers, and a sudoers.d file sudo would ignore', async () => {
    desktopImage();
    const config = profileConfig('ailinux');
    const ctx = stepContext({ config, workDir, stepId: 'identity', runner: runnerWithUseradd('ailinux') });
    await identityStep.run(ctx);
    await expect(identityStep.verify(ctx)).resolves.toBeUndefined();
    fs.chmodSync(`${upper()}/etc/sudoers.d/ailinux-live`, 0o644);
    await expect(identityStep.verify(ctx)).rejects.toThrow(
      '/etc/sudoers.d/ailinux-live must be a regular file with mode 0440, or sudo ignores it',
    );
    fs.chmodSync(`${upper()}/etc/sudoers.d/ailinux-live`, 0o440);
    // a symlink out to a 0440 file: refused, never followed on the host (the decoy lives in a temp dir of its own)
    const decoyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-sudoers-decoy-'));
    try {
      fs.writeFileSync(path.join(decoyDir, 'rule'), 'decoy ALL=(ALL) ALL\n', { mode: 0o440 });
      fs.renameSync(`${upper()}/etc/sudoers.d/ailinux-live`, `${upper()}/etc/sudoers.d/.kept`);
      fs.symlinkSync(path.join(decoyDir, 'rule'), `${upper()}/etc/sudoers.d/ailinux-live`);
      await expect(identityStep.verify(ctx)).rejects.toThrow('must be a regular file with mode 0440');
      fs.rmSync(`${upper()}/etc/sudoers.d/ailinux-live`);
      fs.renameSync(`${upper()}/etc/sudoers.d/.kept`, `${upper()}/etc/sudoers.d/ailinux-live`);
    } finally {
      fs.rmSync(decoyDir, { recursive: true, force: true });
    }
    writeTree(upper(), { 'etc/sudoers': 'root ALL=(ALL:ALL) ALL\nailinux ALL=(ALL) NOPASSWD: ALL\n' });
    await expect(identityStep.verify(ctx)).rejects.toThrow(
      "the live user's rule is in /etc/sudoers itself; it belongs in /etc/sudoers.d",
    );
  });
});
