/**
 * The static checks row by row: every branch's status and whole detail text, as `ailinux verify` prints it.
 * Written against the survivors of `npm run mutation` (docs/testing.md); verify-checks.test.ts runs the same
 * checks on the captured reports of whole ISOs. Facts are built here from small trees and report lines, and from
 * the real xorriso reports in tests/fixtures/xorriso (see mutation-verify-parsers.test.ts for how they were made).
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  biosRequired,
  bootParams,
  checkBiosEntry,
  checkBootParam,
  checkGrubConfig,
  checkInitrd,
  checkKernel,
  checkLayout,
  checkSquashfs,
  checkUefiEntry,
  checkVolumeId,
  claimsBios,
  detectLiveSystem,
  filesToRead,
  formatBytes,
  staticChecks,
} from '../../src/verify/checks.js';
import { parseGrubConfig } from '../../src/verify/grub-config.js';
import type { IsoNode } from '../../src/verify/iso-listing.js';
import {
  ESP_TYPE_GUID,
  type ElToritoEntry,
  type SystemAreaReport,
  parseElToritoReport,
  parseSystemAreaReport,
} from '../../src/verify/xorriso-reports.js';
import type { CheckResult, EspFacts, IsoFacts, VerifyExpectations } from '../../src/verify/types.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/xorriso/${name}`, import.meta.url), 'utf8');
const inspect = (name: string) => `${fixture(`${name}.inspect.stdout.txt`)}\n${fixture(`${name}.inspect.stderr.txt`)}`;

const BASIC_DATA = 'a2a0d0ebe5b9334487c068b6b72699c7';
const KERNEL_HEAD = (() => {
  const b = Buffer.alloc(1024);
  b.write('HdrS', 0x202, 'latin1');
  return b;
})();
const INITRD_HEAD = Buffer.from('070701');
const SQUASHFS_HEAD = Buffer.from('hsqs');

/** A tree: a path and its size for a file, 'dir', or '->target' for a symlink; files get consecutive blocks. */
function tree(spec: Record<string, number | 'dir' | `->${string}`>): Map<string, IsoNode> {
  const listing = new Map<string, IsoNode>([['/', { path: '/', type: 'dir', size: 0, lba: null, target: null }]]);
  let lba = 100;
  for (const [p, v] of Object.entries(spec)) {
    if (v === 'dir') listing.set(p, { path: p, type: 'dir', size: 0, lba: null, target: null });
    else if (typeof v === 'string')
      listing.set(p, { path: p, type: 'symlink', size: 0, lba: null, target: v.slice(2) });
    else listing.set(p, { path: p, type: 'file', size: v, lba: lba++, target: null });
  }
  return listing;
}

const LIVE_TREE = {
  '/live': 'dir',
  '/live/vmlinuz': 8 * 1024 * 1024,
  '/live/initrd.img': 30 * 1024 * 1024,
  '/live/filesystem.squashfs': 900 * 1024 * 1024,
} as const;
const LIVE_GRUB = 'menuentry "live" {\n  linux /live/vmlinuz boot=live\n  initrd /live/initrd.img\n}\n';
const LIVE_HEADS = () =>
  new Map([
    ['/live/vmlinuz', KERNEL_HEAD],
    ['/live/initrd.img', INITRD_HEAD],
    ['/live/filesystem.squashfs', SQUASHFS_HEAD],
  ]);

const BIOS = (e: Partial<ElToritoEntry> = {}): ElToritoEntry => ({
  index: 1,
  platform: 'BIOS',
  bootable: true,
  emulation: 'none',
  loadSize: 4,
  lba: 75,
  path: '/boot/grub/bios.img',
  options: [],
  ...e,
});
const UEFI = (e: Partial<ElToritoEntry> = {}): ElToritoEntry => ({
  index: 2,
  platform: 'UEFI',
  bootable: true,
  emulation: 'none',
  loadSize: 2048,
  lba: 116250,
  path: null,
  options: [],
  ...e,
});

const AREA = (a: Partial<SystemAreaReport> = {}): SystemAreaReport => ({
  summary: null,
  mbrPartitions: [],
  gptPartitions: [],
  gpt: false,
  esp: false,
  ...a,
});

