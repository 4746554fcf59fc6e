/**
 * The shared deb cache wired into the steps (src/steps/shared-debs.ts): an apt call in the chroot finds the cache's
 * checked .debs in the work dir's archives dir (bound on /var/cache/apt/archives), and what it downloaded there is
 * stored for the next work dir; debootstrap's --cache-dir is filled and emptied the same way. The fake apt and
 * debootstrap "download" only what their archives dir lacks, so the counts are what a second work dir fetched.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { DebCache, type SharedDebs } from '../../src/runtime/deb-cache.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { bootstrapStep } from '../../src/steps/bootstrap.js';
import { prepareLayer, runInChroot } from '../../src/steps/layer-step.js';
import {
  layerRoot,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
} from '../helpers/step-context.js';

const DEBS: Record<string, { pkg: string; version: string; arch: string; content: string }> = {
  'bash_5.2.15-2+b2_amd64.deb': { pkg: 'bash', version: '5.2.15-2+b2', arch: 'amd64', content: 'bash bytes' },
  'tzdata_2024a-0+deb12u1_all.deb': { pkg: 'tzdata', version: '2024a-0+deb12u1', arch: 'all', content: 'tzdata bytes' },
};

function packagesText(): string {
  return Object.values(DEBS)
    .map(
      (d) =>
        `Package: ${d.pkg}\nVersion: ${d.version}\nArchitecture: ${d.arch}\nFilename: pool/${d.pkg}.deb\nSize: ${d.content.length}\nSHA256: ${crypto.createHash('sha256').update(d.content).digest('hex')}\n`,
    )
    .join('\n');
}

function statusText(): string {
  return Object.values(DEBS)
    .map((d) => `Package: ${d.pkg}\nStatus: install ok installed\nVersion: ${d.version}\nArchitecture: ${d.arch}\n`)
    .join('\n');
}

let root: string;
let cache: DebCache;
const made: string[] = [];

beforeEach(() => {
  root = makeWorkDir('shared-debs-');
  cache = DebCache.open({ dir: path.join(root, 'shared-cache'), source: 'env' }, { maxBytes: 1 << 30 });
});
afterEach(() => {
  for (const dir of made.splice(0)) removeWorkDir(dir);
  removeWorkDir(root);
});

function shared(config: BuildConfig): SharedDebs {
  return {
    cache,
    key: { vendor: config.distribution.family, suite: config.distribution.suite, arch: config.architecture },
  };
}

/** The host dir a chroot argv binds on /var/cache/apt/archives. */
function boundArchives(argv: readonly string[]): string {
  const i = argv.findIndex((a, j) => a === '--bind' && argv[j + 2]?.endsWith('/var/cache/apt/archives'));
  if (i < 0) throw new Error('no archives bind');
  return argv[i + 1]!;
}

/** A work dir whose configure layer has the archive's lists, the packages step's context on a fake apt. */
function packagesContext(config: BuildConfig) {
  const workDir = makeWorkDir('shared-debs-work-');
  made.push(workDir);
  writeTree(layerRoot(config, workDir, 'configure'), {
    'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages': packagesText(),
  });
  const downloaded: string[] = [];
  const linkCounts: number[] = [];
  const runner = new FakeRunner().on('apt-get', {
    effect: (call) => {
      // apt fetches what the dir bound on /var/cache/apt/archives lacks, and dpkg installs it
      const archives = boundArchives(call.argv);
      for (const [name, d] of Object.entries(DEBS)) {
        const file = path.join(archives, name);
        if (!fs.existsSync(file)) {
          downloaded.push(name);
          fs.writeFileSync(file, d.content);
        } else linkCounts.push(fs.statSync(file).nlink);
      }
      writeTree(layerRoot(config, workDir, 'packages'), { 'var/lib/dpkg/status': statusText() });
    },
  });
  const ctx = { ...stepContext({ config, workDir, stepId: 'packages', runner }), debs: shared(config) };
  prepareLayer(ctx);
  return { ctx, downloaded, linkCounts };
}

