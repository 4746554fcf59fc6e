/**
 * bootloaders (phase 11) and iso (phase 12) for the AILinux variants: the GRUB menu, Secure Boot
 * with the distribution's signed shim and GRUB read from the rootfs layers, ISOLINUX, the exact
 * xorriso argv of BIOS-only, UEFI, Secure Boot and ISOLINUX builds, and /md5sum.txt.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { skipWithout } from '../helpers/root.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import { workPaths } from '../../src/runtime/paths.js';
import { bootloadersStep, espSizeKiB, renderEarlyConfig, renderGrubConfig } from '../../src/steps/bootloaders.js';
import { artSourcePath } from '../../src/steps/branding-art.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { ISOLINUX_BIN, renderIsolinuxConfig, SYSLINUX_BIOS_DIR } from '../../src/steps/isolinux.js';
import { isoArgv, isoStep } from '../../src/steps/iso.js';
import {
  layerTreeDir,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type TestStepContext,
} from '../helpers/step-context.js';

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-boot-');
});
afterEach(() => removeWorkDir(workDir));

const EPOCH = 1700000000;
const layerDir = (id: string) => layerTreeDir(workDir, id);

function optionValue(argv: readonly string[], name: string): string {
  return argv.find((a) => a.startsWith(`${name}=`))!.slice(name.length + 1);
}

/** grub-mkimage, mkfs.vfat and rsvg-convert (the menu's background) leave what the real ones would. */
function bootRunner(): FakeRunner {
  return new FakeRunner()
    .on('rsvg-convert', {
      effect: (call: FakeCall) =>
        fs.writeFileSync(
          optionValue(call.argv, '--output'),
          solidPng(
            Number(optionValue(call.argv, '--page-width')),
            Number(optionValue(call.argv, '--page-height')),
            '#000000',
          ),
        ),
    })
    .on('grub-mkimage', {
      effect: (call: FakeCall) =>
        fs.writeFileSync(optionValue(call.argv, '--output'), Buffer.concat([Buffer.from('MZ'), Buffer.alloc(700_000)])),
    })
    .on('mkfs.vfat', {
      effect: (call: FakeCall) => {
        const image = Buffer.alloc(Number(call.argv.at(-1)) * 1024);
        image[510] = 0x55;
        image[511] = 0xaa;
        fs.writeFileSync(call.argv.at(-2)!, image);
      },
    });
}

function ctxFor(config: BuildConfig, sourceDateEpoch: number | null = null): TestStepContext {
  return stepContext({ config, workDir, stepId: 'bootloaders', runner: bootRunner(), sourceDateEpoch });
}

const GRUB_CFG = `# GRUB menu of the ailinux live ISO, written by ailinux
set default=0
set timeout=10
set timeout_style=menu

set menu_font=/boot/grub/fonts/unicode.pf2
if [ "$lockdown" = y ] ; then
	set menu_font=(memdisk)/fonts/unicode.pf2
fi
if [ -f "$menu_font" ] ; then
	if loadfont "$menu_font" ; then
		set gfxmode=auto
		insmod all_video
		insmod gfxterm
		insmod gfxmenu
		insmod png
		insmod jpeg
		terminal_output gfxterm
		set theme=/boot/grub/themes/ailinux/theme.txt
	fi
fi

menuentry 'ailinux live' {
\tlinux /casper/vmlinuz boot=casper quiet splash
\tinitrd /casper/initrd.img
}

menuentry 'ailinux live (safe graphics)' {
\tlinux /casper/vmlinuz boot=casper quiet splash nomodeset
\tinitrd /casper/initrd.img
}

menuentry 'ailinux live (integrity check)' {
\tlinux /casper/vmlinuz boot=casper quiet splash integrity-check
\tinitrd /casper/initrd.img
}
`;

