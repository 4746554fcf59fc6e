import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import { workPaths } from '../../src/runtime/paths.js';
import { bootloadersStep, espSizeKiB, quoteGrub, renderGrubConfig } from '../../src/steps/bootloaders.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { isoArgv, isoStep, xorrisoTimestamp } from '../../src/steps/iso.js';
import { parseElToritoReport, parseSystemAreaReport } from '../../src/verify/xorriso-reports.js';
import type { StepContext } from '../../src/steps/types.js';
import { layerlessContext, makeWorkDir, removeWorkDir } from '../helpers/step-context.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/xorriso/', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const EPOCH = 1700000000; // 2023-11-14 22:13:20 UTC, 0x6553f100
const EFI_BYTES = 700_000;

const BIOS_MODULES = [
  'normal',
  'configfile',
  'search',
  'search_label',
  'search_fs_uuid',
  'search_fs_file',
  'iso9660',
  'part_msdos',
  'part_gpt',
  'linux',
  'gzio',
  'serial',
  'terminal',
  'echo',
  'test',
  'true',
  'sleep',
  'ls',
  'cat',
  'halt',
  'reboot',
  'biosdisk',
];
const UEFI_MODULES = [...BIOS_MODULES.slice(0, -1), 'fat', 'efi_gop', 'efi_uga', 'all_video'];
/** A profile with the branding step has the graphical menu: these modules join each core built here. */
const GRAPHICAL = ['all_video', 'font', 'gfxterm', 'gfxmenu', 'png', 'jpeg'];
const withGraphical = (modules: string[]) => [...modules, ...GRAPHICAL.filter((m) => !modules.includes(m))];

function minimal(iso: Partial<BuildConfig['iso']> = {}): BuildConfig {
  const base = loadConfig({ profile: 'minimal' }).config;
  return { ...base, iso: { ...base.iso, ...iso } };
}

function ailinux(): BuildConfig {
  return loadConfig({ profile: 'ailinux' }).config;
}

function makeCtx(
  config: BuildConfig,
  workDir: string,
  runner: FakeRunner,
  sourceDateEpoch: number | null = null,
): StepContext {
  return layerlessContext(config, workPaths(workDir), runner, sourceDateEpoch);
}

function optionValue(argv: readonly string[], name: string): string {
  const arg = argv.find((a) => a.startsWith(`${name}=`));
  if (!arg) throw new Error(`${name}= not in ${argv.join(' ')}`);
  return arg.slice(name.length + 1);
}

/** A fake runner whose grub and mkfs commands leave files, as the real ones would; it records each early config. */
function bootRunner(): { runner: FakeRunner; earlyConfigs: string[] } {
  const earlyConfigs: string[] = [];
  const runner = new FakeRunner()
    .on('grub-mkimage', {
      effect: (call: FakeCall) => {
        earlyConfigs.push(fs.readFileSync(optionValue(call.argv, '--config'), 'utf8'));
        const out = optionValue(call.argv, '--output');
        const efi = call.argv.includes('--format=x86_64-efi');
        fs.writeFileSync(
          out,
          Buffer.concat([Buffer.from(efi ? 'MZ' : 'CD'), Buffer.alloc((efi ? EFI_BYTES : 170_000) - 2, 1)]),
        );
      },
    })
    // rsvg-convert renders the menu's background: a PNG of the page size asked for
    .on('rsvg-convert', {
      effect: (call: FakeCall) => {
        const arg = (name: string) => call.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
        fs.writeFileSync(
          arg('output')!,
          solidPng(Number(arg('page-width') ?? arg('width')), Number(arg('page-height') ?? arg('height')), '#10264a'),
        );
      },
    })
    .on('mkfs.vfat', {
      effect: (call: FakeCall) => {
        const kib = Number(call.argv[call.argv.length - 1]);
        const image = Buffer.alloc(kib * 1024);
        image[510] = 0x55;
        image[511] = 0xaa;
        fs.writeFileSync(call.argv[call.argv.length - 2]!, image);
      },
    });
  return { runner, earlyConfigs };
}

