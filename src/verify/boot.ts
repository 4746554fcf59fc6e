/**
 * The boot test: qemu boots the ISO from a virtual CD (BIOS, or UEFI with OVMF) and the serial
 * console is watched for a marker. qemu runs through the Runner port, so it sits in its own process
 * group; when the marker shows, the time is up or the caller aborts, that group and nothing else is ended.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CommandError } from '../errors.js';
import type { Runner } from '../runtime/runner.js';
import type { BootTestResult, Firmware } from './types.js';

export const QEMU = 'qemu-system-x86_64';
export const OVMF_PATH = '/usr/share/ovmf/OVMF.fd';
const RECENT_BYTES = 64 * 1024;

export interface QemuOptions {
  iso: string;
  firmware: Firmware;
  memoryMb: number;
  logFile: string;
  ovmf?: string;
}

/** A value inside a qemu -drive option string: commas are doubled. */
export function qemuOptionValue(text: string): string {
  return text.replace(/,/g, ',,');
}

export function qemuArgv(o: QemuOptions): string[] {
  return [
    QEMU,
    '-m',
    String(o.memoryMb),
    '-display',
    'none',
    '-monitor',
    'none',
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
    ...(o.firmware === 'uefi' ? ['-bios', o.ovmf ?? OVMF_PATH] : []),
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

/** Reads a growing serial log from where it left off and looks for the marker, across read boundaries too. */
export class SerialLog {
  private position = 0;
  private carry = Buffer.alloc(0);
  private recent = Buffer.alloc(0);
  private seen = false;
  private readonly marker: Buffer;

  constructor(
    readonly file: string,
    marker: string,
  ) {
    this.marker = Buffer.from(marker, 'utf8');
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
    const hay = Buffer.concat([this.carry, data]);
    if (!this.seen && hay.includes(this.marker)) this.seen = true;
    this.carry = Buffer.from(hay.subarray(Math.max(0, hay.length - (this.marker.length - 1))));
    const recent = Buffer.concat([this.recent, data]);
    this.recent = Buffer.from(recent.subarray(Math.max(0, recent.length - RECENT_BYTES)));
  }

  lastLines(count = 12, width = 160): string[] {
    return consoleLines(this.recent.toString('utf8'))
      .slice(-count)
      .map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
  }
}

export interface BootTestOptions extends QemuOptions {
  runner: Runner;
  marker: string;
  timeoutMs: number;
  signal?: AbortSignal;
  pollMs?: number;
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
  const argv = qemuArgv(o);
  const fw = FIRMWARE_NAME[o.firmware];
  const base = { firmware: o.firmware, marker: o.marker, timeoutMs: o.timeoutMs, argv, logFile: o.logFile };
  const ovmf = o.ovmf ?? OVMF_PATH;
  if (o.firmware === 'uefi' && !fs.existsSync(ovmf)) {
    return {
      ...base,
      ok: false,
      outcome: 'not-run',
      markerMs: null,
      durationMs: 0,
      exitCode: null,
      lastLines: [],
      logFile: null,
      detail: `${ovmf} is missing: apt-get install ovmf`,
    };
  }
  fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
  fs.rmSync(o.logFile, { force: true });

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
  let markerMs: number | null = null;
  let timedOut = false;
  try {
    for (;;) {
      if (serial.poll()) {
        markerMs = elapsed();
        break;
      }
      if (ended !== null || stop.signal.aborted) break;
      const left = o.timeoutMs - elapsed();
      if (left <= 0) {
        timedOut = true;
        break;
      }
      await Promise.race([running, new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 200, left)))]);
    }
    // the marker or the deadline came first: end qemu, by its own process group
    if (ended === null) stop.abort();
    await running;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
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
