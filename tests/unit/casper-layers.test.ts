/**
 * squashfs.layers on casper (issue 11, point 1): the image names casper's layerfs-path= chain walks, the kernel
 * arguments in every boot entry, the merged image beside the layers for Calamares' unpackfs, and verify's static check
 * of a layered /casper (a chain it can walk passes, a broken one and an entry without layerfs-path= fail). casper's
 * own rules are quoted from its scripts/casper (docs/profiles.md, "Layered squashfs on casper").
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import { bootloadersStep, renderGrubConfig } from '../../src/steps/bootloaders.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { ISOLINUX_BIN, ISOLINUX_MODULES, SYSLINUX_BIOS_DIR } from '../../src/steps/isolinux.js';
import { renderUnpackfsConf } from '../../src/steps/calamares/modules.js';
import { mediumKernelArgs } from '../../src/steps/boot-menu.js';
import { squashfsStep } from '../../src/steps/squashfs.js';
import { casperChainNames, casperLayerArgs, mediumLayerImages } from '../../src/steps/squashfs-layers.js';
import { staticChecks } from '../../src/verify/checks.js';
import { casperLayerChain, layerfsPathOf, parseGrubConfig } from '../../src/verify/grub-config.js';
import { parseIsoListing } from '../../src/verify/iso-listing.js';
import type { IsoFacts } from '../../src/verify/types.js';
import { parseElToritoReport, parseSystemAreaReport } from '../../src/verify/xorriso-reports.js';
import {
  layerSteps,
  layerTreeDir,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
} from '../helpers/step-context.js';

let workDir = '';
beforeEach(() => {
  workDir = makeWorkDir('ailinux-casper-layers-');
});
afterEach(() => removeWorkDir(workDir));

const layered = (patch?: (c: BuildConfig) => void) =>
  profileConfig('ailinux', (c) => {
    c.squashfs.layers = true;
    patch?.(c);
  });

/**
 * The ailinux layers as a build leaves them: bootstrap, packages (the kernel), desktop, installer (Calamares) and
 * identity hold files, every other layer step's upper dir is empty.
 */
function writeLayers(config: BuildConfig): void {
  const steps = layerSteps(config);
  for (const s of steps.slice(
    0,
    steps.findIndex((x) => x.id === 'squashfs'),
  )) {
    if (s.layer !== 'none') fs.mkdirSync(layerTreeDir(workDir, s.id), { recursive: true });
  }
  writeTree(layerTreeDir(workDir, 'bootstrap'), { 'var/lib/dpkg/status': 'Package: casper\n', 'etc/hostname': 'x\n' });
  writeTree(layerTreeDir(workDir, 'packages'), {
    'boot/vmlinuz-6.8.0-31-generic': 'MZ kernel',
    'boot/initrd.img': 'initrd',
  });
  fs.symlinkSync('vmlinuz-6.8.0-31-generic', `${layerTreeDir(workDir, 'packages')}/boot/vmlinuz`);
  writeTree(layerTreeDir(workDir, 'desktop'), { 'usr/bin/plasmashell': '' });
  writeTree(layerTreeDir(workDir, 'installer'), { 'usr/bin/calamares': '' });
  writeTree(layerTreeDir(workDir, 'identity'), { 'etc/hostname': 'ailinux\n' });
}

/** ISOLINUX's files come from the host (isolinux, syslinux-common): without them its menu is not checked here. */
const ISOLINUX_ON_HOST = [ISOLINUX_BIN, ...ISOLINUX_MODULES.map((m) => `${SYSLINUX_BIOS_DIR}/${m}`)].every((f) =>
  fs.existsSync(f),
);

const CHAIN = [
  'bootstrap.squashfs',
  'bootstrap.packages.squashfs',
  'bootstrap.packages.desktop.squashfs',
  'bootstrap.packages.desktop.installer.squashfs',
  'bootstrap.packages.desktop.installer.identity.squashfs',
];
const TOP = CHAIN.at(-1)!;

function squashfsRunner(runner: FakeRunner): void {
  runner.on('dpkg-query', { stdout: 'casper\t1.498\n' });
  runner.on('find', { stdout: 'd\n2049:17 5368705024\n' });
  runner.on('mksquashfs', {
    effect: (call) =>
      fs.writeFileSync(
        call.argv[call.argv.indexOf('mksquashfs') + 2]!,
        Buffer.concat([Buffer.from('hsqs'), Buffer.from(call.argv[call.argv.indexOf('mksquashfs') + 1]!)]),
      ),
  });
}

