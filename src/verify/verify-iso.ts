/**
 * verifyIso: proves an ISO bootable without trusting the build that made it. Static checks come
 * from xorriso's reports and a few reads of the image file (nothing is mounted); the optional boot
 * test runs qemu. Used by `ailinux verify` and by the build's verify step.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandError, StepError } from '../errors.js';
import type { Runner } from '../runtime/runner.js';
import { parseElToritoReport, parseSystemAreaReport, type ElToritoEntry } from './xorriso-reports.js';
import { bootTest, type SecureBootFirmware } from './boot.js';
import { installerCheck, TURN_OFF, type InstallerCheckPlan, type InstallerCheckReport } from './installer-check.js';
import { checkChecksum, type FileHasher } from './checksum.js';
import { claimsBios, detectLiveSystem, filesToRead, staticChecks } from './checks.js';
import { mergeGrubConfigs, parseGrubConfig, type GrubConfig } from './grub-config.js';
import { isoInspectArgv, parseIsoListing, resolveIsoPath, type IsoListing } from './iso-listing.js';
import { HEAD_BYTES, ISO_BLOCK, isFatImage, isIso9660, readAt } from './magic.js';
import {
  checkPasses,
  type BootTestResult,
  type CheckResult,
  type EspFacts,
  type Firmware,
  type IsoFacts,
  type VerifyExpectations,
  type VerifyReport,
} from './types.js';

export const GRUB_CFG = '/boot/grub/grub.cfg';
/** grub.cfg and the files it sources, at most this many. */
const MAX_GRUB_FILES = 10;

export interface BootPlan {
  firmwares: Firmware[];
  marker: string;
  timeoutMs: number;
  memoryMb: number;
  /** Where the serial logs go: serial-bios.log, serial-uefi.log. */
  logDir: string;
  ovmf?: string;
  /** UEFI boots with Secure Boot enforced from this firmware (null or absent: plain OVMF). */
  secureBoot?: SecureBootFirmware | null;
  /** Screenshots of each boot (boot menu, the screen it ends on) as PNGs in this directory, through QMP; none when absent. */
  screenshotDir?: string | null;
}

export interface VerifyIsoOptions {
  iso: string;
  runner: Runner;
  expect: VerifyExpectations;
  boot?: BootPlan | null;
  signal?: AbortSignal;
  /** Progress lines ("booting BIOS ..."), for a terminal or a step log. */
  progress?: (message: string) => void;
  /** Where the GRUB config is extracted to, briefly (default: the OS temp dir). */
  tmpDir?: string;
  /** Checks made elsewhere (of the rootfs the ISO was made from): they gate the boot as the static checks do. */
  extraChecks?: readonly CheckResult[];
  /** A boot of its own that starts Calamares (src/verify/installer-check.ts); none when absent. */
  installer?: InstallerCheckPlan | null;
  /** How the checksum check hashes the ISO (the build's digest memo); absent: it reads the whole file. */
  hash?: FileHasher;
}

/** Why a path cannot be verified at all (missing, not a file, not ISO 9660), or null. */
export function isoFileProblem(iso: string): string | null {
  const st = fs.statSync(iso, { throwIfNoEntry: false });
  if (!st) return `${iso} does not exist`;
  if (!st.isFile()) return `${iso} is not a file`;
  let head: Buffer;
  try {
    head = readAt(iso, 0, 17 * ISO_BLOCK);
  } catch (error) {
    return `${iso} cannot be read: ${(error as Error).message}`;
  }
  if (!isIso9660(head)) return `${iso} is not an ISO 9660 image (no CD001 volume descriptor at 32 KiB)`;
  return null;
}

async function runXorriso(runner: Runner, argv: string[], signal: AbortSignal | undefined) {
  try {
    return await runner.run(argv, { signal });
  } catch (error) {
    if (error instanceof CommandError && error.failure.exitCode === 127) {
      throw new StepError('verify', 'xorriso is not installed', { cause: error, hint: 'apt-get install xorriso' });
    }
    throw error;
  }
}

export function extractArgv(iso: string, isoPath: string, out: string): string[] {
  return ['xorriso', '-osirrox', 'on', '-indev', iso, '-extract', isoPath, out];
}

