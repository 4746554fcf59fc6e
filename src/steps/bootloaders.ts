/**
 * bootloaders: the GRUB menu and the boot images the ISO step puts into El Torito, the hybrid MBR
 * and the GPT ESP. The images are grub-mkimage cores with every module built in and a tiny
 * embedded config that finds the ISO by its volume label: no memdisk, so the output is
 * reproducible (grub-mkstandalone stamps its memdisk tar with the current time).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { CommandError, StepError } from '../errors.js';
import { removeTree } from '../runtime/safe-remove.js';
import type { WorkPaths } from '../runtime/paths.js';
import type { Artifact } from '../types.js';
import { fileArtifact } from './artifacts.js';
import { liveMedium } from './live-medium.js';
import type { StepContext, StepDef } from './types.js';

const STEP = 'bootloaders';
export const GRUB_LIB_DIR = '/usr/lib/grub';
export const SERIAL_KERNEL_ARGS = ['console=tty0', 'console=ttyS0,115200n8'] as const;

/** Modules both cores carry: enough to find the ISO, read grub.cfg, show the menu and boot Linux. */
const COMMON_MODULES = [
  'normal', 'configfile', 'search', 'search_label', 'search_fs_uuid', 'search_fs_file',
  'iso9660', 'part_msdos', 'part_gpt', 'linux', 'gzio', 'serial', 'terminal',
  'echo', 'test', 'true', 'sleep', 'ls', 'cat', 'halt', 'reboot',
];
export const BIOS_MODULES: readonly string[] = [...COMMON_MODULES, 'biosdisk'];
export const UEFI_MODULES: readonly string[] = [...COMMON_MODULES, 'fat', 'efi_gop', 'efi_uga', 'all_video'];
export const ESP_LABEL = 'EFIBOOT';

/** Where this step's files sit; the ISO step reads the same layout. */
export interface BootFiles {
  grubDir: string;
  grubCfg: string;
  diskInfo: string;
  biosImage: string;
  efiBinary: string;
  espImage: string;
  tmpDir: string;
  earlyCfg: string;
}

export function bootFiles(paths: WorkPaths): BootFiles {
  const grubDir = path.join(paths.isoDir, 'boot', 'grub');
  const tmpDir = path.join(paths.tmpDir, STEP);
  return {
    grubDir,
    grubCfg: path.join(grubDir, 'grub.cfg'),
    diskInfo: path.join(paths.isoDir, '.disk', 'info'),
    biosImage: path.join(grubDir, 'bios.img'),
    efiBinary: path.join(paths.isoDir, 'EFI', 'BOOT', 'BOOTX64.EFI'),
    espImage: path.join(grubDir, 'efi.img'),
    tmpDir,
    earlyCfg: path.join(tmpDir, 'early.cfg'),
  };
}

/** A GRUB word in single quotes: nothing inside is expanded; control characters become spaces. */
export function quoteGrub(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `'${clean.replace(/'/g, `'\\''`)}'`;
}

function menuEntry(title: string, kernel: string, initrd: string, args: readonly string[]): string {
  return [`menuentry ${quoteGrub(title)} {`, `\tlinux ${kernel} ${args.join(' ')}`, `\tinitrd ${initrd}`, '}', ''].join('\n');
}

/** The menu on the ISO at /boot/grub/grub.cfg. */
export function renderGrubConfig(config: BuildConfig): string {
  const medium = liveMedium(config);
  const iso = config.iso;
  const consoleArgs = iso.serialConsole ? SERIAL_KERNEL_ARGS : [];
  // console= last, so /dev/console is the serial line when there is one
  const args = (...extra: string[]) => [medium.bootParam, ...iso.kernelArgs, ...extra, ...consoleArgs];
  const check =
    config.liveSystem === 'casper'
      ? { title: 'integrity check', arg: 'integrity-check' }
      : { title: 'verify checksums', arg: 'verify-checksums' };
  const lines = [
    `# GRUB menu of the ${config.name.replace(/[\r\n]/g, ' ')} live ISO, written by ailinux`,
    'set default=0',
    `set timeout=${iso.menuTimeout}`,
    'set timeout_style=menu',
    '',
  ];
  if (iso.serialConsole) {
    lines.push('serial --unit=0 --speed=115200', 'terminal_input serial console', 'terminal_output serial console', '');
  }
  return [
    ...lines,
    menuEntry(`${config.name} live`, medium.kernel, medium.initrd, args()),
    menuEntry(`${config.name} live (safe graphics)`, medium.kernel, medium.initrd, args('nomodeset')),
    menuEntry(`${config.name} live (${check.title})`, medium.kernel, medium.initrd, args(check.arg)),
  ].join('\n');
}

