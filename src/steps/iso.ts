/**
 * iso: the hybrid image. One xorriso run makes an ISO 9660 (Rock Ridge, Joliet) that boots from
 * CD and from a USB stick: El Torito BIOS (GRUB core with boot-info patching) and UEFI entries,
 * GRUB's hybrid MBR code, and the ESP appended as a GPT partition, which the UEFI El Torito
 * entry points at, so the ESP is stored once. With iso.isolinux, ISOLINUX and its isohybrid MBR
 * take GRUB's place for BIOS. First it writes /md5sum.txt over the tree, for the medium check.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { removeTree } from '../runtime/safe-remove.js';
import type { WorkPaths } from '../runtime/paths.js';
import { isoReportArgv, parseElToritoReport, parseSystemAreaReport } from '../verify/xorriso-reports.js';
import { fileArtifact } from './artifacts.js';
import { fileDigests } from './file-digests.js';
import { bootFiles } from './bootloaders.js';
import { ISOLINUX_MBR } from './isolinux.js';
import { pinMtimes, renderMd5sums } from './iso-tree.js';
import type { StepContext, StepDef } from './types.js';

const STEP = 'iso';
export const HYBRID_MBR = '/usr/lib/grub/i386-pc/boot_hybrid.img';

export interface IsoFiles {
  iso: string;
  partial: string;
}

export function isoFiles(config: BuildConfig, paths: WorkPaths): IsoFiles {
  const iso = path.join(paths.outputDir, `${config.iso.outputName}.iso`);
  return { iso, partial: `${iso}.partial` };
}

/** YYYYMMDDhhmmsscc in UTC, the form of xorriso's --modification-date= and GRUB's fs-uuid. */
export function xorrisoTimestamp(epochSeconds: number): string {
  const iso = new Date(epochSeconds * 1000).toISOString(); // 2023-11-14T22:13:20.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}00`;
}

export function isoArgv(config: BuildConfig, paths: WorkPaths, sourceDateEpoch: number | null): string[] {
  const { bios, uefi } = config.iso;
  const boot = bootFiles(paths);
  const inIso = (file: string) => path.relative(paths.isoDir, file).split(path.sep).join('/');
  const argv = [
    'xorriso',
    '-as',
    'mkisofs',
    '-iso-level',
    '3',
    '-rational-rock',
    '-joliet',
    '-joliet-long',
    '-volid',
    config.iso.volumeLabel,
    '-output',
    isoFiles(config, paths).partial,
  ];
  if (sourceDateEpoch !== null) {
    const stamp = xorrisoTimestamp(sourceDateEpoch);
    argv.push(`--modification-date=${stamp}`, '--set_all_file_dates', stamp, '--gpt_disk_guid', 'modification-date');
  }
  // a second superblock at 32 KiB makes the ISO mountable from its GPT partition too
  argv.push('-partition_offset', '16');
  const isolinux = bios && config.iso.isolinux;
  if (isolinux) argv.push('-isohybrid-mbr', ISOLINUX_MBR, '--mbr-force-bootable');
  else if (bios) argv.push('--grub2-mbr', HYBRID_MBR, '--mbr-force-bootable');
  if (uefi) argv.push('-append_partition', '2', '0xef', boot.espImage, '-appended_part_as_gpt');
  argv.push('-eltorito-catalog', 'boot/grub/boot.cat');
  if (isolinux) {
    argv.push('-b', inIso(boot.isolinuxBin), '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table');
  } else if (bios) {
    argv.push(
      '-b',
      inIso(boot.biosImage),
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '--grub2-boot-info',
    );
  }
  if (uefi) {
    if (bios) argv.push('-eltorito-alt-boot');
    argv.push('-e', '--interval:appended_partition_2:all::', '-no-emul-boot');
    // the ESP is in the appended partition; a second copy inside the file tree would only cost space
    argv.push('-m', boot.espImage);
  }
  argv.push(paths.isoDir);
  return argv;
}

function assertInputs(ctx: StepContext): void {
  const boot = bootFiles(ctx.paths);
  const needed = [
    boot.grubCfg,
    ...(ctx.config.iso.bios ? [ctx.config.iso.isolinux ? boot.isolinuxBin : boot.biosImage] : []),
    ...(ctx.config.iso.uefi ? [boot.espImage] : []),
  ];
  for (const file of needed) {
    if (!fs.statSync(file, { throwIfNoEntry: false })?.size) {
      throw new StepError(STEP, `${file} is missing: the bootloaders step has not made it`, {
        hint: 'run the build again so the bootloaders step runs before the iso step',
      });
    }
  }
}

