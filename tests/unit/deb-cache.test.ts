/**
 * The shared deb cache (src/runtime/deb-cache.ts) and its Packages verifier (src/runtime/packages-index.ts): a cached
 * .deb is used only when its size and sha256 are its Packages entry's, a tampered one is removed, an unknown one is
 * left out; downloads are checked before they are stored; eviction goes least recently used first by the index's
 * times; `ailinux cache` shows and prunes; / and system directories are refused, and no symlink is followed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import {
  assertSafeCacheDir,
  type CacheKey,
  DebCache,
  defaultCacheDir,
  parseSize,
  resolveCacheDir,
} from '../../src/runtime/deb-cache.js';
import { checkDeb, debFileName, PackagesIndex, parsePackagesEntries } from '../../src/runtime/packages-index.js';

const KEY: CacheKey = { vendor: 'debian', suite: 'bookworm', arch: 'amd64' };

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deb-cache-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function sha(data: string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

interface Pkg {
  name: string;
  version: string;
  arch: string;
  content: string;
}

function stanza(p: Pkg): string {
  return [
    `Package: ${p.name}`,
    `Version: ${p.version}`,
    `Architecture: ${p.arch}`,
    'Description: a package',
    ' with a continuation line: Size: 1',
    `Filename: pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version.replace(/^\d+:/, '')}_${p.arch}.deb`,
    `Size: ${Buffer.byteLength(p.content)}`,
    `SHA256: ${sha(p.content)}`,
  ].join('\n');
}

function indexOf(...pkgs: Pkg[]): PackagesIndex {
  return PackagesIndex.fromTexts([`${pkgs.map(stanza).join('\n\n')}\n`]);
}

const A: Pkg = { name: 'bash', version: '5.2.15-2+b2', arch: 'amd64', content: 'bash deb bytes' };
const B: Pkg = { name: 'tzdata', version: '2024a-0+deb12u1', arch: 'all', content: 'tzdata deb bytes' };
const C: Pkg = { name: 'perl', version: '1:5.36.0-7', arch: 'amd64', content: 'perl deb bytes' };

function put(dir: string, p: Pkg, content = p.content): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, debFileName({ package: p.name, version: p.version, architecture: p.arch }));
  fs.writeFileSync(file, content);
  return file;
}

function open(maxBytes = 1 << 30, now: () => number = Date.now): DebCache {
  return DebCache.open({ dir: path.join(tmp, 'cache'), source: 'config' }, { maxBytes, now });
}

describe('the Packages verifier', () => {
  it('reads Package, Version, Architecture, Filename, Size and SHA256 of each stanza, not a continuation line', () => {
    const entries = parsePackagesEntries(`${stanza(A)}\n\n${stanza(C)}\n`);
    expect(entries).toEqual([
      {
        package: 'bash',
        version: '5.2.15-2+b2',
        architecture: 'amd64',
        filename: 'pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb',
        size: 14,
        sha256: sha(A.content),
      },
      expect.objectContaining({ package: 'perl', version: '1:5.36.0-7', size: 14 }),
    ]);
  });

  it('leaves out a stanza without SHA256 or Size: what it names is unknown, never trusted', () => {
    const text = `Package: x\nVersion: 1\nArchitecture: all\nFilename: pool/x.deb\nSize: 3\n\nPackage: y\nVersion: 1\nArchitecture: all\nFilename: pool/y.deb\nSHA256: ${sha('y')}\n`;
    expect(parsePackagesEntries(text)).toEqual([]);
  });

  it("names the file as apt and debootstrap do: the epoch's colon as %3a", () => {
    expect(debFileName({ package: 'perl', version: '1:5.36.0-7', architecture: 'amd64' })).toBe(
      'perl_1%3a5.36.0-7_amd64.deb',
    );
  });

  it('says ok, unknown, or corrupt (wrong size, then wrong sha256 at the right size)', () => {
    const index = indexOf(A);
    const name = 'bash_5.2.15-2+b2_amd64.deb';
    expect(checkDeb(index, name, 14, () => sha(A.content))).toEqual({ kind: 'ok', sha256: sha(A.content) });
    expect(checkDeb(index, 'other_1_amd64.deb', 14, () => sha(A.content)).kind).toBe('unknown');
    expect(checkDeb(index, name, 15, () => sha(A.content))).toMatchObject({ kind: 'corrupt', reason: /15 bytes/ });
    expect(checkDeb(index, name, 14, () => sha('tampered bytes'))).toMatchObject({ kind: 'corrupt', reason: /sha256/ });
  });
});

describe('the shared deb cache', () => {
  it('stages a checked file, removes a tampered one from the cache, and leaves out an unknown one', () => {
    const cache = open();
    const dir = cache.keyDir(KEY, true);
    put(dir, A);
    // the same size as B's, other bytes: only the sha256 tells
    const tampered = put(dir, B, 'tzdata deb BYTES');
    put(dir, C);
    const staging = path.join(tmp, 'work', 'cache', 'apt-archives');
    put(staging, { ...A, name: 'stale' });
    const r = cache.stage(KEY, staging, indexOf(A, B));
    expect(r.staged).toEqual(['bash_5.2.15-2+b2_amd64.deb']);
    expect(r.dropped).toEqual([{ name: 'tzdata_2024a-0+deb12u1_all.deb', reason: expect.stringMatching(/sha256/) }]);
    expect(r.unknown).toBe(1);
    expect(fs.existsSync(tampered)).toBe(false);
    // the unknown one stays in the cache (another archive state may want it), but not in the build's dir
    expect(fs.readdirSync(dir).sort()).toEqual(['bash_5.2.15-2+b2_amd64.deb', 'perl_1%3a5.36.0-7_amd64.deb']);
    expect(fs.readdirSync(staging)).toEqual(['bash_5.2.15-2+b2_amd64.deb']);
    expect(fs.readFileSync(path.join(staging, 'bash_5.2.15-2+b2_amd64.deb'), 'utf8')).toBe(A.content);
  });

  it('stores a download only when the index vouches for it, and empties the staging dir', () => {
    const cache = open(1 << 30, () => 1000);
    const staging = path.join(tmp, 'staging');
    put(staging, A);
    put(staging, B, 'tzdata deb BYTES');
    put(staging, { ...C, name: 'notindexed' });
    const r = cache.absorb(KEY, staging, indexOf(A, B));
    expect(r.added).toEqual(['bash_5.2.15-2+b2_amd64.deb']);
    expect(r.rejected.map((x) => x.name).sort()).toEqual([
      'notindexed_1%3a5.36.0-7_amd64.deb',
      'tzdata_2024a-0+deb12u1_all.deb',
    ]);
    expect(fs.readdirSync(cache.keyDir(KEY))).toEqual(['bash_5.2.15-2+b2_amd64.deb']);
    expect(fs.readdirSync(staging)).toEqual([]);
    expect(cache.entry(KEY, 'bash_5.2.15-2+b2_amd64.deb')).toEqual({
      size: 14,
      sha256: sha(A.content),
      lastUsed: 1000,
    });
    // the index is whole JSON, renamed into place: no temporary file is left
    expect(fs.readdirSync(cache.dir).sort()).toEqual(['debs', 'index.json', 'lock']);
  });

  it('evicts the least recently used first, by the times in its index (not mtime or atime)', () => {
    let clock = 1;
    const cache = open(1 << 30, () => clock);
    const index = indexOf(A, B, C);
    for (const p of [A, B, C]) {
      const staging = path.join(tmp, `s-${p.name}`);
      put(staging, p);
      cache.absorb(KEY, staging, index);
      clock++;
    }
    // A (added first) used again last: B is now the oldest, then C
    const staging = path.join(tmp, 'again');
    cache.stage(KEY, staging, index);
    cache.absorb(KEY, staging, index, new Set(['bash_5.2.15-2+b2_amd64.deb']));
    // mtimes that say the opposite are ignored
    for (const [i, name] of fs.readdirSync(cache.keyDir(KEY)).entries())
      fs.utimesSync(path.join(cache.keyDir(KEY), name), 1e9 - i, 1e9 - i);
    expect(cache.prune(30)).toEqual(['debian/bookworm/amd64/tzdata_2024a-0+deb12u1_all.deb']);
    expect(cache.prune(14)).toEqual(['debian/bookworm/amd64/perl_1%3a5.36.0-7_amd64.deb']);
    expect(fs.readdirSync(cache.keyDir(KEY))).toEqual(['bash_5.2.15-2+b2_amd64.deb']);
    expect(cache.stats()).toMatchObject({ bytes: 14, entries: 1 });
  });

  it('evicts past its limit after a download', () => {
    let clock = 1;
    const cache = open(20, () => clock++);
    const index = indexOf(A, B);
    for (const p of [A, B]) {
      const staging = path.join(tmp, `s-${p.name}`);
      put(staging, p);
      cache.absorb(KEY, staging, index);
    }
    expect(fs.readdirSync(cache.keyDir(KEY))).toEqual(['tzdata_2024a-0+deb12u1_all.deb']);
  });

  it('never follows a symlink: a .deb link is removed, its target kept; a key dir that is a link is refused', () => {
    const cache = open();
    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(outside);
    const precious = path.join(outside, 'bash_5.2.15-2+b2_amd64.deb');
    fs.writeFileSync(precious, A.content);
    const dir = cache.keyDir(KEY, true);
    fs.symlinkSync(precious, path.join(dir, 'bash_5.2.15-2+b2_amd64.deb'));
    // debootstrap's staging (no index yet) links every file it finds: a link must not be one of them
    const staging = path.join(tmp, 'staging');
    expect(cache.stage(KEY, staging, null).staged).toEqual([]);
    expect(fs.readdirSync(staging)).toEqual([]);
    fs.symlinkSync(precious, path.join(dir, 'bash_5.2.15-2+b2_amd64.deb'));
    const r = cache.stage(KEY, staging, indexOf(A));
    expect(r.staged).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.readFileSync(precious, 'utf8')).toBe(A.content);
    cache.prune(0);
    expect(fs.existsSync(precious)).toBe(true);

    const other: CacheKey = { vendor: 'ubuntu', suite: 'noble', arch: 'amd64' };
    fs.mkdirSync(path.join(cache.dir, 'debs', 'ubuntu', 'noble'), { recursive: true });
    fs.symlinkSync(outside, path.join(cache.dir, 'debs', 'ubuntu', 'noble', 'amd64'));
    expect(() => cache.stage(other, path.join(tmp, 'staging'), indexOf(A))).toThrow(/symlink/);
    expect(fs.readdirSync(outside)).toEqual(['bash_5.2.15-2+b2_amd64.deb']);
  });

  it('refuses a key part that is not a plain name', () => {
    const cache = open();
    expect(() => cache.keyDir({ ...KEY, suite: '../../etc' })).toThrow(UsageError);
  });
});

describe('a layer kept by its fingerprint', () => {
  const FP1 = 'a'.repeat(64);
  const FP2 = 'b'.repeat(64);
  const write = (bytes: string) => async (temp: string) => fs.writeFileSync(temp, bytes);

  it('is found while its bytes are those recorded when it was stored, and removed when they are not', async () => {
    const cache = open();
    expect(cache.findLayer(KEY, 'bootstrap', FP1)).toBeNull();
    await cache.storeLayer(KEY, 'bootstrap', FP1, write('layer tar bytes'));
    const file = path.join(cache.keyDir(KEY), `bootstrap-${FP1}.layer.tar`);
    expect(cache.findLayer(KEY, 'bootstrap', FP1)).toEqual({ file, size: 15 });
    expect(cache.findLayer(KEY, 'bootstrap', FP2)).toBeNull();
    // the same size, other bytes
    fs.writeFileSync(file, 'LAYER tar bytes');
    expect(cache.findLayer(KEY, 'bootstrap', FP1)).toBeNull();
    expect(fs.existsSync(file)).toBe(false);
    // never staged as a .deb
    await cache.storeLayer(KEY, 'bootstrap', FP1, write('layer tar bytes'));
    expect(cache.stage(KEY, path.join(tmp, 'staging'), null).staged).toEqual([]);
  });

  it('is kept once per key: a new fingerprint replaces the old; it counts toward the limit and the stats', async () => {
    const cache = open();
    await cache.storeLayer(KEY, 'bootstrap', FP1, write('first'));
    await cache.storeLayer(KEY, 'bootstrap', FP2, write('second layer'));
    expect(fs.readdirSync(cache.keyDir(KEY))).toEqual([`bootstrap-${FP2}.layer.tar`]);
    expect(cache.stats().keys).toEqual([
      { key: 'debian/bookworm/amd64', entries: 1, bytes: 12, layers: 1, layerBytes: 12, layerSteps: ['bootstrap'] },
    ]);
    expect(cache.prune(0)).toEqual([`debian/bookworm/amd64/bootstrap-${FP2}.layer.tar`]);
  });

  it('is kept once per step: packages-remove is no older layer of packages; hasLayer reads the index', async () => {
    const cache = open();
    await cache.storeLayer(KEY, 'packages-remove', FP1, write('remove'));
    await cache.storeLayer(KEY, 'packages', FP1, write('packages one'));
    await cache.storeLayer(KEY, 'packages', FP2, write('packages two'));
    expect(fs.readdirSync(cache.keyDir(KEY)).sort()).toEqual([
      `packages-${FP2}.layer.tar`,
      `packages-remove-${FP1}.layer.tar`,
    ]);
    expect(cache.hasLayer(KEY, 'packages', FP2)).toBe(true);
    expect(cache.hasLayer(KEY, 'packages', FP1)).toBe(false);
    expect(cache.hasLayer(KEY, 'packages-remove', FP1)).toBe(true);
    expect(fs.statSync(path.join(cache.keyDir(KEY), `packages-${FP2}.layer.tar`)).mode & 0o777).toBe(0o600);
    expect(cache.stats().keys).toEqual([
      {
        key: 'debian/bookworm/amd64',
        entries: 2,
        bytes: 18,
        layers: 2,
        layerBytes: 18,
        layerSteps: ['packages', 'packages-remove'],
      },
    ]);
  });

  it('refuses a fingerprint that is not one', async () => {
    const cache = open();
    await expect(cache.storeLayer(KEY, 'bootstrap', '../x', write('x'))).rejects.toThrow(UsageError);
  });
});

describe('where the cache is', () => {
  it('is $XDG_CACHE_HOME/ailinux, else ~/.cache/ailinux; AILINUX_CACHE_DIR over cache.dir over the default', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/root' })).toBe('/x/cache/ailinux');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/root' })).toBe('/root/.cache/ailinux');
    expect(resolveCacheDir({ env: { HOME: '/root' } })).toEqual({ dir: '/root/.cache/ailinux', source: 'default' });
    expect(resolveCacheDir({ configured: 'c', baseDir: '/srv/cfg', env: { HOME: '/root' } })).toEqual({
      dir: '/srv/cfg/c',
      source: 'config',
    });
    expect(
      resolveCacheDir({ configured: 'c', baseDir: '/srv/cfg', env: { HOME: '/root', AILINUX_CACHE_DIR: '/srv/debs' } }),
    ).toEqual({ dir: '/srv/debs', source: 'env' });
  });

  it('refuses / and system directories, naming where the value came from', () => {
    for (const dir of ['/', '/usr', '/usr/lib/ailinux', '/etc/x', '/var', '/root', '/home', '/proc/1', '/tmp'])
      expect(() => assertSafeCacheDir({ dir, source: 'env' }), dir).toThrow(UsageError);
    expect(() => resolveCacheDir({ configured: '/boot/cache', env: { HOME: '/root' } })).toThrow(ConfigError);
    expect(() => resolveCacheDir({ configured: '/boot/cache', env: { HOME: '/root' } })).toThrow(/cache\.dir/);
    expect(() => resolveCacheDir({ env: { AILINUX_CACHE_DIR: '/' } })).toThrow(
      /AILINUX_CACHE_DIR \/ is \/ or a system/,
    );
    // a link to a system directory is refused by where it leads
    const link = path.join(tmp, 'link');
    fs.symlinkSync('/etc', link);
    expect(() => assertSafeCacheDir({ dir: link, source: 'config' })).toThrow(/\(\/etc\)/);
    expect(() => assertSafeCacheDir({ dir: '/var/cache/ailinux', source: 'env' })).not.toThrow();
    expect(() => assertSafeCacheDir({ dir: '/root/.cache/ailinux', source: 'default' })).not.toThrow();
  });

  it('reads sizes in binary units', () => {
    expect(parseSize('10GiB')).toBe(10 * 1024 ** 3);
    expect(parseSize('500M')).toBe(500 * 1024 ** 2);
    expect(parseSize('1.5g')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('0')).toBe(0);
    expect(parseSize('ten')).toBeNull();
  });
});

describe('ailinux cache', () => {
  function io(env: NodeJS.ProcessEnv): CliIO & { out: () => string; err: () => string } {
    let out = '';
    let err = '';
    return {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
      env,
      cwd: tmp,
      uid: 0,
      commandLine: 'ailinux cache',
      out: () => out,
      err: () => err,
    };
  }

  function filled(): DebCache {
    let clock = 1;
    const cache = open(1 << 30, () => clock++);
    const index = indexOf(A, B, C);
    for (const p of [A, B, C]) {
      const staging = path.join(tmp, `s-${p.name}`);
      put(staging, p);
      cache.absorb(KEY, staging, index);
    }
    return cache;
  }

  it('shows the location, size, files per distribution and the limit', async () => {
    filled();
    const cli = io({ AILINUX_CACHE_DIR: path.join(tmp, 'cache') });
    expect(await main(['cache', '-p', 'minimal'], cli)).toBe(0);
    expect(cli.out()).toContain(`deb cache: ${path.join(tmp, 'cache')} (from AILINUX_CACHE_DIR)`);
    expect(cli.out()).toContain('size: 44 B of 10.0 GiB (0 %), 3 file(s)');
    expect(cli.out()).toMatch(/debian\/bookworm\/amd64\s+3 file\(s\)\s+44 B/);
  });

  it('prunes least recently used first, and says so in --json', async () => {
    filled();
    const cli = io({ AILINUX_CACHE_DIR: path.join(tmp, 'cache') });
    expect(await main(['cache', 'prune', '--max-size', '30', '--json', '-p', 'minimal'], cli)).toBe(0);
    const json = JSON.parse(cli.out());
    expect(json.removed).toEqual(['debian/bookworm/amd64/bash_5.2.15-2+b2_amd64.deb']);
    expect(json).toMatchObject({ bytes: 30, entries: 2, exists: true, source: 'env' });
  });

  it('does not make a cache that is not there', async () => {
    const dir = path.join(tmp, 'none');
    const cli = io({ AILINUX_CACHE_DIR: dir });
    expect(await main(['cache', 'prune', '-p', 'minimal'], cli)).toBe(0);
    expect(cli.out()).toContain('it does not exist yet');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('exits 2 on a size that is not one, --max-size without prune, or a system directory', async () => {
    const env = { AILINUX_CACHE_DIR: path.join(tmp, 'cache') };
    let cli = io(env);
    expect(await main(['cache', 'prune', '--max-size', 'lots', '-p', 'minimal'], cli)).toBe(2);
    expect(cli.err()).toContain('--max-size lots is not a size');
    cli = io(env);
    expect(await main(['cache', '--max-size', '1G', '-p', 'minimal'], cli)).toBe(2);
    expect(cli.err()).toContain('--max-size is an option of cache prune');
    cli = io({ AILINUX_CACHE_DIR: '/usr' });
    expect(await main(['cache', '-p', 'minimal'], cli)).toBe(2);
    expect(cli.err()).toContain('is / or a system directory');
    cli = io(env);
    expect(await main(['cache', 'wipe', '-p', 'minimal'], cli)).toBe(2);
  });
});