describe("casper's image names", () => {
  it('chain each layer onto the ones below it with a dot, bottom first, and walk back from the top name', () => {
    expect(casperChainNames(['bootstrap', 'packages', 'chroot-cleanup'])).toEqual([
      'bootstrap.squashfs',
      'bootstrap.packages.squashfs',
      'bootstrap.packages.chroot-cleanup.squashfs',
    ]);
    // what casper's setup_overlay makes of the top name: the same images, in the same order
    expect(casperLayerChain('bootstrap.packages.chroot-cleanup.squashfs', '/casper')).toEqual({
      images: [
        '/casper/bootstrap.squashfs',
        '/casper/bootstrap.packages.squashfs',
        '/casper/bootstrap.packages.chroot-cleanup.squashfs',
      ],
    });
    expect(casperLayerChain('/cdrom/casper/a.b.squashfs', '/casper')).toEqual({
      images: ['/casper/a.squashfs', '/casper/a.b.squashfs'],
    });
    expect(casperLayerChain('/elsewhere/a.squashfs', '/casper')).toHaveProperty('error');
    expect(casperLayerChain('noextension', '/casper')).toHaveProperty('error');
    // a dot in a step id would split it into two links of the chain
    expect(() => casperChainNames(['bootstrap', 'a.b'])).toThrow('no dots allowed');
  });

  it('skip the empty layers, so that each name on the way down is an image the medium has', () => {
    const config = layered();
    writeLayers(config);
    const ctx = stepContext({ config, workDir, stepId: 'squashfs' });
    expect(mediumLayerImages(ctx.layers, 'casper').map((l) => [l.stepId, l.name])).toEqual(
      CHAIN.map((n) => [n.replace('.squashfs', '').split('.').at(-1), n]),
    );
    // live-boot's names for the same layers keep their place from the bottom
    expect(mediumLayerImages(ctx.layers, 'live-boot').map((l) => l.name)[1]).toMatch(/^\d\d-packages\.squashfs$/);
  });

  it('give the kernel layerfs-path= of the top image, and locale= unless the image speaks C', () => {
    const images = CHAIN.map((name) => ({ stepId: 'x', dir: '/x', name }));
    expect(casperLayerArgs(layered(), images)).toEqual([`layerfs-path=${TOP}`, 'locale=en_US.UTF-8']);
    expect(
      casperLayerArgs(
        layered((c) => (c.locale.lang = 'C.UTF-8')),
        images,
      ),
    ).toEqual([`layerfs-path=${TOP}`]);
    expect(() => casperLayerArgs(layered(), [])).toThrow('at least one layer image');
  });
});

