/**
 * bootloaders: the GRUB menu and the boot images the ISO step puts into El Torito, the hybrid MBR
 * and the GPT ESP.
 *
 * - BIOS: a grub-mkimage core with every module built in and a tiny embedded config that finds the
 *   ISO by its volume label (no memdisk, so the output is reproducible: grub-mkstandalone stamps
 *   its memdisk tar with the current time); or ISOLINUX from the host (iso.isolinux).
 * - UEFI: the same kind of GRUB core as BOOTX64.EFI; or, with iso.secureBoot, the distribution's
 *   signed shim as BOOTX64.EFI and its signed GRUB as grubx64.efi, both taken from the image's
 *   own packages (a locally built GRUB behind shim could never pass Secure Boot).
 *
 * The step has no layer of its own but reads the rootfs layers (the signed binaries).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { CommandError, StepError } from '../errors.js';
import { removeTree } from '../runtime/safe-remove.js';
import type { WorkPaths } from '../runtime/paths.js';
import type { Artifact } from '../types.js';
import { fileArtifact } from './artifacts.js';
import { integrityCheck, mediumKernelArgs, SERIAL_KERNEL_ARGS } from './boot-menu.js';
import { artHashes, GRUB_BACKGROUND, RSVG_CONVERT, renderArt } from './branding-art.js';
import { readOwnConfigFile } from './config-files.js';
import { ISOLINUX_BIN, ISOLINUX_DIR, ISOLINUX_MODULES, renderIsolinuxConfig, SYSLINUX_BIOS_DIR } from './isolinux.js';
import { firstFileInLayers, type LayerFile } from './layer-files.js';
import { liveMedium } from './live-medium.js';
import { pinMtimes } from './iso-tree.js';
import type { HostFile, StepContext, StepDef } from './types.js';

export { SERIAL_KERNEL_ARGS } from './boot-menu.js';

const STEP = 'bootloaders';
export const GRUB_LIB_DIR = '/usr/lib/grub';

/** Modules both cores carry: enough to find the ISO, read grub.cfg, show the menu and boot Linux. */
const COMMON_MODULES = [
  'normal',
  'configfile',
  'search',
  'search_label',
  'search_fs_uuid',
  'search_fs_file',
  'iso9660',
  'part_msdos',
  'part_gpt',
  'linux',
  'gzio',
  'serial',
  'terminal',
  'echo',
  'test',
  'true',
  'sleep',
  'ls',
  'cat',
  'halt',
  'reboot',
];
export const BIOS_MODULES: readonly string[] = [...COMMON_MODULES, 'biosdisk'];
export const UEFI_MODULES: readonly string[] = [...COMMON_MODULES, 'fat', 'efi_gop', 'efi_uga', 'all_video'];
/** What the graphical menu adds to a core built here (Ubuntu's signed GRUB has them built in). */
export const GRAPHICAL_MODULES: readonly string[] = ['all_video', 'font', 'gfxterm', 'gfxmenu', 'png', 'jpeg'];

/** The font the graphical menu draws with: GRUB's own Unifont, from the host's grub-common. */
export const GRUB_FONT = {
  host: '/usr/share/grub/unicode.pf2',
  iso: 'boot/grub/fonts/unicode.pf2',
  name: 'Unifont Regular 16',
};

/**
 * A profile with the branding step gets a graphical GRUB menu: the product's name as its title, the wallpaper (a
 * 4:3 cut of the built-in art, or the user's branding.wallpaper) behind it. Without, the plain text menu.
 */
export function graphicalMenu(config: BuildConfig): boolean {
  const grub = config.iso.uefi || (config.iso.bios && !config.iso.isolinux);
  return grub && config.steps.includes('branding');
}

/** The user's own wallpaper, when branding.dir names one: the menu's background then. */
function userWallpaper(config: BuildConfig): string | null {
  const b = config.branding;
  return b.dir !== undefined && b.wallpaper !== undefined ? path.posix.join(b.dir, b.wallpaper) : null;
}

export function grubThemeDir(config: BuildConfig): string {
  return `boot/grub/themes/${config.branding.id}`;
}