export const isoStep: StepDef = {
  id: STEP,
  title: 'Make the hybrid ISO image',
  version: 2,
  layer: 'none',
  phase: 12,
  needs: ['squashfs', 'bootloaders'],
  // packages.desktop: the disk estimate
  hostTools: () => [{ name: 'xorriso', pkg: 'xorriso', why: 'the ISO image (iso step)', versionArgs: ['-version'] }],
  hostFiles: (config) => {
    if (!config.iso.bios) return [];
    return [
      config.iso.isolinux
        ? { path: ISOLINUX_MBR, pkg: 'isolinux', why: 'hybrid MBR for USB sticks (iso.isolinux)' }
        : { path: '/usr/lib/grub/i386-pc/boot_hybrid.img', pkg: 'grub-pc-bin', why: 'hybrid MBR for USB sticks' },
    ];
  },
  configFields: ['iso.volumeLabel', 'iso.outputName', 'iso.bios', 'iso.uefi', 'iso.isolinux', 'packages.desktop'],
  // the ISO holds the squashfs again, plus the boot files
  diskEstimateMb: (config) => (config.packages.desktop.length > 0 ? 3000 : 600),
  async run(ctx) {
    if (!ctx.config.iso.bios && !ctx.config.iso.uefi) {
      throw new StepError(STEP, 'iso.bios and iso.uefi are both false: the ISO could not boot', {
        hint: 'set iso.bios or iso.uefi to true',
      });
    }
    assertInputs(ctx);
    const out = isoFiles(ctx.config, ctx.paths);
    fs.mkdirSync(ctx.paths.outputDir, { recursive: true });
    await removeTree(out.partial, { within: ctx.paths.workDir });
    await writeMd5sums(ctx);
    const env = ctx.sourceDateEpoch === null ? undefined : { SOURCE_DATE_EPOCH: String(ctx.sourceDateEpoch) };
    try {
      await ctx.runner.run(isoArgv(ctx.config, ctx.paths, ctx.sourceDateEpoch), {
        signal: ctx.signal,
        onLine: ctx.log.line,
        env,
      });
    } catch (error) {
      await removeTree(out.partial, { within: ctx.paths.workDir });
      throw error;
    }
    // the finished name appears only for a complete image
    fs.renameSync(out.partial, out.iso);
    // the one read of the ISO: its artifact's sha256 here, both digests for the checksums and verify steps after it
    await fileDigests.digests(out.iso, ['sha256', 'md5']);
    return [await fileArtifact(ctx.paths.workDir, out.iso)];
  },
  async verify(ctx) {
    const { iso } = isoFiles(ctx.config, ctx.paths);
    if (!fs.statSync(iso, { throwIfNoEntry: false })?.size) throw new StepError(STEP, `${iso} is missing or empty`);
    const result = await ctx.runner.run(isoReportArgv(iso), { signal: ctx.signal });
    const text = `${result.stdout}\n${result.stderr}`;
    const torito = parseElToritoReport(text);
    const area = parseSystemAreaReport(text);
    const problems: string[] = [];
    if (ctx.config.iso.bios && !torito.bios) problems.push('no bootable BIOS El Torito entry');
    if (ctx.config.iso.uefi && !torito.uefi) problems.push('no bootable UEFI El Torito entry');
    if (ctx.config.iso.bios && ctx.config.iso.isolinux && !/isohybrid/.test(area.summary ?? ''))
      problems.push('no isohybrid MBR in the system area');
    if (ctx.config.iso.bios && !ctx.config.iso.isolinux && !/grub2-mbr/.test(area.summary ?? ''))
      problems.push('no GRUB hybrid MBR in the system area');
    if (ctx.config.iso.uefi && !area.esp) problems.push('no EFI system partition in the partition table');
    if (torito.volumeId !== null && torito.volumeId !== ctx.config.iso.volumeLabel) {
      problems.push(`volume id is "${torito.volumeId}", not "${ctx.config.iso.volumeLabel}"`);
    }
    if (problems.length > 0)
      throw new StepError(STEP, `${iso} is not the image the config asks for: ${problems.join('; ')}`);
  },
  async undo(ctx) {
    const out = isoFiles(ctx.config, ctx.paths);
    await removeTree(out.iso, { within: ctx.paths.workDir });
    await removeTree(out.partial, { within: ctx.paths.workDir });
    await removeTree(path.join(ctx.paths.isoDir, 'md5sum.txt'), { within: ctx.paths.workDir });
  },
};

/** Files whose bytes in the ISO differ from the tree (boot-info patched) or that are left out of it. */
export function md5Excluded(_config: BuildConfig, paths: WorkPaths): Set<string> {
  const boot = bootFiles(paths);
  const rel = (f: string) => path.relative(paths.isoDir, f).split(path.sep).join('/');
  return new Set([rel(boot.biosImage), rel(boot.isolinuxBin), rel(boot.espImage), 'boot/grub/boot.cat']);
}

async function writeMd5sums(ctx: StepContext): Promise<void> {
  const file = path.join(ctx.paths.isoDir, 'md5sum.txt');
  fs.writeFileSync(file, await renderMd5sums(ctx.paths.isoDir, md5Excluded(ctx.config, ctx.paths)));
  pinMtimes([file], ctx.sourceDateEpoch);
}
