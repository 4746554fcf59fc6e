/**
 * verify: the build's gate. Checks the finished ISO as `ailinux verify` does (El Torito, MBR/GPT,
 * GRUB paths, live system, checksum) and, with verify.boot, boots it in qemu to the marker. A build
 * never reports success for an ISO that fails here. The result file exists only for a passed ISO.
 */
import { hostSecureBootFirmware, OVMF_PATH, type SecureBootFirmware } from '../verify/boot.js';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { quoteArgv } from '../runtime/runner.js';
import { removeTree } from '../runtime/safe-remove.js';
import type { WorkPaths } from '../runtime/paths.js';
import { failureSummary, renderVerifyTable } from '../verify/render.js';
import type { Firmware, VerifyExpectations, VerifyReport } from '../verify/types.js';
import type { BootPlan } from '../verify/verify-iso.js';
import {
  CALAMARES_MODULES_DIR,
  CALAMARES_SETTINGS,
  sequenceModules,
  type InstallerCheckPlan,
} from '../verify/installer-check.js';
import { fileArtifact } from './artifacts.js';
import { fileDigests } from './file-digests.js';
import { isoFiles } from './iso.js';
import type { StepDef } from './types.js';

const STEP = 'verify';

export function verifyResultFile(config: BuildConfig, paths: WorkPaths): string {
  return path.join(paths.outputDir, `${config.iso.outputName}.verify.json`);
}

/** What the config built is what the ISO must be: its firmwares, its live system, its label, and its checksum file. */
export function verifyExpectations(config: BuildConfig): VerifyExpectations {
  return {
    bios: config.iso.bios ? 'required' : 'off',
    uefi: config.iso.uefi ? 'required' : 'off',
    liveSystem: config.liveSystem,
    volumeId: config.iso.volumeLabel,
    requireChecksum: true,
  };
}

/** The firmwares to boot: those verify asks for that the ISO is built for. */
export function bootFirmwares(config: BuildConfig): Firmware[] {
  const firmwares: Firmware[] = [];
  if (config.verify.bios && config.iso.bios) firmwares.push('bios');
  if (config.verify.uefi && config.iso.uefi) firmwares.push('uefi');
  return firmwares;
}

/**
 * The firmware for a Secure Boot check: when the ISO is built for Secure Boot and the UEFI boot is checked, the
 * UEFI boot runs with Secure Boot enforced wherever the host has OVMF with Microsoft's keys enrolled; else null.
 */
export function secureBootCheck(
  config: BuildConfig,
  exists: (p: string) => boolean = fs.existsSync,
): SecureBootFirmware | null {
  if (!config.iso.secureBoot || !bootFirmwares(config).includes('uefi')) return null;
  return hostSecureBootFirmware(exists);
}

/** One line for plan and doctor: whether the verify step boots the ISO, how, and until what. */
export function describeBootCheck(config: BuildConfig, exists: (p: string) => boolean = fs.existsSync): string {
  const boots = describeBoots(config, exists);
  return config.verify.installerCheck ? `${boots}; ${describeInstallerCheck(config)}` : boots;
}

function describeBoots(config: BuildConfig, exists: (p: string) => boolean): string {
  if (!config.verify.boot) return 'boot check off (verify.boot: false)';
  const firmwares = bootFirmwares(config);
  if (firmwares.length === 0) return 'boot check on, but nothing to boot (see verify.bios and verify.uefi)';
  const sb = secureBootCheck(config, exists);
  const names = firmwares.map((f) =>
    f === 'bios' ? 'BIOS' : sb ? 'UEFI with Secure Boot enforced (OVMF, Microsoft keys enrolled)' : 'UEFI',
  );
  const noSb =
    config.iso.secureBoot && firmwares.includes('uefi') && !sb ? `; Secure Boot not checked: ${OVMF_SECURE_NOTE}` : '';
  return `boots the ISO in qemu (${names.join('; ')}), each until "${config.verify.marker}" on the serial console, at most ${config.verify.timeoutSec} s${noSb}`;
}

/** Whether the verify step starts Calamares in a boot of its own: asked for, and the profile has the installer step. */
export function installerCheckWanted(config: BuildConfig): boolean {
  return config.verify.installerCheck && config.steps.includes('installer');
}

/** Plan's words on the installer check boot: whether it runs, and what it requires. */
export function describeInstallerCheck(config: BuildConfig): string {
  if (!config.verify.installerCheck) return 'installer check off (verify.installerCheck: false)';
  if (!installerCheckWanted(config)) return 'installer check not run: the profile has no installer step';
  return `then one more boot (the ISO's kernel, booted directly) starts Calamares -d on the framebuffer: every module of settings.conf's sequence must load with no configuration error, at most ${config.verify.timeoutSec} s, and its welcome page is shot (verify.installerCheck)`;
}

/**
 * The installer check as the verify step runs it: the modules come from the settings.conf and module configs the
 * installer step wrote into the rootfs layers; null when it is not asked for or the image has no settings.conf.
 */