describe('the ailinux boot menus', () => {
  it('GRUB: casper entries for live, safe graphics (nomodeset) and the integrity check', () => {
    // the graphical menu (the profile has the branding step), no serial console, the kernel line of a desktop boot
    const config = profileConfig(
      'ailinux',
      (c) => ((c.iso.serialConsole = false), (c.iso.kernelArgs = ['quiet', 'splash'])),
    );
    expect(renderGrubConfig(config)).toBe(GRUB_CFG);
  });

  it("GRUB with the profile's own kernel line: the splash on the screen, the boot check's marker on the serial line", () => {
    const cfg = renderGrubConfig(profileConfig('ailinux'));
    expect(cfg).toContain(
      'serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n',
    );
    // the serial console comes last (/dev/console); plymouth leaves it alone, does not take /dev/console for its log,
    // and the journal forwards systemd's "Reached target" after plymouth has told systemd to stop its status lines
    expect(cfg).toContain(
      '\tlinux /casper/vmlinuz boot=casper systemd.show_status=1 quiet splash plymouth.ignore-serial-consoles plymouth.nolog systemd.journald.forward_to_console=1 console=tty0 console=ttyS0,115200n8\n',
    );
  });

  it('the splash never comes without what keeps the serial line and the boot check working', () => {
    const { iso, verify } = profileConfig('ailinux');
    expect(iso.kernelArgs).toContain('splash');
    expect(iso.serialConsole).toBe(true);
    expect(verify.marker).toBe('Reached target graphical.target');
    for (const arg of ['plymouth.ignore-serial-consoles', 'plymouth.nolog', 'systemd.journald.forward_to_console=1'])
      expect(iso.kernelArgs).toContain(arg);
  });

  it('ISOLINUX: the same three entries', () => {
    // without the serial console, and with the kernel line of a desktop boot, as the GRUB menu above
    const desktop = (c: BuildConfig) => (
      (c.iso.isolinux = true), (c.iso.serialConsole = false), (c.iso.kernelArgs = ['quiet', 'splash'])
    );
    expect(renderIsolinuxConfig(profileConfig('ailinux', desktop))).toBe(
      [
        '# ISOLINUX menu of the ailinux live ISO, written by ailinux',
        'UI menu.c32',
        'MENU TITLE ailinux live',
        'PROMPT 0',
        'TIMEOUT 100',
        'DEFAULT live',
        '',
        'LABEL live',
        '  MENU LABEL ailinux live',
        '  KERNEL /casper/vmlinuz',
        '  APPEND initrd=/casper/initrd.img boot=casper quiet splash',
        '',
        'LABEL safe',
        '  MENU LABEL ailinux live (safe graphics)',
        '  KERNEL /casper/vmlinuz',
        '  APPEND initrd=/casper/initrd.img boot=casper quiet splash nomodeset',
        '',
        'LABEL check',
        '  MENU LABEL ailinux live (integrity check)',
        '  KERNEL /casper/vmlinuz',
        '  APPEND initrd=/casper/initrd.img boot=casper quiet splash integrity-check',
        '',
      ].join('\n'),
    );
    const serial = renderIsolinuxConfig(
      profileConfig('minimal', (c) => ((c.iso.isolinux = true), (c.iso.menuTimeout = 0))),
    );
    expect(serial.split('\n')[0]).toBe('SERIAL 0 115200');
    expect(serial).toContain('TIMEOUT 1\n');
    expect(serial).toContain(
      'APPEND initrd=/live/initrd.img boot=live verify-checksums console=tty0 console=ttyS0,115200n8\n',
    );
  });
});

// ---------------------------------------------------------------------------------------------

/** The signed boot files as noble's shim-signed and grub-efi-amd64-signed lay them out (shim through the alternatives link). */
function signedFiles(opts: { shim?: boolean; grub?: boolean } = {}): { shim: Buffer; grub: Buffer; mok: Buffer } {
  const files = {
    shim: Buffer.concat([Buffer.from('MZ'), Buffer.from('signed shim 15.7 (previous)'), Buffer.alloc(966_000)]),
    grub: Buffer.concat([Buffer.from('MZ'), Buffer.from('signed gcd grub'), Buffer.alloc(2_328_000)]),
    mok: Buffer.concat([Buffer.from('MZ'), Buffer.from('mok manager'), Buffer.alloc(856_000)]),
  };
  const upper = layerDir('installer');
  if (opts.shim !== false) {
    writeTree(upper, { 'usr/lib/shim/shimx64.efi.signed.previous': '', 'usr/lib/shim/mmx64.efi': '' });
    fs.writeFileSync(`${upper}/usr/lib/shim/shimx64.efi.signed.previous`, files.shim);
    fs.writeFileSync(`${upper}/usr/lib/shim/mmx64.efi`, files.mok);
    // update-alternatives: shimx64.efi.signed -> /etc/alternatives/... -> the chosen one
    fs.mkdirSync(`${upper}/etc/alternatives`, { recursive: true });
    fs.symlinkSync('/usr/lib/shim/shimx64.efi.signed.previous', `${upper}/etc/alternatives/shimx64.efi.signed`);
    fs.symlinkSync('/etc/alternatives/shimx64.efi.signed', `${upper}/usr/lib/shim/shimx64.efi.signed`);
  }
  if (opts.grub !== false) {
    writeTree(upper, { 'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed': '' });
    fs.writeFileSync(`${upper}/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed`, files.grub);
  }
  return files;
}

