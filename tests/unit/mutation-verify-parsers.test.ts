/**
 * The verifier's parsers on whole reports, field by field: xorriso's El Torito and system area reports, its lsdl
 * and report_lba listing, and the file signatures. Written against the survivors of `npm run mutation`
 * (docs/testing.md). The fixtures are real xorriso 1.5.4 output of small ISOs made on the build host:
 * - multi-platform: `xorriso -as mkisofs -b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4
 *   -eltorito-alt-boot -eltorito-platform 0x02 -b boot/efi.img -no-emul-boot -eltorito-alt-boot
 *   -eltorito-platform 0x42 -b boot/floppy.img -no-emul-boot -eltorito-alt-boot
 *   -e --interval:appended_partition_2:all:: -no-emul-boot -append_partition 2 0xef efi.img -appended_part_as_gpt
 *   --grub2-mbr boot_hybrid.img`;
 * - floppy-emulation: `-b boot/floppy.img` (a 1.44 MB image, floppy emulation); hd-emulation: a no-emulation
 *   BIOS entry and `-b boot/efi.img -hard-disk-boot`; no-boot: no boot options at all;
 * - special-nodes: `-R` of a tree with a fifo, a char and two block devices (7,0 and 259,12), setuid/setgid files, a sticky directory,
 *   absolute, relative and looping symlinks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  type ElToritoEntry,
  isoReportArgv,
  parseElToritoReport,
  parseSystemAreaReport,
} from '../../src/verify/xorriso-reports.js';
import {
  bootParamOf,
  isStaticGrubPath,
  mergeGrubConfigs,
  parseGrubConfig,
  splitGrubWords,
  stripGrubDevice,
} from '../../src/verify/grub-config.js';
import {
  listIsoDir,
  normaliseIsoPath,
  parseIsoListing,
  resolveIsoPath,
  unquoteXorriso,
} from '../../src/verify/iso-listing.js';
import {
  HEAD_BYTES,
  ISO_BLOCK,
  initrdFormat,
  isFatImage,
  isIso9660,
  isLinuxKernel,
  isSquashfs,
  readAt,
} from '../../src/verify/magic.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/xorriso/${name}`, import.meta.url), 'utf8');
/** Both streams, as the verifier reads them: the reports are on stdout, the volume id on stderr. */
const inspect = (name: string) => `${fixture(`${name}.inspect.stdout.txt`)}\n${fixture(`${name}.inspect.stderr.txt`)}`;

const entry = (e: Partial<ElToritoEntry> & Pick<ElToritoEntry, 'index' | 'platform'>): ElToritoEntry => ({
  bootable: true,
  emulation: 'none',
  loadSize: 4,
  lba: 0,
  path: null,
  options: [],
  ...e,
});