export function installerCheckPlan(
  config: BuildConfig,
  paths: WorkPaths,
  view: { read(rel: string): string | null; list(rel: string): string[] | null },
): InstallerCheckPlan | null {
  if (!installerCheckWanted(config)) return null;
  const settings = view.read(CALAMARES_SETTINGS);
  if (settings === null) return null;
  let modules: string[];
  try {
    modules = sequenceModules(settings);
  } catch (error) {
    throw new StepError(
      STEP,
      `/${CALAMARES_SETTINGS} in the rootfs cannot be read for the installer check: ${(error as Error).message}`,
      {
        hint: 'run the installer step again (ailinux build --from installer), or set verify.installerCheck to false',
      },
    );
  }
  const configured = (view.list(CALAMARES_MODULES_DIR) ?? [])
    .filter((n) => n.endsWith('.conf'))
    .map((n) => n.slice(0, -'.conf'.length))
    .sort();
  return {
    expect: { modules, configured },
    timeoutMs: config.verify.timeoutSec * 1000,
    memoryMb: config.verify.memoryMb,
    logDir: path.join(paths.logsDir, STEP),
    // Calamares' welcome page, beside the boots' screenshots (installer-welcome.png); the report step copies it
    screenshots: { dir: path.join(paths.logsDir, STEP, 'screens') },
  };
}

const OVMF_SECURE_NOTE =
  'the host lacks /usr/share/OVMF/OVMF_CODE_4M.ms.fd or OVMF_VARS_4M.ms.fd (apt-get install ovmf)';

export function verifyBootPlan(config: BuildConfig, paths: WorkPaths): BootPlan | null {
  if (!config.verify.boot) return null;
  const firmwares = bootFirmwares(config);
  if (firmwares.length === 0) {
    throw new StepError(
      STEP,
      'verify.boot is on, but there is nothing to boot: neither verify.bios with iso.bios nor verify.uefi with iso.uefi is set',
      {
        hint: 'set verify.bios or verify.uefi for a firmware the ISO is built for, or turn verify.boot off',
      },
    );
  }
  return {
    firmwares,
    marker: config.verify.marker,
    timeoutMs: config.verify.timeoutSec * 1000,
    memoryMb: config.verify.memoryMb,
    logDir: path.join(paths.logsDir, STEP),
    secureBoot: secureBootCheck(config),
    // the boot menu and the screen each boot ends on; the report step puts copies beside the report
    screenshotDir: path.join(paths.logsDir, STEP, 'screens'),
  };
}

/** The same verification by hand, for the error's hint. */
export function verifyCommandLine(config: BuildConfig, iso: string): string {
  const argv = ['ailinux', 'verify', '--require-checksum'];
  if (!config.iso.bios) argv.push('--no-bios');
  if (!config.iso.uefi) argv.push('--no-uefi');
  if (config.verify.boot) {
    argv.push('--boot');
    const firmwares = bootFirmwares(config);
    if (!firmwares.includes('bios') && config.iso.bios) argv.push('--no-bios');
    if (firmwares.includes('uefi')) argv.push('--uefi');
    argv.push(
      '--marker',
      config.verify.marker,
      '--timeout',
      String(config.verify.timeoutSec),
      '--memory',
      String(config.verify.memoryMb),
    );
  }
  argv.push(iso);
  return quoteArgv(argv);
}

function writeResult(file: string, report: VerifyReport): void {
  const partial = `${file}.partial`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(partial, `${JSON.stringify(report, null, 2)}\n`);
  fs.renameSync(partial, file);
}

export function readVerifyResult(file: string): VerifyReport | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as VerifyReport;
  } catch {
    return null;
  }
}

