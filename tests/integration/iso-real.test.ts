/**
 * bootloadersStep + isoStep with the real tools (grub-mkimage, mkfs.vfat, mtools, xorriso) on a
 * tiny tree: the El Torito entries, the hybrid MBR and GPT, the files, the ESP inside the image,
 * reproducibility under SOURCE_DATE_EPOCH, and undo.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import { workPaths } from '../../src/runtime/paths.js';
import { bootloadersStep, renderGrubConfig } from '../../src/steps/bootloaders.js';
import { HYBRID_MBR, isoStep } from '../../src/steps/iso.js';
import { ESP_TYPE_GUID, parseElToritoReport, parseSystemAreaReport } from '../../src/verify/xorriso-reports.js';
import type { StepContext } from '../../src/steps/types.js';
import { layerlessContext } from '../helpers/step-context.js';

const runner = new ExecaRunner();
const timings: string[] = [];
let tmp = '';

function tool(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/** stdout and stderr together: xorriso reports the volume id on stderr and the rest on stdout. */
async function report(iso: string): Promise<string> {
  const r = await runner.run(['xorriso', '-indev', iso, '-report_el_torito', 'plain', '-report_system_area', 'plain']);
  return `${r.stdout}\n${r.stderr}`;
}

async function isoFilesList(iso: string): Promise<string[]> {
  const r = await runner.run(['xorriso', '-indev', iso, '-find', '/', '-type', 'f']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^'|'$/g, ''));
}

async function extract(iso: string, inIso: string, out: string): Promise<Buffer> {
  await runner.run(['xorriso', '-osirrox', 'on', '-indev', iso, '-extract', inIso, out]);
  return fs.readFileSync(out);
}

function config(iso: Partial<BuildConfig['iso']> = {}): BuildConfig {
  const base = loadConfig({ profile: 'minimal' }).config;
  return { ...base, iso: { ...base.iso, ...iso } };
}

function context(cfg: BuildConfig, workDir: string, sourceDateEpoch: number | null = null): StepContext {
  return layerlessContext(cfg, workPaths(workDir), runner, sourceDateEpoch);
}

/** What the squashfs step leaves: /live with a real (tiny) squashfs, and a dummy kernel and initrd. */
function makeLiveTree(workDir: string, mtime: number): void {
  const live = path.join(workDir, 'iso', 'live');
  fs.mkdirSync(live, { recursive: true });
  const rootfs = path.join(workDir, 'rootfs-src');
  fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'etc', 'hostname'), 'tiny\n');
  fs.writeFileSync(path.join(rootfs, 'marker'), 'inside the squashfs\n');
  tool([
    'mksquashfs',
    rootfs,
    path.join(live, 'filesystem.squashfs'),
    '-noappend',
    '-comp',
    'zstd',
    '-quiet',
    '-mkfs-time',
    '0',
    '-all-time',
    '0',
  ]);
  fs.writeFileSync(path.join(live, 'vmlinuz'), 'not a kernel');
  fs.writeFileSync(path.join(live, 'initrd.img'), 'not an initrd');
  for (const f of fs.readdirSync(live)) fs.utimesSync(path.join(live, f), mtime, mtime);
}

async function build(name: string, cfg: BuildConfig, sourceDateEpoch: number | null = null, mtime = Date.now() / 1000) {
  const workDir = path.join(tmp, name);
  makeLiveTree(workDir, mtime);
  const ctx = context(cfg, workDir, sourceDateEpoch);
  let t = performance.now();
  await bootloadersStep.run(ctx);
  await bootloadersStep.verify(ctx);
  const bootMs = performance.now() - t;
  t = performance.now();
  const [artifact] = await isoStep.run(ctx);
  const isoMs = performance.now() - t;
  t = performance.now();
  await isoStep.verify(ctx);
  timings.push(
    `${name}: bootloaders ${bootMs.toFixed(0)} ms, xorriso ${isoMs.toFixed(0)} ms, verify ${(performance.now() - t).toFixed(0)} ms`,
  );
  return { ctx, workDir, iso: path.join(workDir, artifact!.path), artifact: artifact! };
}

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-iso-real-')));
});

