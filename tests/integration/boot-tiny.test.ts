/**
 * The sub-20-second boot tier: a real ISO made by bootloadersStep + isoStep, with a Debian kernel
 * and a busybox initramfs that mounts the ISO and the squashfs on it, prints a marker from inside
 * the squashfs and powers off. Booted under qemu (TCG) from CD and as a disk (a USB stick), BIOS and UEFI.
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import { workPaths, type WorkPaths } from '../../src/runtime/paths.js';
import { bootloadersStep } from '../../src/steps/bootloaders.js';
import { isoStep } from '../../src/steps/iso.js';
import type { StepContext } from '../../src/steps/types.js';
import { writeNewc, type CpioEntry } from '../helpers/newc-cpio.js';

const CACHE = path.join(os.tmpdir(), 'ailinux-boot-tiny-cache');
const OVMF = '/usr/share/ovmf/OVMF.fd';
const BOOT_TIMEOUT_MS = 90_000;
/** Modules the initramfs loads, in an order that satisfies their dependencies; missing ones are skipped (built in). */
const WANTED_MODULES = [
  'crct10dif_generic', 'crc64_rocksoft_generic', // crypto providers that crc-t10dif and crc64-rocksoft look up at load time
  'ata_piix', 'sr_mod', 'sd_mod', 'isofs', 'squashfs', 'loop',
];

function onPath(program: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && fs.existsSync(path.join(dir, program)));
}

function run(argv: string[], cwd?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/** Downloads a .deb into the cache (once); returns its path. */
function downloadDeb(pkg: string): string {
  const debs = path.join(CACHE, 'debs');
  fs.mkdirSync(debs, { recursive: true });
  const find = () => fs.readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!find()) run(['apt-get', 'download', pkg], debs);
  const deb = find();
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${debs}`);
  return path.join(debs, deb);
}

/** Unpacks a .deb into the cache (once), keeping only what keep() copies out of the full tree. */
function unpackOnce(pkg: string, keep?: (full: string, kept: string) => void): string {
  const root = path.join(CACHE, pkg);
  if (fs.existsSync(path.join(root, '.complete'))) return root;
  const deb = downloadDeb(pkg);
  const full = keep ? `${root}.unpack` : root;
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(full, { recursive: true, force: true });
  run(['dpkg-deb', '-x', deb, full]);
  if (keep) {
    keep(full, root);
    fs.rmSync(full, { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(root, '.complete'), '');
  return root;
}

/** The kernel and only the modules the initramfs needs: the unpacked package is 400 MB, this is a few. */
function fetchKernel(): string {
  return unpackOnce(kernelPackageName(), (full, kept) => {
    const copy = (rel: string) => {
      fs.mkdirSync(path.dirname(path.join(kept, rel)), { recursive: true });
      fs.copyFileSync(path.join(full, rel), path.join(kept, rel));
    };
    for (const f of fs.readdirSync(path.join(full, 'boot'))) if (f.startsWith('vmlinuz-')) copy(path.join('boot', f));
    for (const release of fs.readdirSync(path.join(full, 'lib', 'modules'))) {
      const dir = path.join(full, 'lib', 'modules', release, 'kernel');
      for (const [, file] of resolveModules(dir, WANTED_MODULES)) copy(path.relative(full, file));
    }
  });
}

/** The kernel package: one already in the cache (so reruns need no apt), else what linux-image-amd64 depends on. */
function kernelPackageName(): string {
  const kernelPkg = /^(linux-image-\d[^_]*-amd64)(_.*\.deb)?$/;
  const cached = fs.existsSync(CACHE) ? fs.readdirSync(CACHE).find((d) => kernelPkg.test(d) && fs.existsSync(path.join(CACHE, d, '.complete'))) : undefined;
  if (cached) return cached;
  const debs = path.join(CACHE, 'debs');
  const deb = fs.existsSync(debs) ? fs.readdirSync(debs).find((f) => kernelPkg.test(f)) : undefined;
  if (deb) return kernelPkg.exec(deb)![1]!;
  const out = run(['apt-cache', 'depends', 'linux-image-amd64']);
  const name = /Depends:\s*(linux-image-[0-9][^\s]*-amd64)/.exec(out)?.[1];
  if (!name) throw new Error(`apt-cache depends linux-image-amd64 names no kernel package:\n${out}`);
  return name;
}

/** Reads the depends= field of a module's .modinfo section. */
function moduleDepends(ko: Buffer): string[] {
  const at = ko.indexOf('\0depends=');
  if (at < 0) return [];
  const end = ko.indexOf(0, at + 1);
  return ko.subarray(at + '\0depends='.length, end).toString('latin1').split(',').filter(Boolean);
}

/** The modules to insmod, dependencies first, as [name, file]. */
function resolveModules(modulesDir: string, wanted: readonly string[]): [string, string][] {
  const index = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) index.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  walk(modulesDir);
  const order: [string, string][] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    const key = name.replace(/-/g, '_');
    if (seen.has(key)) return;
    seen.add(key);
    const file = index.get(key);
    if (!file) return; // built into the kernel
    for (const dep of moduleDepends(fs.readFileSync(file))) visit(dep);
    order.push([key, file]);
  };
  wanted.forEach(visit);
  return order;
}

const INIT = (modules: string[], nonce: string) => `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "TINY-BOOT-FAIL: $*"; dmesg | tail -n 25; poweroff -f; }
for m in ${modules.join(' ')}; do insmod /lib/modules/$m.ko || echo "insmod $m failed"; done
echo "CMDLINE: $(cat /proc/cmdline)"
dev=
i=0
while [ -z "$dev" ] && [ $i -lt 150 ]; do
  for d in /dev/sr0 /dev/sda; do
    [ -b $d ] && mount -t iso9660 -o ro $d /cdrom 2>/dev/null && dev=$d && break
  done
  [ -n "$dev" ] || { sleep 0.1; i=$((i+1)); }