async function readGrubConfigs(
  iso: string,
  listing: IsoListing,
  runner: Runner,
  tmpDir: string,
  signal: AbortSignal | undefined,
): Promise<IsoFacts['grub']> {
  const configs: GrubConfig[] = [];
  const files: string[] = [];
  const queue = [GRUB_CFG];
  const dir = fs.mkdtempSync(path.join(tmpDir, 'ailinux-verify-'));
  try {
    while (queue.length > 0 && files.length < MAX_GRUB_FILES) {
      const wanted = queue.shift()!;
      if (files.includes(wanted)) continue;
      const node = resolveIsoPath(listing, wanted);
      if (node?.type !== 'file') continue;
      const out = path.join(dir, `cfg-${files.length}`);
      await runXorriso(runner, extractArgv(iso, node.path, out), signal);
      const config = parseGrubConfig(fs.readFileSync(out, 'utf8'), wanted);
      configs.push(config);
      files.push(wanted);
      queue.push(...config.includes);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { path: GRUB_CFG, found: files[0] === GRUB_CFG, config: mergeGrubConfigs(configs), files };
}

export function mdirArgv(iso: string, offset: number): string[] {
  return ['mdir', '-b', '-i', `${iso}@@${offset}`, '::/EFI/BOOT'];
}

/** Reads the UEFI El Torito image in place: a FAT boot sector, then the names in /EFI/BOOT (mtools). */
async function inspectEsp(
  iso: string,
  entry: ElToritoEntry,
  runner: Runner,
  signal: AbortSignal | undefined,
): Promise<EspFacts> {
  const offset = entry.lba * ISO_BLOCK;
  const fat = isFatImage(readAt(iso, offset, 512));
  if (!fat) return { offset, fat, bootFiles: null, note: null };
  try {
    // mtools wants a disk geometry an image file does not have
    const r = await runner.run(mdirArgv(iso, offset), { signal, env: { MTOOLS_SKIP_CHECK: '1' } });
    const names = r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => l.slice(l.lastIndexOf('/') + 1));
    return { offset, fat, bootFiles: names, note: null };
  } catch (error) {
    if (!(error instanceof CommandError) || error.failure.cancelled) throw error;
    if (error.failure.exitCode === 127)
      return { offset, fat, bootFiles: null, note: 'contents not listed: mtools is not installed' };
    return { offset, fat, bootFiles: [], note: 'it has no /EFI/BOOT directory' };
  }
}

/** One xorriso run, the GRUB configs, the UEFI image and the heads of the live files. */
export async function inspectIso(
  iso: string,
  runner: Runner,
  expect: VerifyExpectations,
  options: { signal?: AbortSignal; tmpDir?: string } = {},
): Promise<IsoFacts> {
  const r = await runXorriso(runner, isoInspectArgv(iso), options.signal);
  // xorriso prints the volume id on stderr and the reports on stdout
  const text = `${r.stdout}\n${r.stderr}`;
  const torito = parseElToritoReport(text);
  const area = parseSystemAreaReport(text);
  const listing = parseIsoListing(r.stdout);
  const grub = await readGrubConfigs(iso, listing, runner, options.tmpDir ?? os.tmpdir(), options.signal);
  const uefi =
    torito.entries.find((e) => e.platform === 'UEFI' && e.bootable) ??
    torito.entries.find((e) => e.platform === 'UEFI');
  const esp = uefi ? await inspectEsp(iso, uefi, runner, options.signal) : null;
  const heads = new Map<string, Buffer>();
  for (const node of filesToRead({ torito, area, listing, grub, esp }, expect)) {
    heads.set(node.path, readAt(iso, node.lba! * ISO_BLOCK, HEAD_BYTES));
  }
  return { torito, area, listing, grub, heads, esp };
}

const FIRMWARE_NAME: Record<Firmware, string> = { bios: 'BIOS', uefi: 'UEFI' };

function bootRow(firmware: Firmware, status: CheckResult['status'], detail: string): CheckResult {
  return {
    id: firmware === 'bios' ? 'boot-bios' : 'boot-uefi',
    name: `boot ${FIRMWARE_NAME[firmware]} (qemu)`,
    status,
    detail,
  };
}

export async function verifyIso(o: VerifyIsoOptions): Promise<VerifyReport> {
  const started = performance.now();
  const problem = isoFileProblem(o.iso);
  if (problem) throw new StepError('verify', problem);
  const iso = path.resolve(o.iso);
  const stat = fs.statSync(iso);
  o.progress?.(`inspecting ${iso} with xorriso`);
  const facts = await inspectIso(iso, o.runner, o.expect, { signal: o.signal, tmpDir: o.tmpDir });
  const checks = staticChecks(facts, o.expect);
  o.progress?.('checking the checksum file');
  const checksum = await checkChecksum(iso, { require: o.expect.requireChecksum, ...(o.hash ? { hash: o.hash } : {}) });
  checks.push(checksum.result);
  checks.push(...(o.extraChecks ?? []));

  const boots: BootTestResult[] = [];
  if (o.boot) {
    const failed = checks.filter((c) => !checkPasses(c));
    for (const firmware of o.boot.firmwares) {
      if (failed.length > 0) {
        checks.push(
          bootRow(
            firmware,
            'skipped',
            `not run: ${failed.length} static check(s) failed (${failed.map((c) => c.name).join(', ')})`,
          ),
        );
        continue;
      }
      if (firmware === 'bios' && o.expect.bios === 'auto' && !claimsBios(facts)) {
        checks.push(bootRow(firmware, 'skipped', 'not run: the ISO does not boot on BIOS'));
        continue;
      }
      const seconds = Math.round(o.boot.timeoutMs / 1000);
      const sb = firmware === 'uefi' && o.boot.secureBoot ? ' with Secure Boot enforced' : '';
      o.progress?.(
        `booting ${FIRMWARE_NAME[firmware]}${sb} in qemu, waiting up to ${seconds} s for "${o.boot.marker}"`,
      );
      const result = await bootTest({
        runner: o.runner,
        iso,
        firmware,
        marker: o.boot.marker,
        timeoutMs: o.boot.timeoutMs,
        memoryMb: o.boot.memoryMb,
        logFile: path.join(o.boot.logDir, `serial-${firmware}.log`),
        ovmf: o.boot.ovmf,
        secureBoot: o.boot.secureBoot ?? null,
        signal: o.signal,
        ...(o.boot.screenshotDir ? { screenshots: { dir: o.boot.screenshotDir } } : {}),
      });
      boots.push(result);
      for (const shot of result.screenshots ?? []) {
        o.progress?.(
          `${shot.stage} screenshot of the ${FIRMWARE_NAME[firmware]} boot at ${(shot.atMs / 1000).toFixed(0)} s: ${shot.file}`,
        );
      }
      const full = result.logFile && !result.ok ? `\nfull serial log: ${result.logFile}` : '';
      // a screenshot that could not be taken is a warning beside the row, never a failed boot
      const notes = (result.screenshotNotes ?? []).map((n) => `\nscreenshot warning: ${n}`).join('');
      checks.push(bootRow(firmware, result.ok ? 'ok' : 'fail', `${result.detail}${full}${notes}`));
    }
  }
  const installer = o.installer ? await checkInstaller(o, iso, facts, checks) : null;
  return {
    iso,
    size: stat.size,
    mtimeMs: stat.mtimeMs,
    sha256: checksum.sha256,
    volumeId: facts.torito.volumeId,
    liveSystem: detectLiveSystem(facts, o.expect),
    checkedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - started),
    ok: checks.every(checkPasses),
    checks,
    boots,
    ...(o.installer ? { installer } : {}),
  };
}