afterAll(() => {
  if (timings.length > 0) console.log(`iso-real timings:\n  ${timings.join('\n  ')}`);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('real bootloaders + iso steps', () => {
  it('BIOS + UEFI: both El Torito entries, GRUB hybrid MBR, GPT with the ESP, the live files', async () => {
    const cfg = config();
    const { iso, workDir, artifact } = await build('bios-uefi', cfg);
    expect(artifact.size).toBe(fs.statSync(iso).size);
    expect(fs.existsSync(`${iso}.partial`)).toBe(false);

    const text = await report(iso);
    const torito = parseElToritoReport(text);
    expect(torito).toMatchObject({
      bios: true,
      uefi: true,
      volumeId: 'AILINUX_MINIMAL',
      catalogPath: '/boot/grub/boot.cat',
    });
    expect(torito.entries[0]).toMatchObject({
      platform: 'BIOS',
      path: '/boot/grub/bios.img',
      options: ['boot-info-table', 'grub2-boot-info'],
    });
    expect(text).toMatch(/^System area summary: .*grub2-mbr.*GPT/m);
    expect(text).toMatch(/^MBR partition\s*:\s+1\s+0x00\s+0xee/m);
    const area = parseSystemAreaReport(text);
    const esp = area.gptPartitions.find((p) => p.typeGuid === ESP_TYPE_GUID);
    expect(esp, text).toBeDefined();

    const files = await isoFilesList(iso);
    for (const f of [
      '/live/filesystem.squashfs',
      '/live/vmlinuz',
      '/live/initrd.img',
      '/boot/grub/grub.cfg',
      '/boot/grub/bios.img',
      '/EFI/BOOT/BOOTX64.EFI',
      '/.disk/info',
    ]) {
      expect(files).toContain(f);
    }
    expect(files, 'the ESP image is stored once, as the appended partition').not.toContain('/boot/grub/efi.img');
    expect((await extract(iso, '/boot/grub/grub.cfg', path.join(tmp, 'grub.cfg'))).toString()).toBe(
      renderGrubConfig(cfg),
    );
    const squash = await extract(iso, '/live/filesystem.squashfs', path.join(tmp, 'fs.squashfs'));
    expect(squash.subarray(0, 4).toString('latin1')).toBe('hsqs');

    // the MBR is GRUB's hybrid boot code, patched to load the core just past cdboot.img (4 sectors in)
    const image = fs.readFileSync(iso);
    expect(image.subarray(0, 432).equals(fs.readFileSync(HYBRID_MBR).subarray(0, 432))).toBe(true);
    expect(Number(image.readBigUInt64LE(0x1b0))).toBe(torito.entries[0]!.lba * 4 + 4);
    expect(image.readUInt16BE(510)).toBe(0x55aa);

    // the appended partition is a FAT ESP holding the same BOOTX64.EFI as the tree
    const offset = esp!.start * 512;
    const out = path.join(tmp, 'BOOTX64.from-esp');
    await runner.run(['mcopy', '-n', '-i', `${iso}@@${offset}`, '::/EFI/BOOT/BOOTX64.EFI', out], {
      env: { MTOOLS_SKIP_CHECK: '1' },
    });
    expect(fs.readFileSync(out).equals(fs.readFileSync(path.join(workDir, 'iso/EFI/BOOT/BOOTX64.EFI')))).toBe(true);
  });

  it('BIOS only: one BIOS entry, an MBR partition, no GPT and no EFI files', async () => {
    const { iso } = await build('bios-only', config({ uefi: false }));
    const text = await report(iso);
    expect(parseElToritoReport(text)).toMatchObject({ bios: true, uefi: false });
    expect(text).toMatch(/^MBR partition\s*:\s+1\s+0x80\s+0xcd/m);
    expect(text).toMatch(/^System area summary: .*grub2-mbr/m);
    expect(parseSystemAreaReport(text).gpt).toBe(false);
    const files = await isoFilesList(iso);
    expect(files).toContain('/boot/grub/bios.img');
    expect(files.filter((f) => /EFI|efi\.img/.test(f))).toEqual([]);
  });

  it('UEFI only: one UEFI entry, protective MBR and GPT with the ESP, no BIOS core', async () => {
    const { iso } = await build('uefi-only', config({ bios: false }));
    const text = await report(iso);
    expect(parseElToritoReport(text)).toMatchObject({ bios: false, uefi: true });
    expect(text).toMatch(/^MBR partition\s*:\s+1\s+0x00\s+0xee/m);
    expect(text).not.toMatch(/grub2-mbr/);
    expect(parseSystemAreaReport(text)).toMatchObject({ gpt: true, esp: true });
    const files = await isoFilesList(iso);
    expect(files).toContain('/EFI/BOOT/BOOTX64.EFI');
    expect(files).not.toContain('/boot/grub/bios.img');
  });

  it('with SOURCE_DATE_EPOCH, two builds in different dirs, at different times, are byte-identical', async () => {
    const epoch = 1_700_000_000;
    const a = await build('repro-a', config(), epoch, 1_750_000_000);
    await new Promise((r) => setTimeout(r, 2100)); // past the FAT 2-second and ISO 1-second clocks
    const b = await build('repro-b', config(), epoch, 1_760_000_000);
    expect(b.artifact.size).toBe(a.artifact.size);
    expect(b.artifact.sha256).toBe(a.artifact.sha256);
    for (const f of ['boot/grub/bios.img', 'boot/grub/efi.img', 'EFI/BOOT/BOOTX64.EFI']) {
      expect(
        fs.readFileSync(path.join(b.workDir, 'iso', f)).equals(fs.readFileSync(path.join(a.workDir, 'iso', f))),
        f,
      ).toBe(true);
    }
    // and the comparison can fail: without the epoch xorriso picks fresh dates and GPT GUIDs
    const c = await build('unpinned-c', config());
    const d = await build('unpinned-d', config());
    expect(d.artifact.sha256).not.toBe(c.artifact.sha256);
  });

  it('undo of both steps leaves only what the squashfs step made', async () => {
    const { ctx, workDir } = await build('undo', config());
    await isoStep.undo(ctx);
    await bootloadersStep.undo(ctx);
    expect(fs.readdirSync(path.join(workDir, 'iso'))).toEqual(['live']);
    expect(fs.readdirSync(path.join(workDir, 'iso/live')).sort()).toEqual([
      'filesystem.squashfs',
      'initrd.img',
      'vmlinuz',
    ]);
    expect(fs.readdirSync(path.join(workDir, 'output'))).toEqual([]);
  });
});