describe('El Torito report', () => {
  it('reads every entry of a four-platform catalog: BIOS, Mac, an unknown id and a hidden UEFI image', () => {
    expect(parseElToritoReport(inspect('multi-platform'))).toEqual({
      bios: true,
      uefi: true,
      volumeId: 'multi',
      catalogPath: '/boot.catalog',
      entries: [
        entry({ index: 1, platform: 'BIOS', loadSize: 4, lba: 1474, path: '/isolinux/isolinux.bin' }),
        entry({ index: 2, platform: 'Mac', loadSize: 2880, lba: 34, path: '/boot/efi.img' }),
        entry({ index: 3, platform: '0x42', loadSize: 2880, lba: 754, path: '/boot/floppy.img' }),
        entry({ index: 4, platform: 'UEFI', loadSize: 2880, lba: 1495 }),
      ],
    });
  });

  it('reads floppy and hard disk emulation, and two BIOS entries', () => {
    expect(parseElToritoReport(inspect('floppy-emulation'))).toEqual({
      bios: true,
      uefi: false,
      volumeId: 'FLOP',
      catalogPath: '/boot.cat',
      entries: [
        entry({ index: 1, platform: 'BIOS', emulation: 'fd1.4', loadSize: 1, lba: 34, path: '/boot/floppy.img' }),
      ],
    });
    expect(parseElToritoReport(inspect('hd-emulation')).entries).toEqual([
      entry({ index: 1, platform: 'BIOS', loadSize: 76, lba: 754, path: '/isolinux/isolinux.bin' }),
      entry({ index: 2, platform: 'BIOS', emulation: 'hd', loadSize: 1, lba: 34, path: '/boot/efi.img' }),
    ]);
  });

  it('an ISO without boot records has no entries, no catalog, and still its volume id', () => {
    expect(parseElToritoReport(inspect('no-boot'))).toEqual({
      bios: false,
      uefi: false,
      volumeId: 'PLAIN',
      catalogPath: null,
      entries: [],
    });
    expect(parseElToritoReport('')).toEqual({
      bios: false,
      uefi: false,
      volumeId: null,
      catalogPath: null,
      entries: [],
    });
  });

  it('a platform counts only through a bootable entry', () => {
    const report = [
      'El Torito boot img :   1  BIOS  n   none  0x0000  0x00      4          75',
      'El Torito boot img :   2  UEFI  n   none  0x0000  0x00   2048      116250',
    ].join('\n');
    const r = parseElToritoReport(report);
    expect([r.bios, r.uefi]).toEqual([false, false]);
    expect(r.entries.map((e) => e.bootable)).toEqual([false, false]);
    const bootable = parseElToritoReport(report.replace(/ n {3}/g, ' y   '));
    expect([bootable.bios, bootable.uefi]).toEqual([true, true]);
    // a bootable entry of another platform claims neither
    const mac = parseElToritoReport('El Torito boot img :   1   Mac  y   none  0x0000  0x00      4          75');
    expect([mac.bios, mac.uefi]).toEqual([false, false]);
  });

  it('keeps the volume id as printed: quotes removed, inner spaces kept, an unquoted one as it is', () => {
    expect(parseElToritoReport("Volume id    : 'HY BRID'").volumeId).toBe('HY BRID');
    expect(parseElToritoReport("Volume id    : ''").volumeId).toBe('');
    expect(parseElToritoReport('Volume id:BARE').volumeId).toBe('BARE');
    expect(parseElToritoReport("Volume id    : 'A'   \r").volumeId).toBe('A');
  });

  it('sorts the entries by number, and attaches paths and options to the entry they name', () => {
    const r = parseElToritoReport(
      [
        'El Torito img path :   2  /efi.img',
        'El Torito boot img :  10  BIOS  y   none  0x0000  0x00      4        2974',
        'El Torito boot img :   2  UEFI  y   none  0x0000  0x00   5760          73',
        'El Torito img path :   2  /efi.img',
        'El Torito img opts :  10  boot-info-table   grub2-boot-info  ',
        'El Torito img path :  10  /boot/grub/i386-pc/eltorito.img   ',
        'El Torito img path :   7  /nowhere',
        'El Torito img path :   x 2 /not-a-number-first',
        'El Torito img opts :   x  never',
        'El Torito img path :  /no/number',
      ].join('\n'),
    );
    expect(r.entries).toEqual([
      entry({ index: 2, platform: 'UEFI', loadSize: 5760, lba: 73, path: '/efi.img' }),
      entry({
        index: 10,
        platform: 'BIOS',
        loadSize: 4,
        lba: 2974,
        path: '/boot/grub/i386-pc/eltorito.img',
        options: ['boot-info-table', 'grub2-boot-info'],
      }),
    ]);
  });

  it('skips a boot img line with a field missing or without an entry number', () => {
    const r = parseElToritoReport(
      [
        'El Torito images   :   N  Pltf  B   Emul  Ld_seg  Hdpt  Ldsiz         LBA',
        'El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4',
        'El Torito boot img :   N  BIOS  y   none  0x0000  0x00      4          75',
        'El Torito boot img :  1x  BIOS  y   none  0x0000  0x00      4          75',
        'El Torito boot img :  x1  BIOS  y   none  0x0000  0x00      4          75',
        'El Torito boot img :   3  UEFI  y   none  0x0000  0x00   2048      116250',
      ].join('\n'),
    );
    expect(r.entries.map((e) => [e.index, e.platform, e.lba])).toEqual([[3, 'UEFI', 116250]]);
    expect(r.bios).toBe(false);
  });

  it('reads only lines that start with a report key: a file named like one is not an entry', () => {
    const report = [
      "-rw-r--r--    1 0        0               3 Dec  7 00:55 '/El Torito boot img :   1  UEFI  y   none  0x0000  0x00   2048   9'",
      "-rw-r--r--    1 0        0               3 Dec  7 00:55 '/Volume id : FAKE'",
      'xorriso : NOTE : Detected El-Torito boot information which currently is set to be discarded',
      'Boot record  : El Torito , MBR protective-msdos-label grub2-mbr cyl-align-off GPT',
    ].join('\n');
    expect(parseElToritoReport(report)).toEqual({
      bios: false,
      uefi: false,
      volumeId: null,
      catalogPath: null,
      entries: [],
    });
  });
});