function facts(
  o: {
    entries?: ElToritoEntry[];
    volumeId?: string | null;
    area?: SystemAreaReport;
    listing?: Map<string, IsoNode>;
    grub?: string | null;
    files?: string[];
    heads?: Map<string, Buffer>;
    esp?: EspFacts | null;
  } = {},
): IsoFacts {
  const entries = o.entries ?? [];
  const grub = o.grub === undefined ? LIVE_GRUB : o.grub;
  return {
    torito: {
      bios: entries.some((e) => e.platform === 'BIOS' && e.bootable),
      uefi: entries.some((e) => e.platform === 'UEFI' && e.bootable),
      volumeId: o.volumeId === undefined ? 'LIVE' : o.volumeId,
      catalogPath: null,
      entries,
    },
    area: o.area ?? AREA(),
    listing: o.listing ?? tree(LIVE_TREE),
    grub: {
      path: '/boot/grub/grub.cfg',
      found: grub !== null,
      config: parseGrubConfig(grub ?? ''),
      files: o.files ?? (grub === null ? [] : ['/boot/grub/grub.cfg']),
    },
    heads: o.heads ?? LIVE_HEADS(),
    esp: o.esp === undefined ? null : o.esp,
  };
}

/** Facts of a real ISO report (both streams), with the small live tree unless told otherwise. */
function realFacts(name: string, o: Parameters<typeof facts>[0] = {}): IsoFacts {
  const text = inspect(name);
  const torito = parseElToritoReport(text);
  return { ...facts(o), torito, area: parseSystemAreaReport(text) };
}

const CLI: VerifyExpectations = { bios: 'auto', uefi: 'required', requireChecksum: false };
const NONE: VerifyExpectations = { bios: 'off', uefi: 'off', requireChecksum: false };
const BIOS_ONLY: VerifyExpectations = { bios: 'required', uefi: 'off', requireChecksum: false };

const row = (r: CheckResult | null) => (r === null ? null : `${r.status}: ${r.detail}`);

describe('formatBytes', () => {
  it('switches unit exactly at each power of 1024, with one decimal (two for GiB)', () => {
    expect(
      [0, 1, 1023, 1024, 1536, 1024 * 1024 - 1, 1024 * 1024, 1024 ** 3 - 1, 1024 ** 3, 5.5 * 1024 ** 3].map(
        formatBytes,
      ),
    ).toEqual([
      '0 B',
      '1 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '1024.0 KiB',
      '1.0 MiB',
      '1024.0 MiB',
      '1.00 GiB',
      '5.50 GiB',
    ]);
    expect(formatBytes(2.25 * 1024 * 1024)).toBe('2.3 MiB');
  });
});

describe('claimsBios and biosRequired', () => {
  it('a BIOS entry claims BIOS, bootable or not; a UEFI or Mac entry does not', () => {
    expect(claimsBios(facts({ entries: [BIOS({ bootable: false })] }))).toBe(true);
    expect(claimsBios(facts({ entries: [UEFI(), BIOS({ platform: 'Mac' })] }))).toBe(false);
    expect(claimsBios(facts())).toBe(false);
  });

  it('MBR boot code claims BIOS: grub2-mbr or isohybrid as a word of the summary', () => {
    const claims = (summary: string | null) => claimsBios(facts({ entries: [UEFI()], area: AREA({ summary }) }));
    expect(claims('MBR protective-msdos-label grub2-mbr cyl-align-off GPT')).toBe(true);
    expect(claims('MBR isohybrid cyl-align-on GPT')).toBe(true);
    expect(claims('isohybrid')).toBe(true);
    expect(claims('MBR protective-msdos-label cyl-align-off GPT')).toBe(false);
    expect(claims('MBR notisohybrid')).toBe(false);
    expect(claims('MBR grub2-mbrx')).toBe(false);
    expect(claims(null)).toBe(false);
  });

  it('required always, auto only on a claim, off never', () => {
    const claiming = facts({ entries: [BIOS()] });
    const silent = facts({ entries: [UEFI()] });
    const req = (f: IsoFacts, bios: VerifyExpectations['bios']) => biosRequired(f, { ...CLI, bios });
    expect([req(claiming, 'required'), req(claiming, 'auto'), req(claiming, 'off')]).toEqual([true, true, false]);
    expect([req(silent, 'required'), req(silent, 'auto'), req(silent, 'off')]).toEqual([true, false, false]);
  });
});

