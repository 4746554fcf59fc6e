/**
 * minimal: a console-only Debian bookworm live ISO. Quick to build; what CI builds and boots end
 * to end. The same code as ailinux, with other data: no desktop, installer or branding steps, and
 * no preflight (its CI hosts are provisioned, and its crash tests run with fake tools on PATH).
 */
import type { ConfigInput } from '../schema.js';

export const minimalProfile: ConfigInput = {
  name: 'minimal',
  description: 'Debian bookworm live ISO, console only, live-boot',
  architecture: 'amd64',
  distribution: {
    family: 'debian',
    suite: 'bookworm',
    mirror: 'http://deb.debian.org/debian',
    components: ['main'],
    sources: [
      { uri: 'http://deb.debian.org/debian', suites: ['bookworm', 'bookworm-updates'], components: ['main'] },
      { uri: 'http://deb.debian.org/debian-security', suites: ['bookworm-security'], components: ['main'] },
    ],
    extraRepositories: [],
    resolvConf: 'empty',
  },
  bootstrap: { tool: 'debootstrap', variant: 'minbase', include: [] },
  liveSystem: 'live-boot',
  packages: {
    live: ['live-boot', 'systemd-sysv', 'zstd'],
    firmware: [],
    kernel: ['linux-image-amd64'],
    desktop: [],
    apps: [],
    installer: [],
    extra: [],
    installRecommends: false,
  },
  hostname: 'ailinux-minimal',
  liveUser: {
    name: 'live',
    fullName: 'Live user',
    groups: [],
    shell: '/bin/bash',
    password: 'live',
    autologin: false,
    session: 'plasma',
  },
  locale: { lang: 'C.UTF-8', generate: [], timezone: 'Etc/UTC', keyboardLayout: 'us' },
  squashfs: { compression: 'zstd', level: 3, exclude: ['boot'] },
  iso: {
    volumeLabel: 'AILINUX_MINIMAL',
    outputName: 'ailinux-minimal-amd64',
    bios: true,
    uefi: true,
    kernelArgs: [],
    menuTimeout: 3,
    serialConsole: true,
    isolinux: false,
    secureBoot: false,
  },
  branding: { id: 'ailinux', productName: 'AILinux minimal', version: '' },
  installer: { removePackages: [], launcher: false },
  retry: { maxAttempts: 3, backoffMs: 5000, backoffFactor: 2 },
  // The build is gated on a BIOS boot to the login prompt: it never reports success for an ISO that does not boot.
  verify: { boot: true, bios: true, uefi: false, marker: 'login:', timeoutSec: 300, memoryMb: 1024 },
  steps: [
    'bootstrap',
    'configure',
    'packages',
    'identity',
    'chroot-cleanup',
    'squashfs',
    'bootloaders',
    'iso',
    'checksums',
    'verify',
    'report',
  ],
};