/** The config built into each core: find the ISO by label, then hand over to its grub.cfg. */
export function renderEarlyConfig(config: BuildConfig): string {
  return [
    `search --no-floppy --set=root --label ${quoteGrub(config.iso.volumeLabel)}`,
    'set prefix=($root)/boot/grub',
    'configfile /boot/grub/grub.cfg',
    '',
  ].join('\n');
}

/** One line naming the medium, as Debian and Ubuntu media carry in /.disk/info. */
export function renderDiskInfo(config: BuildConfig): string {
  const about = config.description || `${config.distribution.family} ${config.distribution.suite}`;
  return `${config.name} live - ${about} (${config.architecture})`.replace(/[\r\n]+/g, ' ') + '\n';
}

export function grubMkimageArgv(format: 'i386-pc-eltorito' | 'x86_64-efi', output: string, earlyCfg: string): string[] {
  const platform = format === 'x86_64-efi' ? 'x86_64-efi' : 'i386-pc';
  const modules = format === 'x86_64-efi' ? UEFI_MODULES : BIOS_MODULES;
  return [
    'grub-mkimage',
    `--directory=${GRUB_LIB_DIR}/${platform}`,
    `--format=${format}`,
    `--output=${output}`,
    '--prefix=/boot/grub',
    `--config=${earlyCfg}`,
    ...modules,
  ];
}

/** FAT size in KiB for an ESP holding one file: room for FAT tables and directories, in 512 KiB steps. */
export function espSizeKiB(efiBytes: number): number {
  return Math.max(1024, Math.ceil((Math.ceil(efiBytes / 1024) + 256) / 512) * 512);
}

export function mkfsVfatArgv(espImage: string, sizeKiB: number, sourceDateEpoch: number | null): string[] {
  // mkfs.fat 4.2 ignores SOURCE_DATE_EPOCH: --invariant fixes the label's timestamp, -i the volume id
  const reproducible = sourceDateEpoch === null ? [] : ['--invariant', '-i', (sourceDateEpoch >>> 0).toString(16).padStart(8, '0')];
  return ['mkfs.vfat', '-C', '-n', ESP_LABEL, ...reproducible, espImage, String(sizeKiB)];
}

export function espCopyArgv(espImage: string, efiBinary: string): string[][] {
  return [
    ['mmd', '-i', espImage, '::/EFI', '::/EFI/BOOT'],
    ['mcopy', '-m', '-i', espImage, efiBinary, '::/EFI/BOOT/BOOTX64.EFI'],
  ];
}

function toolEnv(ctx: StepContext, extra: Record<string, string> = {}): Record<string, string> {
  return ctx.sourceDateEpoch === null ? { ...extra } : { ...extra, SOURCE_DATE_EPOCH: String(ctx.sourceDateEpoch) };
}

const PACKAGE_OF: Record<string, string> = {
  'grub-mkimage': 'grub-common',
  'mkfs.vfat': 'dosfstools',
  mmd: 'mtools',
  mcopy: 'mtools',
};

async function runTool(ctx: StepContext, argv: string[], env: Record<string, string>): Promise<void> {
  try {
    await ctx.runner.run(argv, { signal: ctx.signal, onLine: ctx.log.line, env });
  } catch (error) {
    // the CommandError itself goes up (it carries argv, exit code and stderr); the hint goes to the log
    if (error instanceof CommandError && !error.failure.cancelled) ctx.log.info(`hint: ${toolHint(argv)}`);
    throw error;
  }
}

function toolHint(argv: readonly string[]): string {
  const dir = argv.find((a) => a.startsWith('--directory='))?.slice('--directory='.length);
  if (dir && !fs.existsSync(path.join(dir, 'moddep.lst'))) {
    const pkg = dir.endsWith('x86_64-efi') ? 'grub-efi-amd64-bin' : 'grub-pc-bin';
    return `${dir} has no GRUB modules: apt-get install ${pkg}`;
  }
  const pkg = PACKAGE_OF[argv[0] ?? ''];
  return pkg ? `check that ${pkg} is installed, and see the command's output in the step log` : 'see the step log';
}

function writeFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

function assertFirmware(config: BuildConfig): void {
  if (!config.iso.bios && !config.iso.uefi) {
    throw new StepError(STEP, 'iso.bios and iso.uefi are both false: the ISO could not boot', {
      hint: 'set iso.bios or iso.uefi (or both) to true',
    });
  }
}

