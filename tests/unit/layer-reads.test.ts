/**
 * Reads out of the rootfs layers resolve inside the layers, as the chroot would: an absolute symlink names a path of
 * the rootfs, never of the host, and what is read is read through the descriptor the lookup opened. The decoy lives
 * in a temp dir of its own (never a host path like /etc). tests/integration/read-race.test.ts races these reads.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  entryInLayers,
  findInLayers,
  namesInLayersDir,
  readFileInLayers,
  readLayerFile,
  writeLayerFile,
  type RootfsLayers,
} from '../../src/runtime/layers.js';
import { firstFileInLayers } from '../../src/steps/layer-files.js';
import { ensureResolvConf } from '../../src/steps/layer-step.js';
import type { StepContext } from '../../src/steps/types.js';

const SECRET = 'DECOY-SECRET-51de';

let tmp: string;
let decoyDir: string;
let base: string;
let upper: string;
let own: string;
let layers: RootfsLayers;
beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-layer-reads-')));
  decoyDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-layer-decoy-')));
  fs.writeFileSync(path.join(decoyDir, 'sources.list'), `deb http://decoy.invalid/ ${SECRET} main\n`);
  base = path.join(tmp, 'layers', 'bootstrap', 'root');
  upper = path.join(tmp, 'layers', 'packages', 'upper');
  own = path.join(tmp, 'layers', 'configure', 'upper');
  for (const d of [base, upper, own]) fs.mkdirSync(d, { recursive: true });
  layers = {
    own: { stepId: 'configure', dir: path.dirname(own), upper: own, work: path.join(tmp, 'work') },
    below: [upper, base],
    mountPoint: path.join(tmp, 'mnt'),
  };
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(decoyDir, { recursive: true, force: true });
});

function put(root: string, rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

function link(root: string, rel: string, target: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.symlinkSync(target, path.join(root, rel));
}

describe('reads out of the layers stay inside them', () => {
  it('an absolute symlink to a file outside names the rootfs path: absent there, so nothing is read', () => {
    link(upper, 'etc/apt/sources.list', path.join(decoyDir, 'sources.list'));
    expect(readLayerFile(layers, 'etc/apt/sources.list')).toBeNull();
    expect(readFileInLayers(layers, 'etc/apt/sources.list')).toBeNull();
    expect(firstFileInLayers(layers, ['etc/apt/sources.list'])).toBeNull();
    expect(entryInLayers(layers, 'etc/apt/sources.list')).toEqual({
      hostPath: path.join(upper, 'etc/apt/sources.list'),
      type: 'symlink',
      link: path.join(decoyDir, 'sources.list'),
      mode: 0o777,
    });
  });

  it('the same link reads the file the rootfs has at that path, as the chroot would', () => {
    link(upper, 'etc/apt/sources.list', path.join(decoyDir, 'sources.list'));
    put(base, path.join(decoyDir, 'sources.list'), 'deb http://deb.debian.org/debian bookworm main\n');
    expect(readLayerFile(layers, 'etc/apt/sources.list')).toBe('deb http://deb.debian.org/debian bookworm main\n');
    expect(readFileInLayers(layers, 'etc/apt/sources.list')!.hostPath).toBe(path.join(base, decoyDir, 'sources.list'));
  });

  it('a directory on the way that is an absolute symlink out is followed inside the rootfs only', () => {
    link(upper, 'home/racer/d', decoyDir);
    expect(readLayerFile(layers, 'home/racer/d/sources.list')).toBeNull();
    expect(findInLayers(layers, 'home/racer/d/sources.list')).toBeNull();
    // a relative link climbing above the root stops at the rootfs root, like '..' at / in a chroot
    link(upper, 'etc/climb', `${'../'.repeat(12)}${decoyDir.slice(1)}/sources.list`);
    expect(readLayerFile(layers, 'etc/climb')).toBeNull();
  });

  it('resolv.conf as Debian links it: seen as a symlink, read inside the rootfs, replaced by the host file in the own layer', () => {
    link(base, 'etc/resolv.conf', '../run/systemd/resolve/stub-resolv.conf');
    expect(entryInLayers(layers, 'etc/resolv.conf')).toEqual({
      hostPath: path.join(base, 'etc/resolv.conf'),
      type: 'symlink',
      link: '../run/systemd/resolve/stub-resolv.conf',
      mode: 0o777,
    });
    expect(readLayerFile(layers, 'etc/resolv.conf')).toBeNull();
    put(upper, 'run/systemd/resolve/stub-resolv.conf', 'nameserver 127.0.0.53\n');
    expect(readLayerFile(layers, 'etc/resolv.conf')).toBe('nameserver 127.0.0.53\n');
    ensureResolvConf({ layers } as StepContext);
    expect(entryInLayers(layers, 'etc/resolv.conf')!.type).toBe('file');
    expect(fs.lstatSync(path.join(own, 'etc/resolv.conf')).isFile()).toBe(true);
    // a regular file there already: left alone
    writeLayerFile(layers, 'etc/resolv.conf', 'nameserver 192.0.2.1\n', 0o644);
    ensureResolvConf({ layers } as StepContext);
    expect(readLayerFile(layers, 'etc/resolv.conf')).toBe('nameserver 192.0.2.1\n');
  });

  it('a FIFO, or a link to one, is no file: null, and the read never blocks on it', () => {
    fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
    execFileSync('mkfifo', [path.join(upper, 'etc', 'fifo')]);
    link(upper, 'etc/apt/sources.list', '/etc/fifo');
    expect(readLayerFile(layers, 'etc/fifo')).toBeNull();
    expect(readLayerFile(layers, 'etc/apt/sources.list')).toBeNull();
    expect(entryInLayers(layers, 'etc/fifo')!.type).toBe('other');
  });

  it('firstFileInLayers returns the bytes it read, through merged-/usr links, from the topmost layer', () => {
    link(base, 'lib', 'usr/lib');
    put(base, 'usr/lib/shim/shimx64.efi.signed', 'MZ base shim');
    put(upper, 'usr/lib/shim/shimx64.efi.signed', 'MZ upper shim');
    const found = firstFileInLayers(layers, ['lib/shim/none', 'lib/shim/shimx64.efi.signed']);
    expect(found).toEqual({
      rel: 'lib/shim/shimx64.efi.signed',
      hostPath: path.join(upper, 'usr/lib/shim/shimx64.efi.signed'),
      data: Buffer.from('MZ upper shim'),
    });
  });

  it('namesInLayersDir lists a directory merged over the layers, never through an absolute link to the host', () => {
    put(base, 'var/lib/dpkg/updates/0000', '');
    put(upper, 'var/lib/dpkg/updates/0001', '');
    link(upper, 'var/lib/dpkg/updates/0002', path.join(decoyDir, 'sources.list'));
    expect(namesInLayersDir(layers, 'var/lib/dpkg/updates')).toEqual(['0000', '0001', '0002']);
    // the link itself is no directory; the host dir it names is not listed
    link(base, 'etc/apt', decoyDir);
    expect(namesInLayersDir(layers, 'etc/apt')).toBeNull();
    expect(namesInLayersDir(layers, 'nothing/here')).toBeNull();
    // a symlinked parent resolves inside the rootfs
    link(base, 'var/run', '/run');
    put(base, 'run/lock/.keep', '');
    expect(namesInLayersDir(layers, 'var/run/lock')).toEqual(['.keep']);
  });
});
