/**
 * The parts of the sub-20-second boot tier: a Debian kernel from its .deb and a busybox initramfs
 * that loads the cdrom, isofs, squashfs and loop modules, mounts /live/filesystem.squashfs from the
 * ISO, prints a marker from inside it and powers off. Downloads are cached across runs; no root needed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { BuildConfig } from '../../src/config/schema.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import type { WorkPaths } from '../../src/runtime/paths.js';
import type { StepContext } from '../../src/steps/types.js';
import { writeNewc, type CpioEntry } from './newc-cpio.js';
import { layerlessContext } from './step-context.js';

export const TINY_CACHE = path.join(os.tmpdir(), 'ailinux-boot-tiny-cache');
export const OVMF = '/usr/share/ovmf/OVMF.fd';
/** Modules the initramfs loads, in an order that satisfies their dependencies; missing ones are skipped (built in). */
export const WANTED_MODULES = [
  'crct10dif_generic',
  'crc64_rocksoft_generic', // crypto providers that crc-t10dif and crc64-rocksoft look up at load time
  'ata_piix',
  'sr_mod',
  'sd_mod',
  'isofs',
  'squashfs',
  'loop',
];
/** What the init script prints, before the nonce, once it has read the marker file inside the squashfs. */
export const SQUASHFS_MARKER = 'MARKER: ailinux-squashfs-marker';

export function onPath(program: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && fs.existsSync(path.join(dir, program)));
}

