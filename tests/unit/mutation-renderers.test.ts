/**
 * The steps' renderers as pure functions: the exact text of launchers, the ISOLINUX menu, the
 * Calamares files and the placeholder PNG, and where the live medium's files sit. Written against the
 * survivors of `npm run mutation` (docs/testing.md); the step tests check the same files in place.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.js';
import { dearmorKey, keyringPathOf } from '../../src/steps/apt-keys.js';
import { integrityCheck } from '../../src/steps/boot-menu.js';
import { renderBrandingDesc, renderShowQml } from '../../src/steps/calamares/branding.js';
import { renderBootloaderConf, renderPackagesConf, renderUsersConf } from '../../src/steps/calamares/modules.js';
import { PNG_SIGNATURE } from '../../src/runtime/png.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { renderSettingsConf } from '../../src/steps/calamares/settings.js';
import { yamlList, yamlString } from '../../src/steps/calamares/yaml.js';
import { hostPathOf, readPinnedFile, sha256Of } from '../../src/steps/config-files.js';
import { renderIsolinuxConfig } from '../../src/steps/isolinux.js';
import { helperLauncher, installerLauncher, renderDesktopEntry } from '../../src/steps/launchers.js';
import { kernelLinks, liveMedium } from '../../src/steps/live-medium.js';
import { makeWorkDir, profileConfig, removeWorkDir } from '../helpers/step-context.js';

const dir = makeWorkDir('ailinux-renderers-');
afterAll(() => removeWorkDir(dir));

describe('desktop launchers', () => {
  it('writes every field, and turns control characters into spaces so a value cannot start a new key', () => {
    expect(
      renderDesktopEntry({
        name: 'A\nExec=/bin/sh',
        comment: 'tab\there\r',
        exec: '/usr/bin/x\u0000y',
        icon: 'ic\u007fon',
        terminal: true,
      }),
    ).toBe(
      [
        '[Desktop Entry]',
        'Type=Application',
        'Version=1.0',
        'Name=A Exec=/bin/sh',
        'Comment=tab here ',
        'Exec=/usr/bin/x y',
        'Icon=ic on',
        'Terminal=true',
        'Categories=System;',
        '',
      ].join('\n'),
    );
  });

  it('leaves out an empty comment and a missing icon, and keeps printable text as it is', () => {
    expect(renderDesktopEntry({ name: 'Tool ~!', comment: '', exec: '/bin/tool', terminal: false })).toBe(
      '[Desktop Entry]\nType=Application\nVersion=1.0\nName=Tool ~!\nExec=/bin/tool\nTerminal=false\nCategories=System;\n',
    );
  });

  it("names the installer's launcher after the branding id and product", () => {
    const config = profileConfig('ailinux', (c) => ((c.branding.id = 'acme'), (c.branding.productName = 'Acme OS')));
    const l = installerLauncher(config);
    expect(l.file).toBe('install-acme.desktop');
    expect(l.text).toContain('\nName=Install Acme OS\nComment=Install Acme OS on this computer\n');
  });

  it('gives no helper launcher without a helper, or with a helper that has none', () => {
    expect(helperLauncher(profileConfig('minimal'))).toBeNull();
    const noLauncher = profileConfig('minimal', (c) => {
      c.helper = {
        name: 'tool',
        title: 'Tool',
        comment: '',
        files: [{ source: 't', destination: '/usr/bin/t', mode: '0755' }],
      };
    });
    expect(helperLauncher(noLauncher)).toBeNull();
  });
});

describe('where the live medium is', () => {
  it('casper: /casper, boot=casper, mounted at /cdrom, with an initramfs that embeds the config', () => {
    const config = profileConfig('minimal', (c) => (c.liveSystem = 'casper'));
    expect(liveMedium(config)).toEqual({
      dir: 'casper',
      bootParam: 'boot=casper',
      kernel: '/casper/vmlinuz',
      initrd: '/casper/initrd.img',
      squashfs: '/casper/filesystem.squashfs',
      mountPoint: '/cdrom',
      initramfsEmbedsConfig: true,
    });
    expect(integrityCheck(config)).toEqual({ title: 'integrity check', arg: 'integrity-check' });
  });

  it('live-boot: /live, boot=live, mounted at /run/live/medium, with an initramfs that embeds nothing later', () => {
    const config = profileConfig('minimal', (c) => (c.liveSystem = 'live-boot'));
    expect(liveMedium(config)).toEqual({
      dir: 'live',
      bootParam: 'boot=live',
      kernel: '/live/vmlinuz',
      initrd: '/live/initrd.img',
      squashfs: '/live/filesystem.squashfs',
      mountPoint: '/run/live/medium',
      initramfsEmbedsConfig: false,
    });
    expect(integrityCheck(config)).toEqual({ title: 'verify checksums', arg: 'verify-checksums' });
  });

  it("finds the kernel links where each family's kernel package leaves them", () => {
    const family = (f: 'debian' | 'ubuntu') => profileConfig('minimal', (c) => (c.distribution.family = f));
    expect(kernelLinks(family('ubuntu'))).toEqual({ kernel: 'boot/vmlinuz', initrd: 'boot/initrd.img' });
    expect(kernelLinks(family('debian'))).toEqual({ kernel: 'vmlinuz', initrd: 'initrd.img' });
  });
});

describe('the ISOLINUX menu', () => {
  it('waits tenths of a second, keeps each name on one line, and puts no serial line without a serial console', () => {
    const config = profileConfig('minimal', (c) => {
      c.name = 'two\nlines\u007f';
      c.iso.serialConsole = false;
      c.iso.menuTimeout = 3;
      c.iso.kernelArgs = ['quiet'];
    });
    const text = renderIsolinuxConfig(config);
    expect(text.split('\n').slice(0, 4)).toEqual([
      '# ISOLINUX menu of the two lines  live ISO, written by ailinux',
      'UI menu.c32',
      'MENU TITLE two lines  live',
      'PROMPT 0',
    ]);
    expect(text).toContain('\nTIMEOUT 30\n');
    expect(text).not.toContain('SERIAL');
    expect(text).toContain('  APPEND initrd=/live/initrd.img boot=live quiet nomodeset\n');
    expect(text.endsWith('  APPEND initrd=/live/initrd.img boot=live quiet verify-checksums\n')).toBe(true);
  });
});

describe('Calamares files', () => {
  it('quotes every YAML scalar as JSON does, and indents list items as asked', () => {
    expect(yamlString('a "b" \\ c: #d')).toBe('"a \\"b\\" \\\\ c: #d"');
    expect(yamlList(['x', 'y z'], '  ')).toEqual(['  - "x"', '  - "y z"']);
    expect(yamlList([], '  ')).toEqual([]);
  });

  it('settings.conf leaves out the finished pages when there are none', () => {
    const config = profileConfig('ailinux', (c) => {
      c.installer.showSequence = ['welcome'];
      c.installer.execSequence = ['unpackfs'];
      c.installer.finishedSequence = [];
    });
    expect(renderSettingsConf(config)).toContain(
      'sequence:\n- show:\n  - welcome\n- exec:\n  - unpackfs\n\nbranding: ',
    );
  });

  it('bootloader.conf names the EFI directory only when the config gives one', () => {
    const with_ = profileConfig('ailinux', (c) => (c.installer.efiBootloaderId = 'ubuntu'));
    const without = profileConfig('ailinux', (c) => delete c.installer.efiBootloaderId);
    expect(renderBootloaderConf(with_)).toContain(
      'efiBootMgr: "efibootmgr"\nefiBootloaderId: "ubuntu"\ninstallEFIFallback',
    );
    expect(renderBootloaderConf(without)).toContain('efiBootMgr: "efibootmgr"\ninstallEFIFallback: true\n');
  });

  it('users.conf names a sudoers group only when the user gets sudo', () => {
    const groups = (g: string[]) => profileConfig('ailinux', (c) => (c.installer.userGroups = g));
    expect(renderUsersConf(groups(['adm', 'sudo']))).toContain(
      'defaultGroups:\n    - "adm"\n    - "sudo"\nautologinGroup: autologin\ndoAutologin: false\nsudoersGroup: sudo\n',
    );
    expect(renderUsersConf(groups(['adm']))).toContain('doAutologin: false\nsetRootPassword: false\n');
  });

  it('packages.conf has an empty operations list when nothing is removed', () => {
    const config = profileConfig('ailinux', (c) => (c.installer.removePackages = []));
    expect(renderPackagesConf(config)).toBe(
      '# Written by ailinux from the profile; edit the config, not this file.\n---\nbackend: apt\nupdate_db: false\nupdate_system: false\noperations: []\n',
    );
  });

  it('branding.desc: the versioned name is the product alone without a version, and no URL line without a URL', () => {
    const config = profileConfig('ailinux', (c) => {
      c.branding.productName = 'Acme';
      c.branding.version = '';
      delete c.branding.url;
    });
    const text = renderBrandingDesc(config);
    expect(text).toContain(
      '    versionedName: "Acme"\n    shortVersionedName: "Acme"\n    bootloaderEntryName: "Acme"\n\n',
    );
    expect(text).not.toContain('productUrl');
    const withUrl = renderBrandingDesc(profileConfig('ailinux', (c) => (c.branding.url = 'https://acme.example')));
    expect(withUrl).toContain('\n    productUrl: "https://acme.example"\n');
  });
});

describe('the installer slideshow', () => {
  it('is the QML Calamares loads: the logo, centred, and one line naming the product', () => {
    const config = profileConfig('ailinux', (c) => (c.branding.productName = 'Acme OS'));
    expect(renderShowQml(config)).toBe(
      [
        '/* Written by ailinux from the profile: the slideshow Calamares shows while it installs. */',
        'import QtQuick 2.0;',
        'import calamares.slideshow 1.0;',
        '',
        'Presentation',
        '{',
        '    id: presentation',
        '',
        '    Slide {',
        '        Image {',
        '            id: logo',
        '            source: "logo.png"',
        '            width: 200; height: 200',
        '            fillMode: Image.PreserveAspectFit',
        '            anchors.centerIn: parent',
        '        }',
        '        Text {',
        '            anchors.horizontalCenter: logo.horizontalCenter',
        '            anchors.top: logo.bottom',
        '            anchors.topMargin: 20',
        '            text: "Installing Acme OS..."',
        '            horizontalAlignment: Text.Center',
        '        }',
        '    }',
        '',
        '    function onActivate() { }',
        '    function onLeave() { }',
        '}',
        '',
      ].join('\n'),
    );
  });
});

