/**
 * The boot test: qemu boots the ISO from a virtual CD (BIOS, or UEFI with OVMF) and the serial
 * console is watched for a marker. qemu runs through the Runner port, so it sits in its own process
 * group; when the marker shows, the time is up or the caller aborts, that group and nothing else is ended.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CommandError } from '../errors.js';
import type { Runner } from '../runtime/runner.js';
import { BootScreens, MENU_MARKERS, qmpSocketFor, type ScreenshotPlan } from './boot-screens.js';
import type { BootTestResult, Firmware } from './types.js';

export const QEMU = 'qemu-system-x86_64';
export const OVMF_PATH = '/usr/share/ovmf/OVMF.fd';
const RECENT_BYTES = 64 * 1024;

/** OVMF built for Secure Boot, and its variable store with Microsoft's keys enrolled (Debian's and Ubuntu's ovmf package). */
export interface SecureBootFirmware {
  code: string;
  /** The template of the variable store: qemu writes to a copy of it, never to this file. */
  vars: string;
}

export const OVMF_SECURE_BOOT: SecureBootFirmware = {
  code: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
  vars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
};

/** The Secure Boot firmware when the host has both of its files, else null. */
export function hostSecureBootFirmware(
  exists: (p: string) => boolean = fs.existsSync,
  firmware: SecureBootFirmware = OVMF_SECURE_BOOT,
): SecureBootFirmware | null {
  return exists(firmware.code) && exists(firmware.vars) ? firmware : null;
}

export interface QemuOptions {
  iso: string;
  firmware: Firmware;
  memoryMb: number;
  logFile: string;
  /** A QMP unix socket qemu listens on (for screenshots); none when absent. */
  qmpSocket?: string;
  ovmf?: string;
  /** UEFI only: boot with Secure Boot enforced, from this firmware; varsCopy is the writable copy of its variable store. */
  secureBoot?: (SecureBootFirmware & { varsCopy: string }) | null;
  /** Direct kernel boot: qemu loads this kernel and initrd with this command line, the ISO stays the CD the live system finds. */
  directKernel?: DirectKernel | null;
}

export interface DirectKernel {
  kernel: string;
  initrd: string;
  append: string;
}

/** A value inside a qemu -drive option string: commas are doubled. */
export function qemuOptionValue(text: string): string {
  return text.replace(/,/g, ',,');
}

export function qemuArgv(o: QemuOptions): string[] {
  const sb = o.firmware === 'uefi' ? o.secureBoot : null;
  return [
    QEMU,
    // Secure Boot: OVMF's SMM-protected variable store needs q35 with SMM, and flash only SMM code may write
    ...(sb
      ? [
          '-machine',
          'q35,smm=on',
          '-global',
          'driver=cfi.pflash01,property=secure,value=on',
          '-drive',
          `if=pflash,format=raw,unit=0,file=${qemuOptionValue(sb.code)},readonly=on`,
          '-drive',
          `if=pflash,format=raw,unit=1,file=${qemuOptionValue(sb.varsCopy)}`,
        ]
      : []),
    '-m',
    String(o.memoryMb),
    '-display',
    'none',
    '-monitor',
    'none',
    // QMP beside -monitor none: screendump works with -display none, the VGA framebuffer is there all the same
    ...(o.qmpSocket ? ['-qmp', `unix:${qemuOptionValue(o.qmpSocket)},server=on,wait=off`] : []),
    '-serial',
    `file:${o.logFile}`,
    '-no-reboot',
    '-net',
    'none',
    // -cdrom would take the path up to the first comma; -drive with doubled commas takes any path
    '-drive',
    `file=${qemuOptionValue(o.iso)},media=cdrom,if=ide,index=2,format=raw,readonly=on`,
    '-boot',
    'd',
    ...(o.directKernel
      ? ['-kernel', o.directKernel.kernel, '-initrd', o.directKernel.initrd, '-append', o.directKernel.append]
      : []),
    ...(o.firmware === 'uefi' && !sb ? ['-bios', o.ovmf ?? OVMF_PATH] : []),
  ];
}

/**
 * The console as lines a person can read: GRUB draws its menu by moving the cursor, so cursor moves
 * become line breaks; other control sequences go, runs of blanks shrink to one, and lines with no
 * letter or digit (menu borders) are dropped.
 */
export function consoleLines(text: string): string[] {
  const clean = text
    .replace(/\x1b\[[0-9;]*[Hf]/g, '\n')
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[()][A-Za-z0-9]/g, '')
    .replace(/\x1b[@-_]/g, '')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '');
  return clean
    .split(/\r?\n|\r/)
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => /[\p{L}\p{N}]/u.test(l));
}