describe('system area report', () => {
  it('reads the MBR and every GPT partition of a grub2-mbr image with an appended ESP', () => {
    expect(parseSystemAreaReport(inspect('multi-platform'))).toEqual({
      summary: 'MBR protective-msdos-label grub2-mbr cyl-align-off GPT',
      mbrPartitions: [{ index: 1, status: '0x00', type: '0xee', start: 1, blocks: 9523 }],
      gptPartitions: [
        { index: 1, typeGuid: 'a2a0d0ebe5b9334487c068b6b72699c7', name: 'Gap0', start: 64, size: 5916 },
        { index: 2, typeGuid: '28732ac11ff8d211ba4b00a0c93ec93b', name: 'Appended2', start: 5980, size: 2880 },
        { index: 3, typeGuid: 'a2a0d0ebe5b9334487c068b6b72699c7', name: 'Gap1', start: 8860, size: 600 },
      ],
      gpt: true,
      esp: true,
    });
  });

  it("keeps a GPT partition name's spaces (grub-mkrescue's 'EFI boot partition')", () => {
    const area = parseSystemAreaReport(inspect('grub-mkrescue'));
    expect(area.gptPartitions.map((p) => p.name)).toEqual(['Gap0', 'EFI boot partition', 'HFSPLUS', 'Gap1']);
    expect(area.summary).toBe('MBR protective-msdos-label grub2-mbr cyl-align-off GPT APM');
  });

  it('an isohybrid MBR: the ESP is the MBR 0xef entry, the GPT has only basic data partitions', () => {
    const area = parseSystemAreaReport(inspect('isohybrid-gpt-basdat'));
    expect(area.mbrPartitions).toEqual([
      { index: 1, status: '0x80', type: '0x00', start: 0, blocks: 4096 },
      { index: 2, status: '0x00', type: '0xef', start: 136, blocks: 2880 },
    ]);
    expect(area.gptPartitions.map((p) => p.typeGuid)).toEqual([
      'a2a0d0ebe5b9334487c068b6b72699c7',
      'a2a0d0ebe5b9334487c068b6b72699c7',
    ]);
    expect([area.gpt, area.esp]).toEqual([true, true]);
    // the same image with its 0xef entry as another type has no ESP
    const other = parseSystemAreaReport(inspect('isohybrid-gpt-basdat').replace('0x00  0xef', '0x00  0x83'));
    expect(other.esp).toBe(false);
  });

  it('an ISO without a system area: no summary, no partitions, no GPT, no ESP', () => {
    expect(parseSystemAreaReport(inspect('no-boot'))).toEqual({
      summary: null,
      mbrPartitions: [],
      gptPartitions: [],
      gpt: false,
      esp: false,
    });
  });

  it('a GPT named only in the summary counts; a summary without the word does not', () => {
    expect(parseSystemAreaReport('System area summary: MBR protective-msdos-label GPT').gpt).toBe(true);
    expect(parseSystemAreaReport('System area summary: MBR isohybrid cyl-align-on').gpt).toBe(false);
    expect(parseSystemAreaReport('System area summary: MBR NOGPT-like').gpt).toBe(false);
    expect(parseSystemAreaReport('System area summary: MBR GPTX').gpt).toBe(false);
    expect(parseSystemAreaReport('GPT start and size :   1  64  100').gpt).toBe(true);
  });

  it('takes the summary trimmed, and skips MBR lines with a field missing or no number', () => {
    const area = parseSystemAreaReport(
      [
        'System area summary:   MBR isohybrid   ',
        'MBR partition table:   N Status  Type        Start       Blocks',
        'MBR partition      :   1   0x80  0x00            0',
        'MBR partition      :   N   0x80  0x00            0         8192',
        'MBR partition      :  1x   0x80  0x00            0         8192',
        'MBR partition      :  x1   0x80  0x00            0         8192',
        'MBR partition      :   3   0x00  0xef          136         2880   ',
        'MBR partition path :   3  /boot/efi.img',
      ].join('\n'),
    );
    expect(area.summary).toBe('MBR isohybrid');
    expect(parseSystemAreaReport('System area summary:MBR isohybrid').summary).toBe('MBR isohybrid');
    expect(area.mbrPartitions).toEqual([{ index: 3, status: '0x00', type: '0xef', start: 136, blocks: 2880 }]);
  });

  it('GPT lines build one partition per number, in number order, whatever order they come in', () => {
    const area = parseSystemAreaReport(
      [
        'GPT start and size :  12  5980  2880',
        'GPT type GUID      :   3  a2a0d0ebe5b9334487c068b6b72699c7',
        'GPT partname local :  12  EFI  system  partition',
        'GPT type GUID      :  12  28732ac11ff8d211ba4b00a0c93ec93b',
        'GPT partition path :   3  /boot/efi.img',
        'GPT type GUID      :   x  28732ac11ff8d211ba4b00a0c93ec93b',
        'GPT type GUID      :  4x  28732ac11ff8d211ba4b00a0c93ec93b',
        'GPT type GUID      :  x4  28732ac11ff8d211ba4b00a0c93ec93b',
        'GPT disk GUID      :      e548b24e4331474fb7112cdb48ff615a',
        'GPT start and size :   7  100  200',
        'GPT partname local :   7  a b c d',
      ].join('\n'),
    );
    expect(area.gptPartitions).toEqual([
      { index: 3, typeGuid: 'a2a0d0ebe5b9334487c068b6b72699c7', name: null, start: 0, size: 0 },
      // a partition with no type GUID line has an empty type; a name of four words is no MBR entry
      { index: 7, typeGuid: '', name: 'a b c d', start: 100, size: 200 },
      {
        index: 12,
        typeGuid: '28732ac11ff8d211ba4b00a0c93ec93b',
        name: 'EFI system partition',
        start: 5980,
        size: 2880,
      },
    ]);
    expect(area.esp).toBe(true);
    expect(area.mbrPartitions).toEqual([]);
    // a type GUID line with no GUID leaves the type empty
    expect(parseSystemAreaReport('GPT type GUID      :   1').gptPartitions).toEqual([
      { index: 1, typeGuid: '', name: null, start: 0, size: 0 },
    ]);
  });

  it('reads only lines that start with a report key', () => {
    const area = parseSystemAreaReport(
      [
        "-rw-r--r--    1 0        0               3 Dec  7 00:55 '/MBR partition      :   1   0x00  0xef   1   9'",
        '  MBR partition      :   1   0x00  0xef   1   9',
      ].join('\n'),
    );
    expect(area).toEqual({ summary: null, mbrPartitions: [], gptPartitions: [], gpt: false, esp: false });
  });

  it('asks xorriso for both reports in plain form', () => {
    expect(isoReportArgv('/i/x.iso')).toEqual([
      'xorriso',
      '-indev',
      '/i/x.iso',
      '-report_el_torito',
      'plain',
      '-report_system_area',
      'plain',
    ]);
  });
});