describe('Secure Boot: the signed shim and GRUB from the image', () => {
  it('copies shim as BOOTX64.EFI, the signed GRUB as grubx64.efi and MokManager, writes EFI/ubuntu/grub.cfg, and builds no GRUB of its own for UEFI', async () => {
    const files = signedFiles();
    const config = profileConfig('ailinux');
    expect(config.iso.secureBoot).toBe(true);
    const ctx = ctxFor(config, EPOCH);
    const artifacts = await bootloadersStep.run(ctx);
    const iso = `${workDir}/iso`;
    const esp = `${iso}/boot/grub/efi.img`;
    const bytes = files.shim.length + files.grub.length + files.mok.length + renderEarlyConfig(config).length;
    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      [
        'grub-mkimage',
        '--directory=/usr/lib/grub/i386-pc',
        '--format=i386-pc-eltorito',
        `--output=${iso}/boot/grub/bios.img`,
        '--prefix=/boot/grub',
        `--config=${workDir}/tmp/bootloaders/early.cfg`,
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
        // the graphical menu's modules (Ubuntu's signed GRUB has them built in)
        'all_video',
        'font',
        'gfxterm',
        'gfxmenu',
        'png',
        'jpeg',
      ],
      ['mkfs.vfat', '-C', '-n', 'EFIBOOT', '--invariant', '-i', '6553f100', esp, String(espSizeKiB(bytes))],
      ['mmd', '-i', esp, '::/EFI', '::/EFI/BOOT', '::/EFI/ubuntu'],
      ['mcopy', '-m', '-i', esp, `${iso}/EFI/BOOT/BOOTX64.EFI`, '::/EFI/BOOT/BOOTX64.EFI'],
      ['mcopy', '-m', '-i', esp, `${iso}/EFI/BOOT/grubx64.efi`, '::/EFI/BOOT/grubx64.efi'],
      ['mcopy', '-m', '-i', esp, `${iso}/EFI/BOOT/mmx64.efi`, '::/EFI/BOOT/mmx64.efi'],
      ['mcopy', '-m', '-i', esp, `${iso}/EFI/ubuntu/grub.cfg`, '::/EFI/ubuntu/grub.cfg'],
      // the menu's background: the wallpaper art, cut to 4:3
      [
        'rsvg-convert',
        '--format=png',
        '--width=1365',
        '--height=768',
        '--page-width=1024',
        '--page-height=768',
        '--left=-170',
        '--top=0',
        `--output=${workDir}/tmp/bootloaders/art/grub-1024x768.png`,
        artSourcePath('wallpaper'),
      ],
    ]);
    expect(ctx.runner.calls.some((c) => c.argv.includes('--format=x86_64-efi'))).toBe(false);
    expect(fs.readFileSync(`${iso}/EFI/BOOT/BOOTX64.EFI`).equals(files.shim)).toBe(true);
    expect(fs.readFileSync(`${iso}/EFI/BOOT/grubx64.efi`).equals(files.grub)).toBe(true);
    expect(fs.readFileSync(`${iso}/EFI/BOOT/mmx64.efi`).equals(files.mok)).toBe(true);
    // Ubuntu's signed GRUB finds the ISO by /.disk/info and reads /boot/grub/grub.cfg; built for disks, it reads /EFI/ubuntu/grub.cfg
    expect(fs.readFileSync(`${iso}/EFI/ubuntu/grub.cfg`, 'utf8')).toBe(
      "search --no-floppy --set=root --label 'AILINUX_2404'\nset prefix=($root)/boot/grub\nconfigfile /boot/grub/grub.cfg\n",
    );
    expect(fs.readFileSync(`${iso}/.disk/info`, 'utf8')).toBe(
      'ailinux live - AILinux: Ubuntu 24.04 noble, KDE Plasma, Calamares, casper, BIOS and UEFI (amd64)\n',
    );
    expect(fs.readFileSync(`${iso}/boot/grub/grub.cfg`, 'utf8')).toBe(renderGrubConfig(config));
    expect(fs.readFileSync(`${iso}/boot/grub/themes/ailinux/theme.txt`, 'utf8')).toContain(
      'title-text: "AILinux 24.04"',
    );
    expect(artifacts.map((a) => a.path)).toEqual([
      'iso/boot/grub/grub.cfg',
      'iso/.disk/info',
      'iso/boot/grub/bios.img',
      'iso/EFI/BOOT/BOOTX64.EFI',
      'iso/EFI/BOOT/grubx64.efi',
      'iso/EFI/ubuntu/grub.cfg',
      'iso/boot/grub/efi.img',
      'iso/boot/grub/fonts/unicode.pf2',
      'iso/boot/grub/themes/ailinux/background.png',
      'iso/boot/grub/themes/ailinux/theme.txt',
    ]);
    // every file written into the ISO tree carries SOURCE_DATE_EPOCH (mcopy -m keeps it in the FAT image)
    for (const f of [
      'boot/grub/grub.cfg',
      '.disk/info',
      'boot/grub/bios.img',
      'EFI/BOOT/BOOTX64.EFI',
      'EFI/BOOT/grubx64.efi',
      'EFI/BOOT/mmx64.efi',
      'EFI/ubuntu/grub.cfg',
      'boot/grub/efi.img',
      'boot/grub/fonts/unicode.pf2',
      'boot/grub/themes/ailinux/background.png',
      'boot/grub/themes/ailinux/theme.txt',
    ]) {
      expect(fs.statSync(`${iso}/${f}`).mtimeMs, f).toBe(EPOCH * 1000);
    }
    await expect(bootloadersStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('prefers the newest shim, and takes the signed GRUB built for disks when the CD one is not there', async () => {
    signedFiles({ grub: false });
    const upper = layerDir('installer');
    writeTree(upper, {
      'usr/lib/shim/shimx64.efi.signed.latest': 'MZ latest',
      'usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed': 'MZ grub for disks',
    });
    const ctx = ctxFor(profileConfig('ailinux'));
    await bootloadersStep.run(ctx);
    expect(fs.readFileSync(`${workDir}/iso/EFI/BOOT/BOOTX64.EFI`, 'utf8')).toBe('MZ latest');
    expect(fs.readFileSync(`${workDir}/iso/EFI/BOOT/grubx64.efi`, 'utf8')).toBe('MZ grub for disks');
  });

  it('with the signed binaries missing the step fails before running anything, naming the files and the packages', async () => {
    const ctx = ctxFor(profileConfig('ailinux', (c) => (c.iso.bios = false)));
    const error = (await bootloadersStep.run(ctx).catch((e: unknown) => e)) as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.message).toBe(
      'iso.secureBoot is on, but the image lacks the signed shim (/usr/lib/shim/shimx64.efi.signed*, package shim-signed) and the signed GRUB (/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed, package grub-efi-amd64-signed)',
    );
    expect(error.hint).toBe(
      'add shim-signed and grub-efi-amd64-signed to a package list of the profile (packages.installer or packages.live), or set iso.secureBoot to false; a locally built GRUB cannot pass Secure Boot',
    );
    expect(ctx.runner.calls).toEqual([]);

    signedFiles({ grub: false });
    const only = ctxFor(profileConfig('ailinux', (c) => (c.iso.bios = false)));
    await expect(bootloadersStep.run(only)).rejects.toThrow(
      'iso.secureBoot is on, but the image lacks the signed GRUB (/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed, package grub-efi-amd64-signed)',
    );
  });
});