export function run(argv: string[], cwd?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/** Downloads a .deb into the cache (once); returns its path. */
function downloadDeb(pkg: string): string {
  const debs = path.join(TINY_CACHE, 'debs');
  fs.mkdirSync(debs, { recursive: true });
  const find = () => fs.readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!find()) run(['apt-get', 'download', pkg], debs);
  const deb = find();
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${debs}`);
  return path.join(debs, deb);
}

/** Unpacks a .deb into the cache (once), keeping only what keep() copies out of the full tree. */
export function unpackOnce(pkg: string, keep?: (full: string, kept: string) => void): string {
  const root = path.join(TINY_CACHE, pkg);
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
export function fetchKernel(): string {
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
  const cached = fs.existsSync(TINY_CACHE)
    ? fs.readdirSync(TINY_CACHE).find((d) => kernelPkg.test(d) && fs.existsSync(path.join(TINY_CACHE, d, '.complete')))
    : undefined;
  if (cached) return cached;
  const debs = path.join(TINY_CACHE, 'debs');
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
  return ko
    .subarray(at + '\0depends='.length, end)
    .toString('latin1')
    .split(',')
    .filter(Boolean);
}

/** The modules to insmod, dependencies first, as [name, file]. */
export function resolveModules(modulesDir: string, wanted: readonly string[]): [string, string][] {
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

export function makeInitramfs(busybox: string, modules: [string, string][], nonce: string): Buffer {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'cdrom', 'squash', 'lib', 'lib/modules'];
  const entries: CpioEntry[] = [
    ...dirs.map((d): CpioEntry => ({ type: 'dir', path: d })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: fs.readFileSync(busybox), mode: 0o755 },
    {
      type: 'file',
      path: 'init',
      data: INIT(
        modules.map(([name]) => name),
        nonce,
      ),
      mode: 0o755,
    },
    ...modules.map(
      ([name, file]): CpioEntry => ({ type: 'file', path: `lib/modules/${name}.ko`, data: fs.readFileSync(file) }),
    ),
  ];
  return zlib.gzipSync(writeNewc(entries));
}

export interface TinyLiveParts {
  /** The kernel image (bzImage). */
  vmlinuz: string;
  busybox: string;
  modules: [string, string][];
}

/** The kernel, busybox and modules, from the cache or through apt; throws with apt's message when neither works. */
export function fetchTinyLiveParts(): TinyLiveParts {
  const kernelRoot = fetchKernel();
  const busyboxRoot = unpackOnce('busybox-static');
  const vmlinuz = fs.readdirSync(path.join(kernelRoot, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  const release = fs.readdirSync(path.join(kernelRoot, 'lib', 'modules'))[0];
  if (!vmlinuz || !release) throw new Error(`the kernel package in ${kernelRoot} has no vmlinuz or modules`);
  return {
    vmlinuz: path.join(kernelRoot, 'boot', vmlinuz),
    busybox: path.join(busyboxRoot, 'bin', 'busybox'),
    modules: resolveModules(path.join(kernelRoot, 'lib', 'modules', release, 'kernel'), WANTED_MODULES),
  };
}

/** The tiny live parts, or (when apt cannot supply them) why a test that needs them is skipped. */
export function tinyLivePartsOrSkip(): TinyLiveParts | { skip: string } {
  try {
    return fetchTinyLiveParts();
  } catch (error) {
    return {
      skip: `no kernel or busybox could be had through apt (${(error as Error).message.split('\n')[0]}); run apt-get update`,
    };
  }
}

/** The tiny live parts and a fresh tmp dir anyone may read (for runs as nobody), or why the tests that need them are skipped. */
export function tinyLiveSetup(tmpPrefix: string): { parts: TinyLiveParts; tmp: string } | { skip: string } {
  const parts = tinyLivePartsOrSkip();
  if ('skip' in parts) return parts;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  fs.chmodSync(tmp, 0o755);
  return { parts, tmp };
}

/** A StepContext with the real runner, for running real steps on a tmp work dir. */
export function realStepContext(
  config: BuildConfig,
  paths: WorkPaths,
  sourceDateEpoch: number | null = null,
): StepContext {
  return layerlessContext(config, paths, new ExecaRunner(), sourceDateEpoch);
}

export interface TinyIsoOptions {
  /** The work dir to create (its iso/ and output/ are filled). */
  workDir: string;
  parts: TinyLiveParts;
  /** The initramfs, made once with makeInitramfs. */
  initrd: Buffer;
  iso?: Partial<BuildConfig['iso']>;
  /** Leave /live/filesystem.squashfs out. */
  withoutSquashfs?: boolean;
  /** Rewrites the GRUB config the bootloaders step wrote, before the ISO is made. */
  editGrubCfg?: (text: string) => string;
  /** Rewrites the iso step's xorriso argv; the ISO is then made with it instead of by the step. */
  editIsoArgv?: (argv: string[]) => string[];
}

export interface TinyIso {
  iso: string;
  config: BuildConfig;
  ctx: StepContext;
}

/** A tiny real ISO made by the real bootloaders, iso and checksums steps (or xorriso with an edited argv). */
export async function buildTinyIso(o: TinyIsoOptions): Promise<TinyIso> {
  const { loadConfig } = await import('../../src/config/load.js');
  const { workPaths } = await import('../../src/runtime/paths.js');
  const { bootFiles, bootloadersStep } = await import('../../src/steps/bootloaders.js');
  const { isoArgv, isoFiles, isoStep } = await import('../../src/steps/iso.js');
  const { checksumsStep } = await import('../../src/steps/checksums.js');
  const base = loadConfig({ profile: 'minimal' }).config;
  // static verification unless a test boots the ISO itself (the minimal profile boots it by default)
  const config: BuildConfig = {
    ...base,
    // no_timer_check: a starved TCG vCPU (a loaded host) fails the kernel's IO-APIC timer check and panics
    iso: { ...base.iso, serialConsole: true, menuTimeout: 1, kernelArgs: ['no_timer_check'], ...o.iso },
    verify: { ...base.verify, boot: false },
  };
  const paths = workPaths(o.workDir);
  const live = path.join(paths.isoDir, 'live');
  fs.mkdirSync(live, { recursive: true });
  if (!o.withoutSquashfs) {
    const rootfs = path.join(o.workDir, 'rootfs');
    fs.mkdirSync(rootfs, { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'marker'), 'ailinux-squashfs-marker\n');
    run(['mksquashfs', rootfs, path.join(live, 'filesystem.squashfs'), '-noappend', '-comp', 'zstd', '-quiet']);
  }
  fs.copyFileSync(o.parts.vmlinuz, path.join(live, 'vmlinuz'));
  fs.writeFileSync(path.join(live, 'initrd.img'), o.initrd);
  const ctx = realStepContext(config, paths);
  await bootloadersStep.run(ctx);
  if (o.editGrubCfg) {
    const cfg = bootFiles(paths).grubCfg;
    fs.writeFileSync(cfg, o.editGrubCfg(fs.readFileSync(cfg, 'utf8')));
  }
  const out = isoFiles(config, paths);
  if (o.editIsoArgv) {
    fs.mkdirSync(paths.outputDir, { recursive: true });
    await ctx.runner.run(o.editIsoArgv(isoArgv(config, paths, null)));
    fs.renameSync(out.partial, out.iso);
  } else {
    await isoStep.run(ctx);
  }
  await checksumsStep.run(ctx);
  return { iso: out.iso, config, ctx };
}
