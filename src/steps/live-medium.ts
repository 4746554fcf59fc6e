/** Where the live system's files sit on the ISO, and how its initramfs is told to find them. */
import type { BuildConfig } from '../config/schema.js';

export interface LiveMedium {
  /** Directory on the ISO: live (live-boot) or casper. */
  dir: string;
  /** Kernel parameter that selects the live system's initramfs script. */
  bootParam: string;
  kernel: string;
  initrd: string;
  squashfs: string;
  /** Where the live system mounts the boot medium while it runs (the installer unpacks from there). */
  mountPoint: string;
  /**
   * Whether the initramfs embeds files later steps write (casper copies /etc/casper.conf and the
   * splash into it), so chroot-cleanup must rebuild it; live-boot's reads nothing of them.
   */
  initramfsEmbedsConfig: boolean;
}

export function liveMedium(config: BuildConfig): LiveMedium {
  const dir = config.liveSystem === 'casper' ? 'casper' : 'live';
  return {
    dir,
    bootParam: config.liveSystem === 'casper' ? 'boot=casper' : 'boot=live',
    kernel: `/${dir}/vmlinuz`,
    initrd: `/${dir}/initrd.img`,
    squashfs: `/${dir}/filesystem.squashfs`,
    mountPoint: config.liveSystem === 'casper' ? '/cdrom' : '/run/live/medium',
    initramfsEmbedsConfig: config.liveSystem === 'casper',
  };
}

/** Where the distribution's kernel postinst leaves its stable symlinks inside the rootfs. */
export function kernelLinks(config: BuildConfig): { kernel: string; initrd: string } {
  return config.distribution.family === 'ubuntu'
    ? { kernel: 'boot/vmlinuz', initrd: 'boot/initrd.img' }
    : { kernel: 'vmlinuz', initrd: 'initrd.img' };
}
