/**
 * desktop (phase 5) and installer (phase 6): names looked up with apt-cache policy before apt-get
 * install, a missing name failing with its name; the exact Calamares configuration the installer
 * step writes from the profile.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import { NETWORK_TRANSIENT_PATTERNS } from '../../src/runtime/runner.js';
import { missingFromPolicy } from '../../src/steps/apt-check.js';
import { PNG_SIGNATURE } from '../../src/runtime/png.js';
import { renderUnpackfsConf } from '../../src/steps/calamares/modules.js';
import { desktopStep } from '../../src/steps/desktop.js';
import { installerStep } from '../../src/steps/installer.js';
import {
  chrootOptions,
  expectedChrootArgv,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type TestStepContext,
} from '../helpers/step-context.js';

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-desktop-');
});
afterEach(() => removeWorkDir(workDir));

function chrootCmd(step: string, lower: readonly string[], command: readonly string[], apt = false): string[] {
  return expectedChrootArgv(workDir, step, lower, command, apt);
}

/** What `apt-cache policy` prints for packages that exist (captured format of noble's apt 2.7). */
function policyOutput(names: readonly string[], virtual: readonly string[] = []): string {
  return [
    ...names.map(
      (n) =>
        `${n}:\n  Installed: (none)\n  Candidate: 1.0-1ubuntu1\n  Version table:\n     1.0-1ubuntu1 500\n        500 http://archive.ubuntu.com/ubuntu noble/main amd64 Packages\n`,
    ),
    ...virtual.map((n) => `${n}:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n`),
  ].join('');
}

function dpkgStatus(names: readonly string[]): string {
  return names.map((p) => `Package: ${p}\nStatus: install ok installed\nVersion: 1.0\n`).join('\n');
}

/** A runner whose apt-cache policy knows `known`, and whose apt-get install records the names in the step's dpkg status. */
function aptRunner(step: string, known: readonly string[], extra: (call: FakeCall) => void = () => {}): FakeRunner {
  return new FakeRunner()
    .on((argv) => argv.includes('apt-cache'), { effect: () => {}, stdout: policyOutput(known) })
    .on((argv) => argv.includes('apt-get'), {
      effect: (call) => {
        const names = call.argv.slice(call.argv.indexOf('install') + 3);
        writeTree(`${workDir}/layers/${step}/upper`, { 'var/lib/dpkg/status': dpkgStatus(names) });
        extra(call);
      },
    });
}

function base(): void {
  writeTree(`${workDir}/layers/bootstrap/root`, {
    'etc/os-release': 'ID=ubuntu\n',
    'etc/resolv.conf': 'nameserver 10.0.0.1\n',
    'var/lib/dpkg/status': '',
    'usr/bin/.keep': '',
  });
}

const DESKTOP = [
  'kde-plasma-desktop',
  'sddm',
  'sddm-theme-breeze',
  'xorg',
  'konsole',
  'dolphin',
  'kate',
  'okular',
  'ark',
  'falkon',
  'plasma-nm',
];
const INSTALLER = [
  'calamares',
  'grub-pc-bin',
  'grub-efi-amd64-signed',
  'shim-signed',
  'efibootmgr',
  'dosfstools',
  'cryptsetup',
];

function ctxFor(config: BuildConfig, stepId: string, runner: FakeRunner): TestStepContext {
  return stepContext({ config, workDir, stepId, runner });
}