done
[ -n "$dev" ] || fail "no ISO 9660 medium on /dev/sr0 or /dev/sda"
echo "MEDIUM: $dev"
mount -t squashfs -o ro,loop /cdrom/live/filesystem.squashfs /squash || fail "cannot mount the squashfs"
echo "MARKER: $(cat /squash/marker) ${nonce}"
poweroff -f
`;

function makeInitramfs(busybox: string, modules: [string, string][], nonce: string): Buffer {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'cdrom', 'squash', 'lib', 'lib/modules'];
  const entries: CpioEntry[] = [
    ...dirs.map((d): CpioEntry => ({ type: 'dir', path: d })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: fs.readFileSync(busybox), mode: 0o755 },
    { type: 'file', path: 'init', data: INIT(modules.map(([name]) => name), nonce), mode: 0o755 },
    ...modules.map(([name, file]): CpioEntry => ({ type: 'file', path: `lib/modules/${name}.ko`, data: fs.readFileSync(file) })),
  ];
  return zlib.gzipSync(writeNewc(entries));
}

function stepContext(config: BuildConfig, paths: WorkPaths): StepContext {
  return {
    config,
    paths,
    runner: new ExecaRunner(),
    log: { info: () => {}, line: () => {} },
    signal: new AbortController().signal,
    layers: { own: null, below: [], mountPoint: '/nonexistent' },
    ledger: {},
    sourceDateEpoch: null,
    cores: 2,
    toolVersion: 'test',
  };
}

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
  const state: { exitMs: number | null; exitCode: number | null; markerMs: number | null } = { exitMs: null, exitCode: null, markerMs: null };
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
  // qemu may have exited between two polls: the marker is then no later than the exit
  if (state.markerMs === null && marker.test(read())) state.markerMs = state.exitMs ?? elapsed();
  // give poweroff a moment, then end what we started, by its own pid
  if (state.exitMs === null) await Promise.race([exited, sleep(5000)]);
  if (state.exitMs === null) {
    qemu.kill('SIGTERM');
    await Promise.race([exited, sleep(3000)]);
    if (state.exitMs === null) qemu.kill('SIGKILL');
    await exited;
  }
  const log = read();
  return { log: stderr ? `${log}\n--- qemu stderr ---\n${stderr}` : log, markerMs: state.markerMs, exitMs: state.exitMs, exitCode: state.exitCode };
}

const qemuMissing = !onPath('qemu-system-x86_64') ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)' : null;

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
    fs.writeFileSync(path.join(live, 'initrd.img'), makeInitramfs(path.join(busyboxRoot, 'bin', 'busybox'), modules, nonce));
    timings['tree: squashfs, kernel, initramfs'] = performance.now() - t1;

    const base = loadConfig({ profile: 'minimal' }).config;
    const config: BuildConfig = { ...base, iso: { ...base.iso, serialConsole: true, menuTimeout: 1 } };
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
    it(`boots ${c.name} to the squashfs marker and powers off`, async (t) => {
      if (skipReason) t.skip(skipReason);
      if (c.uefi && !fs.existsSync(OVMF)) t.skip(`${OVMF} is missing (apt-get install ovmf)`);
      const logFile = path.join(tmp, `serial-${c.media}-${c.uefi ? 'uefi' : 'bios'}.log`);
      const media =
        c.media === 'cd' ? ['-cdrom', iso, '-boot', 'd'] : ['-drive', `file=${iso},format=raw,if=ide,snapshot=on`, '-boot', 'c'];
      const argv = [
        'qemu-system-x86_64', '-m', '512', '-display', 'none', '-monitor', 'none', '-serial', `file:${logFile}`,
        '-no-reboot', '-net', 'none', ...media, ...(c.uefi ? ['-bios', OVMF] : []),
      ];
      const result = await bootIso(argv, logFile, new RegExp(`MARKER: ailinux-squashfs-marker ${nonce}`));
      if (result.markerMs !== null) timings[`qemu ${c.name}: marker`] = result.markerMs;
      if (result.exitMs !== null) timings[`qemu ${c.name}: powered off`] = result.exitMs;
      const tail = result.log.slice(-3000);
      expect(result.markerMs, `no marker within ${BOOT_TIMEOUT_MS / 1000} s; serial log tail:\n${tail}`).not.toBeNull();
      // GRUB drew our menu on the serial line and booted its first entry with our arguments
      expect(result.log).toContain('minimal live (safe graphics)');
      expect(result.log).toMatch(/CMDLINE: .*boot=live console=tty0 console=ttyS0,115200n8/);
      expect(result.log).toContain(`MEDIUM: ${c.media === 'cd' ? '/dev/sr0' : '/dev/sda'}`);
      expect(result.exitCode, `qemu did not power off by itself; serial log tail:\n${tail}`).toBe(0);
    });
  }
});
