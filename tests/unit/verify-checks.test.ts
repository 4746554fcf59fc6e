/** The static checks on captured xorriso reports of real ISOs: each row's verdict and its message. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseElToritoReport, parseSystemAreaReport } from '../../src/verify/xorriso-reports.js';
import { filesToRead, staticChecks } from '../../src/verify/checks.js';
import { parseGrubConfig } from '../../src/verify/grub-config.js';
import { parseIsoListing } from '../../src/verify/iso-listing.js';
import type { CheckResult, EspFacts, IsoFacts, VerifyExpectations } from '../../src/verify/types.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const REAL_STDOUT = fixture('xorriso/minimal-real.inspect.stdout.txt');
const REAL_STDERR = fixture('xorriso/minimal-real.inspect.stderr.txt');
const REAL_GRUB = fixture('grub/minimal-real.grub.cfg');

const KERNEL = (() => {
  const b = Buffer.alloc(1024);
  b.write('HdrS', 0x202, 'latin1');
  return b;
})();
const GOOD_HEADS = () =>
  new Map<string, Buffer>([
    ['/live/vmlinuz', KERNEL],
    ['/live/initrd.img', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])],
    ['/live/filesystem.squashfs', Buffer.from('hsqs\0\0\0\0')],
  ]);
const GOOD_ESP: EspFacts = { offset: 116250 * 2048, fat: true, bootFiles: ['BOOTX64.EFI'], note: null };

/** Facts as inspectIso gathers them, from a report text, the real listing and a GRUB config. */
function facts(
  options: {
    report?: string;
    listing?: string;
    grub?: string | null;
    heads?: Map<string, Buffer>;
    esp?: EspFacts | null;
  } = {},
): IsoFacts {
  const report = options.report ?? `${REAL_STDOUT}\n${REAL_STDERR}`;
  const grubText = options.grub === undefined ? REAL_GRUB : options.grub;
  return {
    torito: parseElToritoReport(report),
    area: parseSystemAreaReport(report),
    listing: parseIsoListing(options.listing ?? REAL_STDOUT),
    grub: {
      path: '/boot/grub/grub.cfg',
      found: grubText !== null,
      config: parseGrubConfig(grubText ?? '', '/boot/grub/grub.cfg'),
      files: grubText !== null ? ['/boot/grub/grub.cfg'] : [],
    },
    heads: options.heads ?? GOOD_HEADS(),
    esp: options.esp === undefined ? GOOD_ESP : options.esp,
  };
}

const CLI: VerifyExpectations = { bios: 'auto', uefi: 'required', requireChecksum: false };
const STEP: VerifyExpectations = {
  bios: 'required',
  uefi: 'required',
  liveSystem: 'live-boot',
  volumeId: 'AILINUX_MINIMAL',
  requireChecksum: true,
};

function rows(checks: CheckResult[]): Record<string, { status: string; detail: string }> {
  return Object.fromEntries(checks.map((c) => [c.id, { status: c.status, detail: c.detail }]));
}

function failing(checks: CheckResult[]): string[] {
  return checks.filter((c) => c.status === 'fail').map((c) => c.id);
}