describe('apt calls and the shared deb cache', () => {
  it('a second work dir downloads nothing the first stored; a tampered file is dropped and fetched again', async () => {
    const config = profileConfig('minimal');
    const apt = ['apt-get', 'install', '-y', 'bash', 'tzdata'];
    const first = packagesContext(config);
    await runInChroot(first.ctx, apt, { aptArchives: first.ctx.paths.aptArchives, network: true });
    expect(first.downloaded.sort()).toEqual(Object.keys(DEBS).sort());
    const keyDir = cache.keyDir(shared(config).key);
    expect(fs.readdirSync(keyDir).sort()).toEqual(Object.keys(DEBS).sort());
    // the call ran on a staging dir in the cache (hard links work within one mount), removed after it
    const bound = boundArchives(first.ctx.runner.calls.at(-1)!.argv);
    expect(path.dirname(bound)).toBe(path.join(cache.dir, 'staging'));
    expect(fs.existsSync(bound)).toBe(false);
    expect(fs.readdirSync(path.join(cache.dir, 'staging'))).toEqual([]);
    expect(fs.existsSync(first.ctx.paths.aptArchives)).toBe(false);
    expect(first.ctx.infos.join('\n')).toContain('deb cache: 2 new file(s) stored');

    const second = packagesContext(config);
    await runInChroot(second.ctx, apt, { aptArchives: second.ctx.paths.aptArchives, network: true });
    expect(second.downloaded).toEqual([]);
    // hard links to the cache's files, not copies
    expect(second.linkCounts).toEqual([2, 2]);
    expect(second.ctx.infos.join('\n')).toMatch(/2 file\(s\), 22 B, checked against the Packages index and linked/);

    // the same size, other bytes: only the sha256 against the Packages entry tells
    fs.writeFileSync(path.join(keyDir, 'bash_5.2.15-2+b2_amd64.deb'), 'BASH bytes');
    const third = packagesContext(config);
    await runInChroot(third.ctx, apt, { aptArchives: third.ctx.paths.aptArchives, network: true });
    expect(third.downloaded).toEqual(['bash_5.2.15-2+b2_amd64.deb']);
    expect(third.ctx.infos.join('\n')).toMatch(
      /removed 1 whose bytes were not the index's: bash_5\.2\.15-2\+b2_amd64\.deb/,
    );
    expect(fs.readFileSync(path.join(keyDir, 'bash_5.2.15-2+b2_amd64.deb'), 'utf8')).toBe('bash bytes');
  });

  it('without a shared cache, the work dir keeps its downloads as before', async () => {
    const config = profileConfig('minimal');
    const { ctx, downloaded } = packagesContext(config);
    delete (ctx as { debs?: SharedDebs }).debs;
    await runInChroot(ctx, ['apt-get', 'install', '-y', 'bash'], { aptArchives: ctx.paths.aptArchives, network: true });
    expect(downloaded.length).toBe(2);
    expect(fs.readdirSync(ctx.paths.aptArchives).filter((n) => n.endsWith('.deb')).length).toBe(2);
    expect(fs.readdirSync(cache.dir).sort()).toEqual(['debs', 'lock']);
  });
});

