/** ISOLINUX, the optional BIOS boot loader (iso.isolinux): the host's files and the menu it reads. */
import type { BuildConfig } from '../config/schema.js';
import { liveMedium } from './live-medium.js';
import { SERIAL_KERNEL_ARGS, integrityCheck } from './boot-menu.js';

/** From the host's isolinux package. */
export const ISOLINUX_BIN = '/usr/lib/ISOLINUX/isolinux.bin';
/** The isohybrid MBR matching isolinux.bin (the ISO then boots from a USB stick too). */
export const ISOLINUX_MBR = '/usr/lib/ISOLINUX/isohdpfx.bin';
/** From the host's syslinux-common package. */
export const SYSLINUX_BIOS_DIR = '/usr/lib/syslinux/modules/bios';
/** ldlinux.c32 is ISOLINUX's second stage; menu.c32 needs libutil and libcom32. */
export const ISOLINUX_MODULES = ['ldlinux.c32', 'libcom32.c32', 'libutil.c32', 'menu.c32'] as const;
/** Where ISOLINUX lives in the ISO tree. */
export const ISOLINUX_DIR = 'isolinux';

/** One line of ISOLINUX text: no control characters (a newline would start a new directive). */
function line(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** isolinux/isolinux.cfg: the same three entries as the GRUB menu; mediumArgs as mediumKernelArgs gives them. */
export function renderIsolinuxConfig(config: BuildConfig, mediumArgs: readonly string[] = []): string {
  const medium = liveMedium(config);
  const iso = config.iso;
  const consoleArgs = iso.serialConsole ? SERIAL_KERNEL_ARGS : [];
  const args = (...extra: string[]) =>
    [`initrd=${medium.initrd}`, medium.bootParam, ...mediumArgs, ...iso.kernelArgs, ...extra, ...consoleArgs].join(' ');
  const check = integrityCheck(config);
  const name = line(config.name);
  const entry = (label: string, title: string, append: string) => [
    `LABEL ${label}`,
    `  MENU LABEL ${title}`,
    `  KERNEL ${medium.kernel}`,
    `  APPEND ${append}`,
    '',
  ];
  return [
    // SERIAL must come first, so ISOLINUX talks to the serial line from the start
    ...(iso.serialConsole ? ['SERIAL 0 115200'] : []),
    `# ISOLINUX menu of the ${name} live ISO, written by ailinux`,
    'UI menu.c32',
    `MENU TITLE ${name} live`,
    'PROMPT 0',
    // tenths of a second; 0 would mean "wait forever", the opposite of GRUB's 0
    `TIMEOUT ${Math.max(1, iso.menuTimeout * 10)}`,
    'DEFAULT live',
    '',
    ...entry('live', `${name} live`, args()),
    ...entry('safe', `${name} live (safe graphics)`, args('nomodeset')),
    ...entry('check', `${name} live (${check.title})`, args(check.arg)),
  ].join('\n');
}
