/** What both boot menus (GRUB and ISOLINUX) share: the serial console, the medium check entry, the layered medium's arguments. */
import type { BuildConfig } from '../config/schema.js';
import { casperLayerArgs, mediumLayerImages } from './squashfs-layers.js';
import type { StepContext } from './types.js';

export const SERIAL_KERNEL_ARGS = ['console=tty0', 'console=ttyS0,115200n8'] as const;

/** The live system's own check of the medium: casper's integrity-check, live-boot's verify-checksums (both read /md5sum.txt). */
export function integrityCheck(config: BuildConfig): { title: string; arg: string } {
  return config.liveSystem === 'casper'
    ? { title: 'integrity check', arg: 'integrity-check' }
    : { title: 'verify checksums', arg: 'verify-checksums' };
}

/**
 * Arguments the medium's layout needs in every boot entry: on a layered casper medium (squashfs.layers), casper's
 * layerfs-path= naming the top layer image, and locale= (casperLayerArgs). live-boot finds its layers in
 * filesystem.module, and a flat medium needs nothing.
 */
export function mediumKernelArgs(ctx: Pick<StepContext, 'config' | 'layers'>): string[] {
  const c = ctx.config;
  if (!c.squashfs.layers || c.liveSystem !== 'casper') return [];
  return casperLayerArgs(c, mediumLayerImages(ctx.layers, 'casper'));
}