describe('the bootstrap layer kept by its fingerprint', () => {
  const FP = 'c'.repeat(64);

  function layerContext(config: BuildConfig, withLists = true) {
    const workDir = makeWorkDir('shared-debs-layer-');
    made.push(workDir);
    const target = layerRoot(config, workDir, 'bootstrap');
    let debootstraps = 0;
    const runner = new FakeRunner()
      .on((argv) => argv.includes('debootstrap'), {
        effect: () => {
          debootstraps++;
          writeTree(target, {
            ...(withLists
              ? { 'var/lib/apt/lists/debootstrap.invalid_dists_bookworm_main_binary-amd64_Packages': packagesText() }
              : {}),
            'var/lib/dpkg/status': statusText(),
            'usr/bin/dpkg': 'dpkg',
            'etc/os-release': 'ID=debian\n',
          });
          fs.symlinkSync('usr/bin', path.join(target, 'bin'));
          fs.chmodSync(path.join(target, 'usr/bin/dpkg'), 0o755);
        },
      })
      // tar for real: the layer goes into the cache and comes out again
      .on(['tar'], { effect: (call) => void execFileSync(call.argv[0]!, call.argv.slice(1)) });
    const ctx = {
      ...stepContext({ config, workDir, stepId: 'bootstrap', runner }),
      debs: shared(config),
      fingerprint: FP,
    };
    return { ctx, target, debootstraps: () => debootstraps };
  }

  it('a second work dir takes the layer from the cache instead of bootstrapping; a tampered one is not taken', async () => {
    const config = profileConfig('minimal', (c) => {
      c.distribution.keyring = undefined;
    });
    const first = layerContext(config);
    await bootstrapStep.run(first.ctx);
    expect(first.debootstraps()).toBe(1);
    expect(first.ctx.infos.join('\n')).toContain(
      `bootstrap layer kept in the deb cache by the step's fingerprint cccccccccccc`,
    );

    const second = layerContext(config);
    await bootstrapStep.run(second.ctx);
    expect(second.debootstraps()).toBe(0);
    expect(second.ctx.infos.join('\n')).toMatch(
      /bootstrap layer from the deb cache by the step's fingerprint cccccccccccc: .*, sha256 checked/,
    );
    expect(fs.readFileSync(path.join(second.target, 'var/lib/dpkg/status'), 'utf8')).toBe(statusText());
    expect(fs.readlinkSync(path.join(second.target, 'bin'))).toBe('usr/bin');
    expect(fs.statSync(path.join(second.target, 'usr/bin/dpkg')).mode & 0o777).toBe(0o755);
    await bootstrapStep.verify!(second.ctx);

    const tar = path.join(cache.keyDir(shared(config).key), `bootstrap-${FP}.layer.tar`);
    const bytes = fs.readFileSync(tar);
    const at = bytes.length - 2000;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 1, at);
    fs.writeFileSync(tar, bytes);
    const third = layerContext(config);
    await bootstrapStep.run(third.ctx);
    expect(third.debootstraps()).toBe(1);
  });

  it('keeps no layer of a tree without a Packages index (nothing in it could be checked)', async () => {
    const config = profileConfig('minimal', (c) => {
      c.distribution.keyring = undefined;
    });
    const first = layerContext(config, false);
    await bootstrapStep.run(first.ctx);
    expect(first.debootstraps()).toBe(1);
    expect(cache.findLayer(shared(config).key, 'bootstrap', FP)).toBeNull();
    expect(cache.stats().keys.filter((k) => k.layers > 0)).toEqual([]);
  });
});

describe('debootstrap and the shared deb cache', () => {
  function bootstrapContext(config: BuildConfig) {
    const workDir = makeWorkDir('shared-debs-boot-');
    made.push(workDir);
    const target = layerRoot(config, workDir, 'bootstrap');
    const downloaded: string[] = [];
    const given: string[] = [];
    const runner = new FakeRunner().on((argv) => argv.includes('debootstrap'), {
      effect: (call) => {
        const cacheDir = call.argv.find((a) => a.startsWith('--cache-dir='))!.slice('--cache-dir='.length);
        given.push(...fs.readdirSync(cacheDir).filter((n) => n.endsWith('.deb')));
        for (const [name, d] of Object.entries(DEBS)) {
          const file = path.join(cacheDir, name);
          if (!fs.existsSync(file)) {
            downloaded.push(name);
            fs.writeFileSync(file, d.content);
          }
        }
        writeTree(target, {
          'var/lib/apt/lists/debootstrap.invalid_dists_bookworm_main_binary-amd64_Packages': packagesText(),
          'var/lib/dpkg/status': statusText(),
          'usr/bin/dpkg': '',
          'etc/os-release': 'ID=debian\n',
        });
      },
    });
    return {
      ctx: { ...stepContext({ config, workDir, stepId: 'bootstrap', runner }), debs: shared(config) },
      downloaded,
      given,
    };
  }

  it("fills debootstrap's --cache-dir from the cache and stores what it downloaded", async () => {
    const config = profileConfig('minimal', (c) => {
      c.distribution.keyring = undefined;
    });
    const first = bootstrapContext(config);
    await bootstrapStep.run(first.ctx);
    expect(first.downloaded.length).toBe(2);
    expect(fs.readdirSync(cache.keyDir(shared(config).key)).sort()).toEqual(Object.keys(DEBS).sort());
    // a file an apt call stored is not the base system's: debootstrap is not given it
    fs.writeFileSync(path.join(cache.keyDir(shared(config).key), 'plasma_1_amd64.deb'), 'desktop bytes');
    const second = bootstrapContext(config);
    await bootstrapStep.run(second.ctx);
    expect(second.given.sort()).toEqual(Object.keys(DEBS).sort());
    expect(second.downloaded).toEqual([]);
    expect(second.ctx.infos.join('\n')).toContain('2 file(s), 22 B, linked for the download');
  });
});