/** The background's file name in the theme dir: background.png, or .jpg for a user's JPEG. */
export function grubBackgroundName(config: BuildConfig): string {
  const user = userWallpaper(config);
  return user !== null && !user.toLowerCase().endsWith('.png') ? 'background.jpg' : 'background.png';
}

/** theme.txt of the graphical menu (GRUB's gfxmenu): title, background, the entries, the countdown. */
export function renderGrubTheme(config: BuildConfig): string {
  const b = config.branding;
  const title = [b.productName, b.version]
    .filter(Boolean)
    .join(' ')
    .replace(/["\\\r\n]/g, ' ');
  const font = GRUB_FONT.name;
  return [
    `# The boot menu of ${title}, written by ailinux (src/steps/bootloaders.ts).`,
    `title-text: "${title}"`,
    `title-font: "${font}"`,
    'title-color: "#ffffff"',
    `desktop-image: "${grubBackgroundName(config)}"`,
    'desktop-color: "#0b1426"',
    `message-font: "${font}"`,
    'message-color: "#c8d6e5"',
    `terminal-font: "${font}"`,
    '',
    '+ boot_menu {',
    '  left = 20%',
    '  top = 62%',
    '  width = 60%',
    '  height = 26%',
    `  item_font = "${font}"`,
    '  item_color = "#c8d6e5"',
    `  selected_item_font = "${font}"`,
    '  selected_item_color = "#16c2b8"',
    '  item_height = 24',
    '  item_padding = 4',
    '  item_spacing = 6',
    '  scrollbar = false',
    '}',
    '',
    '+ label {',
    '  id = "__timeout__"',
    '  left = 20%',
    '  top = 92%',
    '  width = 60%',
    '  align = "center"',
    '  color = "#8aa1bd"',
    `  font = "${font}"`,
    '  text = "Booting in %d seconds"',
    '}',
    '',
  ].join('\n');
}

/**
 * Where a signed GRUB in Secure Boot lockdown finds its font: the memdisk inside the signed image (Ubuntu's
 * build-efi-images puts Unifont there). Under lockdown the shim_lock verifier refuses every font file from the
 * medium ("error: prohibited by secure boot policy", seen on noble's signed GRUB 2.12); theme.txt and PNG/JPEG
 * backgrounds it lets through, and the graphical modules are built into the signed image, so the menu is drawn
 * all the same. Debian's GRUB sets $lockdown to y when it locks down (grub-core/kern/lockdown.c).
 */
export const GRUB_LOCKDOWN_FONT = '(memdisk)/fonts/unicode.pf2';

/**
 * The grub.cfg lines that switch to the graphical menu. The font comes from the medium, or under Secure Boot
 * lockdown from the signed GRUB's memdisk; a GRUB without that font (tested first, so nothing prints an error) or
 * without a video mode keeps the text menu.
 */
function graphicalMenuLines(config: BuildConfig): string[] {
  const theme = `/${grubThemeDir(config)}/theme.txt`;
  return [
    `set menu_font=/${GRUB_FONT.iso}`,
    'if [ "$lockdown" = y ] ; then',
    `\tset menu_font=${GRUB_LOCKDOWN_FONT}`,
    'fi',
    'if [ -f "$menu_font" ] ; then',
    '\tif loadfont "$menu_font" ; then',
    '\t\tset gfxmode=auto',
    ...['all_video', 'gfxterm', 'gfxmenu', 'png', 'jpeg'].map((m) => `\t\tinsmod ${m}`),
    // the serial line keeps its text menu beside the graphical one
    `\t\tterminal_output gfxterm${config.iso.serialConsole ? ' serial' : ''}`,
    `\t\tset theme=${theme}`,
    '\tfi',
    'fi',
    '',
  ];
}
export const ESP_LABEL = 'EFIBOOT';

/**
 * The distribution's signed boot files, inside the image, in order of preference. Ubuntu's ISOs
 * boot the signed GRUB built for CDs (gcdx64); the installed-system one works too (both look for
 * /.disk/info and then read /boot/grub/grub.cfg).
 */
export const SIGNED_SHIM = {
  candidates: [
    'usr/lib/shim/shimx64.efi.signed.latest',
    'usr/lib/shim/shimx64.efi.signed',
    'usr/lib/shim/shimx64.efi.signed.previous',
  ],
  pkg: 'shim-signed',
} as const;
export const SIGNED_GRUB = {
  candidates: ['usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed', 'usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed'],
  pkg: 'grub-efi-amd64-signed',
} as const;
/** MokManager, which shim starts to enrol keys; optional. */
export const MOK_MANAGER = ['usr/lib/shim/mmx64.efi.signed', 'usr/lib/shim/mmx64.efi'] as const;

/** Where this step's files sit; the ISO step reads the same layout. */
export interface BootFiles {
  grubDir: string;
  grubCfg: string;
  diskInfo: string;
  biosImage: string;
  efiBootDir: string;
  efiBinary: string;
  /** The signed GRUB shim starts (Secure Boot only). */
  grubEfi: string;
  mokManager: string;
  espImage: string;
  tmpDir: string;
  earlyCfg: string;
  isolinuxDir: string;
  isolinuxBin: string;
  isolinuxCfg: string;
}

export function bootFiles(paths: WorkPaths): BootFiles {
  const grubDir = path.join(paths.isoDir, 'boot', 'grub');
  const tmpDir = path.join(paths.tmpDir, STEP);
  const efiBootDir = path.join(paths.isoDir, 'EFI', 'BOOT');
  const isolinuxDir = path.join(paths.isoDir, ISOLINUX_DIR);
  return {
    grubDir,
    grubCfg: path.join(grubDir, 'grub.cfg'),
    diskInfo: path.join(paths.isoDir, '.disk', 'info'),
    biosImage: path.join(grubDir, 'bios.img'),
    efiBootDir,
    efiBinary: path.join(efiBootDir, 'BOOTX64.EFI'),
    grubEfi: path.join(efiBootDir, 'grubx64.efi'),
    mokManager: path.join(efiBootDir, 'mmx64.efi'),
    espImage: path.join(grubDir, 'efi.img'),
    tmpDir,
    earlyCfg: path.join(tmpDir, 'early.cfg'),
    isolinuxDir,
    isolinuxBin: path.join(isolinuxDir, 'isolinux.bin'),
    isolinuxCfg: path.join(isolinuxDir, 'isolinux.cfg'),
  };
}

/** The signed GRUB's own directory on the ESP and the ISO (EFI/ubuntu, EFI/debian): it may look for grub.cfg there. */
export function signedGrubCfgRel(config: BuildConfig): string {
  return `EFI/${config.distribution.family}/grub.cfg`;
}

/** A GRUB word in single quotes: nothing inside is expanded; control characters become spaces. */
export function quoteGrub(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `'${clean.replace(/'/g, `'\\''`)}'`;
}

function menuEntry(title: string, kernel: string, initrd: string, args: readonly string[]): string {
  return [`menuentry ${quoteGrub(title)} {`, `\tlinux ${kernel} ${args.join(' ')}`, `\tinitrd ${initrd}`, '}', ''].join(
    '\n',
  );
}

/** The menu on the ISO at /boot/grub/grub.cfg; mediumArgs (mediumKernelArgs) go into every entry, after boot=. */
export function renderGrubConfig(config: BuildConfig, mediumArgs: readonly string[] = []): string {
  const medium = liveMedium(config);
  const iso = config.iso;
  const consoleArgs = iso.serialConsole ? SERIAL_KERNEL_ARGS : [];
  // console= last, so /dev/console is the serial line when there is one
  const args = (...extra: string[]) => [medium.bootParam, ...mediumArgs, ...iso.kernelArgs, ...extra, ...consoleArgs];
  const check = integrityCheck(config);
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
  if (graphicalMenu(config)) lines.push(...graphicalMenuLines(config));
  return [
    ...lines,
    menuEntry(`${config.name} live`, medium.kernel, medium.initrd, args()),
    menuEntry(`${config.name} live (safe graphics)`, medium.kernel, medium.initrd, args('nomodeset')),
    menuEntry(`${config.name} live (${check.title})`, medium.kernel, medium.initrd, args(check.arg)),
  ].join('\n');
}

/** The config built into each core (and EFI/<family>/grub.cfg for the signed GRUB): find the ISO by label, then hand over to its grub.cfg. */
export function renderEarlyConfig(config: BuildConfig): string {
  return [
    `search --no-floppy --set=root --label ${quoteGrub(config.iso.volumeLabel)}`,
    'set prefix=($root)/boot/grub',
    'configfile /boot/grub/grub.cfg',
    '',
  ].join('\n');
}

/** One line naming the medium, as Debian and Ubuntu media carry in /.disk/info (the signed GRUB searches for this file). */
export function renderDiskInfo(config: BuildConfig): string {
  const about = config.description || `${config.distribution.family} ${config.distribution.suite}`;
  return `${`${config.name} live - ${about} (${config.architecture})`.replace(/[\r\n]+/g, ' ')}\n`;
}

export function grubMkimageArgv(
  format: 'i386-pc-eltorito' | 'x86_64-efi',
  output: string,
  earlyCfg: string,
  graphical = false,
): string[] {
  const platform = format === 'x86_64-efi' ? 'x86_64-efi' : 'i386-pc';
  const base = format === 'x86_64-efi' ? UEFI_MODULES : BIOS_MODULES;
  const modules = graphical ? [...base, ...GRAPHICAL_MODULES.filter((m) => !base.includes(m))] : base;
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

/** FAT size in KiB for an ESP holding these bytes: room for FAT tables and directories, in 512 KiB steps. */
export function espSizeKiB(efiBytes: number): number {
  return Math.max(1024, Math.ceil((Math.ceil(efiBytes / 1024) + 256) / 512) * 512);
}

export function mkfsVfatArgv(espImage: string, sizeKiB: number, sourceDateEpoch: number | null): string[] {
  // mkfs.fat 4.2 ignores SOURCE_DATE_EPOCH: --invariant fixes the label's timestamp, -i the volume id
  const reproducible =
    sourceDateEpoch === null ? [] : ['--invariant', '-i', (sourceDateEpoch >>> 0).toString(16).padStart(8, '0')];
  return ['mkfs.vfat', '-C', '-n', ESP_LABEL, ...reproducible, espImage, String(sizeKiB)];
}

/** A file for the ESP: where it is on the host, where it goes in the FAT image. */
export interface EspFile {
  host: string;
  esp: string;
}

/** mmd for every directory the files need (parents first), then one mcopy -m per file (-m keeps the pinned mtime). */
export function espCopyArgv(espImage: string, files: readonly EspFile[]): string[][] {
  const dirs: string[] = [];
  for (const f of files) {
    const parts = f.esp.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `::/${parts.slice(0, i).join('/')}`;
      if (!dirs.includes(dir)) dirs.push(dir);
    }
  }
  return [
    ['mmd', '-i', espImage, ...dirs],
    ...files.map((f) => ['mcopy', '-m', '-i', espImage, f.host, `::/${f.esp}`]),
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

function writeFile(file: string, text: string | Buffer): void {
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
  await runTool(
    ctx,
    grubMkimageArgv('i386-pc-eltorito', files.biosImage, files.earlyCfg, graphicalMenu(ctx.config)),
    toolEnv(ctx),
  );
}

/** ISOLINUX from the host's isolinux and syslinux-common packages, and its menu. */
function installIsolinux(ctx: StepContext, files: BootFiles): string[] {
  const sources = [ISOLINUX_BIN, ...ISOLINUX_MODULES.map((m) => `${SYSLINUX_BIOS_DIR}/${m}`)];
  const missing = sources.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    throw new StepError(STEP, `iso.isolinux is on, but these host files are missing: ${missing.join(', ')}`, {
      hint: 'apt-get install isolinux syslinux-common, or set iso.isolinux to false (GRUB then boots BIOS)',
    });
  }
  fs.mkdirSync(files.isolinuxDir, { recursive: true });
  const written = sources.map((src) => {
    const dest = path.join(files.isolinuxDir, path.basename(src));
    fs.copyFileSync(src, dest);
    return dest;
  });
  writeFile(files.isolinuxCfg, renderIsolinuxConfig(ctx.config, mediumKernelArgs(ctx)));
  return [...written, files.isolinuxCfg];
}

/** The signed shim, signed GRUB and (if there) MokManager from the rootfs layers; all missing ones named at once. */
export function findSignedBootFiles(ctx: Pick<StepContext, 'layers'>): {
  shim: LayerFile;
  grub: LayerFile;
  mok: LayerFile | null;
} {
  const shim = firstFileInLayers(ctx.layers, SIGNED_SHIM.candidates);
  const grub = firstFileInLayers(ctx.layers, SIGNED_GRUB.candidates);
  const missing = [
    ...(shim ? [] : [`the signed shim (/${SIGNED_SHIM.candidates[1]}*, package ${SIGNED_SHIM.pkg})`]),
    ...(grub ? [] : [`the signed GRUB (/${SIGNED_GRUB.candidates[1]}, package ${SIGNED_GRUB.pkg})`]),
  ];
  if (!shim || !grub) {
    throw new StepError(STEP, `iso.secureBoot is on, but the image lacks ${missing.join(' and ')}`, {
      hint: `add ${[shim ? null : SIGNED_SHIM.pkg, grub ? null : SIGNED_GRUB.pkg].filter(Boolean).join(' and ')} to a package list of the profile (packages.installer or packages.live), or set iso.secureBoot to false; a locally built GRUB cannot pass Secure Boot`,
    });
  }
  return { shim, grub, mok: firstFileInLayers(ctx.layers, MOK_MANAGER) };
}

/** The UEFI files in the ISO tree and what goes onto the ESP: a GRUB core, or shim + signed GRUB. */
async function makeUefiFiles(ctx: StepContext, files: BootFiles): Promise<EspFile[]> {
  fs.mkdirSync(files.efiBootDir, { recursive: true });
  const esp: EspFile[] = [];
  if (ctx.config.iso.secureBoot) {
    const signed = findSignedBootFiles(ctx);
    // the bytes read through the lookup's descriptor: a host path in a layer could be redirected by then
    writeFile(files.efiBinary, signed.shim.data);
    writeFile(files.grubEfi, signed.grub.data);
    esp.push(
      { host: files.efiBinary, esp: 'EFI/BOOT/BOOTX64.EFI' },
      { host: files.grubEfi, esp: 'EFI/BOOT/grubx64.efi' },
    );
    if (signed.mok) {
      writeFile(files.mokManager, signed.mok.data);
      esp.push({ host: files.mokManager, esp: 'EFI/BOOT/mmx64.efi' });
    }
    const cfgRel = signedGrubCfgRel(ctx.config);
    const cfg = path.join(ctx.paths.isoDir, cfgRel);
    writeFile(cfg, renderEarlyConfig(ctx.config));
    esp.push({ host: cfg, esp: cfgRel });
    ctx.log.info(
      `Secure Boot: shim /${signed.shim.rel}, GRUB /${signed.grub.rel}${signed.mok ? `, MokManager /${signed.mok.rel}` : ''}`,
    );
  } else {
    await runTool(
      ctx,
      grubMkimageArgv('x86_64-efi', files.efiBinary, files.earlyCfg, graphicalMenu(ctx.config)),
      toolEnv(ctx),
    );
    esp.push({ host: files.efiBinary, esp: 'EFI/BOOT/BOOTX64.EFI' });
  }
  // mcopy -m keeps these times inside the FAT image
  pinMtimes(
    esp.map((f) => f.host),
    ctx.sourceDateEpoch,
  );
  return esp;
}

async function makeEspImage(ctx: StepContext, files: BootFiles, esp: readonly EspFile[]): Promise<void> {
  const bytes = esp.reduce((sum, f) => sum + fs.statSync(f.host).size, 0);
  await runTool(ctx, mkfsVfatArgv(files.espImage, espSizeKiB(bytes), ctx.sourceDateEpoch), toolEnv(ctx));
  for (const argv of espCopyArgv(files.espImage, esp)) {
    // MTOOLS_SKIP_CHECK: an image file has no real disk geometry for mtools to insist on
    await runTool(ctx, argv, toolEnv(ctx, { MTOOLS_SKIP_CHECK: '1' }));
  }
}

/** The graphical menu's files on the ISO: the font, theme.txt and the background (rendered here, or the user's). */
async function installGrubTheme(ctx: StepContext, files: BootFiles): Promise<string[]> {
  const { config } = ctx;
  const dir = path.join(ctx.paths.isoDir, grubThemeDir(config));
  const font = path.join(ctx.paths.isoDir, GRUB_FONT.iso);
  if (!fs.existsSync(GRUB_FONT.host)) {
    throw new StepError(STEP, `the graphical boot menu needs GRUB's font ${GRUB_FONT.host}, which this host lacks`, {
      hint: 'apt-get install grub-common',
    });
  }
  fs.mkdirSync(path.dirname(font), { recursive: true });
  fs.copyFileSync(GRUB_FONT.host, font);
  const user = userWallpaper(config);
  const background = user
    ? readOwnConfigFile(STEP, ctx, user, 'branding.wallpaper')
    : (await renderArt(ctx, path.join(files.tmpDir, 'art'), [GRUB_BACKGROUND], STEP)).get(GRUB_BACKGROUND.name)!;
  const image = path.join(dir, grubBackgroundName(config));
  writeFile(image, background);
  const theme = path.join(dir, 'theme.txt');
  writeFile(theme, renderGrubTheme(config));
  return [font, image, theme];
}