describe('a layered casper build', () => {
  it('is accepted at load (casper stacks layers too)', () => {
    const dir = makeWorkDir('ailinux-casper-layers-cfg-');
    try {
      fs.writeFileSync(path.join(dir, 'ailinux.yaml'), 'extends: ailinux\nsquashfs:\n  layers: true\n');
      expect(loadConfig({ configFile: path.join(dir, 'ailinux.yaml') }).config.squashfs.layers).toBe(true);
    } finally {
      removeWorkDir(dir);
    }
  });

  it('packs one image per non-empty layer under its chain name, and the merged image unpackfs copies; no filesystem.module', async () => {
    const config = layered();
    writeLayers(config);
    const ctx = stepContext({ config, workDir, stepId: 'squashfs' });
    squashfsRunner(ctx.runner);
    await squashfsStep.run(ctx);
    const casper = `${workDir}/iso/casper`;
    expect(fs.readdirSync(casper).sort()).toEqual(
      [...CHAIN, 'filesystem.manifest', 'filesystem.size', 'filesystem.squashfs', 'initrd.img', 'vmlinuz'].sort(),
    );
    // each chain image is its own layer's tree; the merged one is the read-only view of them all
    for (const [i, name] of CHAIN.entries()) {
      const step = name.replace('.squashfs', '').split('.').at(-1)!;
      expect(fs.readFileSync(`${casper}/${name}`, 'utf8').slice(4), `${i}`).toBe(layerTreeDir(workDir, step));
    }
    expect(fs.readFileSync(`${casper}/filesystem.squashfs`, 'utf8').slice(4)).toBe(ctx.layers.mountPoint);
    // Calamares' unpackfs copies the merged image, never the layers (their whiteouts would land as files)
    expect(renderUnpackfsConf(config)).toContain('source: "/cdrom/casper/filesystem.squashfs"');
    await expect(squashfsStep.verify(ctx)).resolves.toBeUndefined();
    fs.rmSync(`${casper}/${CHAIN[2]}`);
    await expect(squashfsStep.verify(ctx)).rejects.toThrow(`${casper}/${CHAIN[2]} was not written`);
  });

  it('boots every GRUB entry with layerfs-path= of the top image the squashfs step wrote', async () => {
    const config = layered();
    writeLayers(config);
    const runner = new FakeRunner()
      .on('rsvg-convert', {
        effect: (call: FakeCall) => {
          const opt = (n: string) => call.argv.find((a) => a.startsWith(`${n}=`))!.slice(n.length + 1);
          fs.writeFileSync(
            opt('--output'),
            solidPng(Number(opt('--page-width')), Number(opt('--page-height')), '#000000'),
          );
        },
      })
      .on('grub-mkimage', {
        effect: (call: FakeCall) =>
          fs.writeFileSync(
            call.argv.find((a) => a.startsWith('--output='))!.slice('--output='.length),
            Buffer.concat([Buffer.from('MZ'), Buffer.alloc(1000)]),
          ),
      })
      .on('mkfs.vfat', {
        effect: (call: FakeCall) => {
          const image = Buffer.alloc(Number(call.argv.at(-1)) * 1024);
          image[510] = 0x55;
          image[511] = 0xaa;
          fs.writeFileSync(call.argv.at(-2)!, image);
        },
      });
    const ctx = stepContext({ config, workDir, stepId: 'bootloaders', runner });
    config.iso.secureBoot = false;
    await bootloadersStep.run(ctx);
    const grub = parseGrubConfig(fs.readFileSync(`${workDir}/iso/boot/grub/grub.cfg`, 'utf8'));
    expect(grub.kernels).toHaveLength(3);
    for (const k of grub.kernels) {
      expect(layerfsPathOf(k), `line ${k.line}`).toBe(TOP);
      expect(k.args).toContain('locale=en_US.UTF-8');
      expect(k.args[0]).toBe('boot=casper');
    }
    // ISOLINUX, when it boots BIOS, takes the same arguments in each APPEND
    if (ISOLINUX_ON_HOST) {
      config.iso.isolinux = true;
      await bootloadersStep.run(ctx);
      const appends = fs
        .readFileSync(`${workDir}/iso/isolinux/isolinux.cfg`, 'utf8')
        .split('\n')
        .filter((l) => l.trim().startsWith('APPEND'));
      expect(appends).toHaveLength(3);
      for (const a of appends) expect(a).toContain(` boot=casper layerfs-path=${TOP} locale=en_US.UTF-8 `);
    }
    // the flat medium's menu is the one it always was
    expect(
      renderGrubConfig(
        profileConfig('ailinux'),
        mediumKernelArgs({ config: profileConfig('ailinux'), layers: ctx.layers }),
      ),
    ).toBe(renderGrubConfig(profileConfig('ailinux')));
    expect(renderGrubConfig(profileConfig('ailinux'))).not.toContain('layerfs-path');
  });
});