describe('lsdl and report_lba listing', () => {
  it('reads the multi-platform tree: a quote in a name, a space in a directory, a relative symlink', () => {
    const listing = parseIsoListing(fixture('multi-platform.inspect.stdout.txt'));
    expect(listing.get("/we ird/f'q")).toEqual({ path: "/we ird/f'q", type: 'file', size: 2, lba: 1494, target: null });
    expect(listing.get('/we ird')).toEqual({ path: '/we ird', type: 'dir', size: 0, lba: null, target: null });
    expect(listing.get('/casper')).toEqual({ path: '/casper', type: 'symlink', size: 0, lba: null, target: 'live' });
    expect(resolveIsoPath(listing, '/casper/a')).toEqual({
      path: '/live/a',
      type: 'file',
      size: 3,
      lba: 1493,
      target: null,
    });
    expect(listIsoDir(listing, '/we ird')).toEqual(["f'q"]);
    expect(listIsoDir(listing, '/we ird/')).toEqual(["f'q"]);
    expect(listIsoDir(listing, '/boot')).toEqual(['efi.img', 'floppy.img']);
  });

  it('reads fifos, devices, setuid, setgid and sticky modes, and absolute and relative symlinks', () => {
    const listing = parseIsoListing(fixture('special-nodes.inspect.stdout.txt'));
    expect(listing.get('/live/fifo')).toEqual({ path: '/live/fifo', type: 'other', size: 0, lba: null, target: null });
    expect(listing.get('/live/null')).toEqual({ path: '/live/null', type: 'other', size: 0, lba: null, target: null });
    expect(listing.get('/live/blk')).toEqual({ path: '/live/blk', type: 'other', size: 0, lba: null, target: null });
    expect(listing.get('/live/nvme')).toEqual({ path: '/live/nvme', type: 'other', size: 0, lba: null, target: null });
    expect(listing.get('/live/suid')).toEqual({ path: '/live/suid', type: 'file', size: 2, lba: 34, target: null });
    expect(listing.get('/live/sgid')).toMatchObject({ type: 'file', size: 2, lba: 33 });
    expect(listing.get('/sticky')).toMatchObject({ type: 'dir', size: 0 });
    expect(listing.get('/abs')).toMatchObject({ type: 'symlink', target: '/live/suid' });
    expect(listIsoDir(listing, '/live')).toEqual(['blk', 'empty', 'fifo', 'null', 'nvme', 'sgid', 'suid']);
    expect(resolveIsoPath(listing, '/abs')?.path).toBe('/live/suid');
    expect(resolveIsoPath(listing, '/sticky/up/suid')?.path).toBe('/live/suid');
    // loop1 -> loop2 -> loop1 ...: given up after the hop limit, not followed forever
    expect(resolveIsoPath(listing, '/loop1')).toBeNull();
    expect(resolveIsoPath(listing, '/loop1/x')).toBeNull();
  });

  it('follows exactly as many symlinks as the hop limit allows', () => {
    const chain = [
      "drwxr-xr-x    1 0 0    0 Dec  7 00:55 '/'",
      "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/l1' -> '/l2'",
      "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/l2' -> 'f'",
      "-rw-r--r--    1 0 0    5 Dec  7 00:55 '/f'",
      "File data lba:  0 ,       40 ,        1 ,        5 , '/f'",
      "drwxr-xr-x    1 0 0    0 Dec  7 00:55 '/d'",
      "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/d/abs' -> '/f'",
      "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/d/rel' -> 'sub/'",
    ].join('\n');
    const listing = parseIsoListing(chain);
    expect(resolveIsoPath(listing, '/l1')?.path).toBe('/f');
    expect(resolveIsoPath(listing, '/l1', 2)?.path).toBe('/f');
    expect(resolveIsoPath(listing, '/l1', 1)).toBeNull();
    expect(resolveIsoPath(listing, '/l2', 1)?.path).toBe('/f');
    expect(resolveIsoPath(listing, '/l2', 0)).toBeNull();
    expect(resolveIsoPath(listing, '/f', 0)?.path).toBe('/f');
    expect(resolveIsoPath(listing, '/')?.path).toBe('/');
    // an absolute target is taken from the root, wherever the link is; a relative one from the link's directory
    expect(resolveIsoPath(listing, '/d/abs')?.path).toBe('/f');
    expect(resolveIsoPath(listing, '/d/rel')).toBeNull();
  });

  it('a file with several extents (4 GiB and more) starts at its first extent, whatever order they come in', () => {
    const listing = parseIsoListing(
      [
        "File data lba:  1 ,  2097184 ,  1048576 , 2147483648 , '/live/filesystem.squashfs'",
        "File data lba:  0 ,       33 ,  2097151 , 4294965248 , '/live/filesystem.squashfs'",
        "File data lba:  1 ,  9000 ,  1 , 10 , '/no-first-extent'",
      ].join('\n'),
    );
    // no lsdl line: the node comes from the extents alone, its size their sum
    expect(listing.get('/live/filesystem.squashfs')).toEqual({
      path: '/live/filesystem.squashfs',
      type: 'file',
      size: 6442448896,
      lba: 33,
      target: null,
    });
    expect(listing.get('/no-first-extent')).toEqual({
      path: '/no-first-extent',
      type: 'file',
      size: 10,
      lba: null,
      target: null,
    });
  });

  it('reads report_lba lines with any spacing, and extent numbers of more than one digit', () => {
    const listing = parseIsoListing(
      ["File data lba:0,33,1,5,'/compact'", "File data lba:  12 ,  9000 ,  1 , 10 , '/twelfth-extent'"].join('\n'),
    );
    expect(listing.get('/compact')).toEqual({ path: '/compact', type: 'file', size: 5, lba: 33, target: null });
    expect(listing.get('/twelfth-extent')).toMatchObject({ size: 10, lba: null });
  });

  it('an lsdl line keeps its own size; the extents give its first block', () => {
    const listing = parseIsoListing(
      [
        "-rw-r--r--    1 0 0 6442448896 Dec  7 00:55 '/big'",
        "File data lba:  1 ,  2097184 ,  1048576 , 2147483648 , '/big'",
        "File data lba:  0 ,       33 ,  2097151 , 4294965248 , '/big'",
        "File data lba:  1 ,  50 ,  1 , 1 , '/tail-only'",
        "-rw-r--r--    1 0 0 1 Dec  7 00:55 '/tail-only'",
      ].join('\n'),
    );
    expect(listing.get('/big')).toMatchObject({ size: 6442448896, lba: 33 });
    expect(listing.get('/tail-only')).toMatchObject({ size: 1, lba: null });
  });

  it('skips lines that are not lsdl or report_lba lines, or whose name is not quoted', () => {
    const listing = parseIsoListing(
      [
        'Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path',
        'El Torito img path :   1  /boot/grub/bios.img',
        '-rw-r--r--    1 0 0 5 Dec  7 00:55 /unquoted',
        "-rw-r--r--    1 0 0 5 Dec  7 00:55 'unterminated",
        'File data lba:  0 ,       40 ,        1 ,        5 , /unquoted',
        "File data lba:  0 ,       40 ,        1 ,        5 , 'unterminated",
        "xrw-r--r--    1 0 0 5 Dec  7 00:55 '/bad-type'",
        "-rw-r--r--    1 0 0 5 Dec  7 00:55 '/ok'   ",
        "-rw-r--r--    1 0 0 5 Dec  7 00:55 '/crlf'\r",
        "  -rw-r--r--    1 0 0 5 Dec  7 00:55 '/indented'",
      ].join('\n'),
    );
    expect([...listing.keys()]).toEqual(['/ok', '/crlf']);
  });

  it('a symlink whose target is unreadable has none, and is not followed', () => {
    const listing = parseIsoListing(
      [
        "drwxr-xr-x    1 0 0    0 Dec  7 00:55 '/'",
        "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/a' -> 'unterminated",
        "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/b'",
        "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/bare' -> bare",
        "-rw-r--r--    1 0 0    1 Dec  7 00:55 '/c -> d'",
        "lrwxrwxrwx    1 0 0    0 Dec  7 00:55 '/e -> f' -> 'c -> d'",
      ].join('\n'),
    );
    expect(listing.get('/a')).toMatchObject({ type: 'symlink', target: null });
    expect(listing.get('/b')).toMatchObject({ type: 'symlink', target: null });
    expect(listing.get('/bare')).toMatchObject({ type: 'symlink', target: null });
    expect(listing.get('/c -> d')).toMatchObject({ type: 'file', target: null });
    expect(listing.get('/e -> f')).toMatchObject({ type: 'symlink', target: 'c -> d' });
    expect(resolveIsoPath(listing, '/a')).toEqual(listing.get('/a'));
    expect(resolveIsoPath(listing, '/e -> f')?.path).toBe('/c -> d');
  });

  it('unquotes shell-safe words, and leaves anything else as it is, trimmed', () => {
    expect(unquoteXorriso(`  'a b'  `)).toBe('a b');
    expect(unquoteXorriso(`'it'"'"'s'"'"''`)).toBe("it's'");
    expect(unquoteXorriso(`''`)).toBe('');
    expect(unquoteXorriso(`'`)).toBe("'");
    expect(unquoteXorriso(`'open`)).toBe("'open");
    expect(unquoteXorriso(`closed'`)).toBe("closed'");
    expect(unquoteXorriso(`bare`)).toBe('bare');
  });

  it('normalises . and .., and .. never climbs above the root', () => {
    expect(normaliseIsoPath('')).toBe('/');
    expect(normaliseIsoPath('/..')).toBe('/');
    expect(normaliseIsoPath('/../../a/.')).toBe('/a');
    expect(normaliseIsoPath('a/b/..')).toBe('/a');
    expect(normaliseIsoPath('/a/.../b')).toBe('/a/.../b');
  });

  it('lists a directory by its own entries only, not deeper ones or look-alike siblings', () => {
    const listing = parseIsoListing(
      [
        "drwxr-xr-x    1 0 0    0 Dec  7 00:55 '/'",
        "drwxr-xr-x    1 0 0    0 Dec  7 00:55 '/live'",
        "drwxr-xr-x    1 0 0    0 Dec  7 00:55 '/live/sub'",
        "-rw-r--r--    1 0 0    1 Dec  7 00:55 '/live/sub/deep'",
        "-rw-r--r--    1 0 0    1 Dec  7 00:55 '/live/b'",
        "-rw-r--r--    1 0 0    1 Dec  7 00:55 '/live/a'",
        "-rw-r--r--    1 0 0    1 Dec  7 00:55 '/liveX'",
      ].join('\n'),
    );
    expect(listIsoDir(listing, '/live')).toEqual(['a', 'b', 'sub']);
    expect(listIsoDir(listing, '/live/./sub/')).toEqual(['deep']);
    expect(listIsoDir(listing, '/')).toEqual(['live', 'liveX']);
    expect(listIsoDir(listing, '/none')).toEqual([]);
  });
});