describe('El Torito BIOS entry', () => {
  const bios = (f: IsoFacts, e: VerifyExpectations = CLI) => row(checkBiosEntry(f, e));

  it('is named and skipped when not required, saying whether one is there', () => {
    expect(checkBiosEntry(facts(), NONE)).toEqual({
      id: 'eltorito-bios',
      name: 'El Torito BIOS entry',
      status: 'skipped',
      detail: 'not required',
    });
    expect(bios(facts({ entries: [BIOS({ path: null, bootable: false })] }), NONE)).toBe(
      'skipped: not required; present: BIOS (hidden image)',
    );
  });

  it('says what the ISO has when the entry is missing: no catalog, one entry, several entries', () => {
    expect(bios(facts(), BIOS_ONLY)).toBe('fail: no BIOS El Torito entry; the ISO has no El Torito boot catalog');
    const entries = [UEFI({ index: 1 }), UEFI({ index: 2, platform: 'Mac', path: '/boot/efi.img' })];
    expect(bios(facts({ entries }), BIOS_ONLY)).toBe(
      'fail: no BIOS El Torito entry; the ISO has 2 entries: UEFI (hidden image), Mac /boot/efi.img',
    );
  });

  it('names the isohybrid boot code an image without a BIOS entry carries', () => {
    const f = facts({ entries: [UEFI()], area: AREA({ summary: 'MBR isohybrid cyl-align-on GPT' }) });
    expect(bios(f)).toBe(
      'fail: no BIOS El Torito entry although the MBR carries isohybrid boot code; the ISO has 1 entry: UEFI (hidden image)',
    );
    // when BIOS is required, the boot code is no claim to point out
    expect(bios(f, BIOS_ONLY)).toBe('fail: no BIOS El Torito entry; the ISO has 1 entry: UEFI (hidden image)');
  });

  it('checks the bootable BIOS entry when a non-bootable one comes first', () => {
    const entries = [BIOS({ index: 1, bootable: false, path: '/nowhere' }), BIOS({ index: 2 })];
    const listing = tree({ ...LIVE_TREE, '/boot': 'dir', '/boot/grub': 'dir', '/boot/grub/bios.img': 2048 });
    expect(bios(facts({ entries, listing }))).toBe('ok: /boot/grub/bios.img, no emulation, load size 4');
  });

  it('names the emulation of a real floppy-emulation image, and a boot image reached through a symlink', () => {
    const f = realFacts('floppy-emulation', { listing: tree({ '/boot': 'dir', '/boot/floppy.img': 1474560 }) });
    expect(bios(f)).toBe('ok: /boot/floppy.img, fd1.4 emulation, load size 1');
    const linked = facts({
      entries: [BIOS({ path: '/isolinux/isolinux.bin', options: ['boot-info-table'] })],
      listing: tree({ '/isolinux': '->boot', '/boot': 'dir', '/boot/isolinux.bin': 38912 }),
    });
    expect(bios(linked)).toBe('ok: /isolinux/isolinux.bin, no emulation, load size 4, boot-info-table');
  });

  it('an image path that is a directory or a dangling symlink is not in the tree', () => {
    const entries = [BIOS()];
    const dirs = { '/boot': 'dir', '/boot/grub': 'dir' } as const;
    expect(bios(facts({ entries, listing: tree({ ...dirs, '/boot/grub/bios.img': 2048 }) }))).toBe(
      'ok: /boot/grub/bios.img, no emulation, load size 4',
    );
    expect(bios(facts({ entries, listing: tree({ ...dirs, '/boot/grub/bios.img': 'dir' }) }))).toBe(
      "fail: the BIOS entry's image /boot/grub/bios.img is not in the ISO tree",
    );
    expect(bios(facts({ entries, listing: tree({ '/boot': 'dir', '/boot/grub': '->nowhere' }) }))).toBe(
      "fail: the BIOS entry's image /boot/grub/bios.img is not in the ISO tree",
    );
  });
});