// ---------------------------------------------------------------------------------------------

const isolinuxMissing = [ISOLINUX_BIN, `${SYSLINUX_BIOS_DIR}/menu.c32`].find((f) => !fs.existsSync(f));

describe.skipIf(skipWithout(isolinuxMissing ? `${isolinuxMissing} is missing (apt-get install isolinux)` : null))(
  "ISOLINUX (needs the host's isolinux and syslinux-common)",
  () => {
    it('copies isolinux.bin and its modules from the host, writes its menu, and makes no GRUB BIOS core', async () => {
      const config = profileConfig('ailinux', (c) => ((c.iso.isolinux = true), (c.iso.uefi = false)));
      const ctx = ctxFor(config);
      const artifacts = await bootloadersStep.run(ctx);
      expect(ctx.runner.calls).toEqual([]);
      const dir = `${workDir}/iso/isolinux`;
      expect(fs.readdirSync(dir).sort()).toEqual([
        'isolinux.bin',
        'isolinux.cfg',
        'ldlinux.c32',
        'libcom32.c32',
        'libutil.c32',
        'menu.c32',
      ]);
      expect(fs.readFileSync(`${dir}/isolinux.bin`).equals(fs.readFileSync(ISOLINUX_BIN))).toBe(true);
      expect(fs.readFileSync(`${dir}/ldlinux.c32`).equals(fs.readFileSync(`${SYSLINUX_BIOS_DIR}/ldlinux.c32`))).toBe(
        true,
      );
      expect(fs.readFileSync(`${dir}/isolinux.cfg`, 'utf8')).toBe(renderIsolinuxConfig(config));
      expect(fs.existsSync(`${workDir}/iso/boot/grub/bios.img`)).toBe(false);
      expect(artifacts.map((a) => a.path)).toEqual([
        'iso/boot/grub/grub.cfg',
        'iso/.disk/info',
        'iso/isolinux/isolinux.bin',
        'iso/isolinux/isolinux.cfg',
      ]);
      await expect(bootloadersStep.verify(ctx)).resolves.toBeUndefined();
    });
  },
);