describe('the real minimal ISO (BIOS + UEFI, live-boot)', () => {
  it('passes every static check, as the CLI asks and as the build step asks', () => {
    const cli = staticChecks(facts(), CLI);
    expect(failing(cli)).toEqual([]);
    expect(cli.map((c) => c.name)).toEqual([
      'El Torito BIOS entry',
      'El Torito UEFI entry',
      'MBR/GPT hybrid layout',
      'GRUB config',
      'kernel',
      'initrd',
      'squashfs',
      'boot parameter',
    ]);
    expect(rows(cli)).toEqual({
      'eltorito-bios': {
        status: 'ok',
        detail: '/boot/grub/bios.img, no emulation, load size 4, boot-info-table grub2-boot-info',
      },
      'eltorito-uefi': {
        status: 'ok',
        detail: 'hidden image at LBA 116250 = GPT partition 2, FAT 1.0 MiB, with /EFI/BOOT/BOOTX64.EFI',
      },
      layout: {
        status: 'ok',
        detail:
          'MBR grub2-mbr boot code; MBR partitions 0xee, 0x00 (active); GPT with the EFI system partition as partition 2 (1.0 MiB)',
      },
      'grub-config': { status: 'ok', detail: '/boot/grub/grub.cfg: 3 menu entries, 3 linux lines' },
      kernel: { status: 'ok', detail: '/live/vmlinuz (7.9 MiB, bzImage)' },
      initrd: { status: 'ok', detail: '/live/initrd.img (33.6 MiB, zstd)' },
      squashfs: { status: 'ok', detail: '/live/filesystem.squashfs (184.5 MiB, live-boot)' },
      'boot-param': {
        status: 'ok',
        detail: 'boot=live on 3 linux lines, matching the live system in /live (live-boot)',
      },
    });
    const step = staticChecks(facts(), STEP);
    expect(failing(step)).toEqual([]);
    expect(rows(step)['volume-id']).toEqual({ status: 'ok', detail: 'AILINUX_MINIMAL (GRUB finds the ISO by it)' });
  });

  it('fails the volume id the config does not name', () => {
    expect(rows(staticChecks(facts(), { ...STEP, volumeId: 'OTHER' }))['volume-id']).toEqual({
      status: 'fail',
      detail: `the volume id is "AILINUX_MINIMAL", not "OTHER": GRUB's search --label would not find the ISO`,
    });
  });
});

describe('El Torito and layout', () => {
  const biosOnly = `${fixture('xorriso/bios-only.stdout.txt')}\n${fixture('xorriso/bios-only.stderr.txt')}`;
  const uefiOnly = `${fixture('xorriso/uefi-only.stdout.txt')}\n${fixture('xorriso/uefi-only.stderr.txt')}`;

  it('a BIOS-only image checked as if UEFI were required: no UEFI entry, no EFI system partition', () => {
    const r = rows(staticChecks(facts({ report: biosOnly, esp: null }), CLI));
    expect(r['eltorito-uefi']).toEqual({
      status: 'fail',
      detail: 'no UEFI El Torito entry: the ISO has 1 entry: BIOS /boot/grub/bios.img',
    });
    expect(r['layout']).toEqual({
      status: 'fail',
      detail:
        'no GPT and no EFI system partition (type 0xef) in the MBR: written to a USB stick it would not boot on UEFI (system area: MBR grub2-mbr cyl-align-off)',
    });
    expect(r['eltorito-bios']!.status).toBe('ok');
    // and when UEFI is not asked for, the same image passes
    const relaxed = staticChecks(facts({ report: biosOnly, esp: null }), { ...CLI, uefi: 'off' });
    expect(failing(relaxed)).toEqual([]);
    expect(rows(relaxed)['eltorito-uefi']).toEqual({ status: 'skipped', detail: 'not required' });
    expect(rows(relaxed)['layout']!.detail).toBe('MBR grub2-mbr boot code; MBR partitions 0xcd (active)');
  });

  it('a UEFI-only image: BIOS is skipped unless required, then the entry and the MBR boot code are missing', () => {
    const auto = rows(staticChecks(facts({ report: uefiOnly }), CLI));
    expect(auto['eltorito-bios']).toEqual({
      status: 'skipped',
      detail: 'the ISO does not boot on BIOS (no BIOS entry, no MBR boot code)',
    });
    expect(auto['layout']!.status).toBe('ok');
    const required = rows(staticChecks(facts({ report: uefiOnly }), { ...CLI, bios: 'required' }));
    expect(required['eltorito-bios']).toEqual({
      status: 'fail',
      detail: 'no BIOS El Torito entry; the ISO has 1 entry: UEFI (hidden image)',
    });
    expect(required['layout']!.detail).toMatch(
      /^no MBR boot code \(neither grub2-mbr nor isohybrid\): written to a USB stick it would not boot on BIOS/,
    );
  });

  it('MBR boot code without a BIOS El Torito entry is a claim the image does not keep', () => {
    const report = `${REAL_STDOUT}\n${REAL_STDERR}`.replace(/^El Torito (boot img|img path|img opts) *: +1 .*$/gm, '');
    const r = rows(staticChecks(facts({ report }), CLI));
    expect(r['eltorito-bios']).toEqual({
      status: 'fail',
      detail:
        'no BIOS El Torito entry although the MBR carries grub2-mbr boot code; the ISO has 1 entry: UEFI (hidden image)',
    });
  });

  it('an ISO made by xorriso without -e: the ESP is appended but no UEFI entry points at it', () => {
    const report = fixture('xorriso/tiny-no-efi-entry.inspect.stdout.txt');
    const checks = staticChecks(facts({ report, listing: report, esp: null }), CLI);
    expect(failing(checks)).toEqual(['eltorito-uefi']);
    expect(rows(checks)['eltorito-uefi']!.detail).toBe(
      'no UEFI El Torito entry: the ISO has 1 entry: BIOS /boot/grub/bios.img',
    );
    expect(rows(checks)['layout']!.detail).toBe(
      'MBR grub2-mbr boot code; MBR partitions 0xee, 0x00 (active); GPT with the EFI system partition as partition 2 (1.0 MiB)',
    );
  });

  it('a UEFI entry whose image is not FAT, or has no BOOTX64.EFI, fails', () => {
    expect(
      rows(staticChecks(facts({ esp: { ...GOOD_ESP, fat: false, bootFiles: null } }), CLI))['eltorito-uefi'],
    ).toEqual({
      status: 'fail',
      detail: "the UEFI entry's image (hidden image at LBA 116250) is not a FAT file system",
    });
    expect(
      rows(staticChecks(facts({ esp: { ...GOOD_ESP, bootFiles: [], note: 'it has no /EFI/BOOT directory' } }), CLI))[
        'eltorito-uefi'
      ],
    ).toEqual({
      status: 'fail',
      detail:
        "the UEFI entry's FAT image (hidden image at LBA 116250) has no /EFI/BOOT/BOOTX64.EFI: it has no /EFI/BOOT directory",
    });
    // without mtools the entry still counts, and says what was not looked at
    expect(
      rows(
        staticChecks(
          facts({ esp: { ...GOOD_ESP, bootFiles: null, note: 'contents not listed: mtools is not installed' } }),
          CLI,
        ),
      )['eltorito-uefi'],
    ).toEqual({
      status: 'ok',
      detail:
        'hidden image at LBA 116250 = GPT partition 2, FAT 1.0 MiB (contents not listed: mtools is not installed)',
    });
  });

  it('a GPT without an EFI system partition fails the layout', () => {
    const report = `${REAL_STDOUT}\n${REAL_STDERR}`.replace(
      /28732ac11ff8d211ba4b00a0c93ec93b/g,
      'a2a0d0ebe5b9334487c068b6b72699c7',
    );
    expect(rows(staticChecks(facts({ report }), CLI))['layout']!.detail).toBe(
      'the GPT has no EFI system partition (partitions: ISO9660, Appended2, Gap1) (system area: MBR protective-msdos-label grub2-mbr cyl-align-off GPT)',
    );
  });
});