describe('GRUB config reader', () => {
  it('splits words as GRUB does: quotes, escapes, comments, separators, braces and ${name}', () => {
    expect(splitGrubWords("a 'b c' d\\ e\tf")).toEqual(['a', 'b c', 'd e', 'f']);
    expect(splitGrubWords('x\'y\'"z"w')).toEqual(['xyzw']);
    expect(splitGrubWords(`"a\\"b" "c\\\\d"`)).toEqual(['a"b', 'c\\d']);
    expect(splitGrubWords('a \'\' b ""')).toEqual(['a', '', 'b', '']);
    expect(splitGrubWords("open 'quote and more")).toEqual(['open', 'quote and more']);
    expect(splitGrubWords('open "double and more')).toEqual(['open', 'double and more']);
    expect(splitGrubWords('open "ends with\\')).toEqual(['open', 'ends with\\']);
    expect(splitGrubWords('trailing\\')).toEqual(['trailing\\']);
    expect(splitGrubWords('a#b # comment')).toEqual(['a#b']);
    expect(splitGrubWords('#whole line')).toEqual([]);
    expect(splitGrubWords('a;b ; c')).toEqual(['a', ';', 'b', ';', 'c']);
    // a brace ends a statement as ; does
    expect(splitGrubWords("menuentry 'x' --class y{")).toEqual(['menuentry', 'x', '--class', 'y', ';']);
    expect(splitGrubWords('}')).toEqual([';']);
    expect(splitGrubWords('initrd ${prefix}/initrd.img $root/x')).toEqual([
      'initrd',
      '${prefix}/initrd.img',
      '$root/x',
    ]);
    expect(splitGrubWords('set a=${b')).toEqual(['set', 'a=${b']);
    expect(splitGrubWords('a}${v}/b')).toEqual(['a', ';', '${v}/b']);
    expect(splitGrubWords('echo \\#')).toEqual(['echo', '#']);
    expect(splitGrubWords('  ')).toEqual([]);
  });

  it('drops a device prefix only when it leads the path', () => {
    expect(stripGrubDevice('(cd0)')).toBe('/');
    expect(stripGrubDevice('(hd0,gpt2)/boot/x')).toBe('/boot/x');
    expect(stripGrubDevice('($root)/live/vmlinuz')).toBe('/live/vmlinuz');
    expect(stripGrubDevice('(cd0)x')).toBe('(cd0)x');
    expect(stripGrubDevice('/a(cd0)/x')).toBe('/a(cd0)/x');
    expect(stripGrubDevice('/live/vmlinuz')).toBe('/live/vmlinuz');
  });

  it('a static path is absolute and has no variable', () => {
    expect([
      isStaticGrubPath('/a'),
      isStaticGrubPath('a/b'),
      isStaticGrubPath('/a/$b'),
      isStaticGrubPath('$a'),
    ]).toEqual([true, false, false, false]);
  });

  it('reads linux, initrd and include commands after if/then/else/do, and leaves out the incomplete ones', () => {
    const cfg = parseGrubConfig(
      [
        'if true; then linux16 /a boot=live; else linuxefi /b; fi',
        'for x in 1; do source (cd0)/c.cfg; done',
        'linux',
        'initrd',
        'source',
        'initrd16 --newc:x /u.img /i.img',
        'initrdefi /e.img',
        'configfile /boot/grub/other.cfg',
        'source relative.cfg',
        'menuentry a {',
        '}',
        'menuentry b { linux /k ; }',
      ].join('\n'),
      '/boot/grub/loopback.cfg',
    );
    expect(cfg).toEqual({
      menuEntries: 2,
      kernels: [
        { path: '/a', args: ['boot=live'], line: 1, file: '/boot/grub/loopback.cfg' },
        { path: '/b', args: [], line: 1, file: '/boot/grub/loopback.cfg' },
        { path: '/k', args: [], line: 12, file: '/boot/grub/loopback.cfg' },
      ],
      initrds: [
        { paths: ['/u.img', '/i.img'], line: 6, file: '/boot/grub/loopback.cfg' },
        { paths: ['/e.img'], line: 7, file: '/boot/grub/loopback.cfg' },
      ],
      includes: ['/c.cfg', '/boot/grub/other.cfg'],
    });
    expect(parseGrubConfig('linux /k').kernels[0]!.file).toBe('/boot/grub/grub.cfg');
  });

  it('reads CRLF files, and counts lines in the file across a continued line', () => {
    const cfg = parseGrubConfig(
      ['set a=1\r', 'linux /live/vmlinuz \\\r', '  boot=live quiet\r', 'initrd /live/initrd.img\r', ''].join('\n'),
    );
    expect(cfg.kernels).toEqual([
      { path: '/live/vmlinuz', args: ['boot=live', 'quiet'], line: 2, file: '/boot/grub/grub.cfg' },
    ]);
    expect(cfg.initrds).toEqual([{ paths: ['/live/initrd.img'], line: 4, file: '/boot/grub/grub.cfg' }]);
    // a backslash on the last line continues nothing
    expect(parseGrubConfig('linux /k quiet\\').kernels[0]!.args).toEqual(['quiet\\']);
  });

  it('merges the configs of grub.cfg and the files it sources, in order', () => {
    const a = parseGrubConfig('menuentry a {\nlinux /a\ninitrd /ai\n}\nsource /b.cfg\n', '/a.cfg');
    const b = parseGrubConfig('menuentry b {\nlinux /b\n}\nmenuentry c {\n}\nsource /c.cfg\n', '/b.cfg');
    expect(mergeGrubConfigs([a, b])).toEqual({
      menuEntries: 3,
      kernels: [...a.kernels, ...b.kernels],
      initrds: a.initrds,
      includes: ['/b.cfg', '/c.cfg'],
    });
    expect(mergeGrubConfigs([])).toEqual({ menuEntries: 0, kernels: [], initrds: [], includes: [] });
  });

  it('takes the first boot= argument as it is written, and none from a look-alike', () => {
    const k = (...args: string[]) => ({ path: '/k', args, line: 1, file: 'f' });
    expect(bootParamOf(k('quiet', 'boot=casper', 'boot=live'))).toBe('casper');
    expect(bootParamOf(k('boot='))).toBe('');
    expect(bootParamOf(k('xboot=live', 'BOOT=live'))).toBeNull();
    expect(bootParamOf(k())).toBeNull();
  });
});