// ---------------------------------------------------------------------------------------------

describe('xorriso argv of each variant', () => {
  const common = (label: string, out: string) => [
    'xorriso',
    '-as',
    'mkisofs',
    '-iso-level',
    '3',
    '-rational-rock',
    '-joliet',
    '-joliet-long',
    '-volid',
    label,
    '-output',
    out,
  ];
  const paths = () => workPaths(workDir);
  const out = () => `${workDir}/output/ailinux-24.04-amd64.iso.partial`;
  const esp = () => `${workDir}/iso/boot/grub/efi.img`;
  const iso = (patch: Partial<BuildConfig['iso']>) => profileConfig('ailinux', (c) => Object.assign(c.iso, patch));

  it('BIOS only (GRUB): hybrid MBR from grub-pc-bin, one El Torito entry, no ESP', () => {
    expect(isoArgv(iso({ uefi: false }), paths(), null)).toEqual([
      ...common('AILINUX_2404', out()),
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
      `${workDir}/iso`,
    ]);
  });

  it('UEFI only: the ESP appended as a GPT partition and used as the El Torito EFI image', () => {
    expect(isoArgv(iso({ bios: false, secureBoot: false }), paths(), null)).toEqual([
      ...common('AILINUX_2404', out()),
      '-partition_offset',
      '16',
      '-append_partition',
      '2',
      '0xef',
      esp(),
      '-appended_part_as_gpt',
      '-eltorito-catalog',
      'boot/grub/boot.cat',
      '-e',
      '--interval:appended_partition_2:all::',
      '-no-emul-boot',
      '-m',
      esp(),
      `${workDir}/iso`,
    ]);
  });

  it('Secure Boot: the same layout as UEFI (shim and the signed GRUB are inside the ESP), with BIOS and SOURCE_DATE_EPOCH', () => {
    const sb = isoArgv(iso({ secureBoot: true }), paths(), EPOCH);
    expect(sb).toEqual([
      ...common('AILINUX_2404', out()),
      '--modification-date=2023111422132000',
      '--set_all_file_dates',
      '2023111422132000',
      '--gpt_disk_guid',
      'modification-date',
      '-partition_offset',
      '16',
      '--grub2-mbr',
      '/usr/lib/grub/i386-pc/boot_hybrid.img',
      '--mbr-force-bootable',
      '-append_partition',
      '2',
      '0xef',
      esp(),
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
      esp(),
      `${workDir}/iso`,
    ]);
    expect(sb).toEqual(isoArgv(iso({ secureBoot: false }), paths(), EPOCH));
  });

  it("ISOLINUX + UEFI: the isohybrid MBR and isolinux.bin take GRUB's place for BIOS", () => {
    expect(isoArgv(iso({ isolinux: true }), paths(), null)).toEqual([
      ...common('AILINUX_2404', out()),
      '-partition_offset',
      '16',
      '-isohybrid-mbr',
      '/usr/lib/ISOLINUX/isohdpfx.bin',
      '--mbr-force-bootable',
      '-append_partition',
      '2',
      '0xef',
      esp(),
      '-appended_part_as_gpt',
      '-eltorito-catalog',
      'boot/grub/boot.cat',
      '-b',
      'isolinux/isolinux.bin',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '-eltorito-alt-boot',
      '-e',
      '--interval:appended_partition_2:all::',
      '-no-emul-boot',
      '-m',
      esp(),
      `${workDir}/iso`,
    ]);
  });

  it('ISOLINUX, BIOS only', () => {
    expect(isoArgv(iso({ isolinux: true, uefi: false }), paths(), null)).toEqual([
      ...common('AILINUX_2404', out()),
      '-partition_offset',
      '16',
      '-isohybrid-mbr',
      '/usr/lib/ISOLINUX/isohdpfx.bin',
      '--mbr-force-bootable',
      '-eltorito-catalog',
      'boot/grub/boot.cat',
      '-b',
      'isolinux/isolinux.bin',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      `${workDir}/iso`,
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('iso: /md5sum.txt for the medium check', () => {
  it('lists every file of the tree as "<md5>  ./path", except those xorriso patches or leaves out; pinned under SOURCE_DATE_EPOCH', async () => {
    const config = profileConfig('ailinux', (c) => (c.iso.secureBoot = false));
    const tree = {
      'casper/filesystem.squashfs': 'squash',
      'casper/vmlinuz': 'kernel',
      'casper/initrd.img': 'initrd',
      '.disk/info': 'info\n',
      'boot/grub/grub.cfg': 'menu\n',
      'boot/grub/bios.img': 'patched by -boot-info-table',
      'boot/grub/efi.img': Buffer.alloc(1024, 1).toString('latin1'),
      'EFI/BOOT/BOOTX64.EFI': 'MZ',
    };
    writeTree(`${workDir}/iso`, tree);
    const runner = new FakeRunner().on('xorriso', {
      effect: (call) => fs.writeFileSync(call.argv[call.argv.indexOf('-output') + 1]!, 'CD001'),
    });
    const ctx = stepContext({ config, workDir, stepId: 'iso', runner, sourceDateEpoch: EPOCH });
    await isoStep.run(ctx);
    const md5 = (s: string) => crypto.createHash('md5').update(Buffer.from(s, 'latin1')).digest('hex');
    const sums = fs.readFileSync(`${workDir}/iso/md5sum.txt`, 'utf8');
    expect(sums).toBe(
      `${[
        '.disk/info',
        'EFI/BOOT/BOOTX64.EFI',
        'boot/grub/grub.cfg',
        'casper/filesystem.squashfs',
        'casper/initrd.img',
        'casper/vmlinuz',
      ]
        .map((f) => `${md5(tree[f as keyof typeof tree])}  ./${f}`)
        .join('\n')}\n`,
    );
    expect(fs.statSync(`${workDir}/iso/md5sum.txt`).mtimeMs).toBe(EPOCH * 1000);
    // written before xorriso ran, so it is inside the image
    expect(runner.calls).toHaveLength(1);
    expect(path.basename(runner.calls[0]!.argv.at(-1)!)).toBe('iso');
    await isoStep.undo(ctx);
    expect(fs.existsSync(`${workDir}/iso/md5sum.txt`)).toBe(false);
  });
});
