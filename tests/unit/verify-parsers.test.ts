/** The verifier's readers: xorriso's listing, GRUB configs, checksum files, the serial console. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { renderGrubConfig } from '../../src/steps/bootloaders.js';
import { SerialLog, consoleLines, qemuArgv } from '../../src/verify/boot.js';
import { parseChecksumFile } from '../../src/verify/checksum.js';
import { bootParamOf, parseGrubConfig, splitGrubWords, stripGrubDevice } from '../../src/verify/grub-config.js';
import {
  isoInspectArgv,
  listIsoDir,
  normaliseIsoPath,
  parseIsoListing,
  resolveIsoPath,
  unquoteXorriso,
} from '../../src/verify/iso-listing.js';
import { initrdFormat, isFatImage, isIso9660, isLinuxKernel, isSquashfs } from '../../src/verify/magic.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('xorriso listing (lsdl + report_lba)', () => {
  it('reads every node of the real minimal ISO with type, size and data block', () => {
    const listing = parseIsoListing(fixture('xorriso/minimal-real.inspect.stdout.txt'));
    expect([...listing.keys()].sort()).toEqual([
      '/',
      '/.disk',
      '/.disk/info',
      '/EFI',
      '/EFI/BOOT',
      '/EFI/BOOT/BOOTX64.EFI',
      '/boot',
      '/boot/grub',
      '/boot/grub/bios.img',
      '/boot/grub/grub.cfg',
      '/live',
      '/live/filesystem.manifest',
      '/live/filesystem.squashfs',
      '/live/initrd.img',
      '/live/vmlinuz',
    ]);
    expect(listing.get('/live/filesystem.squashfs')).toEqual({
      path: '/live/filesystem.squashfs',
      type: 'file',
      size: 193503232,
      lba: 519,
      target: null,
    });
    expect(listing.get('/live/vmlinuz')).toMatchObject({ size: 8247232, lba: 112223 });
    expect(listing.get('/live')).toMatchObject({ type: 'dir', lba: null });
    expect(listIsoDir(listing, '/live')).toEqual([
      'filesystem.manifest',
      'filesystem.squashfs',
      'initrd.img',
      'vmlinuz',
    ]);
    expect(listIsoDir(listing, '/')).toEqual(['.disk', 'EFI', 'boot', 'live']);
  });

  it('reads quoted names with spaces and quotes, empty files and symlinks', () => {
    const listing = parseIsoListing(fixture('xorriso/odd-names.listing.stdout.txt'));
    expect(listing.get("/live/we'ird name.txt")).toMatchObject({ type: 'file', size: 3, lba: 34 });
    expect(listing.get('/d/a b')).toMatchObject({ type: 'file', size: 1, lba: 33 });
    expect(listing.get('/live/empty')).toMatchObject({ type: 'file', size: 0, lba: 32 });
    expect(listing.get('/ubuntu')).toMatchObject({ type: 'symlink', target: '.' });
    // /ubuntu -> . makes /ubuntu/live/empty the same node as /live/empty
    expect(resolveIsoPath(listing, '/ubuntu/live/empty')?.path).toBe('/live/empty');
    expect(resolveIsoPath(listing, '/ubuntu')?.path).toBe('/');
    expect(resolveIsoPath(listing, '/ubuntu/nothing')).toBeNull();
    expect(unquoteXorriso(`'a'"'"'b'`)).toBe("a'b");
  });

  it('follows symlinks to files and normalises paths', () => {
    const listing = parseIsoListing(
      [
        "drwxr-xr-x    1 0 0    0 Nov 29 12:53 '/casper'",
        "lrwxrwxrwx    1 0 0    0 Nov 29 12:53 '/casper/vmlinuz' -> 'vmlinuz-6.8.0-31-generic'",
        "-rw-r--r--    1 0 0 1000 Nov 29 12:53 '/casper/vmlinuz-6.8.0-31-generic'",
        "File data lba:  0 ,       40 ,        1 ,     1000 , '/casper/vmlinuz-6.8.0-31-generic'",
      ].join('\n'),
    );
    expect(resolveIsoPath(listing, '/casper/./vmlinuz')).toMatchObject({
      path: '/casper/vmlinuz-6.8.0-31-generic',
      lba: 40,
    });
    expect(normaliseIsoPath('//a/./b/../c/')).toBe('/a/c');
  });

  it('asks xorriso for both boot reports and the listing in one run', () => {
    expect(isoInspectArgv('/x/a.iso')).toEqual([
      'xorriso',
      '-indev',
      '/x/a.iso',
      '-report_el_torito',
      'plain',
      '-report_system_area',
      'plain',
      '-find',
      '/',
      '-exec',
      'lsdl',
      '--',
      '-find',
      '/',
      '-type',
      'f',
      '-exec',
      'report_lba',
      '--',
    ]);
  });
});

describe('GRUB config', () => {
  it('reads the real minimal grub.cfg: three entries, /live paths, boot=live', () => {
    const cfg = parseGrubConfig(fixture('grub/minimal-real.grub.cfg'));
    expect(cfg.menuEntries).toBe(3);
    expect(cfg.kernels.map((k) => k.path)).toEqual(['/live/vmlinuz', '/live/vmlinuz', '/live/vmlinuz']);
    expect(cfg.kernels.map(bootParamOf)).toEqual(['live', 'live', 'live']);
    expect(cfg.kernels[1]!.args).toEqual(['boot=live', 'nomodeset', 'console=tty0', 'console=ttyS0,115200n8']);
    expect(cfg.kernels[0]!.line).toBe(11);
    expect(cfg.initrds.map((l) => l.paths)).toEqual([['/live/initrd.img'], ['/live/initrd.img'], ['/live/initrd.img']]);
  });

  it('reads the config renderGrubConfig writes for the casper profile', () => {
    const config = loadConfig({ profile: 'ailinux' }).config;
    const cfg = parseGrubConfig(renderGrubConfig(config));
    expect(new Set(cfg.kernels.map(bootParamOf))).toEqual(new Set(['casper']));
    expect(new Set(cfg.kernels.map((k) => k.path))).toEqual(new Set(['/casper/vmlinuz']));
    expect(new Set(cfg.initrds.flatMap((l) => l.paths))).toEqual(new Set(['/casper/initrd.img']));
  });

  it('handles device prefixes, quoting, comments, several statements, several initrds, linuxefi and includes', () => {
    const cfg = parseGrubConfig(
      [
        '# linux /commented/out',
        'if [ x$feature = xy ]; then source ($root)/boot/grub/extra.cfg; fi',
        'menuentry \'Try "it"\' --class ubuntu {',
        '  linuxefi ($root)/casper/vmlinuz boot=casper "quiet splash" --- ',
        '  initrd (cd0)/casper/ucode.img /casper/initrd   # two of them',
        '}',
        'configfile $prefix/other.cfg',
        'linux /live/vmlinuz \\',
        '   boot=live',
      ].join('\n'),
      '/boot/grub/grub.cfg',
    );
    expect(cfg.menuEntries).toBe(1);
    expect(cfg.kernels[0]).toMatchObject({
      path: '/casper/vmlinuz',
      args: ['boot=casper', 'quiet splash', '---'],
      line: 4,
    });
    expect(cfg.initrds[0]!.paths).toEqual(['/casper/ucode.img', '/casper/initrd']);
    expect(cfg.includes).toEqual(['/boot/grub/extra.cfg']); // $prefix/other.cfg is not a static path
    expect(cfg.kernels[1]).toMatchObject({ path: '/live/vmlinuz', args: ['boot=live'] });
    expect(splitGrubWords(`a 'b c' d\\ e "f\\"g" # h`)).toEqual(['a', 'b c', 'd e', 'f"g']);
    expect(stripGrubDevice('(hd0,gpt2)/x')).toBe('/x');
  });
});

describe('checksum files', () => {
  it('reads text and binary mode lines and ignores the rest', () => {
    expect(parseChecksumFile(`ABCDEF12  a.iso\n\n# comment\n0011 *b.iso\n`)).toEqual([
      { hash: 'abcdef12', name: 'a.iso' },
      { hash: '0011', name: 'b.iso' },
    ]);
  });
});

describe('file signatures', () => {
  it('recognises kernel, initrd formats, squashfs, FAT and ISO 9660', () => {
    const kernel = Buffer.alloc(0x300);
    kernel.write('HdrS', 0x202, 'latin1');
    expect(isLinuxKernel(kernel)).toBe(true);
    expect(isLinuxKernel(Buffer.from('not a kernel'))).toBe(false);
    expect(initrdFormat(Buffer.from('070701000'))).toBe('cpio');
    expect(initrdFormat(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(initrdFormat(Buffer.from([0x1f, 0x8b, 8]))).toBe('gzip');
    expect(initrdFormat(Buffer.from('not an initrd'))).toBeNull();
    expect(isSquashfs(Buffer.from('hsqs....'))).toBe(true);
    const fat = Buffer.alloc(512);
    fat.write('FAT12   ', 0x36, 'latin1');
    fat[510] = 0x55;
    fat[511] = 0xaa;
    expect(isFatImage(fat)).toBe(true);
    fat[511] = 0;
    expect(isFatImage(fat)).toBe(false);
    const iso = Buffer.alloc(17 * 2048);
    iso.write('CD001', 16 * 2048 + 1, 'latin1');
    expect(isIso9660(iso)).toBe(true);
    expect(isIso9660(Buffer.alloc(17 * 2048))).toBe(false);
  });
});

describe('serial console', () => {
  it("turns GRUB's cursor-drawn menu into readable lines", () => {
    // as captured from the tiny ISO's serial log: the menu box, its entries and the countdown
    const grub =
      '\x1b[H\x1b[J\x1b[1;1H\x1b[?25l\x1b[m\x1b[2;24HGNU GRUB  version 2.06-13+deb12u2\r\n\r\n\x1b[m\x1b[4;2H+-----+\x1b[5;2H|\x1b[5;79H|' +
      '\x1b[16;2H+-----+\x1b[m\x1b[17;2H\x1b[18;2H\x1b[m     Use the ^ and v keys to select which entry is highlighted.          \r\n' +
      '\x1b[5;80H \x1b[7m\x1b[5;3H*minimal live                     \x1b[m\x1b[5;78H\x1b[m\x1b[m\x1b[6;3H minimal live (safe graphics)        \x1b[m' +
      "\x1b[22;1H   The highlighted entry will be executed automatically in 0s.                 \x1b[5;78H\x1b[?25h\x1b[H\x1b[J\x1b[1;1H  Booting `minimal live'\r\n\r\n" +
      '[    0.000000] Linux version 6.1.0-57-amd64\r\n';
    expect(consoleLines(grub)).toEqual([
      'GNU GRUB version 2.06-13+deb12u2',
      'Use the ^ and v keys to select which entry is highlighted.',
      '*minimal live',
      'minimal live (safe graphics)',
      'The highlighted entry will be executed automatically in 0s.',
      "Booting `minimal live'",
      '[ 0.000000] Linux version 6.1.0-57-amd64',
    ]);
  });

  it('finds the marker in a growing log, also when it is split across two reads', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-serial-'));
    try {
      const file = path.join(dir, 'serial.log');
      const log = new SerialLog(file, 'ailinux login:');
      expect(log.poll()).toBe(false); // no file yet
      fs.writeFileSync(file, 'Debian GNU/Linux 12 ailinux ttyS0\n\nailinux lo');
      expect(log.poll()).toBe(false);
      fs.appendFileSync(file, 'gin: ');
      expect(log.poll()).toBe(true);
      expect(log.lastLines()).toEqual(['Debian GNU/Linux 12 ailinux ttyS0', 'ailinux login:']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("finds systemd's coloured status line by its plain text, also with a colour code cut by the read boundary", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-serial-'));
    try {
      const file = path.join(dir, 'serial.log');
      const log = new SerialLog(file, 'Reached target graphical.target');
      // as systemd 255 prints it on the serial console
      fs.writeFileSync(
        file,
        '[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mgetty.target\x1b[0m - Login Prompts.\r\n',
      );
      expect(log.poll()).toBe(false);
      fs.appendFileSync(file, '[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1');
      expect(log.poll()).toBe(false);
      fs.appendFileSync(file, ';39mgraphical.tar');
      expect(log.poll()).toBe(false);
      fs.appendFileSync(file, 'get\x1b[0m - Graphical Interface.\r\n');
      expect(log.poll()).toBe(true);
      // a marker that is only there with its colour codes left in is not found
      const other = new SerialLog(file, 'Reached target \x1b[0;1;39mgraphical');
      expect(other.poll()).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs qemu headless with the serial console in a file, the ISO as a CD (commas escaped), OVMF for UEFI', () => {
    expect(qemuArgv({ iso: '/isos/a,b.iso', firmware: 'uefi', memoryMb: 768, logFile: '/tmp/s.log' })).toEqual([
      'qemu-system-x86_64',
      '-m',
      '768',
      '-display',
      'none',
      '-monitor',
      'none',
      '-serial',
      'file:/tmp/s.log',
      '-no-reboot',
      '-net',
      'none',
      '-drive',
      'file=/isos/a,,b.iso,media=cdrom,if=ide,index=2,format=raw,readonly=on',
      '-boot',
      'd',
      '-bios',
      '/usr/share/ovmf/OVMF.fd',
    ]);
    expect(qemuArgv({ iso: '/a.iso', firmware: 'bios', memoryMb: 1024, logFile: '/l' })).not.toContain('-bios');
  });
});
