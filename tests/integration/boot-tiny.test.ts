/**
 * The sub-20-second boot tier: a real ISO made by bootloadersStep + isoStep, with a Debian kernel
 * and a busybox initramfs that mounts the ISO and the squashfs on it, prints a marker from inside
 * the squashfs and powers off. Booted under qemu (TCG) from CD and as a disk (a USB stick), BIOS and UEFI.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipTestWithout } from '../helpers/root.js';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { workPaths } from '../../src/runtime/paths.js';
import { bootloadersStep } from '../../src/steps/bootloaders.js';
import { isoStep } from '../../src/steps/iso.js';
import {
  OVMF,
  fetchKernel,
  makeInitramfs,
  onPath,
  realStepContext as stepContext,
  resolveModules,
  run,
  unpackOnce,
  WANTED_MODULES,
} from '../helpers/tiny-live.js';

/** qemu without KVM on a loaded machine takes minutes to reach the marker (93 s seen beside stress-ng --cpu 2). */
const BOOT_TIMEOUT_MS = 240_000;

interface BootResult {
  log: string;
  markerMs: number | null;
  exitMs: number | null;
  exitCode: number | null;
}

/** Boots the ISO, polls the serial log for the marker, and ends qemu (by its own pid) if it does not power off. */
async function bootIso(argv: string[], logFile: string, marker: RegExp): Promise<BootResult> {
  fs.rmSync(logFile, { force: true });
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const qemu = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const state: { exitMs: number | null; exitCode: number | null; markerMs: number | null } = {
    exitMs: null,
    exitCode: null,
    markerMs: null,
  };
  const exited = new Promise<void>((resolve) =>
    qemu.on('exit', (code) => {
      state.exitMs = elapsed();
      state.exitCode = code;
      resolve();
    }),
  );
  const read = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'latin1') : '');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  while (elapsed() < BOOT_TIMEOUT_MS && state.exitMs === null && state.markerMs === null) {
    const text = read();
    if (marker.test(text)) state.markerMs = elapsed();
    else if (text.includes('TINY-BOOT-FAIL')) break;
    else await sleep(100);
  }
  // wait for the poweroff the init script does after the marker (a loaded machine is slow to get there), then end
  // what we started, by its own pid
  if (state.exitMs === null) await Promise.race([exited, sleep(60_000)]);
  // qemu may have exited between two polls: the marker is then no later than the exit
  if (state.markerMs === null && marker.test(read())) state.markerMs = state.exitMs ?? elapsed();
  if (state.exitMs === null) {
    qemu.kill('SIGTERM');
    await Promise.race([exited, sleep(3000)]);
    if (state.exitMs === null) qemu.kill('SIGKILL');
    await exited;
  }
  const log = read();
  return {
    log: stderr ? `${log}\n--- qemu stderr ---\n${stderr}` : log,
    markerMs: state.markerMs,
    exitMs: state.exitMs,
    exitCode: state.exitCode,
  };
}

const qemuMissing = !onPath('qemu-system-x86_64')
  ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)'
  : null;