describe('the files GRUB points at, and the live system', () => {
  it('a missing squashfs fails only the squashfs row, listing what /live holds', () => {
    const listing = REAL_STDOUT.split('\n')
      .filter((l) => !l.includes('filesystem.squashfs'))
      .join('\n');
    const checks = staticChecks(facts({ listing }), CLI);
    expect(failing(checks)).toEqual(['squashfs']);
    expect(rows(checks)['squashfs']!.detail).toBe(
      '/live/filesystem.squashfs is not on the ISO (/live holds: filesystem.manifest, initrd.img, vmlinuz)',
    );
  });

  it('boot=casper on a /live layout fails the boot parameter row with both sides named', () => {
    const grub = REAL_GRUB.replace(/boot=live/g, 'boot=casper');
    const cli = staticChecks(facts({ grub }), CLI);
    expect(failing(cli)).toEqual(['boot-param']);
    expect(rows(cli)['boot-param']!.detail).toBe(
      'the GRUB config says boot=casper, which looks in /casper, and there is no /casper on the ISO, but the live system is in /live (live-boot needs boot=live)',
    );
    // the build step knows the live system it built
    expect(rows(staticChecks(facts({ grub }), STEP))['boot-param']!.detail).toBe(
      'the GRUB config says boot=casper, but the live system is live-boot (boot=live, /live)',
    );
  });

  it('menu entries that disagree, or one without boot=, fail', () => {
    const mixed = REAL_GRUB.replace('boot=live nomodeset', 'boot=casper nomodeset');
    expect(rows(staticChecks(facts({ grub: mixed }), CLI))['boot-param']!.detail).toBe(
      'the menu entries disagree: boot=live (2 lines), boot=casper (1 lines)',
    );
    const none = REAL_GRUB.replace('boot=live verify-checksums', 'verify-checksums');
    expect(rows(staticChecks(facts({ grub: none }), CLI))['boot-param']!.detail).toBe(
      'the linux line at /boot/grub/grub.cfg:21 has no boot= parameter: the initramfs would not look for a live system',
    );
  });

  it('a kernel path that is not on the ISO, or a file that is not a kernel, fails with the line that names it', () => {
    const grub = REAL_GRUB.replace(
      'linux /live/vmlinuz boot=live nomodeset',
      'linux /live/vmlinuz-old boot=live nomodeset',
    );
    expect(rows(staticChecks(facts({ grub }), CLI))['kernel']).toEqual({
      status: 'fail',
      detail: '/live/vmlinuz-old (linux line at /boot/grub/grub.cfg:16) is not on the ISO',
    });
    const heads = GOOD_HEADS();
    heads.set('/live/vmlinuz', Buffer.from('not a kernel'));
    heads.set('/live/initrd.img', Buffer.from('not an initrd'));
    const r = rows(staticChecks(facts({ heads }), CLI));
    expect(r['kernel']!.detail).toBe(
      '/live/vmlinuz (linux line at /boot/grub/grub.cfg:11) is not a Linux kernel (no bzImage header)',
    );
    expect(r['initrd']!.detail).toBe(
      '/live/initrd.img (initrd line at /boot/grub/grub.cfg:12) is not an initramfs (neither cpio nor a known compression)',
    );
    heads.set('/live/filesystem.squashfs', Buffer.from('nope'));
    expect(rows(staticChecks(facts({ heads }), CLI))['squashfs']!.detail).toBe(
      '/live/filesystem.squashfs is not a squashfs image (no hsqs signature)',
    );
  });

  it('paths built from variables are reported, not guessed', () => {
    const grub = `${REAL_GRUB}\nmenuentry x {\n linux $kdir/vmlinuz boot=live\n initrd /live/initrd.img\n}\n`;
    expect(rows(staticChecks(facts({ grub }), CLI))['kernel']).toEqual({
      status: 'ok',
      detail: '/live/vmlinuz (7.9 MiB, bzImage); not resolved: $kdir/vmlinuz',
    });
  });

  it('no grub.cfg fails the GRUB row and skips the rows that depend on it', () => {
    const r = rows(staticChecks(facts({ grub: null }), CLI));
    expect(r['grub-config']).toEqual({
      status: 'fail',
      detail: '/boot/grub/grub.cfg is not on the ISO: GRUB would stop at its prompt',
    });
    expect([r['kernel']!.status, r['initrd']!.status, r['boot-param']!.status]).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(r['squashfs']!.status).toBe('ok'); // found through the /live directory
  });
});