/**
 * The installer check boot, with the kernel, initrd and arguments of the ISO's first GRUB menu entry (extracted from
 * the ISO into tmpDir, removed after); skipped when a check before it failed.
 */
async function checkInstaller(
  o: VerifyIsoOptions,
  iso: string,
  facts: IsoFacts,
  checks: CheckResult[],
): Promise<InstallerCheckReport | null> {
  const row = (status: CheckResult['status'], detail: string): void => {
    checks.push({ id: 'installer-start', name: 'installer starts (qemu, Calamares -d)', status, detail });
  };
  const failed = checks.filter((c) => !checkPasses(c));
  if (failed.length > 0) {
    row('skipped', `not run: ${failed.length} check(s) failed (${failed.map((c) => c.name).join(', ')})`);
    return null;
  }
  const kernel = facts.grub.config.kernels[0];
  const initrd = facts.grub.config.initrds[0]?.paths[0];
  const kernelNode = kernel ? resolveIsoPath(facts.listing, kernel.path) : null;
  const initrdNode = initrd ? resolveIsoPath(facts.listing, initrd) : null;
  if (!kernel || kernelNode?.type !== 'file' || initrdNode?.type !== 'file') {
    row('fail', `the ISO's GRUB config names no kernel and initrd on the ISO to boot directly; ${TURN_OFF}`);
    return null;
  }
  const dir = fs.mkdtempSync(path.join(o.tmpDir ?? os.tmpdir(), 'ailinux-installer-check-'));
  try {
    const kernelFile = path.join(dir, 'vmlinuz');
    const initrdFile = path.join(dir, 'initrd');
    await runXorriso(o.runner, extractArgv(iso, kernelNode.path, kernelFile), o.signal);
    await runXorriso(o.runner, extractArgv(iso, initrdNode.path, initrdFile), o.signal);
    const seconds = Math.round(o.installer!.timeoutMs / 1000);
    o.progress?.(`booting ${kernelNode.path} directly in qemu to start Calamares, waiting up to ${seconds} s`);
    const { check, report } = await installerCheck({
      iso,
      runner: o.runner,
      plan: o.installer!,
      kernel: kernelFile,
      initrd: initrdFile,
      args: kernel.args,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    for (const shot of report.boot.screenshots ?? [])
      o.progress?.(
        `${shot.stage} screenshot of the installer check boot at ${(shot.atMs / 1000).toFixed(0)} s: ${shot.file}`,
      );
    checks.push(check);
    return report;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