describe('El Torito UEFI entry', () => {
  const uefi = (f: IsoFacts, e: VerifyExpectations = CLI) => row(checkUefiEntry(f, e));
  const ESP: EspFacts = { offset: 0, fat: true, bootFiles: ['BOOTX64.EFI'], note: null };

  it('is named and skipped when not required, naming a present entry', () => {
    expect(checkUefiEntry(facts({ entries: [UEFI()] }), NONE)).toEqual({
      id: 'eltorito-uefi',
      name: 'El Torito UEFI entry',
      status: 'skipped',
      detail: 'not required; present: UEFI (hidden image)',
    });
  });

  it('missing: names what the ISO has instead', () => {
    expect(uefi(facts())).toBe('fail: no UEFI El Torito entry: the ISO has no El Torito boot catalog');
    expect(uefi(realFacts('hd-emulation'))).toBe(
      'fail: no UEFI El Torito entry: the ISO has 2 entries: BIOS /isolinux/isolinux.bin, BIOS /boot/efi.img',
    );
  });

  it('checks the bootable UEFI entry when a non-bootable one comes first', () => {
    const entries = [UEFI({ index: 1, bootable: false, lba: 9 }), UEFI({ index: 2, lba: 20 })];
    expect(uefi(facts({ entries }))).toBe('ok: hidden image at LBA 20, FAT 1.0 MiB');
    expect(uefi(facts({ entries: [UEFI({ bootable: false, path: '/efi.img' })] }))).toBe(
      'fail: the UEFI entry UEFI /efi.img is not marked bootable',
    );
  });

  it('an image path that is a directory is not in the tree; a file is, with its size from the load size', () => {
    const entries = [UEFI({ path: '/efi.img', loadSize: 5760 })];
    expect(uefi(facts({ entries, listing: tree({ '/efi.img': 'dir' }) }))).toBe(
      "fail: the UEFI entry's image /efi.img is not in the ISO tree",
    );
    expect(uefi(facts({ entries, listing: tree({ '/efi.img': 2949120 }), esp: ESP }))).toBe(
      'ok: /efi.img, FAT 2.8 MiB, with /EFI/BOOT/BOOTX64.EFI',
    );
  });

  it('the boot loader file name is matched whole, in any case', () => {
    const entries = [UEFI()];
    const withFiles = (bootFiles: string[]) => uefi(facts({ entries, esp: { ...ESP, bootFiles } }));
    expect(withFiles(['bootx64.efi'])).toBe('ok: hidden image at LBA 116250, FAT 1.0 MiB, with /EFI/BOOT/BOOTX64.EFI');
    for (const wrong of ['BOOTX64.EFI.bak', 'xBOOTX64.EFI', 'BOOTX64xEFI']) {
      expect(withFiles(['BOOTIA32.EFI', wrong])).toBe(
        `fail: the UEFI entry's FAT image (hidden image at LBA 116250) has no /EFI/BOOT/BOOTX64.EFI: it holds BOOTIA32.EFI, ${wrong}`,
      );
    }
    expect(uefi(facts({ entries, esp: { ...ESP, bootFiles: [] } }))).toBe(
      "fail: the UEFI entry's FAT image (hidden image at LBA 116250) has no /EFI/BOOT/BOOTX64.EFI: it has no /EFI/BOOT",
    );
  });

  it('names the GPT partition that is the boot image: an ESP starting at its LBA (2048-byte blocks = 4 sectors)', () => {
    const entries = [UEFI({ lba: 1495, loadSize: 2880 })];
    const part = (index: number, typeGuid: string, start: number) => ({
      index,
      typeGuid,
      name: null,
      start,
      size: 2880,
    });
    const at = (...gptPartitions: ReturnType<typeof part>[]) =>
      uefi(facts({ entries, area: AREA({ gpt: true, gptPartitions }), esp: ESP }));
    expect(at(part(1, BASIC_DATA, 5980), part(2, ESP_TYPE_GUID, 5980))).toBe(
      'ok: hidden image at LBA 1495 = GPT partition 2, FAT 1.4 MiB, with /EFI/BOOT/BOOTX64.EFI',
    );
    expect(at(part(2, ESP_TYPE_GUID, 5981))).toBe(
      'ok: hidden image at LBA 1495, FAT 1.4 MiB, with /EFI/BOOT/BOOTX64.EFI',
    );
    expect(at(part(2, ESP_TYPE_GUID, 1495))).toBe(
      'ok: hidden image at LBA 1495, FAT 1.4 MiB, with /EFI/BOOT/BOOTX64.EFI',
    );
  });

  it('the real multi-platform image: the hidden UEFI image is GPT partition 2', () => {
    const f = realFacts('multi-platform', { esp: { ...ESP, bootFiles: null, note: null } });
    expect(uefi(f)).toBe('ok: hidden image at LBA 1495 = GPT partition 2, FAT 1.4 MiB');
  });
});