describe('desktop', () => {
  const lower = ['packages', 'configure', 'bootstrap'];

  it('ailinux: apt-cache policy of every name, then one apt-get install with the deb cache, network-retryable', async () => {
    base();
    const config = profileConfig('ailinux');
    const runner = aptRunner('desktop', DESKTOP);
    const ctx = ctxFor(config, 'desktop', runner);
    const artifacts = await desktopStep.run(ctx);
    expect(runner.calls.map((c) => c.argv)).toEqual([
      chrootCmd('desktop', lower, ['apt-cache', 'policy', ...DESKTOP]),
      chrootCmd('desktop', lower, ['apt-get', 'install', '-y', '--no-install-recommends', ...DESKTOP], true),
    ]);
    expect(runner.calls.map((c) => c.options)).toEqual([
      chrootOptions(config),
      chrootOptions(config, { transientPatterns: NETWORK_TRANSIENT_PATTERNS }),
    ]);
    expect(ctx.infos).toEqual([`installing ${DESKTOP.length} package(s): ${DESKTOP.join(' ')}`]);
    expect(artifacts).toEqual([{ path: 'layers/desktop', kind: 'dir' }]);
    await expect(desktopStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('names that are not in the archives fail the step with those names, and apt-get install never runs', async () => {
    base();
    const config = profileConfig(
      'ailinux',
      (c) => (c.packages.apps = ['konsole', 'kde-frobnicator', 'dolphin', 'nosuch-app']),
    );
    const names = [...config.packages.desktop, ...config.packages.apps];
    const runner = aptRunner(
      'desktop',
      names.filter((n) => !['kde-frobnicator', 'nosuch-app'].includes(n)),
    );
    const ctx = ctxFor(config, 'desktop', runner);
    const run = desktopStep.run(ctx);
    await expect(run).rejects.toBeInstanceOf(StepError);
    await expect(run).rejects.toThrow(/^packages not found in the configured archives: kde-frobnicator, nosuch-app$/);
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]!.argv).toContain('apt-cache');
  });

  it('kde-full instead of kde-plasma-desktop is only data', async () => {
    base();
    const config = profileConfig(
      'ailinux',
      (c) => (c.packages.desktop = ['kde-full', 'sddm', 'sddm-theme-breeze', 'xorg']),
    );
    const runner = aptRunner('desktop', [...config.packages.desktop, ...config.packages.apps]);
    await desktopStep.run(ctxFor(config, 'desktop', runner));
    expect(runner.calls[1]!.argv.slice(-DESKTOP.length)).toEqual([
      'kde-full',
      'sddm',
      'sddm-theme-breeze',
      'xorg',
      ...config.packages.apps,
    ]);
  });

  it('verify names the packages apt did not install', async () => {
    base();
    const config = profileConfig('ailinux');
    const ctx = ctxFor(config, 'desktop', aptRunner('desktop', DESKTOP));
    await desktopStep.run(ctx);
    writeTree(`${workDir}/layers/desktop/upper`, {
      'var/lib/dpkg/status': dpkgStatus(DESKTOP.filter((p) => p !== 'sddm')),
    });
    await expect(desktopStep.verify(ctx)).rejects.toThrow('apt finished, but these packages are not installed: sddm');
    // the fix names the step log as a command, which the CLI prints with the user's own --work-dir
    await expect(desktopStep.verify(ctx)).rejects.toMatchObject({
      hint: 'see the step log',
      hintArgv: ['ailinux', 'log', 'desktop'],
    });
  });

  it('a profile without desktop packages runs nothing', async () => {
    base();
    const config = profileConfig('ailinux', (c) => ((c.packages.desktop = []), (c.packages.apps = [])));
    const ctx = ctxFor(config, 'desktop', new FakeRunner());
    await desktopStep.run(ctx);
    expect(ctx.runner.calls).toEqual([]);
    expect(desktopStep.diskEstimateMb!(config)).toBe(0);
  });

  it('parses apt-cache policy: unknown names are absent, virtual ones have no candidate', () => {
    const out = policyOutput(['sddm', 'xorg'], ['x-window-manager']);
    expect(missingFromPolicy(['sddm', 'nosuch', 'xorg', 'x-window-manager'], out)).toEqual([
      'nosuch',
      'x-window-manager',
    ]);
    expect(missingFromPolicy(['sddm'], 'sddm:amd64:\n  Installed: (none)\n  Candidate: 0.20.0-2ubuntu4.2\n')).toEqual(
      [],
    );
  });
});

// ---------------------------------------------------------------------------------------------

const SETTINGS = `# Written by ailinux from the profile; edit the config, not this file.
---
modules-search: [ local ]

sequence:
- show:
  - welcome
  - locale
  - keyboard
  - partition
  - users
  - summary
- exec:
  - partition
  - mount
  - unpackfs
  - machineid
  - fstab
  - locale
  - keyboard
  - localecfg
  - users
  - displaymanager
  - networkcfg
  - hwclock
  - removeuser
  - packages
  - initramfscfg
  - initramfs
  - grubcfg
  - bootloader
  - umount
- show:
  - finished

branding: ailinux
prompt-install: true
dont-chroot: false
oem-setup: false
disable-cancel: false
disable-cancel-during-exec: false
hide-back-and-next-during-exec: true
quit-at-end: false
`;

const HEAD = '# Written by ailinux from the profile; edit the config, not this file.\n---\n';

const MODULES: Record<string, string> = {
  'unpackfs.conf': `${HEAD}unpack:
    -   source: "/cdrom/casper/filesystem.squashfs"
        sourcefs: "squashfs"
        destination: ""
`,
  'partition.conf': `${HEAD}# Calamares 3.3 reads the efi group; older releases the efiSystemPartition keys
efi:
    mountPoint: "/boot/efi"
    recommendedSize: 300MiB
    minimumSize: 32MiB
    label: "EFI"
efiSystemPartition: "/boot/efi"
efiSystemPartitionSize: 300M
efiSystemPartitionName: "EFI"
userSwapChoices:
    - none
    - small
    - suspend
    - file
initialSwapChoice: file
drawNestedPartitions: false
alwaysShowPartitionLabels: true
initialPartitioningChoice: none
defaultFileSystemType: "ext4"
availableFileSystemTypes: ["ext4", "btrfs", "xfs"]
`,
  'bootloader.conf': `${HEAD}efiBootLoader: "grub"
timeout: "5"
grubInstall: "grub-install"
grubMkconfig: "grub-mkconfig"
grubCfg: "/boot/grub/grub.cfg"
grubProbe: "grub-probe"
efiBootMgr: "efibootmgr"
efiBootloaderId: "ubuntu"
installEFIFallback: true
`,
  'users.conf': `${HEAD}defaultGroups:
    - "adm"
    - "cdrom"
    - "dip"
    - "lpadmin"
    - "plugdev"
    - "sudo"
autologinGroup: autologin
doAutologin: false
sudoersGroup: sudo
setRootPassword: false
doReusePassword: true
passwordRequirements:
    nonempty: true
allowWeakPasswords: true
allowWeakPasswordsDefault: false
userShell: "/bin/bash"
hostname:
    location: EtcFile
    writeHostsFile: true
`,
  'displaymanager.conf': `${HEAD}displaymanagers:
  - sddm
basicSetup: false
sysconfigSetup: false
`,
  'removeuser.conf': `${HEAD}username: "ailinux"
`,
  'packages.conf': `${HEAD}backend: apt
update_db: false
update_system: false
operations:
  - remove:
      - "casper"
      - "calamares"
`,
};

const BRANDING_DESC = `${HEAD}componentName: ailinux
welcomeStyleCalamares: false
welcomeExpandingLogo: true
windowExpanding: normal
windowSize: 800px,560px
windowPlacement: center
sidebar: widget
navigation: widget

strings:
    productName: "AILinux"
    shortProductName: "AILinux"
    version: "24.04"
    shortVersion: "24.04"
    versionedName: "AILinux 24.04"
    shortVersionedName: "AILinux 24.04"
    bootloaderEntryName: "AILinux"

images:
    productLogo: "logo.png"
    productIcon: "logo.png"
    productWelcome: "welcome.png"

slideshow: "show.qml"
slideshowAPI: 2

style:
    SidebarBackground: "#1b1e20"
    SidebarText: "#ffffff"
    SidebarTextCurrent: "#1b1e20"
    SidebarBackgroundCurrent: "#3daee9"
`;

describe('installer', () => {
  const lower = ['desktop', 'packages', 'configure', 'bootstrap'];
  const etc = () => `${workDir}/layers/installer/upper/etc/calamares`;

  /** apt-get install of calamares leaves its program, as the real package does. */
  function installs(call: FakeCall): void {
    if (call.argv.includes('calamares')) writeTree(`${workDir}/layers/installer/upper`, { 'usr/bin/calamares': '' });
  }

  it('ailinux: looks the packages up, installs them, then writes settings.conf, the module configs and the branding exactly', async () => {
    base();
    writeTree(`${workDir}/layers/desktop/upper`, { 'usr/bin/sddm': '' });
    const config = profileConfig('ailinux');
    const runner = aptRunner('installer', INSTALLER, installs);
    const ctx = ctxFor(config, 'installer', runner);
    await installerStep.run(ctx);
    expect(runner.calls.map((c) => c.argv)).toEqual([
      chrootCmd('installer', lower, ['apt-cache', 'policy', ...INSTALLER]),
      chrootCmd('installer', lower, ['apt-get', 'install', '-y', '--no-install-recommends', ...INSTALLER], true),
    ]);
    expect(fs.readFileSync(`${etc()}/settings.conf`, 'utf8')).toBe(SETTINGS);
    expect(fs.readdirSync(`${etc()}/modules`).sort()).toEqual(Object.keys(MODULES).sort());
    for (const [name, text] of Object.entries(MODULES)) {
      expect(fs.readFileSync(`${etc()}/modules/${name}`, 'utf8'), name).toBe(text);
      expect(fs.statSync(`${etc()}/modules/${name}`).mode & 0o7777).toBe(0o644);
    }
    const branding = `${etc()}/branding/ailinux`;
    expect(fs.readdirSync(branding).sort()).toEqual(['branding.desc', 'logo.png', 'show.qml', 'welcome.png']);
    expect(fs.readFileSync(`${branding}/branding.desc`, 'utf8')).toBe(BRANDING_DESC);
    const qml = fs.readFileSync(`${branding}/show.qml`, 'utf8');
    expect(qml).toContain('import calamares.slideshow 1.0;');
    expect(qml).toContain('source: "logo.png"');
    expect(qml).toContain('text: "Installing AILinux..."');
    // Calamares refuses to start without its branding images: placeholders until the branding step
    for (const image of ['logo.png', 'welcome.png'])
      expect(fs.readFileSync(`${branding}/${image}`).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(ctx.infos.at(-1)).toBe('Calamares configured: branding ailinux, display managers sddm');
    await expect(installerStep.verify(ctx)).resolves.toBeUndefined();

    fs.appendFileSync(`${etc()}/modules/unpackfs.conf`, '# edited\n');
    await expect(installerStep.verify(ctx)).rejects.toThrow(
      '/etc/calamares/modules/unpackfs.conf in the rootfs is not the one the profile asks for',
    );
  });

  it('the sequences, file system, swap, groups and removals are profile data', async () => {
    base();
    const config = profileConfig('ailinux', (c) => {
      c.installer.showSequence = ['welcome', 'partition', 'summary'];
      c.installer.execSequence = ['partition', 'mount', 'unpackfs', 'shellprocess@cleanup', 'umount'];
      c.installer.finishedSequence = [];
      c.installer.filesystem = 'btrfs';
      c.installer.swap = 'none';
      c.installer.userGroups = ['users'];
      c.installer.removePackages = [];
      delete c.installer.efiBootloaderId;
      c.branding = { ...c.branding, id: 'acme', productName: 'Acme OS', version: '', url: 'https://acme.example' };
    });
    const ctx = ctxFor(config, 'installer', aptRunner('installer', INSTALLER, installs));
    await installerStep.run(ctx);
    expect(fs.readFileSync(`${etc()}/settings.conf`, 'utf8')).toContain(
      '- show:\n  - welcome\n  - partition\n  - summary\n- exec:\n  - partition\n  - mount\n  - unpackfs\n  - shellprocess@cleanup\n  - umount\n\nbranding: acme\n',
    );
    const modules = `${etc()}/modules`;
    expect(fs.readFileSync(`${modules}/partition.conf`, 'utf8')).toContain('initialSwapChoice: none\n');
    expect(fs.readFileSync(`${modules}/partition.conf`, 'utf8')).toContain('defaultFileSystemType: "btrfs"\n');
    expect(fs.readFileSync(`${modules}/users.conf`, 'utf8')).toContain(
      'defaultGroups:\n    - "users"\nautologinGroup: autologin\ndoAutologin: false\nsetRootPassword',
    );
    expect(fs.readFileSync(`${modules}/packages.conf`, 'utf8')).toBe(
      `${HEAD}backend: apt\nupdate_db: false\nupdate_system: false\noperations: []\n`,
    );
    expect(fs.readFileSync(`${modules}/bootloader.conf`, 'utf8')).not.toContain('efiBootloaderId');
    // no display manager in the image: the list is empty, not invented
    expect(fs.readFileSync(`${modules}/displaymanager.conf`, 'utf8')).toBe(
      `${HEAD}displaymanagers:\nbasicSetup: false\nsysconfigSetup: false\n`,
    );
    const desc = fs.readFileSync(`${etc()}/branding/acme/branding.desc`, 'utf8');
    expect(desc).toContain('componentName: acme\n');
    expect(desc).toContain('    versionedName: "Acme OS"\n');
    expect(desc).toContain('    productUrl: "https://acme.example"\n');
  });

  it('unpackfs reads the squashfs where the live system mounts the medium: casper /cdrom, live-boot /run/live/medium', () => {
    expect(renderUnpackfsConf(profileConfig('ailinux'))).toContain('source: "/cdrom/casper/filesystem.squashfs"');
    expect(renderUnpackfsConf(profileConfig('minimal'))).toContain(
      'source: "/run/live/medium/live/filesystem.squashfs"',
    );
  });

  it('without Calamares in the image (another installer, or none) no Calamares file is written', async () => {
    base();
    const config = profileConfig('ailinux', (c) => (c.packages.installer = ['grub-pc-bin']));
    const ctx = ctxFor(config, 'installer', aptRunner('installer', ['grub-pc-bin']));
    await installerStep.run(ctx);
    expect(fs.existsSync(etc())).toBe(false);
    expect(ctx.infos.at(-1)).toBe('the image has no /usr/bin/calamares: no Calamares configuration written');
    await expect(installerStep.verify(ctx)).resolves.toBeUndefined();
    // and the minimal profile runs nothing at all
    const none = ctxFor(
      profileConfig('ailinux', (c) => (c.packages.installer = [])),
      'installer',
      new FakeRunner(),
    );
    await installerStep.run(none);
    expect(none.runner.calls).toEqual([]);
  });

  it('a missing installer package is named before apt runs', async () => {
    base();
    const config = profileConfig('ailinux');
    const runner = aptRunner(
      'installer',
      INSTALLER.filter((p) => p !== 'shim-signed'),
    );
    await expect(installerStep.run(ctxFor(config, 'installer', runner))).rejects.toThrow(
      'packages not found in the configured archives: shim-signed',
    );
    expect(runner.calls).toHaveLength(1);
  });
});
