/**
 * ailinux: the product's default, the Ubuntu 24.04 (noble) KDE Plasma live ISO with the Calamares
 * installer, casper, BIOS and UEFI (Secure Boot through Ubuntu's signed shim and GRUB). Pure data:
 * every difference from the minimal profile is a value here, never a branch in the code.
 */
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
    extraRepositories: [],
    // Ubuntu's desktop resolves names through systemd-resolved, which NetworkManager feeds
    resolvConf: { symlink: '../run/systemd/resolve/stub-resolv.conf' },
  },
  bootstrap: { tool: 'debootstrap', variant: 'minbase', include: [] },
  liveSystem: 'casper',
  packages: {
    live: [
      'casper',
      'systemd-sysv',
      'systemd-resolved',
      'zstd',
      'initramfs-tools',
      'plymouth',
      'plymouth-theme-spinner',
      'network-manager',
      'sudo',
      'locales',
    ],
    firmware: ['linux-firmware'],
    kernel: ['linux-generic'],
    // kde-full is the whole KDE suite (several GB more); kde-plasma-desktop is the Plasma desktop with its core applications
    // sddm-theme-breeze: without it SDDM shows its plain built-in greeter (the branding step themes Breeze)
    desktop: ['kde-plasma-desktop', 'sddm', 'sddm-theme-breeze', 'xorg'],
    // firefox is a snap wrapper on noble (no snapd in a chroot build): Falkon is the browser
    apps: ['konsole', 'dolphin', 'kate', 'okular', 'ark', 'falkon', 'plasma-nm'],
    // Calamares, and what it needs to install GRUB for BIOS and for UEFI with Secure Boot; the
    // signed shim and GRUB are also what the ISO's own UEFI boot takes (iso.secureBoot)
    installer: [
      'calamares',
      'grub-pc-bin',
      'grub-efi-amd64-signed',
      'shim-signed',
      'efibootmgr',
      'dosfstools',
      'cryptsetup',
    ],
    extra: [],
    installRecommends: false,
  },
  hostname: 'ailinux',
  liveUser: {
    name: 'ailinux',
    fullName: 'AILinux live user',
    groups: ['sudo', 'adm', 'audio', 'video', 'plugdev', 'netdev'],
    shell: '/bin/bash',
    password: 'ailinux',
    autologin: true,
    session: 'plasma',
  },
  locale: {
    lang: 'en_US.UTF-8',
    generate: ['en_US.UTF-8', 'de_DE.UTF-8'],
    timezone: 'Europe/Berlin',
    keyboardLayout: 'de',
  },
  // /boot stays in the squashfs: the installer copies it, kernel included, to the disk
  squashfs: { compression: 'zstd', level: 15, exclude: [] },
  iso: {
    volumeLabel: 'AILINUX_2404',
    outputName: 'ailinux-24.04-amd64',
    bios: true,
    uefi: true,
    // The splash (plymouth's ailinux theme) on the screen, and the serial line (console= last, iso.serialConsole, so
    // /dev/console) still carrying what the verify step's boot check reads, "Reached target graphical.target":
    // - quiet splash: no kernel text on the screen, plymouth from the initramfs on;
    // - plymouth.ignore-serial-consoles: with a serial console among the consoles plymouth forces its text "details"
    //   view everywhere (no splash at all);
    // - plymouth.nolog: plymouth otherwise redirects /dev/console into its boot log (TIOCCONS), which silenced the
    //   serial line while the splash was up;
    // - systemd.journald.forward_to_console=1: plymouthd, when it quits (plymouth-quit.service, just before SDDM),
    //   tells systemd to stop printing status lines (SIGRTMIN+21, "Received SIGRTMIN+21 from PID 138 (plymouthd)" in
    //   the journal), so systemd's own "Reached target graphical.target" status line never comes; the journal's
    //   "systemd[1]: Reached target graphical.target - Graphical Interface." does. This is why a boot with splash
    //   "stopped" at "Starting plymouth-quit.service": the serial line went quiet, SDDM started.
    // A direct kernel boot of the product ISO with this line (qemu, BIOS, no KVM, load ~10): the splash from 28 s to
    // 231 s, graphical.target at 247 s, SDDM's autologin session at 278 s.
    kernelArgs: [
      'systemd.show_status=1',
      'quiet',
      'splash',
      'plymouth.ignore-serial-consoles',
      'plymouth.nolog',
      'systemd.journald.forward_to_console=1',
    ],
    menuTimeout: 10,
    serialConsole: true,
    isolinux: false,
    secureBoot: true,
  },
  branding: { id: 'ailinux', productName: 'AILinux', version: '24.04' },
  installer: {
    removePackages: ['casper', 'calamares'],
    // Ubuntu's signed GRUB looks for its config in /EFI/ubuntu
    efiBootloaderId: 'ubuntu',
  },
  // Plasma's default panel pins System Settings and Discover, which this image does not have: these are its launchers
  panel: {
    launchers: ['org.kde.dolphin.desktop', 'org.kde.konsole.desktop', 'org.kde.falkon.desktop', 'org.kde.kate.desktop'],
  },
  // the product is booted by its own build, BIOS and UEFI (Secure Boot enforced where the host has OVMF's Microsoft
  // keys), to the graphical target; under TCG (no KVM) that took 155 s per firmware with 4 GiB: 900 s leaves room for
  // a loaded host
  verify: {
    boot: true,
    bios: true,
    uefi: true,
    marker: 'Reached target graphical.target',
    timeoutSec: 900,
    memoryMb: 4096,
    // a third boot starts Calamares (systemd.run=, offscreen): every module of its sequence must load. Its first real run
    // (this profile's ISO, 4 GiB, no KVM, host load about 3): Calamares read its settings 298 s after qemu started, had
    // all 22 modules loaded at 444 s and its requirements checked at 498 s (docs/verify.md)
    installerCheck: true,
  },
  retry: { maxAttempts: 4, backoffMs: 10000, backoffFactor: 2 },
  steps: [
    'preflight',
    'bootstrap',
    'configure',
    'packages',
    'desktop',
    'installer',
    'branding',
    'identity',
    'chroot-cleanup',
    'squashfs',
    'bootloaders',
    'iso',
    'checksums',
    // static checks of the ISO and its boot in qemu to the graphical target (verify.boot: false turns the boot off)
    'verify',
    'report',
  ],
};