describe('MBR/GPT hybrid layout', () => {
  const layout = (f: IsoFacts, e: VerifyExpectations = CLI) => row(checkLayout(f, e));
  const MBR = (index: number, status: string, type: string) => ({ index, status, type, start: 0, blocks: 1 });
  const GPT = (index: number, typeGuid: string, name: string | null = null) => ({
    index,
    typeGuid,
    name,
    start: 64,
    size: 4096,
  });

  it('is named and skipped when neither firmware is required, with the system area when there is one', () => {
    expect(checkLayout(realFacts('no-boot'), { ...CLI, uefi: 'off' })).toEqual({
      id: 'layout',
      name: 'MBR/GPT hybrid layout',
      status: 'skipped',
      detail: 'not required',
    });
    expect(layout(realFacts('multi-platform'), NONE)).toBe(
      'skipped: not required; system area: MBR protective-msdos-label grub2-mbr cyl-align-off GPT',
    );
  });

  it('BIOS required on an ISO without a system area: no boot code and no partition table', () => {
    expect(layout(realFacts('no-boot'), BIOS_ONLY)).toBe(
      'fail: no MBR boot code (neither grub2-mbr nor isohybrid): written to a USB stick it would not boot on BIOS; no MBR partition table (empty system area)',
    );
  });

  it('BIOS required: boot code without a partition table fails; the partitions are listed with the active flag', () => {
    const summary = 'MBR isohybrid cyl-align-on';
    expect(layout(facts({ area: AREA({ summary }) }), BIOS_ONLY)).toBe(
      'fail: no MBR partition table (system area: MBR isohybrid cyl-align-on)',
    );
    expect(layout(facts({ area: AREA({ summary, mbrPartitions: [MBR(1, '0x80', '0x17')] }) }), BIOS_ONLY)).toBe(
      'ok: MBR isohybrid boot code; MBR partitions 0x17 (active)',
    );
  });

  it('UEFI only: BIOS problems are not reported, the partitions are', () => {
    const area = AREA({ summary: 'MBR cyl-align-off', mbrPartitions: [MBR(1, '0x00', '0xef')] });
    expect(layout(facts({ entries: [UEFI()], area }))).toBe(
      'ok: MBR partitions 0xef; EFI system partition as MBR partition 1',
    );
  });

  it('an ESP in the GPT wins over one in the MBR, and needs the 0xee entry', () => {
    const area = AREA({
      summary: 'MBR protective-msdos-label cyl-align-off GPT',
      gpt: true,
      mbrPartitions: [MBR(1, '0x00', '0xef'), MBR(2, '0x00', '0xee')],
      gptPartitions: [GPT(1, BASIC_DATA), GPT(3, ESP_TYPE_GUID)],
    });
    expect(layout(facts({ entries: [UEFI()], area }))).toBe(
      'ok: MBR partitions 0xef, 0xee; GPT with the EFI system partition as partition 3 (2.0 MiB)',
    );
    const noProtective = { ...area, mbrPartitions: [MBR(1, '0x00', '0xef')] };
    expect(layout(facts({ entries: [UEFI()], area: noProtective }))).toBe(
      'fail: a GPT without a protective MBR entry (type 0xee) (system area: MBR protective-msdos-label cyl-align-off GPT)',
    );
  });

  it('a GPT without an ESP names its partitions (by type when unnamed), or none', () => {
    const area = AREA({
      summary: 'MBR cyl-align-off GPT',
      gpt: true,
      mbrPartitions: [MBR(1, '0x00', '0xee')],
      gptPartitions: [GPT(1, BASIC_DATA, 'Gap0'), GPT(2, BASIC_DATA)],
    });
    expect(layout(facts({ entries: [UEFI()], area }))).toBe(
      `fail: the GPT has no EFI system partition (partitions: Gap0, ${BASIC_DATA}) (system area: MBR cyl-align-off GPT)`,
    );
    expect(layout(facts({ entries: [UEFI()], area: { ...area, gptPartitions: [] } }))).toBe(
      'fail: the GPT has no EFI system partition (partitions: none) (system area: MBR cyl-align-off GPT)',
    );
  });

  it('both required: BIOS and UEFI problems and facts together, in order', () => {
    const both: VerifyExpectations = { ...CLI, bios: 'required' };
    expect(layout(facts({ area: AREA({ summary: 'MBR cyl-align-off' }) }), both)).toBe(
      'fail: no MBR boot code (neither grub2-mbr nor isohybrid): written to a USB stick it would not boot on BIOS; no MBR partition table; no GPT and no EFI system partition (type 0xef) in the MBR: written to a USB stick it would not boot on UEFI (system area: MBR cyl-align-off)',
    );
    expect(layout(realFacts('multi-platform'), both)).toBe(
      'ok: MBR grub2-mbr boot code; MBR partitions 0xee; GPT with the EFI system partition as partition 2 (1.4 MiB)',
    );
  });
});

describe('GRUB config row', () => {
  it('names every file sourced after grub.cfg', () => {
    const f = facts({ files: ['/boot/grub/grub.cfg', '/boot/grub/a.cfg', '/boot/grub/b.cfg'] });
    expect(checkGrubConfig(f)).toEqual({
      id: 'grub-config',
      name: 'GRUB config',
      status: 'ok',
      detail: '/boot/grub/grub.cfg: 1 menu entries, 1 linux lines, sourcing /boot/grub/a.cfg, /boot/grub/b.cfg',
    });
  });

  it('a config with no linux line names the files read', () => {
    const f = facts({ grub: 'set timeout=5\n', files: ['/boot/grub/grub.cfg', '/boot/grub/x.cfg'] });
    expect(row(checkGrubConfig(f))).toBe(
      'fail: /boot/grub/grub.cfg, /boot/grub/x.cfg has no linux line: no menu entry boots a kernel',
    );
  });
});

