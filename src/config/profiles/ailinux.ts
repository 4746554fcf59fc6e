/** ailinux: the product's default, the Ubuntu 24.04 (noble) KDE Plasma live ISO with the Calamares installer. */
import type { ConfigInput } from '../schema.js';

const UBUNTU = 'http://archive.ubuntu.com/ubuntu';
const COMPONENTS = ['main', 'restricted', 'universe', 'multiverse'];

export const ailinuxProfile: ConfigInput = {
  name: 'ailinux',
  description: 'AILinux: Ubuntu 24.04 noble, KDE Plasma, Calamares, casper, BIOS and UEFI',
  architecture: 'amd64',
  distribution: {
    family: 'ubuntu',
    suite: 'noble',
    mirror: UBUNTU,
    components: COMPONENTS,
    // Debian hosts have no ubuntu-keyring package; Ubuntu hosts ship this file.
    keyring: { path: '/usr/share/keyrings/ubuntu-archive-keyring.gpg' },
    // Bookworm's debootstrap has no noble script; gutsy is the one all later Ubuntu suites share.
    debootstrapScript: '/usr/share/debootstrap/scripts/gutsy',
    sources: [
      { uri: UBUNTU, suites: ['noble', 'noble-updates', 'noble-backports'], components: COMPONENTS },
      { uri: 'http://security.ubuntu.com/ubuntu', suites: ['noble-security'], components: COMPONENTS },
    ],
  },
  bootstrap: { tool: 'debootstrap', variant: 'minbase', include: [] },
  liveSystem: 'casper',
  packages: {
    live: ['casper', 'systemd-sysv', 'zstd', 'initramfs-tools', 'plymouth', 'network-manager', 'sudo', 'locales'],
    kernel: ['linux-generic'],
    desktop: ['kde-plasma-desktop', 'sddm', 'xorg', 'konsole', 'dolphin', 'firefox'],
    installer: ['calamares', 'calamares-settings-ubuntu-common'],
    extra: [],
    installRecommends: false,
  },
  hostname: 'ailinux',
  liveUser: { name: 'ailinux', fullName: 'AILinux live user', groups: ['sudo', 'adm', 'audio', 'video', 'plugdev', 'netdev'], shell: '/bin/bash', password: 'ailinux' },
  locale: { lang: 'en_US.UTF-8', generate: ['en_US.UTF-8', 'de_DE.UTF-8'], timezone: 'Europe/Berlin', keyboardLayout: 'de' },
  squashfs: { compression: 'zstd', level: 15, exclude: ['boot'] },
  iso: {
    volumeLabel: 'AILINUX_2404',
    outputName: 'ailinux-24.04-amd64',
    bios: true,
    uefi: true,
    kernelArgs: ['quiet', 'splash'],
    menuTimeout: 10,
    serialConsole: false,
  },
  retry: { maxAttempts: 4, backoffMs: 10000, backoffFactor: 2 },
  steps: ['bootstrap', 'configure', 'packages', 'identity', 'chroot-cleanup', 'squashfs', 'bootloaders', 'iso', 'checksums', 'report'],
};