function expectedFiles(config: BuildConfig, files: BootFiles, paths: WorkPaths): string[] {
  const iso = config.iso;
  const themeDir = path.join(paths.isoDir, grubThemeDir(config));
  return [
    files.grubCfg,
    files.diskInfo,
    ...(iso.bios ? (iso.isolinux ? [files.isolinuxBin, files.isolinuxCfg] : [files.biosImage]) : []),
    ...(iso.uefi ? [files.efiBinary] : []),
    ...(iso.uefi && iso.secureBoot ? [files.grubEfi, path.join(paths.isoDir, signedGrubCfgRel(config))] : []),
    ...(iso.uefi ? [files.espImage] : []),
    ...(graphicalMenu(config)
      ? [
          path.join(paths.isoDir, GRUB_FONT.iso),
          path.join(themeDir, grubBackgroundName(config)),
          path.join(themeDir, 'theme.txt'),
        ]
      : []),
  ];
}

async function removeOutputs(ctx: StepContext): Promise<void> {
  const files = bootFiles(ctx.paths);
  const within = ctx.paths.workDir;
  await removeTree(files.grubDir, { within });
  await removeTree(path.join(ctx.paths.isoDir, 'EFI'), { within });
  await removeTree(files.isolinuxDir, { within });
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
  title: 'Write the boot menus and the BIOS and UEFI boot images',
  version: 3,
  layer: 'none',
  phase: 11,
  needs: ['bootstrap'],
  hostTools: (config) => {
    const iso = config.iso;
    // ISOLINUX replaces the BIOS core, and Secure Boot takes the signed GRUB from the image: no core to build then
    const grubCore = (iso.bios && !iso.isolinux) || (iso.uefi && !iso.secureBoot);
    return [
      ...(grubCore
        ? [
            {
              name: 'grub-mkimage',
              pkg: 'grub-common',
              why: 'boot images (bootloaders step)',
              versionArgs: ['--version'],
            },
          ]
        : []),
      ...(graphicalMenu(config) && userWallpaper(config) === null ? [RSVG_CONVERT] : []),
      ...(iso.uefi
        ? [
            { name: 'mkfs.vfat', pkg: 'dosfstools', why: 'the EFI system partition image', versionArgs: ['--help'] },
            { name: 'mmd', pkg: 'mtools', why: 'directories in the EFI image', versionArgs: ['--version'] },
            { name: 'mcopy', pkg: 'mtools', why: 'files into the EFI image', versionArgs: ['--version'] },
          ]
        : []),
    ];
  },
  hostFiles: (config) => {
    const iso = config.iso;
    const files: HostFile[] = [];
    if (graphicalMenu(config))
      files.push({ path: GRUB_FONT.host, pkg: 'grub-common', why: "the graphical boot menu's font" });
    if (iso.bios && !iso.isolinux)
      files.push({
        path: '/usr/lib/grub/i386-pc/moddep.lst',
        pkg: 'grub-pc-bin',
        why: 'GRUB modules for the boot images',
      });
    if (iso.uefi && !iso.secureBoot)
      files.push({
        path: '/usr/lib/grub/x86_64-efi/moddep.lst',
        pkg: 'grub-efi-amd64-bin',
        why: 'GRUB modules for the boot images',
      });
    if (iso.bios && iso.isolinux) {
      files.push({ path: ISOLINUX_BIN, pkg: 'isolinux', why: 'ISOLINUX boot loader (iso.isolinux)' });
      for (const m of ISOLINUX_MODULES)
        files.push({
          path: `${SYSLINUX_BIOS_DIR}/${m}`,
          pkg: 'syslinux-common',
          why: 'ISOLINUX modules (iso.isolinux)',
        });
    }
    return files;
  },
  configFields: [
    'name',
    'description',
    'architecture',
    'distribution.family',
    'distribution.suite',
    'liveSystem',
    // a layered casper medium: layerfs-path= and locale= in every entry (mediumKernelArgs)
    'squashfs.layers',
    'locale.lang',
    'iso.volumeLabel',
    'iso.bios',
    'iso.uefi',
    'iso.kernelArgs',
    'iso.menuTimeout',
    'iso.serialConsole',
    'iso.isolinux',
    'iso.secureBoot',
    // the graphical menu's title and background
    'branding.id',
    'branding.productName',
    'branding.version',
    'branding.dir',
    'branding.wallpaper',
  ],
  inputFiles: (config) => {
    const user = graphicalMenu(config) ? userWallpaper(config) : null;
    return user === null ? [] : [user];
  },
  pinned: (config) => (graphicalMenu(config) && userWallpaper(config) === null ? artHashes(['wallpaper']) : {}),
  async run(ctx): Promise<Artifact[]> {
    assertFirmware(ctx.config);
    const iso = ctx.config.iso;
    const files = bootFiles(ctx.paths);
    await removeOutputs(ctx);
    writeFile(files.grubCfg, renderGrubConfig(ctx.config, mediumKernelArgs(ctx)));
    writeFile(files.diskInfo, renderDiskInfo(ctx.config));
    writeFile(files.earlyCfg, renderEarlyConfig(ctx.config));
    const written = [files.grubCfg, files.diskInfo];
    try {
      if (iso.bios && iso.isolinux) written.push(...installIsolinux(ctx, files));
      else if (iso.bios) {
        await makeBiosImage(ctx, files);
        written.push(files.biosImage);
      }
      if (iso.uefi) {
        const esp = await makeUefiFiles(ctx, files);
        await makeEspImage(ctx, files, esp);
        written.push(...esp.map((f) => f.host), files.espImage);
      }
      // after the boot images: a missing signed file is named before anything is rendered
      if (graphicalMenu(ctx.config)) written.push(...(await installGrubTheme(ctx, files)));
    } finally {
      await removeTree(files.tmpDir, { within: ctx.paths.workDir });
    }
    pinMtimes(written, ctx.sourceDateEpoch);
    const bios = iso.bios ? (iso.isolinux ? 'BIOS (ISOLINUX)' : 'BIOS (GRUB)') : '';
    const uefi = iso.uefi ? (iso.secureBoot ? 'UEFI (signed shim + GRUB)' : 'UEFI (GRUB)') : '';
    ctx.log.info(`boot files: ${[bios, uefi].filter(Boolean).join(' + ')}`);
    const artifacts: Artifact[] = [];
    for (const file of expectedFiles(ctx.config, files, ctx.paths))
      artifacts.push(await fileArtifact(ctx.paths.workDir, file));
    return artifacts;
  },
  async verify(ctx) {
    assertFirmware(ctx.config);
    const files = bootFiles(ctx.paths);
    for (const file of expectedFiles(ctx.config, files, ctx.paths)) {
      const size = fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
      if (size === 0) throw new StepError(STEP, `${file} is missing or empty`);
    }
    if (ctx.config.iso.uefi) {
      checkMagic(files.efiBinary, 0, Buffer.from('MZ'), 'a PE/EFI executable');
      if (ctx.config.iso.secureBoot) checkMagic(files.grubEfi, 0, Buffer.from('MZ'), 'a PE/EFI executable');
      checkMagic(files.espImage, 510, Buffer.from([0x55, 0xaa]), 'a FAT image (no boot sector signature)');
    }
  },
  async undo(ctx) {
    await removeOutputs(ctx);
  },
};