describe('kernel and initrd rows', () => {
  it('are named after what they check, and skipped without a linux line', () => {
    const f = facts({ grub: 'menuentry x {\n}\n' });
    expect(checkKernel(f)).toEqual({
      id: 'kernel',
      name: 'kernel',
      status: 'skipped',
      detail: 'no GRUB menu entry to read the path from',
    });
    expect(checkInitrd(f)).toEqual({
      id: 'initrd',
      name: 'initrd',
      status: 'skipped',
      detail: 'no GRUB menu entry to read the path from',
    });
  });

  it('a config with a linux line and no initrd line fails the initrd row', () => {
    expect(row(checkInitrd(facts({ grub: 'linux /live/vmlinuz boot=live\n' })))).toBe(
      'fail: the GRUB config has no initrd line: a live system needs its initramfs',
    );
  });

  it('reports each distinct file once, normalised, with its size and format', () => {
    const grub = [
      'linux /live/vmlinuz boot=live',
      'initrd /live/./initrd.img /live/ucode.img',
      'linux /live/../live/vmlinuz boot=live',
      'initrd /live/initrd.img',
    ].join('\n');
    const listing = tree({ ...LIVE_TREE, '/live/ucode.img': 512 });
    const heads = LIVE_HEADS();
    heads.set('/live/ucode.img', Buffer.from([0x1f, 0x8b]));
    const f = facts({ grub, listing, heads });
    expect(row(checkKernel(f))).toBe('ok: /live/vmlinuz (8.0 MiB, bzImage)');
    expect(row(checkInitrd(f))).toBe('ok: /live/initrd.img (30.0 MiB, cpio), /live/ucode.img (512 B, gzip)');
  });

  it('a file whose head was not read is reported as unread', () => {
    expect(row(checkKernel(facts({ heads: new Map() })))).toBe('ok: /live/vmlinuz (8.0 MiB, unread)');
  });

  it('a path that is a directory fails, naming the line', () => {
    const listing = tree({ '/live': 'dir', '/live/vmlinuz': 'dir', '/live/initrd.img': 100 });
    expect(row(checkKernel(facts({ listing })))).toBe(
      'fail: /live/vmlinuz (linux line at /boot/grub/grub.cfg:2) is a dir, not a file',
    );
  });

  it('the first failing file stops the row, before later files are looked at', () => {
    const grub = 'linux /live/vmlinuz boot=live\ninitrd /missing.img /live/initrd.img\n';
    expect(row(checkInitrd(facts({ grub })))).toBe(
      'fail: /missing.img (initrd line at /boot/grub/grub.cfg:2) is not on the ISO',
    );
  });

  it('paths that all use a variable fail, named; the config file and line are named for a sourced file', () => {
    const grub = 'linux $kdir/vmlinuz boot=live\ninitrd ${kdir}/initrd.img $x/ucode\n';
    expect(row(checkKernel(facts({ grub })))).toBe(
      'fail: every kernel path in the GRUB config uses a variable ($kdir/vmlinuz); none could be checked',
    );
    expect(row(checkInitrd(facts({ grub })))).toBe(
      'fail: every initrd path in the GRUB config uses a variable (${kdir}/initrd.img, $x/ucode); none could be checked',
    );
    const sourced = facts({ grub: null });
    sourced.grub = {
      path: '/boot/grub/grub.cfg',
      found: true,
      config: parseGrubConfig('\n\nlinux /live/vmlinuz boot=live\ninitrd /live/none.img', '/boot/grub/live.cfg'),
      files: ['/boot/grub/grub.cfg', '/boot/grub/live.cfg'],
    };
    expect(row(checkInitrd(sourced))).toBe(
      'fail: /live/none.img (initrd line at /boot/grub/live.cfg:4) is not on the ISO',
    );
  });

  it('a dynamic path beside static ones is kept as written', () => {
    const grub = 'linux /live/vmlinuz boot=live\ninitrd /live/initrd.img $p/../x\n';
    expect(row(checkInitrd(facts({ grub })))).toBe('ok: /live/initrd.img (30.0 MiB, cpio); not resolved: $p/../x');
    const two = 'linux /live/vmlinuz boot=live\ninitrd /live/initrd.img $a $b\n';
    expect(row(checkInitrd(facts({ grub: two })))).toBe('ok: /live/initrd.img (30.0 MiB, cpio); not resolved: $a, $b');
  });

  it('a file that is not what its line loads fails the row (status fail, not only the text)', () => {
    const heads = LIVE_HEADS();
    heads.set('/live/vmlinuz', Buffer.from('MZ'));
    heads.set('/live/filesystem.squashfs', Buffer.from('nope'));
    const f = facts({ heads });
    expect(row(checkKernel(f))).toBe(
      'fail: /live/vmlinuz (linux line at /boot/grub/grub.cfg:2) is not a Linux kernel (no bzImage header)',
    );
    expect(row(checkSquashfs(f, CLI))).toBe(
      'fail: /live/filesystem.squashfs is not a squashfs image (no hsqs signature)',
    );
  });
});