describe('boot tier: tiny kernel + busybox initramfs from the ISO our steps make', () => {
  let skipReason: string | null = qemuMissing;
  let tmp = '';
  let iso = '';
  const nonce = crypto.randomBytes(6).toString('hex');
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    if (skipReason) return;
    let kernelRoot: string;
    let busyboxRoot: string;
    try {
      const t0 = performance.now();
      kernelRoot = fetchKernel();
      busyboxRoot = unpackOnce('busybox-static');
      timings['fetch and unpack (cached after the first run)'] = performance.now() - t0;
    } catch (error) {
      skipReason = `no kernel or busybox could be had through apt (${(error as Error).message.split('\n')[0]}); run apt-get update`;
      console.warn(`boot-tiny skipped: ${skipReason}`);
      return;
    }
    const vmlinuz = fs.readdirSync(path.join(kernelRoot, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    const release = fs.readdirSync(path.join(kernelRoot, 'lib', 'modules'))[0];
    if (!vmlinuz || !release) {
      skipReason = `the kernel package in ${kernelRoot} has no vmlinuz or modules`;
      return;
    }
    const t1 = performance.now();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-boot-tiny-'));
    const paths = workPaths(path.join(tmp, 'work'));
    const live = path.join(paths.isoDir, 'live');
    fs.mkdirSync(live, { recursive: true });
    const rootfs = path.join(tmp, 'rootfs');
    fs.mkdirSync(rootfs);
    fs.writeFileSync(path.join(rootfs, 'marker'), 'ailinux-squashfs-marker\n');
    run(['mksquashfs', rootfs, path.join(live, 'filesystem.squashfs'), '-noappend', '-comp', 'zstd', '-quiet']);
    fs.copyFileSync(path.join(kernelRoot, 'boot', vmlinuz), path.join(live, 'vmlinuz'));
    const modules = resolveModules(path.join(kernelRoot, 'lib', 'modules', release, 'kernel'), WANTED_MODULES);
    fs.writeFileSync(
      path.join(live, 'initrd.img'),
      makeInitramfs(path.join(busyboxRoot, 'bin', 'busybox'), modules, nonce),
    );
    timings['tree: squashfs, kernel, initramfs'] = performance.now() - t1;

    const base = loadConfig({ profile: 'minimal' }).config;
    // no_timer_check: a starved TCG vCPU (load 25+ on 2 cores) fails the kernel's IO-APIC timer check and panics
    const config: BuildConfig = {
      ...base,
      iso: { ...base.iso, serialConsole: true, menuTimeout: 1, kernelArgs: ['no_timer_check'] },
    };
    const ctx = stepContext(config, paths);
    const t2 = performance.now();
    await bootloadersStep.run(ctx);
    timings['bootloaders step'] = performance.now() - t2;
    const t3 = performance.now();
    const [artifact] = await isoStep.run(ctx);
    timings['iso step (xorriso)'] = performance.now() - t3;
    await isoStep.verify(ctx);
    iso = path.join(paths.workDir, artifact!.path);
  });

  afterAll(() => {
    const lines = Object.entries(timings).map(([k, v]) => `  ${k}: ${(v / 1000).toFixed(2)} s`);
    if (lines.length > 0) console.log(`boot-tiny timings:\n${lines.join('\n')}`);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const cases = [
    { name: 'BIOS from CD', media: 'cd', uefi: false },
    { name: 'UEFI from CD', media: 'cd', uefi: true },
    { name: 'BIOS from a disk (USB stick, hybrid MBR)', media: 'disk', uefi: false },
    { name: 'UEFI from a disk (USB stick, GPT ESP)', media: 'disk', uefi: true },
  ] as const;

  for (const c of cases) {
    it(`boots ${c.name} to the squashfs marker and powers off`, { timeout: 420_000 }, async (t) => {
      skipTestWithout(t, skipReason);
      skipTestWithout(t, c.uefi && !fs.existsSync(OVMF) ? `${OVMF} is missing (apt-get install ovmf)` : null);
      const logFile = path.join(tmp, `serial-${c.media}-${c.uefi ? 'uefi' : 'bios'}.log`);
      const media =
        c.media === 'cd'
          ? ['-cdrom', iso, '-boot', 'd']
          : ['-drive', `file=${iso},format=raw,if=ide,snapshot=on`, '-boot', 'c'];
      const argv = [
        'qemu-system-x86_64',
        '-m',
        '512',
        '-display',
        'none',
        '-monitor',
        'none',
        '-serial',
        `file:${logFile}`,
        '-no-reboot',
        '-net',
        'none',
        ...media,
        ...(c.uefi ? ['-bios', OVMF] : []),
      ];
      const result = await bootIso(argv, logFile, new RegExp(`MARKER: ailinux-squashfs-marker ${nonce}`));
      if (result.markerMs !== null) timings[`qemu ${c.name}: marker`] = result.markerMs;
      if (result.exitMs !== null) timings[`qemu ${c.name}: powered off`] = result.exitMs;
      const tail = result.log.slice(-3000);
      expect(result.markerMs, `no marker within ${BOOT_TIMEOUT_MS / 1000} s; serial log tail:\n${tail}`).not.toBeNull();
      // GRUB drew our menu on the serial line and booted its first entry with our arguments
      expect(result.log).toContain('minimal live (safe graphics)');
      expect(result.log).toMatch(/CMDLINE: .*boot=live no_timer_check console=tty0 console=ttyS0,115200n8/);
      expect(result.log).toContain(`MEDIUM: ${c.media === 'cd' ? '/dev/sr0' : '/dev/sda'}`);
      expect(result.exitCode, `qemu did not power off by itself; serial log tail:\n${tail}`).toBe(0);
    });
  }
});
