/** What both boot menus (GRUB and ISOLINUX) share: the serial console and the medium check entry. */
import type { BuildConfig } from '../config/schema.js';

export const SERIAL_KERNEL_ARGS = ['console=tty0', 'console=ttyS0,115200n8'] as const;

/** The live system's own check of the medium: casper's integrity-check, live-boot's verify-checksums (both read /md5sum.txt). */
export function integrityCheck(config: BuildConfig): { title: string; arg: string } {
  return config.liveSystem === 'casper'
    ? { title: 'integrity check', arg: 'integrity-check' }
    : { title: 'verify checksums', arg: 'verify-checksums' };
}