describe("verify's static check of a layered /casper", () => {
  const fixture = (p: string) => fs.readFileSync(path.join(import.meta.dirname, '../fixtures', p), 'utf8');
  const REAL_STDOUT = fixture('xorriso/minimal-real.inspect.stdout.txt');
  const hsqs = Buffer.from('hsqs\0\0\0\0');
  const sizes = [150000000, 43503232, 90000000, 1200000, 4096];
  /** The minimal ISO's listing with /live as a layered /casper: the chain's images and, optionally, the merged one. */
  function listing(names: readonly string[], merged = true): string {
    const lines = names.map(
      (n, i) => `-r--r--r--    1 0        0        ${sizes[i] ?? 4096} Nov 29 12:37 '/casper/${n}'`,
    );
    if (merged) lines.push("-r--r--r--    1 0        0        293503232 Nov 29 12:37 '/casper/filesystem.squashfs'");
    return REAL_STDOUT.replace(/^File data lba:.*'\/live\/filesystem\.squashfs'\n/m, '')
      .replace(/^-r.* '\/live\/filesystem\.squashfs'$/m, lines.join('\n'))
      .replaceAll("'/live", "'/casper");
  }
  function facts(list: string, grubText: string, heads: Map<string, Buffer>): IsoFacts {
    const kernel = Buffer.alloc(1024);
    kernel.write('HdrS', 0x202, 'latin1');
    return {
      torito: parseElToritoReport(REAL_STDOUT),
      area: parseSystemAreaReport(REAL_STDOUT),
      listing: parseIsoListing(list),
      grub: {
        path: '/boot/grub/grub.cfg',
        found: true,
        config: parseGrubConfig(grubText, '/boot/grub/grub.cfg'),
        files: ['/boot/grub/grub.cfg'],
      },
      heads: new Map([
        ['/casper/vmlinuz', kernel],
        ['/casper/initrd.img', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])],
        ...heads,
      ]),
      esp: null,
    };
  }
  const menu = (config: BuildConfig) =>
    renderGrubConfig(
      config,
      casperLayerArgs(
        config,
        CHAIN.map((name) => ({ stepId: 'x', dir: '/x', name })),
      ),
    );
  const allHeads = () => new Map(CHAIN.map((n) => [`/casper/${n}`, hsqs] as [string, Buffer]));
  const row = (f: IsoFacts) =>
    staticChecks(f, { bios: 'auto', uefi: 'required', requireChecksum: false, liveSystem: 'casper' }).find(
      (r) => r.id === 'squashfs',
    )!;

  it('passes the chain layerfs-path= names, image by image, with the merged image beside it', () => {
    const ok = row(facts(listing(CHAIN), menu(layered()), allHeads()));
    expect(ok).toMatchObject({ status: 'ok' });
    expect(ok.detail).toBe(
      `5 layer images stacked by layerfs-path=${TOP} (271.5 MiB) in /casper; /casper/filesystem.squashfs beside them (279.9 MiB), casper`,
    );
    // the boot= row still sees casper
    expect(
      staticChecks(facts(listing(CHAIN), menu(layered()), allHeads()), {
        bios: 'auto',
        uefi: 'required',
        requireChecksum: false,
      }).find((r) => r.id === 'boot-param')!.status,
    ).toBe('ok');
  });

  it('fails an image missing on the way down, as casper would panic', () => {
    const missing = CHAIN.filter((_, i) => i !== 1);
    const bad = row(facts(listing(missing), menu(layered()), allHeads()));
    expect(bad.status).toBe('fail');
    expect(bad.detail).toContain(`/casper/${CHAIN[1]} is not on the ISO, but layerfs-path=${TOP}`);
    expect(bad.detail).toContain('File system layers are missing');
  });

  it('fails a chain image that is no squashfs', () => {
    const heads = allHeads();
    heads.set(`/casper/${CHAIN[3]}`, Buffer.from('nope'));
    const bad = row(facts(listing(CHAIN), menu(layered()), heads));
    expect(bad).toMatchObject({ status: 'fail' });
    expect(bad.detail).toContain(`/casper/${CHAIN[3]} is not a squashfs image`);
  });

  it('fails an entry without layerfs-path= beside the layers: casper would stack every image in /casper', () => {
    const text = menu(layered()).replace(/ layerfs-path=\S+(?=.*nomodeset)/, '');
    const bad = row(facts(listing(CHAIN), text, allHeads()));
    expect(bad.status).toBe('fail');
    expect(bad.detail).toMatch(
      /^the linux line at \/boot\/grub\/grub\.cfg:\d+ has no layerfs-path=, while the linux line/,
    );
    expect(bad.detail).toContain('casper would stack all 6 images in /casper');
    // a flat menu over a layered /casper fails too; a flat menu over one image is the flat medium it always was
    expect(row(facts(listing(CHAIN), renderGrubConfig(layered()), allHeads())).status).toBe('fail');
    expect(row(facts(listing([]), renderGrubConfig(profileConfig('ailinux')), new Map())).status).toBe('ok');
  });
});
