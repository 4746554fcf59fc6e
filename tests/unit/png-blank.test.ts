/**
 * The empty-screen test the boot check's last screenshot waits past, on real qemu screendumps (libpng's adaptive row
 * filters): the black console with a cursor the product shows between its boot messages and SDDM, a text login
 * prompt and a GRUB menu; and on PNGs written here (one colour, a few pixels changed, a kind it does not read).
 */
import fs from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { solidPng } from '../../src/steps/calamares/png.js';
import { ppmToPng } from '../../src/verify/qmp.js';
import { BLANK_MAX_SHARE, decodePng, isBlankScreen } from '../../src/verify/png-blank.js';
import { REPO } from '../helpers/cli.js';

const real = (rel: string) => fs.readFileSync(path.join(REPO, rel));

/** A P6 PPM of w x h black pixels with `lit` white pixels from the top left, as PNG (filter type 0 rows). */
function screenWith(lit: number, w = 100, h = 100): Buffer {
  const data = Buffer.alloc(w * h * 3);
  data.fill(0xff, 0, lit * 3);
  return ppmToPng(Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`, 'latin1'), data]));
}

describe('empty screens', () => {
  it("reads qemu's PNGs whole: the product's black console before SDDM is empty, a login prompt and a GRUB menu are not", () => {
    const blank = real('tests/fixtures/screens/ailinux-bios-before-desktop.png');
    expect(decodePng(blank)).toMatchObject({ width: 1280, height: 800, channels: 3 });
    expect(isBlankScreen(blank)).toBe(true);
    expect(isBlankScreen(real('docs/images/boot-minimal-bios-login.png'))).toBe(false);
    expect(isBlankScreen(real('docs/images/boot-ailinux-bios-menu.png'))).toBe(false);
  });

  it('one colour is empty, with a cursor too; more changed pixels than the share are not', () => {
    expect(isBlankScreen(solidPng(64, 48, '#232629'))).toBe(true);
    expect(isBlankScreen(screenWith(0))).toBe(true);
    const limit = Math.floor(100 * 100 * BLANK_MAX_SHARE);
    expect(isBlankScreen(screenWith(limit))).toBe(true);
    expect(isBlankScreen(screenWith(limit + 1))).toBe(false);
  });

  it('a PNG of a kind it does not read (16-bit, palette, broken) is never taken as empty', () => {
    const ihdr = (depth: number, colour: number) => {
      const b = Buffer.alloc(13);
      b.writeUInt32BE(4, 0);
      b.writeUInt32BE(4, 4);
      b[8] = depth;
      b[9] = colour;
      return b;
    };
    const chunk = (type: string, data: Buffer) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write(type, 4, 'latin1');
      return Buffer.concat([head, data, Buffer.alloc(4)]);
    };
    const png = (depth: number, colour: number, idat: Buffer) =>
      Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk('IHDR', ihdr(depth, colour)),
        chunk('IDAT', idat),
        chunk('IEND', Buffer.alloc(0)),
      ]);
    const rows = deflateSync(Buffer.alloc(4 * (1 + 4 * 6)));
    expect(isBlankScreen(png(16, 2, rows))).toBe(false);
    expect(isBlankScreen(png(8, 3, rows))).toBe(false);
    expect(isBlankScreen(png(8, 2, Buffer.from('not zlib')))).toBe(false);
    expect(isBlankScreen(Buffer.from('\x89PNG\r\n\x1a\nshort'))).toBe(false);
  });
});
