/**
 * squashfs.layers (issue 11, point 1), the parts that need no root: the image names and their order, what a layer
 * above hides from the image below, the -ef file's escapes, the cache key, and the static check of a layered live-boot
 * medium (casper's chain: tests/unit/casper-layers.test.ts). The real packing, stacking and unpacking (whiteouts made
 * with mknod, an opaque directory, the overlay mount) is tests/integration/squashfs-layers.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CROSS_FIELD_RULES } from '../../src/config/cross-field-rules.js';
import { loadConfig } from '../../src/config/load.js';
import {
  cachedImage,
  cachedImagePaths,
  excludeFileText,
  excludeLine,
  hiddenByUpperLayers,
  layerImageKey,
  layerImages,
  renderModuleFile,
} from '../../src/steps/squashfs-layers.js';
import { squashfsStep } from '../../src/steps/squashfs.js';
import { staticChecks } from '../../src/verify/checks.js';
import { parseIsoListing } from '../../src/verify/iso-listing.js';
import { parseGrubConfig } from '../../src/verify/grub-config.js';
import { parseElToritoReport, parseSystemAreaReport } from '../../src/verify/xorriso-reports.js';
import type { IsoFacts } from '../../src/verify/types.js';
import { profileConfig, writeTree } from '../helpers/step-context.js';

let tmp = '';
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-squashfs-layers-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('layer images', () => {
  it('are named by their place from the bottom and their step, from the layers the step sees (topmost first)', () => {
    const below = ['/w/layers/chroot-cleanup/upper', '/w/layers/packages/upper', '/w/layers/bootstrap/root'];
    expect(layerImages({ own: null, below, mountPoint: '/w/mnt/squashfs' })).toEqual([
      { stepId: 'bootstrap', dir: '/w/layers/bootstrap/root', name: '01-bootstrap.squashfs' },
      { stepId: 'packages', dir: '/w/layers/packages/upper', name: '02-packages.squashfs' },
      { stepId: 'chroot-cleanup', dir: '/w/layers/chroot-cleanup/upper', name: '03-chroot-cleanup.squashfs' },
    ]);
    expect(renderModuleFile(['01-bootstrap.squashfs', '02-packages.squashfs'])).toBe(
      '01-bootstrap.squashfs\n02-packages.squashfs\n',
    );
  });

  it('leave out below what a layer above replaces with a non-directory, and nothing a directory above merges with', () => {
    const [base, mid, top] = ['base', 'mid', 'top'].map((d) => path.join(tmp, d)) as [string, string, string];
    writeTree(base, {
      'etc/hostname': 'old\n',
      'etc/keep': 'kept\n',
      'var/cache/apt/archives/a.deb': 'deb\n',
      'var/log/dpkg.log': 'log\n',
      'opt/tree/x': 'x\n',
    });
    writeTree(mid, { 'etc/hostname': 'mid\n', 'usr/bin/new': 'new\n' });
    // opt/tree: a file above a directory below hides the whole directory
    writeTree(top, { 'etc/hostname': 'top\n', 'var/log/dpkg.log': '', 'opt/tree': 'now a file\n' });
    fs.symlinkSync('nowhere', path.join(top, 'usr-link'));
    fs.mkdirSync(path.join(top, 'var/cache/apt/archives'), { recursive: true });
    // a whiteout is a non-directory too; a regular file stands in for it here (mknod needs root)
    fs.writeFileSync(path.join(top, 'var/cache/apt/archives/a.deb'), '');
    expect(hiddenByUpperLayers([base, mid, top])).toEqual([
      ['etc/hostname', 'opt/tree', 'var/cache/apt/archives/a.deb', 'var/log/dpkg.log'],
      ['etc/hostname'],
      [],
    ]);
  });

  it('write each path of the -ef file with the escapes mksquashfs reads, and skip what no line can carry', () => {
    expect(excludeLine('var/log/dpkg.log')).toBe('var/log/dpkg.log');
    expect(excludeLine('#notes')).toBe('\\#notes');
    expect(excludeLine(' lead/with space\\and\ttab')).toBe('\\ lead/with\\ space\\\\and\\\ttab');
    expect(excludeLine('new\nline')).toBeNull();
    expect(excludeFileText(['a', 'b\nc', 'd e'])).toBe('a\nd\\ e\n');
  });

  it('are keyed by what makes them besides the layer: options, time and hidden paths, not the processor count', () => {
    const config = profileConfig('minimal');
    const key = layerImageKey(config, 1700000000, ['etc/hostname']);
    expect(layerImageKey(profileConfig('minimal'), 1700000000, ['etc/hostname'])).toBe(key);
    expect(layerImageKey(config, 1700000001, ['etc/hostname'])).not.toBe(key);
    expect(layerImageKey(config, 1700000000, [])).not.toBe(key);
    expect(
      layerImageKey(
        profileConfig('minimal', (c) => (c.squashfs.level = 4)),
        1700000000,
        ['etc/hostname'],
      ),
    ).not.toBe(key);
    // the cache lives in the layer's own directory, so it goes when the layer is thrown away
    const upper = path.join(tmp, 'layers/packages/upper');
    fs.mkdirSync(upper, { recursive: true });
    const at = cachedImagePaths(upper);
    expect(at.image).toBe(path.join(tmp, 'layers/packages/layer.squashfs'));
    expect(cachedImage(upper, key)).toBeNull();
    fs.writeFileSync(at.image, 'hsqs');
    fs.writeFileSync(at.key, `${key}\n`);
    expect(cachedImage(upper, key)).toBe(at.image);
    expect(cachedImage(upper, 'another')).toBeNull();
  });

  it('need python3 on the host only when squashfs.layers is on', () => {
    const tools = (layers: boolean) =>
      squashfsStep.hostTools!(profileConfig('minimal', (c) => (c.squashfs.layers = layers))).map((t) => t.name);
    expect(tools(false)).not.toContain('python3');
    expect(tools(true)).toContain('python3');
  });
});

describe('no cross-field rule', () => {
  it('refuses squashfs.layers: live-boot and casper both stack layer images (casper: tests/unit/casper-layers.test.ts)', () => {
    expect(CROSS_FIELD_RULES.filter((r) => r.fields.includes('squashfs.layers'))).toEqual([]);
    expect(() => loadConfig({ profile: 'minimal' })).not.toThrow();
  });
});

describe('the static check of a layered medium', () => {
  const fixture = (p: string) => fs.readFileSync(path.join(import.meta.dirname, '../fixtures', p), 'utf8');
  const REAL_STDOUT = fixture('xorriso/minimal-real.inspect.stdout.txt');
  const REAL_GRUB = fixture('grub/minimal-real.grub.cfg');
  const layered = REAL_STDOUT.replace(/^File data lba:.*'\/live\/filesystem\.squashfs'\n/m, '').replace(
    /^-r.* '\/live\/filesystem\.squashfs'$/m,
    [
      "-r--r--r--    1 0        0        150000000 Nov 29 12:37 '/live/01-bootstrap.squashfs'",
      "-r--r--r--    1 0        0         43503232 Nov 29 12:37 '/live/02-packages.squashfs'",
      "-r--r--r--    1 0        0              44 Nov 29 12:37 '/live/filesystem.module'",
    ].join('\n'),
  );
  const facts = (listing: string, heads: Map<string, Buffer>): IsoFacts => {
    const kernel = Buffer.alloc(1024);
    kernel.write('HdrS', 0x202, 'latin1');
    return {
      torito: parseElToritoReport(REAL_STDOUT),
      area: parseSystemAreaReport(REAL_STDOUT),
      listing: parseIsoListing(listing),
      grub: {
        path: '/boot/grub/grub.cfg',
        found: true,
        config: parseGrubConfig(REAL_GRUB, '/boot/grub/grub.cfg'),
        files: ['/boot/grub/grub.cfg'],
      },
      heads: new Map([
        ['/live/vmlinuz', kernel],
        ['/live/initrd.img', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])],
        ...heads,
      ]),
      esp: null,
    };
  };
  const squashfsRow = (f: IsoFacts) =>
    staticChecks(f, { bios: 'auto', uefi: 'required', requireChecksum: false }).find((r) => r.id === 'squashfs')!;

  it('passes the images filesystem.module stacks, and fails one that is no squashfs', () => {
    const hsqs = Buffer.from('hsqs\0\0\0\0');
    const good = squashfsRow(
      facts(
        layered,
        new Map([
          ['/live/01-bootstrap.squashfs', hsqs],
          ['/live/02-packages.squashfs', hsqs],
        ]),
      ),
    );
    expect(good.status).toBe('ok');
    expect(good.detail).toMatch(
      /^2 layer images in \/live, stacked by \/live\/filesystem\.module \(184\.5 MiB, live-boot\)$/,
    );
    const bad = squashfsRow(
      facts(
        layered,
        new Map([
          ['/live/01-bootstrap.squashfs', hsqs],
          ['/live/02-packages.squashfs', Buffer.from('nope')],
        ]),
      ),
    );
    expect(bad).toMatchObject({
      status: 'fail',
      detail: '/live/02-packages.squashfs is not a squashfs image (no hsqs signature)',
    });
    // without the module file, layer images are not a live medium live-boot would stack in that order
    const noModule = layered.replace(/.*filesystem\.module'\n/, '');
    expect(squashfsRow(facts(noModule, new Map())).status).toBe('fail');
  });
});
