/**
 * ailinux verify ISO: checks any ISO without mounting it (El Torito BIOS and UEFI entries, MBR/GPT,
 * the GRUB config's kernel, initrd and live system, the checksum file) and, with --boot, boots it
 * in qemu to a marker on the serial console. Needs no root.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { ExecaRunner } from '../../runtime/execa-runner.js';
import { renderVerifyReport } from '../../verify/render.js';
import type { Firmware, VerifyExpectations, VerifyReport } from '../../verify/types.js';
import { isoFileProblem, verifyIso, type BootPlan } from '../../verify/verify-iso.js';
import { EXIT, exitCodeForSignal } from '../exit-codes.js';
import type { CliIO } from '../io.js';

export interface VerifyCommandOptions {
  boot?: boolean;
  /** undefined: require the UEFI entry, boot only BIOS; true: also boot UEFI; false (--no-uefi): neither. */
  uefi?: boolean;
  /** false with --no-bios. */
  bios?: boolean;
  marker: string;
  timeout: number;
  memory: number;
  requireChecksum?: boolean;
  json?: boolean;
  /** With --boot: where the screenshots of each boot go. */
  screenshots?: string;
}

const HANDLED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export { registerVerifyCommand } from './verify-register.js';

export function commandExpectations(opts: VerifyCommandOptions): VerifyExpectations {
  return {
    bios: opts.bios === false ? 'off' : 'auto',
    uefi: opts.uefi === false ? 'off' : 'required',
    requireChecksum: opts.requireChecksum === true,
  };
}

export function commandFirmwares(opts: VerifyCommandOptions): Firmware[] {
  const firmwares: Firmware[] = [];
  if (opts.bios !== false) firmwares.push('bios');
  if (opts.uefi === true) firmwares.push('uefi');
  return firmwares;
}

export async function runVerifyCommand(isoArg: string, opts: VerifyCommandOptions, io: CliIO): Promise<number> {
  const iso = path.resolve(io.cwd, isoArg);
  const problem = isoFileProblem(iso);
  if (problem) throw new UsageError(problem, { hint: 'give the path of an .iso file' });
  const firmwares = commandFirmwares(opts);
  if (opts.boot && firmwares.length === 0)
    throw new UsageError('--boot with --no-bios and without --uefi boots nothing', {
      hint: 'add --uefi, or drop --no-bios',
    });

  if (opts.screenshots !== undefined && !opts.boot)
    throw new UsageError('--screenshots takes the screenshots of a boot: it needs --boot', {
      hint: 'add --boot, or drop --screenshots',
    });
  const screenshotDir = opts.screenshots === undefined ? null : path.resolve(io.cwd, opts.screenshots);
  if (screenshotDir) {
    const st = fs.statSync(screenshotDir, { throwIfNoEntry: false });
    if (st && !st.isDirectory())
      throw new UsageError(`--screenshots ${screenshotDir} is not a directory`, {
        hint: 'give a directory (it is made when it does not exist)',
      });
  }
  const logDir = opts.boot ? fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-verify-boot-')) : null;
  const boot: BootPlan | null = logDir
    ? { firmwares, marker: opts.marker, timeoutMs: opts.timeout * 1000, memoryMb: opts.memory, logDir, screenshotDir }
    : null;
  const runner = new ExecaRunner({ graceMs: 3000 });
  const controller = new AbortController();
  let interrupted: NodeJS.Signals | null = null;
  const handlers = HANDLED_SIGNALS.map((signal) => {
    const handler = (): void => {
      interrupted ??= signal;
      controller.abort();
    };
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  let report: VerifyReport;
  try {
    report = await verifyIso({
      iso,
      runner,
      expect: commandExpectations(opts),
      boot,
      signal: controller.signal,
      progress: (m) => io.stderr.write(`${m}\n`),
    });
  } catch (error) {
    if (logDir) fs.rmSync(logDir, { recursive: true, force: true });
    if (interrupted) {
      io.stderr.write(`verify interrupted by ${interrupted}; qemu and xorriso were ended\n`);
      return exitCodeForSignal(interrupted);
    }
    throw error;
  } finally {
    for (const off of handlers) off();
    await runner.drain();
  }
  if (interrupted) {
    // a signal that came while nothing was running (hashing the ISO) still stops the run
    if (logDir) fs.rmSync(logDir, { recursive: true, force: true });
    io.stderr.write(`verify interrupted by ${interrupted}\n`);
    return exitCodeForSignal(interrupted);
  }
  // the serial logs are kept only when a boot failed: the table points at them
  if (logDir && report.boots.every((b) => b.ok)) fs.rmSync(logDir, { recursive: true, force: true });
  io.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderVerifyReport(report));
  return report.ok ? EXIT.ok : EXIT.buildFailed;
}
