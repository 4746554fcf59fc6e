/** Boots an ISO under qemu (TCG here: no KVM), watches the serial log for a marker, ends qemu by its own pid. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface BootOptions {
  iso: string;
  logFile: string;
  marker: RegExp;
  uefi?: boolean;
  memoryMb?: number;
  timeoutMs?: number;
  /** Boot the image as a disk (a USB stick) instead of a CD. */
  asDisk?: boolean;
}

export interface BootResult {
  /** Milliseconds from qemu's start to the marker, or null when it never came. */
  markerMs: number | null;
  /** Milliseconds to qemu's own exit, or null when it was still running. */
  exitMs: number | null;
  exitCode: number | null;
  log: string;
}

export const OVMF = '/usr/share/ovmf/OVMF.fd';

export function qemuArgv(o: BootOptions): string[] {
  const argv = [
    'qemu-system-x86_64',
    '-m',
    String(o.memoryMb ?? 1024),
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${o.logFile}`,
    '-no-reboot',
  ];
  if (o.uefi) argv.push('-bios', OVMF);
  if (o.asDisk) argv.push('-drive', `file=${o.iso},format=raw,if=virtio,readonly=on`);
  else argv.push('-cdrom', o.iso, '-boot', 'd');
  return argv;
}

export async function bootIso(o: BootOptions): Promise<BootResult> {
  fs.rmSync(o.logFile, { force: true });
  const argv = qemuArgv(o);
  const started = Date.now();
  const qemu = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exitMs: number | null = null;
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) => {
    qemu.on('exit', (code) => {
      exitMs = Date.now() - started;
      exitCode = code;
      resolve();
    });
  });
  const deadline = started + (o.timeoutMs ?? 240_000);
  let markerMs: number | null = null;
  const read = () => (fs.existsSync(o.logFile) ? fs.readFileSync(o.logFile, 'latin1') : '');
  while (Date.now() < deadline && exitMs === null) {
    if (o.marker.test(read())) {
      markerMs = Date.now() - started;
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (markerMs === null && o.marker.test(read())) markerMs = exitMs ?? Date.now() - started;
  if (exitMs === null) {
    qemu.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (exitMs === null) qemu.kill('SIGKILL');
    await exited;
    exitMs = null;
  }
  const log = read();
  return { markerMs, exitMs, exitCode, log: stderr ? `${log}\n--- qemu stderr ---\n${stderr}` : log };
}