function expectedBootArgv(w: string, bios: boolean, uefi: boolean, graphical = false): string[][] {
  const efi = `${w}/iso/EFI/BOOT/BOOTX64.EFI`;
  const esp = `${w}/iso/boot/grub/efi.img`;
  const early = `--config=${w}/tmp/bootloaders/early.cfg`;
  const modules = (list: string[]) => (graphical ? withGraphical(list) : list);
  return [
    ...(bios
      ? [
          [
            'grub-mkimage',
            '--directory=/usr/lib/grub/i386-pc',
            '--format=i386-pc-eltorito',
            `--output=${w}/iso/boot/grub/bios.img`,
            '--prefix=/boot/grub',
            early,
            ...modules(BIOS_MODULES),
          ],
        ]
      : []),
    ...(uefi
      ? [
          [
            'grub-mkimage',
            '--directory=/usr/lib/grub/x86_64-efi',
            '--format=x86_64-efi',
            `--output=${efi}`,
            '--prefix=/boot/grub',
            early,
            ...modules(UEFI_MODULES),
          ],
          ['mkfs.vfat', '-C', '-n', 'EFIBOOT', esp, '1024'],
          ['mmd', '-i', esp, '::/EFI', '::/EFI/BOOT'],
          ['mcopy', '-m', '-i', esp, efi, '::/EFI/BOOT/BOOTX64.EFI'],
        ]
      : []),
    // the 16:9 wallpaper art scaled to cover 1024x768, its middle kept
    ...(graphical
      ? [
          [
            'rsvg-convert',
            '--format=png',
            '--width=1365',
            '--height=768',
            '--page-width=1024',
            '--page-height=768',
            '--left=-170',
            '--top=0',
            `--output=${w}/tmp/bootloaders/art/grub-1024x768.png`,
            path.join(REPO, 'assets/branding/wallpaper.svg'),
          ],
        ]
      : []),
  ];
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function fixture(name: string): { stdout: string; stderr: string } {
  return {
    stdout: fs.readFileSync(path.join(FIXTURES, `${name}.stdout.txt`), 'utf8'),
    stderr: fs.readFileSync(path.join(FIXTURES, `${name}.stderr.txt`), 'utf8'),
  };
}

let work = '';
beforeEach(() => {
  work = makeWorkDir('ailinux-boot-iso-');
});
afterEach(() => removeWorkDir(work));

describe('renderGrubConfig', () => {
  it('renders the minimal profile menu exactly', () => {
    expect(renderGrubConfig(minimal())).toBe(
      [
        '# GRUB menu of the minimal live ISO, written by ailinux',
        'set default=0',
        'set timeout=3',
        'set timeout_style=menu',
        '',
        'serial --unit=0 --speed=115200',
        'terminal_input serial console',
        'terminal_output serial console',
        '',
        "menuentry 'minimal live' {",
        '\tlinux /live/vmlinuz boot=live console=tty0 console=ttyS0,115200n8',
        '\tinitrd /live/initrd.img',
        '}',
        '',
        "menuentry 'minimal live (safe graphics)' {",
        '\tlinux /live/vmlinuz boot=live nomodeset console=tty0 console=ttyS0,115200n8',
        '\tinitrd /live/initrd.img',
        '}',
        '',
        "menuentry 'minimal live (verify checksums)' {",
        '\tlinux /live/vmlinuz boot=live verify-checksums console=tty0 console=ttyS0,115200n8',
        '\tinitrd /live/initrd.img',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('boots casper for the ailinux profile, with its kernel args, an integrity check and no serial console', () => {
    // the title says it: no serial console, the kernel line of a desktop boot
    const cfg = renderGrubConfig({
      ...ailinux(),
      iso: { ...ailinux().iso, serialConsole: false, kernelArgs: ['quiet', 'splash'] },
    });
    expect(cfg).toContain('set timeout=10\n');
    expect(cfg).toContain(
      "menuentry 'ailinux live' {\n\tlinux /casper/vmlinuz boot=casper quiet splash\n\tinitrd /casper/initrd.img\n}",
    );
    expect(cfg).toContain(
      "menuentry 'ailinux live (safe graphics)' {\n\tlinux /casper/vmlinuz boot=casper quiet splash nomodeset\n",
    );
    expect(cfg).toContain(
      "menuentry 'ailinux live (integrity check)' {\n\tlinux /casper/vmlinuz boot=casper quiet splash integrity-check\n",
    );
    expect(cfg).not.toContain('boot=live');
    expect(cfg).not.toContain('verify-checksums');
    // (the graphical menu's terminal_output gfxterm is no serial line)
    expect(cfg).not.toMatch(/^serial|terminal_input|serial console|gfxterm serial|console=ttyS0/m);
  });

  it('adds the serial lines only when serialConsole is on', () => {
    const off = renderGrubConfig(minimal({ serialConsole: false }));
    expect(off).not.toContain('serial --unit=0');
    expect(off).not.toContain('console=');
    const on = renderGrubConfig(minimal({ serialConsole: true }));
    for (const line of [
      'serial --unit=0 --speed=115200',
      'terminal_input serial console',
      'terminal_output serial console',
    ]) {
      expect(on.split('\n')).toContain(line);
    }
  });

  it('quotes names GRUB would otherwise expand or split', () => {
    expect(quoteGrub(`it's $x`)).toBe(`'it'\\''s $x'`);
    const cfg = renderGrubConfig({ ...minimal(), name: `bob's $HOME\nx` });
    expect(cfg).toContain(`menuentry 'bob'\\''s $HOME x live' {`);
  });
});

describe('bootloadersStep.run', () => {
  const variants = [
    {
      name: '(a) minimal profile, BIOS + UEFI',
      config: () => minimal(),
      bios: true,
      uefi: true,
      label: 'AILINUX_MINIMAL',
    },
    {
      name: '(b) BIOS only',
      config: () => minimal({ uefi: false }),
      bios: true,
      uefi: false,
      label: 'AILINUX_MINIMAL',
    },
    {
      name: '(c) UEFI only',
      config: () => minimal({ bios: false }),
      bios: false,
      uefi: true,
      label: 'AILINUX_MINIMAL',
    },
    // the ailinux profile boots UEFI through the signed shim by default: that variant is in steps-ailinux-bootloaders.test.ts
    {
      name: '(d) ailinux profile (casper), Secure Boot off',
      config: () => ({ ...ailinux(), iso: { ...ailinux().iso, secureBoot: false } }),
      bios: true,
      uefi: true,
      label: 'AILINUX_2404',
      graphical: true,
    },
  ];

  for (const v of variants) {
    it(`sends the exact commands for ${v.name} and writes its files`, async () => {
      const { runner, earlyConfigs } = bootRunner();
      const config = v.config();
      const ctx = makeCtx(config, work, runner);
      const artifacts = await bootloadersStep.run(ctx);

      expect(runner.calls.map((c) => c.argv)).toEqual(expectedBootArgv(work, v.bios, v.uefi, v.graphical));
      // rsvg-convert (the menu's background) is not a GRUB or FAT tool: it gets no environment of its own
      for (const call of runner.calls.filter((c) => c.argv[0] !== 'rsvg-convert')) {
        expect(call.options.env).toEqual(['mmd', 'mcopy'].includes(call.argv[0]!) ? { MTOOLS_SKIP_CHECK: '1' } : {});
      }
      // every core finds the ISO by its label, then reads the ISO's menu
      expect(earlyConfigs).toHaveLength(Number(v.bios) + Number(v.uefi));
      for (const early of earlyConfigs) {
        expect(early).toBe(
          `search --no-floppy --set=root --label '${v.label}'\nset prefix=($root)/boot/grub\nconfigfile /boot/grub/grub.cfg\n`,
        );
      }

      const iso = path.join(work, 'iso');
      expect(fs.readFileSync(path.join(iso, 'boot/grub/grub.cfg'), 'utf8')).toBe(renderGrubConfig(config));
      const info = fs.readFileSync(path.join(iso, '.disk/info'), 'utf8');
      expect(info).toMatch(new RegExp(`^${config.name} live - .+\\(amd64\\)\\n$`));
      expect(fs.existsSync(path.join(iso, 'boot/grub/bios.img'))).toBe(v.bios);
      expect(fs.existsSync(path.join(iso, 'EFI/BOOT/BOOTX64.EFI'))).toBe(v.uefi);
      expect(fs.existsSync(path.join(iso, 'boot/grub/efi.img'))).toBe(v.uefi);
      expect(fs.existsSync(path.join(work, 'tmp/bootloaders')), 'temporary files are cleaned up').toBe(false);

      const theme = 'iso/boot/grub/themes/ailinux';
      const expectedPaths = [
        'iso/boot/grub/grub.cfg',
        'iso/.disk/info',
        ...(v.bios ? ['iso/boot/grub/bios.img'] : []),
        ...(v.uefi ? ['iso/EFI/BOOT/BOOTX64.EFI', 'iso/boot/grub/efi.img'] : []),
        ...(v.graphical ? ['iso/boot/grub/fonts/unicode.pf2', `${theme}/background.png`, `${theme}/theme.txt`] : []),
      ];
      expect(artifacts.map((a) => a.path)).toEqual(expectedPaths);
      for (const a of artifacts) {
        const file = path.join(work, a.path);
        expect(a).toEqual({ path: a.path, kind: 'file', size: fs.statSync(file).size, sha256: sha256(file) });
      }
      await expect(bootloadersStep.verify(ctx)).resolves.toBeUndefined();
    });
  }

  it('passes SOURCE_DATE_EPOCH to grub and mtools, and makes the FAT volume id and dates invariant', async () => {
    const { runner } = bootRunner();
    await bootloadersStep.run(makeCtx(minimal(), work, runner, EPOCH));
    const esp = `${work}/iso/boot/grub/efi.img`;
    expect(runner.calls.find((c) => c.argv[0] === 'mkfs.vfat')!.argv).toEqual([
      'mkfs.vfat',
      '-C',
      '-n',
      'EFIBOOT',
      '--invariant',
      '-i',
      '6553f100',
      esp,
      '1024',
    ]);
    for (const call of runner.calls) {
      expect(call.options.env?.['SOURCE_DATE_EPOCH'], call.argv[0]).toBe(String(EPOCH));
    }
    expect(runner.calls.filter((c) => c.options.env?.['MTOOLS_SKIP_CHECK'] === '1').map((c) => c.argv[0])).toEqual([
      'mmd',
      'mcopy',
    ]);
    // mcopy -m keeps this mtime inside the FAT image
    expect(fs.statSync(path.join(work, 'iso/EFI/BOOT/BOOTX64.EFI')).mtimeMs).toBe(EPOCH * 1000);
  });

  it('sizes the ESP from the EFI binary', () => {
    expect(espSizeKiB(700_000)).toBe(1024);
    for (const bytes of [1, 700_000, 1_200_000, 4_000_000, 30_000_000]) {
      const kib = espSizeKiB(bytes);
      expect(kib % 512, String(bytes)).toBe(0);
      // room for the FAT tables and directories on top of the file
      expect(kib * 1024 - bytes, String(bytes)).toBeGreaterThanOrEqual(256 * 1024);
      expect(kib * 1024 - bytes, String(bytes)).toBeLessThan(1024 * 1024);
    }
  });

  it('refuses a config with neither BIOS nor UEFI, before running anything', async () => {
    const runner = new FakeRunner();
    const run = bootloadersStep.run(makeCtx(minimal({ bios: false, uefi: false }), work, runner));
    await expect(run).rejects.toBeInstanceOf(StepError);
    await expect(run).rejects.toThrow(/iso.bios and iso.uefi are both false/);
    expect(runner.calls).toEqual([]);
  });

  it('fails with the command error when grub-mkimage fails, and leaves no temporary files', async () => {
    const runner = new FakeRunner().on('grub-mkimage', {
      exitCode: 1,
      stderr: 'grub-mkimage: error: cannot open moddep.lst',
    });
    await expect(bootloadersStep.run(makeCtx(minimal(), work, runner))).rejects.toThrow(
      /grub-mkimage exited with code 1/,
    );
    expect(fs.existsSync(path.join(work, 'tmp/bootloaders'))).toBe(false);
  });

  it('rerunning after a BIOS + UEFI run as BIOS only leaves no stale UEFI files', async () => {
    await bootloadersStep.run(makeCtx(minimal(), work, bootRunner().runner));
    await bootloadersStep.run(makeCtx(minimal({ uefi: false }), work, bootRunner().runner));
    expect(fs.existsSync(path.join(work, 'iso/boot/grub/efi.img'))).toBe(false);
    expect(fs.existsSync(path.join(work, 'iso/EFI'))).toBe(false);
  });
});

describe('bootloadersStep.verify and undo', () => {
  it('verify fails when a boot file is empty or missing', async () => {
    const ctx = makeCtx(minimal(), work, bootRunner().runner);
    await bootloadersStep.run(ctx);
    fs.truncateSync(path.join(work, 'iso/boot/grub/bios.img'), 0);
    await expect(bootloadersStep.verify(ctx)).rejects.toThrow(/bios\.img is missing or empty/);
    fs.rmSync(path.join(work, 'iso/boot/grub/bios.img'));
    await expect(bootloadersStep.verify(ctx)).rejects.toThrow(/bios\.img is missing or empty/);
  });

  it('verify checks that the ESP is a FAT image', async () => {
    const ctx = makeCtx(minimal(), work, bootRunner().runner);
    await bootloadersStep.run(ctx);
    fs.writeFileSync(path.join(work, 'iso/boot/grub/efi.img'), Buffer.alloc(4096));
    await expect(bootloadersStep.verify(ctx)).rejects.toThrow(/efi\.img is not a FAT image/);
  });

  it('undo removes exactly what run wrote, and is idempotent', async () => {
    const ctx = makeCtx(minimal(), work, bootRunner().runner);
    const others = [
      'iso/live/filesystem.squashfs',
      'iso/live/vmlinuz',
      'iso/.disk/casper-uuid',
      'iso/boot/memtest86+.bin',
      'tmp/squashfs/x',
      'output/old.iso',
    ];
    for (const rel of others) {
      fs.mkdirSync(path.dirname(path.join(work, rel)), { recursive: true });
      fs.writeFileSync(path.join(work, rel), rel);
    }
    await bootloadersStep.run(ctx);
    fs.mkdirSync(path.join(work, 'tmp/bootloaders'), { recursive: true }); // as an interrupted run would leave it
    await bootloadersStep.undo(ctx);
    for (const gone of ['iso/boot/grub', 'iso/EFI', 'iso/.disk/info', 'tmp/bootloaders']) {
      expect(fs.existsSync(path.join(work, gone)), gone).toBe(false);
    }
    for (const rel of others) expect(fs.readFileSync(path.join(work, rel), 'utf8')).toBe(rel);
    await expect(bootloadersStep.undo(ctx)).resolves.toBeUndefined();
  });

  it('undo removes the boot and .disk dirs it created when nothing else is in them', async () => {
    const ctx = makeCtx(minimal(), work, bootRunner().runner);
    fs.mkdirSync(path.join(work, 'iso/live'), { recursive: true });
    await bootloadersStep.run(ctx);
    await bootloadersStep.undo(ctx);
    expect(fs.readdirSync(path.join(work, 'iso'))).toEqual(['live']);
  });
});

describe('isoArgv', () => {
  const common = (w: string) => [
    'xorriso',
    '-as',
    'mkisofs',
    '-iso-level',
    '3',
    '-rational-rock',
    '-joliet',
    '-joliet-long',
    '-volid',
    'AILINUX_MINIMAL',
    '-output',
    `${w}/output/ailinux-minimal-amd64.iso.partial`,
  ];

  it('BIOS + UEFI: hybrid MBR, GPT with the appended ESP, two El Torito entries', () => {
    expect(isoArgv(minimal(), workPaths(work), null)).toEqual([
      ...common(work),
      '-partition_offset',
      '16',
      '--grub2-mbr',
      '/usr/lib/grub/i386-pc/boot_hybrid.img',
      '--mbr-force-bootable',
      '-append_partition',
      '2',
      '0xef',
      `${work}/iso/boot/grub/efi.img`,
      '-appended_part_as_gpt',
      '-eltorito-catalog',
      'boot/grub/boot.cat',
      '-b',
      'boot/grub/bios.img',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '--grub2-boot-info',
      '-eltorito-alt-boot',
      '-e',
      '--interval:appended_partition_2:all::',
      '-no-emul-boot',
      '-m',
      `${work}/iso/boot/grub/efi.img`,
      `${work}/iso`,
    ]);
  });

  it('BIOS only: no ESP, no EFI entry', () => {
    expect(isoArgv(minimal({ uefi: false }), workPaths(work), null)).toEqual([
      ...common(work),
      '-partition_offset',
      '16',
      '--grub2-mbr',
      '/usr/lib/grub/i386-pc/boot_hybrid.img',
      '--mbr-force-bootable',
      '-eltorito-catalog',
      'boot/grub/boot.cat',
      '-b',
      'boot/grub/bios.img',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '--grub2-boot-info',
      `${work}/iso`,
    ]);
  });

  it('UEFI only: no GRUB MBR, the EFI entry first', () => {
    expect(isoArgv(minimal({ bios: false }), workPaths(work), null)).toEqual([
      ...common(work),
      '-partition_offset',
      '16',
      '-append_partition',
      '2',
      '0xef',
      `${work}/iso/boot/grub/efi.img`,
      '-appended_part_as_gpt',
      '-eltorito-catalog',
      'boot/grub/boot.cat',
      '-e',
      '--interval:appended_partition_2:all::',
      '-no-emul-boot',
      '-m',
      `${work}/iso/boot/grub/efi.img`,
      `${work}/iso`,
    ]);
  });

  it('the ailinux profile names its own volume and output', () => {
    const argv = isoArgv(ailinux(), workPaths(work), null);
    expect(argv.slice(8, 12)).toEqual([
      '-volid',
      'AILINUX_2404',
      '-output',
      `${work}/output/ailinux-24.04-amd64.iso.partial`,
    ]);
    expect(argv).toContain('--grub2-boot-info');
    expect(argv).toContain('--interval:appended_partition_2:all::');
  });

  it('with SOURCE_DATE_EPOCH: fixed volume dates, file dates and GPT GUIDs', () => {
    expect(xorrisoTimestamp(EPOCH)).toBe('2023111422132000');
    const argv = isoArgv(minimal(), workPaths(work), EPOCH);
    expect(argv.slice(12, 17)).toEqual([
      '--modification-date=2023111422132000',
      '--set_all_file_dates',
      '2023111422132000',
      '--gpt_disk_guid',
      'modification-date',
    ]);
    expect(isoArgv(minimal(), workPaths(work), null).some((a) => a.includes('2023'))).toBe(false);
  });
});

describe('parseElToritoReport and parseSystemAreaReport on real xorriso output', () => {
  const read = (name: string) => {
    const f = fixture(name);
    return `${f.stdout}\n${f.stderr}`;
  };

  it('BIOS + UEFI', () => {
    const r = parseElToritoReport(read('bios-uefi'));
    expect(r).toMatchObject({
      bios: true,
      uefi: true,
      volumeId: 'AILINUX_MINIMAL',
      catalogPath: '/boot/grub/boot.cat',
    });
    expect(r.entries.map((e) => [e.index, e.platform, e.bootable, e.emulation])).toEqual([
      [1, 'BIOS', true, 'none'],
      [2, 'UEFI', true, 'none'],
    ]);
    expect(r.entries[0]).toMatchObject({
      loadSize: 4,
      path: '/boot/grub/bios.img',
      options: ['boot-info-table', 'grub2-boot-info'],
    });
    expect(r.entries[1]!.path).toBeNull();
    const area = parseSystemAreaReport(read('bios-uefi'));
    expect(area.summary).toMatch(/grub2-mbr/);
    expect(area).toMatchObject({ gpt: true, esp: true });
    expect(area.mbrPartitions[0]).toMatchObject({ index: 1, type: '0xee' });
    expect(area.gptPartitions.map((p) => p.name)).toEqual(['ISO9660', 'Appended2', 'Gap1']);
  });

  it('BIOS only', () => {
    expect(parseElToritoReport(read('bios-only'))).toMatchObject({ bios: true, uefi: false });
    const area = parseSystemAreaReport(read('bios-only'));
    expect(area).toMatchObject({ gpt: false, esp: false, gptPartitions: [] });
    expect(area.mbrPartitions).toEqual([{ index: 1, status: '0x80', type: '0xcd', start: 64, blocks: 1160 }]);
  });

  it('UEFI only', () => {
    const r = parseElToritoReport(read('uefi-only'));
    expect(r).toMatchObject({ bios: false, uefi: true });
    expect(r.entries).toHaveLength(1);
    const area = parseSystemAreaReport(read('uefi-only'));
    expect(area.summary).not.toMatch(/grub2-mbr/);
    expect(area).toMatchObject({ gpt: true, esp: true });
  });

  it('an image without El Torito', () => {
    expect(parseElToritoReport("Volume id    : 'X'\nBoot record  : (none)\n")).toEqual({
      bios: false,
      uefi: false,
      volumeId: 'X',
      catalogPath: null,
      entries: [],
    });
  });
});

describe('isoStep', () => {
  function prepareTree(config: BuildConfig): void {
    const grub = path.join(work, 'iso/boot/grub');
    fs.mkdirSync(grub, { recursive: true });
    fs.writeFileSync(path.join(grub, 'grub.cfg'), 'menu');
    if (config.iso.bios) fs.writeFileSync(path.join(grub, 'bios.img'), 'core');
    if (config.iso.uefi) fs.writeFileSync(path.join(grub, 'efi.img'), 'fat');
  }

  function xorrisoRunner(report: string, mkisofs: { exitCode?: number } = {}): FakeRunner {
    return new FakeRunner()
      .on(['xorriso', '-as', 'mkisofs'], {
        ...mkisofs,
        ...(mkisofs.exitCode ? { stderr: 'libburn: FAILURE : write error' } : {}),
        effect: (call) => fs.writeFileSync(call.argv[call.argv.indexOf('-output') + 1]!, 'ISO IMAGE'),
      })
      .on(['xorriso', '-indev'], fixture(report));
  }

  it('writes the .partial, renames it to the .iso only after xorriso succeeded, and verifies it', async () => {
    const config = minimal();
    prepareTree(config);
    const runner = xorrisoRunner('bios-uefi');
    const ctx = makeCtx(config, work, runner, EPOCH);
    const [artifact] = await isoStep.run(ctx);
    const iso = path.join(work, 'output/ailinux-minimal-amd64.iso');
    expect(runner.calls[0]!.argv).toEqual(isoArgv(config, ctx.paths, EPOCH));
    expect(runner.calls[0]!.options.env).toEqual({ SOURCE_DATE_EPOCH: String(EPOCH) });
    expect(fs.readFileSync(iso, 'utf8')).toBe('ISO IMAGE');
    expect(fs.existsSync(`${iso}.partial`)).toBe(false);
    expect(artifact).toEqual({ path: 'output/ailinux-minimal-amd64.iso', kind: 'file', size: 9, sha256: sha256(iso) });

    await isoStep.verify(ctx);
    expect(runner.calls[1]!.argv).toEqual([
      'xorriso',
      '-indev',
      iso,
      '-report_el_torito',
      'plain',
      '-report_system_area',
      'plain',
    ]);
  });

  it('leaves neither .iso nor .partial when xorriso fails', async () => {
    const config = minimal();
    prepareTree(config);
    const ctx = makeCtx(config, work, xorrisoRunner('bios-uefi', { exitCode: 5 }));
    await expect(isoStep.run(ctx)).rejects.toThrow(/xorriso exited with code 5/);
    expect(fs.readdirSync(path.join(work, 'output'))).toEqual([]);
  });

  it('refuses to run without the boot images the config asks for', async () => {
    const config = minimal();
    prepareTree(minimal({ uefi: false }));
    const runner = xorrisoRunner('bios-uefi');
    await expect(isoStep.run(makeCtx(config, work, runner))).rejects.toThrow(/efi\.img is missing/);
    expect(runner.calls).toEqual([]);
  });

  it('verify fails when the image lacks an entry the config asks for', async () => {
    const config = minimal();
    fs.mkdirSync(path.join(work, 'output'));
    fs.writeFileSync(path.join(work, 'output/ailinux-minimal-amd64.iso'), 'x');
    await expect(isoStep.verify(makeCtx(config, work, xorrisoRunner('bios-only')))).rejects.toThrow(
      /no bootable UEFI El Torito entry; no EFI system partition/,
    );
    await expect(isoStep.verify(makeCtx(config, work, xorrisoRunner('uefi-only')))).rejects.toThrow(
      /no bootable BIOS El Torito entry; no GRUB hybrid MBR/,
    );
    await expect(
      isoStep.verify(makeCtx(minimal({ uefi: false }), work, xorrisoRunner('bios-only'))),
    ).resolves.toBeUndefined();
    await expect(
      isoStep.verify(makeCtx(minimal({ bios: false }), work, xorrisoRunner('uefi-only'))),
    ).resolves.toBeUndefined();
    const other = { ...minimal(), iso: { ...minimal().iso, volumeLabel: 'OTHER' } };
    await expect(isoStep.verify(makeCtx(other, work, xorrisoRunner('bios-uefi')))).rejects.toThrow(
      /volume id is "AILINUX_MINIMAL", not "OTHER"/,
    );
  });

  it("undo removes this output name's .iso and .partial only, and is idempotent", async () => {
    const out = path.join(work, 'output');
    fs.mkdirSync(out);
    const files = [
      'ailinux-minimal-amd64.iso',
      'ailinux-minimal-amd64.iso.partial',
      'ailinux-minimal-amd64.iso.sha256',
      'other.iso',
    ];
    for (const f of files) fs.writeFileSync(path.join(out, f), f);
    const ctx = makeCtx(minimal(), work, new FakeRunner());
    await isoStep.undo(ctx);
    expect(fs.readdirSync(out).sort()).toEqual(['ailinux-minimal-amd64.iso.sha256', 'other.iso']);
    await expect(isoStep.undo(ctx)).resolves.toBeUndefined();
  });
});