/** A control sequence introducer sequence (colours, cursor moves): systemd colours the unit names it prints. */
const CSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;
/** An escape that may still be going on at the end of what was read (ESC, or ESC [ with no final byte yet). */
const OPEN_ESCAPE = /\x1b(\[[0-?]*[ -/]*)?$/;

/**
 * Reads a growing serial log from where it left off and looks for the marker, across read boundaries too. The
 * marker is looked for in the text without its control sequences: systemd prints "Reached target
 * \e[0;1;39mgraphical.target\e[0m", which the marker "Reached target graphical.target" finds.
 */
export class SerialLog {
  private position = 0;
  /** The end of the text already searched, marker length - 1 characters, so a marker across two reads is found. */
  private carry = '';
  /** Raw bytes held back: an escape sequence cut by the read boundary. */
  private open = '';
  private recent = Buffer.alloc(0);
  private seen = false;
  /** The marker's UTF-8 bytes, one character each (latin1), as the log is read. */
  private readonly marker: string;

  constructor(
    readonly file: string,
    marker: string,
  ) {
    this.marker = Buffer.from(marker, 'utf8').toString('latin1');
  }

  get found(): boolean {
    return this.seen;
  }

  /** Reads what is new; returns whether the marker has been seen. */
  poll(): boolean {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return this.seen;
    }
    try {
      const chunk = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, this.position);
        if (n <= 0) break;
        this.position += n;
        this.take(chunk.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
    return this.seen;
  }

  private take(data: Buffer): void {
    const raw = this.open + data.toString('latin1');
    const open = OPEN_ESCAPE.exec(raw);
    // a sequence longer than 32 bytes is no escape sequence: take it as text
    const cut = open && raw.length - open.index <= 32 ? open.index : raw.length;
    this.open = raw.slice(cut);
    const hay = this.carry + raw.slice(0, cut).replace(CSI, '');
    if (!this.seen && hay.includes(this.marker)) this.seen = true;
    this.carry = this.marker.length > 1 ? hay.slice(-(this.marker.length - 1)) : '';
    const recent = Buffer.concat([this.recent, data]);
    this.recent = Buffer.from(recent.subarray(Math.max(0, recent.length - RECENT_BYTES)));
  }

  lastLines(count = 12, width = 160): string[] {
    return consoleLines(this.recent.toString('utf8'))
      .slice(-count)
      .map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
  }
}

export interface BootTestOptions extends Omit<QemuOptions, 'secureBoot'> {
  /** UEFI only: boot with Secure Boot enforced from this firmware (its variable store is copied beside the log). */
  secureBoot?: SecureBootFirmware | null;
  runner: Runner;
  marker: string;
  timeoutMs: number;
  signal?: AbortSignal;
  pollMs?: number;
  /** Shoot the boot menu and the screen the boot ends on through QMP; a failed shot is a note, never a failed boot. */
  screenshots?: ScreenshotPlan;
}

const FIRMWARE_NAME: Record<Firmware, string> = { bios: 'BIOS', uefi: 'UEFI' };

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function withLastLines(first: string, lines: readonly string[]): string {
  return lines.length === 0
    ? `${first}; the serial console printed nothing`
    : `${first}; last serial lines:\n${lines.join('\n')}`;
}

/** Boots the ISO once and reports whether the marker came; rethrows only when the caller aborted. */
export async function bootTest(o: BootTestOptions): Promise<BootTestResult> {
  const sb = o.firmware === 'uefi' && o.secureBoot ? o.secureBoot : null;
  // qemu writes UEFI variables into its store: a copy of the template, beside the log, removed after the boot
  const varsCopy = sb ? `${o.logFile}.OVMF_VARS.fd` : null;
  const qmp = o.screenshots ? qmpSocketFor(o.logFile) : null;
  const argv = qemuArgv({
    ...o,
    secureBoot: sb && varsCopy ? { ...sb, varsCopy } : null,
    ...(qmp ? { qmpSocket: qmp.socket } : {}),
  });
  const fw = sb ? 'UEFI with Secure Boot enforced, Microsoft keys enrolled' : FIRMWARE_NAME[o.firmware];
  const base = {
    firmware: o.firmware,
    secureBoot: sb !== null,
    marker: o.marker,
    timeoutMs: o.timeoutMs,
    argv,
    logFile: o.logFile,
  };
  const ovmf = sb ? sb.code : (o.ovmf ?? OVMF_PATH);
  const missing = o.firmware !== 'uefi' ? null : [ovmf, ...(sb ? [sb.vars] : [])].find((f) => !fs.existsSync(f));
  if (missing) {
    qmp?.cleanup();
    return {
      ...base,
      ok: false,
      outcome: 'not-run',
      markerMs: null,
      durationMs: 0,
      exitCode: null,
      lastLines: [],
      logFile: null,
      detail: `${missing} is missing: apt-get install ovmf`,
    };
  }
  fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
  fs.rmSync(o.logFile, { force: true });
  if (sb && varsCopy) fs.copyFileSync(sb.vars, varsCopy);

  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  if (o.signal?.aborted) stop.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  let ended: { error: unknown } | null = null;
  const running = o.runner.run(argv, { signal: stop.signal }).then(
    () => {
      ended = { error: null };
    },
    (error: unknown) => {
      ended = { error };
    },
  );
  const serial = new SerialLog(o.logFile, o.marker);
  const screens = o.screenshots && qmp ? new BootScreens(o.screenshots, qmp.socket, o.firmware, elapsed) : null;
  const menus = screens ? MENU_MARKERS.map((m) => new SerialLog(o.logFile, m)) : [];
  let markerMs: number | null = null;
  let timedOut = false;
  try {
    for (;;) {
      if (serial.poll()) {
        markerMs = elapsed();
        // the screen the boot ends on, while qemu still runs
        if (screens && ended === null) await screens.settled(stop.signal, () => ended === null);
        break;
      }
      if (screens && !screens.menuDone && ended === null && menus.some((m) => m.poll())) {
        await screens.menu(stop.signal);
        continue;
      }
      if (ended !== null || stop.signal.aborted) break;
      const left = o.timeoutMs - elapsed();
      if (left <= 0) {
        timedOut = true;
        // what the screen showed when the time ran out: where a boot that failed stopped
        if (screens && ended === null) await screens.once('timeout');
        break;
      }
      await Promise.race([running, new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 200, left)))]);
    }
    // the marker or the deadline came first: end qemu, by its own process group
    if (ended === null) stop.abort();
    await running;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (varsCopy) fs.rmSync(varsCopy, { force: true });
    qmp?.cleanup();
  }
  const end = ended as { error: unknown } | null;
  // qemu may print the marker and power off between two polls
  if (markerMs === null && serial.poll()) markerMs = elapsed();
  const durationMs = elapsed();
  if (markerMs === null && o.signal?.aborted && end?.error) throw end.error;
  const lastLines = serial.lastLines();
  const failure = end?.error instanceof CommandError ? end.error.failure : null;
  const exitCode =
    end === null ? null : end.error === null ? 0 : failure && !failure.cancelled ? failure.exitCode : null;
  if (screens) {
    if (screens.menuWanted && !screens.menuDone)
      screens.notes.push('no menu screenshot: the serial console never showed a boot menu');
    Object.assign(base, { screenshots: screens.shots, screenshotNotes: screens.notes });
  }
  if (markerMs !== null) {
    return {
      ...base,
      ok: true,
      outcome: 'marker',
      markerMs,
      durationMs,
      exitCode,
      lastLines,
      detail: `"${o.marker}" on the serial console after ${seconds(markerMs)} (${fw}, qemu without KVM)`,
    };
  }
  if (timedOut) {
    return {
      ...base,
      ok: false,
      outcome: 'timeout',
      markerMs,
      durationMs,
      exitCode,
      lastLines,
      detail: withLastLines(
        `no "${o.marker}" on the serial console within the ${seconds(o.timeoutMs)} timeout (${fw})`,
        lastLines,
      ),
    };
  }
  if (failure?.exitCode === 127) {
    return {
      ...base,
      ok: false,
      outcome: 'not-run',
      markerMs,
      durationMs,
      exitCode,
      lastLines,
      logFile: null,
      detail: `${QEMU} is not installed: apt-get install qemu-system-x86`,
    };
  }
  const said = failure?.stderrTail ? `; qemu said: ${failure.stderrTail.split('\n').slice(-3).join(' | ')}` : '';
  const how = exitCode === null ? `ended (${failure?.signal ?? 'no exit code'})` : `exited with code ${exitCode}`;
  return {
    ...base,
    ok: false,
    outcome: 'exited',
    markerMs,
    durationMs,
    exitCode,
    lastLines,
    detail: withLastLines(
      `qemu ${how} after ${seconds(durationMs)} without printing "${o.marker}" (${fw})${said}`,
      lastLines,
    ),
  };
}