describe('the live system and the squashfs row', () => {
  const CASPER_TREE = {
    '/casper': 'dir',
    '/casper/filesystem.squashfs': 2 * 1024 ** 3,
  } as const;
  const detect = (spec: Parameters<typeof tree>[0], grub: string | null, e: VerifyExpectations = CLI) =>
    detectLiveSystem(facts({ listing: tree(spec), grub }), e);

  it('the configured live system wins', () => {
    expect(detect(LIVE_TREE, LIVE_GRUB, { ...CLI, liveSystem: 'casper' })).toBe('casper');
  });

  it("boot= decides when its directory exists; else the one directory there is; else boot='s or the first", () => {
    const casperGrub = LIVE_GRUB.replace('boot=live', 'boot=casper');
    const both = { ...LIVE_TREE, ...CASPER_TREE };
    expect(detect(both, casperGrub)).toBe('casper');
    expect(detect(both, LIVE_GRUB)).toBe('live-boot');
    expect(detect(LIVE_TREE, casperGrub)).toBe('live-boot');
    expect(detect(CASPER_TREE, LIVE_GRUB)).toBe('casper');
    expect(detect({}, casperGrub)).toBe('casper');
    expect(detect({}, LIVE_GRUB)).toBe('live-boot');
    expect(detect(both, null)).toBe('live-boot');
    expect(detect(CASPER_TREE, null)).toBe('casper');
    expect(detect({}, null)).toBeNull();
    expect(detect({}, LIVE_GRUB.replace('boot=live', 'boot=other'))).toBeNull();
    // /casper as a file is not a live system directory
    expect(detect({ ...LIVE_TREE, '/casper': 1 }, casperGrub)).toBe('live-boot');
    // entries that disagree say nothing; the directories decide
    const mixed = `${LIVE_GRUB}${casperGrub}`;
    expect(detect(CASPER_TREE, mixed)).toBe('casper');
    expect(detect(both, mixed)).toBe('live-boot');
    expect(detect(both, `${casperGrub}${LIVE_GRUB}`)).toBe('live-boot');
  });

  it('counts the linux lines per boot= value, null for none', () => {
    const grub = 'linux /a boot=live\nlinux /b boot=live quiet\nlinux /c\nlinux /d boot=casper\n';
    expect([...bootParams(facts({ grub })).entries()]).toEqual([
      ['live', 2],
      [null, 1],
      ['casper', 1],
    ]);
  });

  it('is named, and fails with no live system at all', () => {
    expect(checkSquashfs(facts({ listing: tree({}), grub: null }), CLI)).toEqual({
      id: 'squashfs',
      name: 'squashfs',
      status: 'fail',
      detail:
        'no /live or /casper directory on the ISO, and no boot=live or boot=casper in the GRUB config: there is no live system',
    });
  });

  it('says what the directory holds, that it is empty, or that there is none', () => {
    const squashfs = (spec: Parameters<typeof tree>[0], grub: string | null = LIVE_GRUB) =>
      row(checkSquashfs(facts({ listing: tree(spec), grub }), CLI));
    expect(squashfs({ '/live': 'dir' })).toBe(
      'fail: /live/filesystem.squashfs is not on the ISO (/live holds: nothing)',
    );
    expect(squashfs({})).toBe('fail: /live/filesystem.squashfs is not on the ISO (there is no /live)');
    expect(squashfs({ '/live': 'dir', '/live/filesystem.squashfs': 'dir' })).toBe(
      'fail: /live/filesystem.squashfs is a dir, not a file',
    );
    expect(squashfs(CASPER_TREE, null)).toBe('ok: /casper/filesystem.squashfs (2.00 GiB, casper)');
  });

  it('a squashfs whose head was not read passes on its size', () => {
    expect(row(checkSquashfs(facts({ heads: new Map() }), CLI))).toBe(
      'ok: /live/filesystem.squashfs (900.0 MiB, live-boot)',
    );
  });
});