describe('file signatures', () => {
  it('reads bytes at an offset, fewer at the end of the file, none past it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-magic-'));
    try {
      const file = path.join(dir, 'f');
      fs.writeFileSync(file, Buffer.from('0123456789'));
      expect(readAt(file, 2, 3).toString()).toBe('234');
      expect(readAt(file, 8, 5).toString()).toBe('89');
      expect(readAt(file, 20, 5).length).toBe(0);
      expect([ISO_BLOCK, HEAD_BYTES]).toEqual([2048, 1024]);
      // and closes the file it opened
      const open = vi.spyOn(fs, 'openSync');
      const close = vi.spyOn(fs, 'closeSync');
      try {
        readAt(file, 0, 1);
        expect(open).toHaveBeenCalledWith(file, 'r');
        expect(close).toHaveBeenCalledWith(open.mock.results[0]!.value);
      } finally {
        open.mockRestore();
        close.mockRestore();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ISO 9660: CD001 exactly at byte 1 of block 16', () => {
    const iso = Buffer.alloc(17 * 2048);
    iso.write('CD001', 16 * 2048 + 1, 'latin1');
    expect(isIso9660(iso)).toBe(true);
    const shifted = Buffer.alloc(17 * 2048);
    shifted.write('CD001', 16 * 2048, 'latin1');
    expect(isIso9660(shifted)).toBe(false);
    expect(isIso9660(iso.subarray(0, 16 * 2048 + 5))).toBe(false);
  });

  it('a kernel: HdrS exactly at 0x202', () => {
    const at = (offset: number) => {
      const b = Buffer.alloc(0x300);
      b.write('HdrS', offset, 'latin1');
      return b;
    };
    expect(isLinuxKernel(at(0x202))).toBe(true);
    expect(isLinuxKernel(at(0x201))).toBe(false);
    expect(isLinuxKernel(at(0x203))).toBe(false);
  });

  it('an initramfs: each cpio and compression signature, at the start only', () => {
    const cases: [number[] | string, string][] = [
      ['070701', 'cpio'],
      ['070702', 'cpio'],
      ['070707', 'cpio'],
      [[0x1f, 0x8b, 0x08], 'gzip'],
      [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
      [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
      [[0x5d, 0x00, 0x00, 0x80], 'lzma'],
      [[0x02, 0x21, 0x4c, 0x18], 'lz4'],
      ['BZh9', 'bzip2'],
      [[0x89, 0x4c, 0x5a, 0x4f], 'lzop'],
    ];
    for (const [bytes, name] of cases) {
      expect(initrdFormat(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes))).toBe(name);
    }
    expect(initrdFormat(Buffer.from('x070701'))).toBeNull();
    expect(initrdFormat(Buffer.from('07070'))).toBeNull();
    expect(initrdFormat(Buffer.alloc(0))).toBeNull();
  });

  it('squashfs: hsqs at the start', () => {
    expect(isSquashfs(Buffer.from('hsqs'))).toBe(true);
    expect(isSquashfs(Buffer.from('xhsqs'))).toBe(false);
    expect(isSquashfs(Buffer.from('hsq'))).toBe(false);
  });

  it('FAT: the 55 AA signature and FAT at 0x36 (FAT12/16) or 0x52 (FAT32), in a whole sector', () => {
    const sector = (typeAt: number | null, sig = [0x55, 0xaa], length = 512) => {
      const b = Buffer.alloc(length);
      if (typeAt !== null) b.write('FAT', typeAt, 'latin1');
      b[510] = sig[0]!;
      b[511] = sig[1]!;
      return b.subarray(0, length);
    };
    expect(isFatImage(sector(0x36))).toBe(true);
    expect(isFatImage(sector(0x52))).toBe(true);
    expect(isFatImage(sector(null))).toBe(false);
    expect(isFatImage(sector(0x37))).toBe(false);
    expect(isFatImage(sector(0x36, [0x00, 0xaa]))).toBe(false);
    expect(isFatImage(sector(0x36, [0x55, 0x00]))).toBe(false);
    expect(isFatImage(sector(0x36, [0x55, 0xaa], 1024))).toBe(true);
    expect(isFatImage(sector(0x36).subarray(0, 511))).toBe(false);
  });
});