/** The defects each check exists for, fed as facts, and real layouts of other tools that must still pass. */
describe('defects the checks must catch, and real layouts they must not', () => {
  const REAL = `${REAL_STDOUT}\n${REAL_STDERR}`;
  const BIOS_ONLY: VerifyExpectations = { bios: 'required', uefi: 'off', requireChecksum: false };
  const withoutLines = (text: string, needle: string) =>
    text
      .split('\n')
      .filter((l) => !l.includes(needle))
      .join('\n');

  // grub-mkrescue 2.06 (xorriso 1.5.4) of a tiny /live tree; listing lines of GRUB's module directories left out
  const MKRESCUE_STDOUT = fixture('xorriso/grub-mkrescue.inspect.stdout.txt');
  const MKRESCUE = `${MKRESCUE_STDOUT}\n${fixture('xorriso/grub-mkrescue.inspect.stderr.txt')}`;
  const TINY_GRUB =
    'set timeout=1\nmenuentry "live" {\n\tlinux /live/vmlinuz boot=live\n\tinitrd /live/initrd.img\n}\n';
  const mkrescue = (listing = MKRESCUE_STDOUT) =>
    facts({
      report: MKRESCUE,
      listing,
      grub: TINY_GRUB,
      esp: { offset: 73 * 2048, fat: true, bootFiles: ['BOOTX64.EFI'], note: null },
    });

  describe('a BIOS entry that is not bootable', () => {
    const report = REAL.replace('El Torito boot img :   1  BIOS  y', 'El Torito boot img :   1  BIOS  n');

    for (const [name, expect_] of [
      ['the CLI', CLI],
      ['the build step', STEP],
      ['a BIOS-only check', BIOS_ONLY],
    ] as const) {
      it(`fails the BIOS row alone, as ${name} asks`, () => {
        const checks = staticChecks(facts({ report }), expect_);
        expect(failing(checks)).toEqual(['eltorito-bios']);
        expect(rows(checks)['eltorito-bios']!.detail).toBe(
          'the BIOS entry BIOS /boot/grub/bios.img is not marked bootable',
        );
      });
    }

    it('a bootable BIOS entry beside it is the one checked', () => {
      const second = `${report}\nEl Torito boot img :   3  BIOS  y   none  0x0000  0x00      4         300\n`;
      expect(rows(staticChecks(facts({ report: second }), CLI))['eltorito-bios']).toEqual({
        status: 'ok',
        detail: 'hidden image at LBA 300, no emulation, load size 4',
      });
    });

    it('is only reported when BIOS is not asked for', () => {
      expect(rows(staticChecks(facts({ report }), { ...CLI, bios: 'off' }))['eltorito-bios']).toEqual({
        status: 'skipped',
        detail: 'not required; present: BIOS /boot/grub/bios.img',
      });
    });

    it('a UEFI entry that is not bootable fails the UEFI row', () => {
      const uefi = REAL.replace('El Torito boot img :   2  UEFI  y', 'El Torito boot img :   2  UEFI  n');
      const checks = staticChecks(facts({ report: uefi }), CLI);
      expect(failing(checks)).toEqual(['eltorito-uefi']);
      expect(rows(checks)['eltorito-uefi']!.detail).toBe('the UEFI entry UEFI (hidden image) is not marked bootable');
    });
  });

  describe('a boot image the catalog names that is not in the ISO tree', () => {
    it('BIOS: fails the BIOS row alone', () => {
      const checks = staticChecks(facts({ listing: withoutLines(REAL_STDOUT, "'/boot/grub/bios.img'") }), CLI);
      expect(failing(checks)).toEqual(['eltorito-bios']);
      expect(rows(checks)['eltorito-bios']!.detail).toBe(
        "the BIOS entry's image /boot/grub/bios.img is not in the ISO tree",
      );
    });

    it('BIOS: a directory of that name is not the image either', () => {
      const listing = REAL_STDOUT.replace(
        "-r--r--r--    1 0        0          171044 Nov 29 12:37 '/boot/grub/bios.img'",
        "dr-xr-xr-x    1 0        0               0 Nov 29 12:37 '/boot/grub/bios.img'",
      ).replace(/^File data lba:.*'\/boot\/grub\/bios\.img'$/m, '');
      expect(rows(staticChecks(facts({ listing }), CLI))['eltorito-bios']!.status).toBe('fail');
    });

    it('BIOS: a hidden image (no path in the catalog report) is checked by its LBA instead', () => {
      const report = withoutLines(REAL, 'El Torito img path :   1');
      expect(rows(staticChecks(facts({ report }), CLI))['eltorito-bios']).toEqual({
        status: 'ok',
        detail: 'hidden image at LBA 75, no emulation, load size 4, boot-info-table grub2-boot-info',
      });
    });

    it('UEFI: grub-mkrescue puts the FAT image in the tree as /efi.img; without it the UEFI row fails', () => {
      const checks = staticChecks(mkrescue(withoutLines(MKRESCUE_STDOUT, "'/efi.img'")), CLI);
      expect(failing(checks)).toEqual(['eltorito-uefi']);
      expect(rows(checks)['eltorito-uefi']!.detail).toBe("the UEFI entry's image /efi.img is not in the ISO tree");
    });
  });

  describe('a GPT without a protective MBR entry (type 0xee)', () => {
    const report = REAL.replace('MBR partition      :   1   0x00  0xee', 'MBR partition      :   1   0x00  0x00');

    it('fails the layout alone when the EFI system partition is in the GPT: firmware would ignore that GPT', () => {
      const checks = staticChecks(facts({ report }), CLI);
      expect(failing(checks)).toEqual(['layout']);
      expect(rows(checks)['layout']!.detail).toBe(
        'a GPT without a protective MBR entry (type 0xee) (system area: MBR protective-msdos-label grub2-mbr cyl-align-off GPT)',
      );
      expect(failing(staticChecks(facts({ report }), STEP))).toEqual(['layout']);
    });

    it("passes a hybrid MBR whose own 0xef entry holds the ESP (xorriso's -isohybrid-gpt-basdat, as Debian's ISOs)", () => {
      const stdout = fixture('xorriso/isohybrid-gpt-basdat.inspect.stdout.txt');
      const f = facts({
        report: `${stdout}\n${fixture('xorriso/isohybrid-gpt-basdat.inspect.stderr.txt')}`,
        listing: stdout,
        grub: TINY_GRUB,
        esp: { offset: 34 * 2048, fat: true, bootFiles: ['BOOTX64.EFI'], note: null },
      });
      const checks = staticChecks(f, CLI);
      expect(failing(checks)).toEqual([]);
      expect(rows(checks)['layout']!.detail).toBe(
        'MBR isohybrid boot code; MBR partitions 0x00 (active), 0xef; EFI system partition as MBR partition 2',
      );
      expect(rows(checks)['eltorito-uefi']!.detail).toBe('/boot/grub/efi.img, FAT 1.4 MiB, with /EFI/BOOT/BOOTX64.EFI');
    });
  });

  describe('an empty kernel, initrd or squashfs', () => {
    const emptied = (file: string, size: string) =>
      REAL_STDOUT.replace(new RegExp(`(\\s)${size}( Nov 29 12:37 '${file.replace(/\//g, '\\/')}')`), '$10$2');

    it('an empty kernel fails the kernel row alone, and is not read', () => {
      const listing = emptied('/live/vmlinuz', '8247232');
      const f = facts({ listing });
      expect(f.listing.get('/live/vmlinuz')?.size).toBe(0);
      const checks = staticChecks(f, CLI);
      expect(failing(checks)).toEqual(['kernel']);
      expect(rows(checks)['kernel']!.detail).toBe('/live/vmlinuz (linux line at /boot/grub/grub.cfg:11) is empty');
      expect(filesToRead(f, CLI).map((n) => n.path)).not.toContain('/live/vmlinuz');
    });

    it('an empty initrd and an empty squashfs fail their rows', () => {
      const initrd = rows(staticChecks(facts({ listing: emptied('/live/initrd.img', '35264875') }), CLI));
      expect(initrd['initrd']!.detail).toBe('/live/initrd.img (initrd line at /boot/grub/grub.cfg:12) is empty');
      const squashfs = rows(staticChecks(facts({ listing: emptied('/live/filesystem.squashfs', '193503232') }), CLI));
      expect(squashfs['squashfs']).toEqual({ status: 'fail', detail: '/live/filesystem.squashfs is empty' });
    });

    it('a one-byte kernel is not empty: it fails as no kernel instead', () => {
      const listing = REAL_STDOUT.replace("8247232 Nov 29 12:37 '/live/vmlinuz'", "1 Nov 29 12:37 '/live/vmlinuz'");
      const heads = GOOD_HEADS();
      heads.set('/live/vmlinuz', Buffer.from('x'));
      expect(rows(staticChecks(facts({ listing, heads }), CLI))['kernel']!.detail).toBe(
        '/live/vmlinuz (linux line at /boot/grub/grub.cfg:11) is not a Linux kernel (no bzImage header)',
      );
    });
  });

  it('a real grub-mkrescue ISO passes every static check: 0xee protective entry, /efi.img in the tree', () => {
    const checks = staticChecks(mkrescue(), CLI);
    expect(failing(checks)).toEqual([]);
    expect(rows(checks)).toMatchObject({
      'eltorito-bios': {
        status: 'ok',
        detail: '/boot/grub/i386-pc/eltorito.img, no emulation, load size 4, boot-info-table grub2-boot-info',
      },
      'eltorito-uefi': { status: 'ok', detail: '/efi.img = GPT partition 2, FAT 2.8 MiB, with /EFI/BOOT/BOOTX64.EFI' },
      layout: {
        status: 'ok',
        detail:
          'MBR grub2-mbr boot code; MBR partitions 0xee; GPT with the EFI system partition as partition 2 (2.8 MiB)',
      },
      kernel: { status: 'ok', detail: '/live/vmlinuz (4.0 KiB, bzImage)' },
    });
  });
});