describe('boot parameter row', () => {
  const param = (grub: string | null, spec: Parameters<typeof tree>[0] = LIVE_TREE, e: VerifyExpectations = CLI) =>
    checkBootParam(facts({ grub, listing: tree(spec) }), e);

  it('is named; one linux line is counted as one', () => {
    expect(param(LIVE_GRUB)).toEqual({
      id: 'boot-param',
      name: 'boot parameter',
      status: 'ok',
      detail: 'boot=live on 1 linux line, matching the live system in /live (live-boot)',
    });
  });

  it('is skipped without a grub.cfg or a linux line', () => {
    expect(row(param(null))).toBe('skipped: no GRUB menu entry to read it from');
    expect(row(param('menuentry x {\n}\n'))).toBe('skipped: no GRUB menu entry to read it from');
  });

  it('a linux line without boot=, and entries that disagree, fail', () => {
    expect(row(param('linux /live/vmlinuz boot=live\nlinux /live/vmlinuz quiet\n'))).toBe(
      'fail: the linux line at /boot/grub/grub.cfg:2 has no boot= parameter: the initramfs would not look for a live system',
    );
    expect(row(param('linux /live/vmlinuz boot=live\nlinux /casper/vmlinuz boot=casper\n'))).toBe(
      'fail: the menu entries disagree: boot=live (1 lines), boot=casper (1 lines)',
    );
  });

  it('a value that names no live system fails', () => {
    expect(row(param('linux /live/vmlinuz boot=livecd\n'))).toBe(
      'fail: boot=livecd is neither boot=live (live-boot) nor boot=casper (casper)',
    );
  });

  it('boot=casper with neither directory fails without naming another', () => {
    expect(row(param('linux /casper/vmlinuz boot=casper\n', {}))).toBe(
      'fail: the GRUB config says boot=casper, which looks in /casper, and there is no /casper on the ISO',
    );
  });

  it('the configured live system is matched against boot=', () => {
    const casper = { '/casper': 'dir' } as const;
    expect(row(param('linux /casper/vmlinuz boot=casper\n', casper, { ...CLI, liveSystem: 'casper' }))).toBe(
      'ok: boot=casper on 1 linux line, matching the live system in /casper (casper)',
    );
    expect(row(param(LIVE_GRUB, casper, { ...CLI, liveSystem: 'casper' }))).toBe(
      'fail: the GRUB config says boot=live, but the live system is casper (boot=casper, /casper)',
    );
  });
});

describe('volume id row', () => {
  it('is left out unless a volume id is expected', () => {
    expect(checkVolumeId(facts(), CLI)).toBeNull();
    expect(staticChecks(facts(), CLI).map((c) => c.id)).not.toContain('volume-id');
  });

  it('a missing volume id fails as missing', () => {
    expect(checkVolumeId(facts({ volumeId: null }), { ...CLI, volumeId: 'LIVE' })).toEqual({
      id: 'volume-id',
      name: 'volume id',
      status: 'fail',
      detail: `the volume id is missing, not "LIVE": GRUB's search --label would not find the ISO`,
    });
    expect(row(checkVolumeId(facts({ volumeId: 'live' }), { ...CLI, volumeId: 'LIVE' }))).toBe(
      `fail: the volume id is "live", not "LIVE": GRUB's search --label would not find the ISO`,
    );
  });
});

describe('files to read', () => {
  it('the kernel, initrds and squashfs the checks look at, once each, only files with data', () => {
    const grub = [
      'linux /live/vmlinuz boot=live',
      'initrd /live/initrd.img /live/empty.img $x/dyn.img /live/dir /live/none',
      'linux /live/./vmlinuz boot=live',
      'initrd /live/link',
    ].join('\n');
    const listing = tree({
      ...LIVE_TREE,
      '/live/empty.img': 0,
      '/live/dir': 'dir',
      '/live/link': '->initrd.img',
    });
    listing.set('/live/nolba', { path: '/live/nolba', type: 'file', size: 5, lba: null, target: null });
    const f = facts({ grub: `${grub}\ninitrd /live/nolba`, listing });
    const { heads: _, ...withoutHeads } = f;
    expect(filesToRead(withoutHeads, CLI).map((n) => n.path)).toEqual([
      '/live/vmlinuz',
      '/live/initrd.img',
      '/live/filesystem.squashfs',
    ]);
  });

  it('a relative path in the GRUB config is not read, even when the root holds a file of that name', () => {
    const f = facts({ grub: 'linux live/vmlinuz boot=live\n' });
    const { heads: _, ...withoutHeads } = f;
    expect(filesToRead(withoutHeads, CLI).map((n) => n.path)).toEqual(['/live/filesystem.squashfs']);
  });

  it('no live system: only the GRUB config’s files', () => {
    const f = facts({
      listing: tree({ '/boot': 'dir', '/boot/vmlinuz': 10, '/boot/initrd': 10 }),
      grub: 'linux /boot/vmlinuz\ninitrd /boot/initrd\n',
    });
    const { heads: _, ...withoutHeads } = f;
    expect(filesToRead(withoutHeads, CLI).map((n) => n.path)).toEqual(['/boot/vmlinuz', '/boot/initrd']);
  });
});