describe('the placeholder PNG', () => {
  /** The chunks of a PNG, each with whether its CRC is right, as a decoder checks them. */
  function chunks(png: Buffer): Array<{ type: string; data: Buffer; crcOk: boolean }> {
    const out = [];
    let at = 8;
    while (at < png.length) {
      const len = png.readUInt32BE(at);
      const type = png.subarray(at + 4, at + 8).toString('latin1');
      const data = png.subarray(at + 8, at + 8 + len);
      const crc = png.readUInt32BE(at + 8 + len);
      out.push({ type, data, crcOk: zlib.crc32(png.subarray(at + 4, at + 8 + len)) === crc });
      at += 12 + len;
    }
    return out;
  }

  it('is a valid RGB PNG of the size and colour asked: signature, header, CRCs, one filter byte and the pixels per row', () => {
    const png = solidPng(3, 2, '#0aFf80');
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    const parts = chunks(png);
    expect(parts.map((c) => [c.type, c.crcOk])).toEqual([
      ['IHDR', true],
      ['IDAT', true],
      ['IEND', true],
    ]);
    expect([...parts[0]!.data]).toEqual([0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
    const row = [0, 0x0a, 0xff, 0x80, 0x0a, 0xff, 0x80, 0x0a, 0xff, 0x80];
    expect([...zlib.inflateSync(parts[1]!.data)]).toEqual([...row, ...row]);
    expect(parts[2]!.data.length).toBe(0);
  });

  it('is the same bytes for the same arguments, and refuses a colour that is not #rrggbb', () => {
    expect(solidPng(4, 4, '#123456').equals(solidPng(4, 4, '#123456'))).toBe(true);
    for (const bad of ['123456', '#12345', '#1234567', '#12345g', 'x#123456', '#123456 '])
      expect(() => solidPng(1, 1, bad), bad).toThrow(`not a #rrggbb colour: ${bad}`);
  });
});

describe('host files the config names', () => {
  it('resolves a relative path against the config directory, keeps an absolute one, and uses the cwd without one', () => {
    expect(hostPathOf({ baseDir: '/etc/acme' }, 'logo.png')).toBe('/etc/acme/logo.png');
    expect(hostPathOf({ baseDir: '/etc/acme' }, '/srv/logo.png')).toBe('/srv/logo.png');
    expect(hostPathOf({}, 'logo.png')).toBe(path.join(process.cwd(), 'logo.png'));
  });

  it('reads a pinned file whose sha256 matches, and refuses a missing or different one with its field and a hint', () => {
    fs.writeFileSync(path.join(dir, 'key.gpg'), 'key');
    const sha = sha256Of(path.join(dir, 'key.gpg'));
    expect(sha).toBe('2c70e12b7a0646f92279f427c7b38e7334d8e5389cff167a1dc30e73f826b683');
    expect(readPinnedFile('configure', { baseDir: dir }, 'key.gpg', 'k.key', sha).toString()).toBe('key');
    expect(readPinnedFile('configure', { baseDir: dir }, 'key.gpg', 'k.key').toString()).toBe('key');

    const missing = (() => {
      try {
        readPinnedFile('branding', { baseDir: dir }, 'gone.png', 'branding.logo');
      } catch (e) {
        return e as StepError;
      }
    })()!;
    expect(missing).toBeInstanceOf(StepError);
    expect(missing.message).toContain(`branding.logo: the file gone.png does not exist (looked for ${dir}/gone.png)`);
    expect(missing.hint).toBe("relative paths are read from the config file's directory; fix the path or add the file");

    const other = 'f'.repeat(64);
    const pinned = (() => {
      try {
        readPinnedFile('configure', { baseDir: dir }, 'key.gpg', 'k.key', other);
      } catch (e) {
        return e as StepError;
      }
    })()!;
    expect(pinned.message).toContain(`k.key: key.gpg has sha256 ${sha}, but the config pins ${other}`);
    expect(pinned.hint).toBe(
      'use the file the config pins, or update the sha256 in the config if you trust the new file',
    );
  });
});

describe('repository keys', () => {
  // a packet long enough that its base64 spans lines, as a real key's does
  const packet = Buffer.concat([Buffer.from([0x99, 0x01, 0x0d]), Buffer.alloc(120, 7)]);
  const base64Lines = (data: Buffer) =>
    data
      .toString('base64')
      .match(/.{1,64}/g)!
      .join('\n');
  const armor = (body: string, eol = '\n', blank = '') =>
    [
      '-----BEGIN PGP PUBLIC KEY BLOCK-----',
      'Version: GnuPG v2',
      'Comment: test',
      blank,
      body,
      '=abcd',
      '-----END PGP PUBLIC KEY BLOCK-----',
      '',
    ].join(eol);

  it('decodes the armor body, skipping the headers and the checksum line, with LF or CRLF line ends', () => {
    expect(dearmorKey(Buffer.from(armor(base64Lines(packet))), 'f').equals(packet)).toBe(true);
    expect(
      dearmorKey(Buffer.from(armor(base64Lines(packet).replaceAll('\n', '\r\n'), '\r\n')), 'f').equals(packet),
    ).toBe(true);
  });

  it('takes a line of white space as the blank line that ends the headers (RFC 4880 6.2)', () => {
    expect(dearmorKey(Buffer.from(armor(base64Lines(packet), '\n', ' \t')), 'f').equals(packet)).toBe(true);
  });

  it('refuses for the configure step, which installs the keys', () => {
    const stepOf = (data: string) => {
      try {
        dearmorKey(Buffer.from(data), 'f');
      } catch (e) {
        return (e as StepError).step;
      }
    };
    expect(stepOf(armor(''))).toBe('configure');
    expect(stepOf('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n')).toBe(
      'configure',
    );
  });

  it('refuses an armor that decodes to nothing, naming the field', () => {
    expect(() => dearmorKey(Buffer.from(armor('')), 'repo.key')).toThrow(
      'repo.key: the armored key does not decode to OpenPGP data',
    );
  });

  it('puts each key under /etc/apt/keyrings by its repository name', () => {
    expect(keyringPathOf('acme')).toBe('/etc/apt/keyrings/acme.gpg');
  });
});
