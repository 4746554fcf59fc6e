/** The verifier's vocabulary: what it is asked to require, and the rows it reports. */
import type { ElToritoReport, SystemAreaReport } from './xorriso-reports.js';
import type { GrubConfig } from './grub-config.js';
import type { IsoListing } from './iso-listing.js';
import type { InstallerCheckReport } from './installer-check.js';

/** ok and skipped pass; fail fails; missing (a checksum file that is not there) fails only when required. */
export type CheckStatus = 'ok' | 'fail' | 'missing' | 'skipped';

export type CheckId =
  | 'eltorito-bios'
  | 'eltorito-uefi'
  | 'layout'
  | 'grub-config'
  | 'kernel'
  | 'initrd'
  | 'squashfs'
  | 'boot-param'
  | 'volume-id'
  | 'checksum'
  | 'desktop-launchers'
  | 'boot-bios'
  | 'boot-uefi'
  | 'installer-start';

export interface CheckResult {
  id: CheckId;
  name: string;
  status: CheckStatus;
  /** One line, or several for a boot failure (then the serial console's last lines follow the first). */
  detail: string;
}

export type LiveSystem = 'live-boot' | 'casper';
export type Firmware = 'bios' | 'uefi';

export interface VerifyExpectations {
  /** required: must boot on BIOS; auto: checked when the image claims BIOS boot (an entry or MBR boot code); off: not checked. */
  bios: 'required' | 'auto' | 'off';
  uefi: 'required' | 'off';
  /** The live system the image must carry; detected from the GRUB config and the ISO tree when absent. */
  liveSystem?: LiveSystem;
  volumeId?: string;
  /** A missing checksum file fails instead of being reported as missing. */
  requireChecksum: boolean;
}

/** The UEFI El Torito image as read from the image file: a FAT file system holding the boot loader. */
export interface EspFacts {
  offset: number;
  fat: boolean;
  /** Files under /EFI/BOOT of the FAT image (mtools), or null when they could not be listed. */
  bootFiles: string[] | null;
  note: string | null;
}

/** Everything the static checks look at, gathered by one xorriso run and a few reads. */
export interface IsoFacts {
  torito: ElToritoReport;
  area: SystemAreaReport;
  listing: IsoListing;
  /** Path of the GRUB config on the ISO, whether it was found, and what it (and what it sources) says. */
  grub: { path: string; found: boolean; config: GrubConfig; files: string[] };
  /** First bytes of the kernel, initrd and squashfs files, by ISO path. */
  heads: Map<string, Buffer>;
  esp: EspFacts | null;
}

/**
 * A screenshot taken during a boot test (QMP screendump): the boot menu, the screen the boot ended on (desktop; in the
 * installer check boot, Calamares' welcome page), or the screen when the timeout passed without the marker (timeout).
 */
export interface BootScreenshot {
  stage: 'menu' | 'desktop' | 'welcome' | 'timeout';
  /** The PNG qemu wrote. */
  file: string;
  /** From qemu's start to the shot. */
  atMs: number;
}

export interface BootTestResult {
  firmware: Firmware;
  /** UEFI booted with Secure Boot enforced (OVMF with Microsoft's keys enrolled); absent in results written before it. */
  secureBoot?: boolean;
  ok: boolean;
  outcome: 'marker' | 'timeout' | 'exited' | 'not-run';
  marker: string;
  /** From qemu's start to the marker, or to its end without one. */
  markerMs: number | null;
  durationMs: number;
  timeoutMs: number;
  exitCode: number | null;
  /** The serial console's last lines, control sequences removed. */
  lastLines: string[];
  logFile: string | null;
  argv: string[];
  detail: string;
  /** Screenshots taken during the boot, when it was asked for them; absent in results written before. */
  screenshots?: BootScreenshot[];
  /** What went wrong with the screenshots: warnings, never a failed boot. */
  screenshotNotes?: string[];
}

export interface VerifyReport {
  iso: string;
  size: number;
  mtimeMs: number;
  /** Computed when a checksum file was checked. */
  sha256: string | null;
  volumeId: string | null;
  liveSystem: LiveSystem | null;
  checkedAt: string;
  durationMs: number;
  ok: boolean;
  checks: CheckResult[];
  boots: BootTestResult[];
  /** The installer check boot (verify.installerCheck); absent when it was not asked for, and in results written before it. */
  installer?: InstallerCheckReport | null;
}

export function checkPasses(check: CheckResult): boolean {
  return check.status === 'ok' || check.status === 'skipped' || check.status === 'missing';
}