export const verifyStep: StepDef = {
  id: STEP,
  title: 'Verify the ISO: boot records, layout, live files, checksum, and (verify.boot) a qemu boot',
  // 2: the rootfs's launchers and icons are checked; UEFI boots with Secure Boot enforced where the host can
  // 3: the installer check runs Calamares on the framebuffer (linuxfb) and shoots its welcome page
  version: 3,
  layer: 'none',
  phase: 12,
  // it checks the checksum file too
  needs: ['iso', 'checksums'],
  hostTools: (config) => [
    {
      name: 'xorriso',
      pkg: 'xorriso',
      why: 'reading the ISO without mounting it (verify step)',
      versionArgs: ['-version'],
    },
    ...(config.verify.boot || installerCheckWanted(config)
      ? [
          {
            name: 'qemu-system-x86_64',
            pkg: 'qemu-system-x86',
            why: 'the boot test of the verify step',
            versionArgs: ['--version'],
          },
        ]
      : []),
  ],
  hostFiles: (config) =>
    config.verify.boot && config.verify.uefi
      ? [{ path: OVMF_PATH, pkg: 'ovmf', why: 'UEFI firmware for the boot test' }]
      : [],
  configFields: [
    'iso.outputName',
    'iso.volumeLabel',
    'iso.bios',
    'iso.uefi',
    // the UEFI boot runs with Secure Boot enforced for an ISO built for it (where the host has the firmware)
    'iso.secureBoot',
    'liveSystem',
    'verify.boot',
    'verify.bios',
    'verify.uefi',
    'verify.marker',
    'verify.timeoutSec',
    'verify.memoryMb',
    'verify.installerCheck',
    // whose desktop the launcher check reads
    'liveUser.name',
  ],
  async run(ctx) {
    // the ISO verifier is loaded when the step runs: plan and status, which read this step's definition, start without it
    const { isoFileProblem, verifyIso } = await import('../verify/verify-iso.js');
    const { desktopLaunchersCheck, layersView } = await import('../verify/desktop-launchers.js');
    const { iso } = isoFiles(ctx.config, ctx.paths);
    const resultFile = verifyResultFile(ctx.config, ctx.paths);
    const problem = isoFileProblem(iso);
    if (problem)
      throw new StepError(STEP, problem, {
        hint: 'run the build again so the iso and checksums steps run before verify',
      });
    const boot = verifyBootPlan(ctx.config, ctx.paths);
    await removeTree(resultFile, { within: ctx.paths.workDir });
    const tmpDir = path.join(ctx.paths.tmpDir, STEP);
    fs.mkdirSync(tmpDir, { recursive: true });
    // the rootfs the squashfs was made of, read from its layers: the panel's and the desktop's launchers and icons
    ctx.log.info('checking the launchers and icons of the panel and the desktop in the rootfs layers');
    const view = layersView(ctx.layers);
    const launchers = desktopLaunchersCheck(view, { homes: [`home/${ctx.config.liveUser.name}`] });
    const installer = installerCheckPlan(ctx.config, ctx.paths, view);
    if (installerCheckWanted(ctx.config) && !installer)
      ctx.log.info(`installer check not run: the rootfs has no /${CALAMARES_SETTINGS} (the image has no Calamares)`);
    let report: VerifyReport;
    try {
      report = await verifyIso({
        extraChecks: [launchers],
        iso,
        runner: ctx.runner,
        expect: verifyExpectations(ctx.config),
        boot,
        installer,
        signal: ctx.signal,
        progress: ctx.log.info,
        tmpDir,
        // the ISO's digests from the iso step's one read, while its (dev, ino, size, mtime, ctime) are unchanged
        hash: (file, algorithms) => fileDigests.digests(file, algorithms),
      });
    } finally {
      await removeTree(tmpDir, { within: ctx.paths.workDir });
    }
    for (const line of renderVerifyTable(report.checks).split('\n')) ctx.log.info(line);
    if (!report.ok) {
      throw new StepError(STEP, `${path.basename(iso)} failed verification: ${failureSummary(report)}`, {
        // in backticks: the CLI gives `ailinux log verify` the user's --work-dir (verify itself takes none)
        hint: `the full table is in the step log (\`ailinux log verify\`); to check by hand: \`${verifyCommandLine(ctx.config, iso)}\``,
      });
    }
    writeResult(resultFile, report);
    return [await fileArtifact(ctx.paths.workDir, resultFile)];
  },
  async verify(ctx) {
    const { iso } = isoFiles(ctx.config, ctx.paths);
    const resultFile = verifyResultFile(ctx.config, ctx.paths);
    const report = readVerifyResult(resultFile);
    if (!report) throw new StepError(STEP, `${resultFile} is missing or not JSON`);
    if (!report.ok) throw new StepError(STEP, `${resultFile} records a failed verification: ${failureSummary(report)}`);
    const st = fs.statSync(iso, { throwIfNoEntry: false });
    if (!st) throw new StepError(STEP, `${iso} is missing`);
    if (report.iso !== path.resolve(iso) || report.size !== st.size || report.mtimeMs !== st.mtimeMs) {
      throw new StepError(STEP, `${iso} changed after it was verified (${resultFile} describes another file)`);
    }
    for (const firmware of verifyBootPlan(ctx.config, ctx.paths)?.firmwares ?? []) {
      if (!report.boots.some((b) => b.firmware === firmware && b.ok)) {
        throw new StepError(
          STEP,
          `${resultFile} records no passed ${firmware.toUpperCase()} boot, which verify.boot asks for`,
        );
      }
    }
    const { layersView } = await import('../verify/desktop-launchers.js');
    if (installerCheckPlan(ctx.config, ctx.paths, layersView(ctx.layers)) && report.installer?.ok !== true) {
      throw new StepError(
        STEP,
        `${resultFile} records no passed installer check, which verify.installerCheck asks for`,
      );
    }
  },
  async undo(ctx) {
    const resultFile = verifyResultFile(ctx.config, ctx.paths);
    await removeTree(resultFile, { within: ctx.paths.workDir });
    await removeTree(`${resultFile}.partial`, { within: ctx.paths.workDir });
    await removeTree(path.join(ctx.paths.tmpDir, STEP), { within: ctx.paths.workDir });
  },
};