async function makeBiosImage(ctx: StepContext, files: BootFiles): Promise<void> {
  await runTool(ctx, grubMkimageArgv('i386-pc-eltorito', files.biosImage, files.earlyCfg), toolEnv(ctx));
}

async function makeUefiImages(ctx: StepContext, files: BootFiles): Promise<void> {
  fs.mkdirSync(path.dirname(files.efiBinary), { recursive: true });
  await runTool(ctx, grubMkimageArgv('x86_64-efi', files.efiBinary, files.earlyCfg), toolEnv(ctx));
  if (ctx.sourceDateEpoch !== null) fs.utimesSync(files.efiBinary, ctx.sourceDateEpoch, ctx.sourceDateEpoch); // mcopy -m keeps it
  const size = espSizeKiB(fs.statSync(files.efiBinary).size);
  await runTool(ctx, mkfsVfatArgv(files.espImage, size, ctx.sourceDateEpoch), toolEnv(ctx));
  for (const argv of espCopyArgv(files.espImage, files.efiBinary)) {
    // MTOOLS_SKIP_CHECK: an image file has no real disk geometry for mtools to insist on
    await runTool(ctx, argv, toolEnv(ctx, { MTOOLS_SKIP_CHECK: '1' }));
  }
}

function expectedFiles(config: BuildConfig, files: BootFiles): string[] {
  return [
    files.grubCfg,
    files.diskInfo,
    ...(config.iso.bios ? [files.biosImage] : []),
    ...(config.iso.uefi ? [files.efiBinary, files.espImage] : []),
  ];
}

async function removeOutputs(ctx: StepContext): Promise<void> {
  const files = bootFiles(ctx.paths);
  const within = ctx.paths.workDir;
  await removeTree(files.grubDir, { within });
  await removeTree(path.join(ctx.paths.isoDir, 'EFI'), { within });
  await removeTree(files.diskInfo, { within });
  await removeTree(files.tmpDir, { within });
  // the parents run created, only when nothing else lives there
  removeEmptyDir(path.join(ctx.paths.isoDir, 'boot'));
  removeEmptyDir(path.dirname(files.diskInfo));
}

function removeEmptyDir(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
}

function checkMagic(file: string, offset: number, magic: Buffer, what: string): void {
  const buf = Buffer.alloc(magic.length);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, buf, 0, buf.length, offset);
  } finally {
    fs.closeSync(fd);
  }
  if (!buf.equals(magic)) throw new StepError(STEP, `${file} is not ${what}`);
}

export const bootloadersStep: StepDef = {
  id: STEP,
  title: 'Write the GRUB menu and the BIOS and UEFI boot images',
  version: 1,
  layer: 'none',
  configFields: [
    'name',
    'description',
    'architecture',
    'distribution.family',
    'distribution.suite',
    'liveSystem',
    'iso.volumeLabel',
    'iso.bios',
    'iso.uefi',
    'iso.kernelArgs',
    'iso.menuTimeout',
    'iso.serialConsole',
  ],
  async run(ctx): Promise<Artifact[]> {
    assertFirmware(ctx.config);
    const files = bootFiles(ctx.paths);
    await removeOutputs(ctx);
    writeFile(files.grubCfg, renderGrubConfig(ctx.config));
    writeFile(files.diskInfo, renderDiskInfo(ctx.config));
    writeFile(files.earlyCfg, renderEarlyConfig(ctx.config));
    try {
      if (ctx.config.iso.bios) await makeBiosImage(ctx, files);
      if (ctx.config.iso.uefi) await makeUefiImages(ctx, files);
    } finally {
      await removeTree(files.tmpDir, { within: ctx.paths.workDir });
    }
    ctx.log.info(`boot files: ${[ctx.config.iso.bios ? 'BIOS' : '', ctx.config.iso.uefi ? 'UEFI' : ''].filter(Boolean).join(' + ')}`);
    const artifacts: Artifact[] = [];
    for (const file of expectedFiles(ctx.config, files)) artifacts.push(await fileArtifact(ctx.paths.workDir, file));
    return artifacts;
  },
  async verify(ctx) {
    assertFirmware(ctx.config);
    const files = bootFiles(ctx.paths);
    for (const file of expectedFiles(ctx.config, files)) {
      const size = fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
      if (size === 0) throw new StepError(STEP, `${file} is missing or empty`);
    }
    if (ctx.config.iso.uefi) {
      checkMagic(files.efiBinary, 0, Buffer.from('MZ'), 'a PE/EFI executable');
      checkMagic(files.espImage, 510, Buffer.from([0x55, 0xaa]), 'a FAT image (no boot sector signature)');
    }
  },
  async undo(ctx) {
    await removeOutputs(ctx);
  },
};
