/**
 * The archive keyring check (src/steps/archive-keyring.ts), with real gpg and dpkg-deb on throwaway keys made here:
 * three ed25519 keys stand for the 2012 and 2018 archive keys and the CD image key, a fourth for an attacker's. The
 * expected fingerprints are injected, so the check is the product's own code on keys whose truth the test knows.
 * A fake archive on file:// carries the ubuntu-keyring package built here with dpkg-deb, so the whole fetch path runs
 * offline. Every gpg call has its own GNUPGHOME in the test's temp dir.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintMaterial, fingerprintOf } from '../../src/engine/fingerprint.js';
import { describeChanges } from '../../src/engine/planner.js';
import { StepError } from '../../src/errors.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import type { Runner } from '../../src/runtime/runner.js';
import {
  type ArchiveKey,
  describeKeyringSource,
  downloadBytes,
  exportArchiveKeyring,
  fetchArchiveKeyring,
  fetchedKeyringPaths,
  KEYRING_IN_PACKAGE,
  keyringSource,
  packageEntry,
  parseColonKeys,
  pinnedArchiveKeys,
  requireArchiveKeys,
  showKeys,
  UBUNTU_ARCHIVE_KEYRING,
  UBUNTU_ARCHIVE_KEYS,
} from '../../src/steps/archive-keyring.js';
import { bootstrapStep } from '../../src/steps/bootstrap.js';
import { profileConfig, stepContext } from '../helpers/step-context.js';

const haveTools = ['gpg', 'dpkg-deb'].every((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

let tmp: string;
let home: string;
const keys: Record<'a2012' | 'b2018' | 'cd' | 'evil', ArchiveKey> = {} as never;
const runner = new ExecaRunner({ graceMs: 1000 });

function gpg(...args: string[]): string {
  return execFileSync('gpg', ['--homedir', home, '--batch', '--no-tty', ...args], {
    encoding: 'utf8',
    env: { ...process.env, GNUPGHOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function makeKey(uid: string): ArchiveKey {
  gpg('--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never');
  const listed = parseColonKeys(gpg('--with-colons', '--list-keys', uid));
  expect(listed).toHaveLength(1);
  return listed[0]!;
}

function keyring(name: string, ...members: ArchiveKey[]): string {
  const file = path.join(tmp, name);
  gpg('--yes', '--output', file, '--export', ...members.map((k) => k.fingerprint));
  return file;
}

const tools = () => ({ runner, signal: new AbortController().signal, tmpDir: path.join(tmp, 'work', 'tmp') });

beforeAll(() => {
  if (!haveTools) return;
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-keyring-test-')));
  home = path.join(tmp, 'gnupg');
  fs.mkdirSync(home, { mode: 0o700 });
  keys.a2012 = makeKey('Test Archive Key (2012) <a@test.invalid>');
  keys.b2018 = makeKey('Test Archive Key (2018) <b@test.invalid>');
  keys.cd = makeKey('Test CD Image Key (2012) <cd@test.invalid>');
  keys.evil = makeKey('Test Archive Key (2018) <b@evil.invalid>'); // the same name, another key
}, 60_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the pinned Ubuntu archive keys', () => {
  it('are the 2012 and 2018 archive signing keys, full fingerprints, and nothing else', () => {
    expect(UBUNTU_ARCHIVE_KEYS.map((k) => [k.name.slice(0, 43), k.fingerprint])).toEqual([
      ['Ubuntu Archive Automatic Signing Key (2012)', '790BC7277767219C42C86F933B4FE6ACC0B21F32'],
      ['Ubuntu Archive Automatic Signing Key (2018)', 'F6ECB3762474EDA9D21B7022871920D1991BC93C'],
    ]);
  });

  it('are pinned into the bootstrap fingerprint only when the keyring is the fetchable default', () => {
    expect(pinnedArchiveKeys(profileConfig('ailinux'))).toEqual(UBUNTU_ARCHIVE_KEYS.map((k) => k.fingerprint));
    expect(pinnedArchiveKeys(profileConfig('minimal'))).toEqual([]);
    const pinnedSha = profileConfig('ailinux', (c) => {
      c.distribution.keyring = { path: UBUNTU_ARCHIVE_KEYRING, sha256: 'a'.repeat(64) };
    });
    expect(pinnedArchiveKeys(pinnedSha)).toEqual([]);
  });
});

describe("the bootstrap step's fingerprint", () => {
  it('covers the pinned archive keys when the keyring is fetchable, and a new pin is named in the plan', () => {
    const config = profileConfig('ailinux');
    const env = { sourceDateEpoch: null };
    const material = fingerprintMaterial(bootstrapStep, config, '/', null, env);
    expect(material.config['pinned.archive keys']).toEqual(UBUNTU_ARCHIVE_KEYS.map((k) => k.fingerprint));
    const repinned = {
      ...material,
      config: {
        ...material.config,
        'pinned.archive keys': ['790BC7277767219C42C86F933B4FE6ACC0B21F32', 'A'.repeat(40)],
      },
    };
    expect(fingerprintOf('bootstrap', repinned)).not.toBe(fingerprintOf('bootstrap', material));
    expect(describeChanges(material, repinned)).toEqual([
      `the pinned archive keys built into ailinux changed (added ${'A'.repeat(40)}; removed F6ECB3762474EDA9D21B7022871920D1991BC93C)`,
    ]);
    const own = profileConfig('ailinux', (c) => {
      c.distribution.keyring = { path: 'keys/k.gpg' };
    });
    expect(fingerprintMaterial(bootstrapStep, own, '/', null, env).config).not.toHaveProperty('pinned.archive keys');
  });
});

describe('where the keyring comes from', () => {
  const config = profileConfig('ailinux');
  it('the host file when the host has it', () => {
    const s = keyringSource(config, '/w', undefined, (p) => p === UBUNTU_ARCHIVE_KEYRING);
    expect(s).toEqual({ kind: 'host', path: UBUNTU_ARCHIVE_KEYRING });
    expect(describeKeyringSource(s!)).toContain("this host's own /usr/share/keyrings/ubuntu-archive-keyring.gpg");
  });
  it('fetched into the work dir when the host lacks it', () => {
    const s = keyringSource(config, '/w', undefined, () => false);
    expect(s).toMatchObject({ kind: 'fetch', path: '/w/cache/keyrings/ubuntu-archive-keyring.gpg', record: null });
    expect(describeKeyringSource(s!)).toBe(
      'not on this host: the bootstrap step fetches ubuntu-keyring from http://archive.ubuntu.com/ubuntu (noble) and checks it against the 2012 and 2018 Ubuntu archive keys, into /w/cache/keyrings/ubuntu-archive-keyring.gpg',
    );
  });
  it('a configured keyring elsewhere is used as configured', () => {
    const own = profileConfig('ailinux', (c) => {
      c.distribution.keyring = { path: 'keys/k.gpg' };
    });
    expect(
      keyringSource(
        own,
        '/w',
        (p) => `/cfg/${p}`,
        () => false,
      ),
    ).toEqual({
      kind: 'configured',
      path: '/cfg/keys/k.gpg',
    });
    expect(keyringSource(profileConfig('minimal'), '/w')).toBeNull();
  });
});

describe('reading gpg and Packages output', () => {
  it('takes the primary fingerprint of each key, not its subkeys', () => {
    const text = [
      'pub:-:4096:1:3B4FE6ACC0B21F32:1336770936:::-:::scSC::::::23::0:',
      'fpr:::::::::790BC7277767219C42C86F933B4FE6ACC0B21F32:',
      'uid:-::::1336770936::B7A0::Ubuntu Archive Automatic Signing Key (2012) <ftpmaster@ubuntu.com>::::::::::0:',
      'sub:-:4096:1:AAAAAAAAAAAAAAAA:1336770936::::::e::::::23:',
      'fpr:::::::::1111111111111111111111111111AAAAAAAAAAAAAAAA:',
      'pub:-:4096:1:871920D1991BC93C:1537196506:::-:::scSC::::::23::0:',
      'fpr:::::::::F6ECB3762474EDA9D21B7022871920D1991BC93C:',
    ].join('\n');
    expect(parseColonKeys(text)).toEqual([
      {
        name: 'Ubuntu Archive Automatic Signing Key (2012) <ftpmaster@ubuntu.com>',
        fingerprint: '790BC7277767219C42C86F933B4FE6ACC0B21F32',
      },
      { name: '', fingerprint: 'F6ECB3762474EDA9D21B7022871920D1991BC93C' },
    ]);
  });

  it('finds the package stanza, and refuses a Filename that climbs out of the archive', () => {
    const sha = 'c'.repeat(64);
    const index = [
      `Package: ubuntu-keyring-other\nVersion: 1\nFilename: pool/x.deb\nSHA256: ${sha}\n`,
      `Package: ubuntu-keyring\nVersion: 2023.11.28.1\nFilename: pool/main/u/ubuntu-keyring/u.deb\nSize: 11124\nSHA256: ${sha}\n`,
    ].join('\n');
    expect(packageEntry(index, 'ubuntu-keyring')).toEqual({
      version: '2023.11.28.1',
      filename: 'pool/main/u/ubuntu-keyring/u.deb',
      sha256: sha,
      size: 11124,
    });
    expect(packageEntry(index.replace('pool/main/u', '../../etc'), 'ubuntu-keyring')).toBeNull();
    expect(packageEntry('Package: zsh\n', 'ubuntu-keyring')).toBeNull();
  });
});

describe('downloads', () => {
  it('a network failure is transient, says what to check, and that a proxy is not used', async () => {
    const saved = process.env['http_proxy'];
    try {
      delete process.env['http_proxy'];
      const plain = (await downloadBytes('http://127.0.0.1:9/Packages.gz', new AbortController().signal).catch(
        (e: unknown) => e,
      )) as StepError;
      expect(plain).toBeInstanceOf(StepError);
      expect(plain.message).toMatch(/^cannot fetch http:\/\/127\.0\.0\.1:9\/Packages\.gz \(.+\)$/);
      expect(plain.transient).toBe(true);
      expect(plain.hint).toMatch(/^check the network and distribution\.mirror, or install ubuntu-keyring on the host/);
      process.env['http_proxy'] = 'http://proxy.invalid:3128';
      const proxied = (await downloadBytes('http://127.0.0.1:9/x', new AbortController().signal).catch(
        (e: unknown) => e,
      )) as StepError;
      expect(proxied.hint).toMatch(
        /^http_proxy is set, but this download does not use it \(apt\.proxy in the config does, for an http:\/\/ mirror\): install ubuntu-keyring/,
      );
    } finally {
      if (saved === undefined) delete process.env['http_proxy'];
      else process.env['http_proxy'] = saved;
    }
  });

  it('with apt.proxy, an http:// download goes through the proxy, whole URL in the request line', async () => {
    const seen: string[] = [];
    const proxy = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
      res.writeHead(req.url?.endsWith('/missing') ? 404 : 200).end('index bytes');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const body = await downloadBytes('http://archive.invalid/ubuntu/Packages.gz', new AbortController().signal, url);
      expect(body.toString()).toBe('index bytes');
      expect(seen).toEqual(['GET http://archive.invalid/ubuntu/Packages.gz host=archive.invalid']);
      const refused = (await downloadBytes('http://archive.invalid/missing', new AbortController().signal, url).catch(
        (e: unknown) => e,
      )) as StepError;
      expect(refused.message).toBe(`http://archive.invalid/missing answered HTTP 404 through the proxy ${url}`);
    } finally {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
    const down = (await downloadBytes('http://archive.invalid/x', new AbortController().signal, url).catch(
      (e: unknown) => e,
    )) as StepError;
    expect(down.message).toMatch(
      /^cannot fetch http:\/\/archive\.invalid\/x through the proxy http:\/\/127\.0\.0\.1:\d+ \(/,
    );
    expect(down.transient).toBe(true);
  });
});

describe.skipIf(!haveTools)('the keyring check, with real gpg and throwaway keys', () => {
  const expected = () => [keys.a2012, keys.b2018];

  it('exports only the expected keys from a good keyring (the CD image key is left out)', async () => {
    const good = keyring('good.gpg', keys.a2012, keys.cd, keys.b2018);
    const out = path.join(tmp, 'work', 'cache', 'keyrings', 'good-out.gpg');
    const found = await exportArchiveKeyring(tools(), good, out, expected(), 'the good keyring');
    expect(found.map((k) => k.fingerprint).sort()).toEqual(
      [keys.a2012, keys.b2018, keys.cd].map((k) => k.fingerprint).sort(),
    );
    const exported = await showKeys(tools(), out);
    expect(exported.map((k) => k.fingerprint).sort()).toEqual(
      expected()
        .map((k) => k.fingerprint)
        .sort(),
    );
    // gpgv, as debootstrap runs it, verifies a file signed by a pinned key against the exported keyring
    const signed = path.join(tmp, 'Release');
    fs.writeFileSync(signed, 'Suite: test\n');
    gpg('--yes', '--local-user', keys.b2018.fingerprint, '--clearsign', '--output', `${signed}.in`, signed);
    execFileSync('gpgv', ['--keyring', out, `${signed}.in`], {
      stdio: 'ignore',
      env: { ...process.env, GNUPGHOME: home },
    });
    // nothing of gpg's is left in the work dir's tmp
    expect(fs.readdirSync(path.join(tmp, 'work', 'tmp'))).toEqual([]);
  });

  it('refuses a keyring with one key swapped, naming the expected and the found fingerprints', async () => {
    const tampered = keyring('tampered.gpg', keys.a2012, keys.cd, keys.evil);
    const out = path.join(tmp, 'work', 'cache', 'keyrings', 'tampered-out.gpg');
    const error = await exportArchiveKeyring(
      tools(),
      tampered,
      out,
      expected(),
      'ubuntu-keyring 1 from file:///m',
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    const message = (error as StepError).message;
    expect(message).toContain('the archive keyring in ubuntu-keyring 1 from file:///m does not hold');
    expect(message).toContain(`expected ${keys.b2018.fingerprint}`);
    expect(message).toContain(keys.evil.fingerprint);
    expect(message).not.toContain(`expected ${keys.a2012.fingerprint}`);
    expect((error as StepError).transient).toBe(false);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith('tampered'))).toEqual([]);
  });

  it('refuses an empty keyring: found none', () => {
    expect(() => requireArchiveKeys([], expected(), 'x')).toThrow(/expected .+; found none$/);
  });

  /** A file:// archive with noble's ubuntu-keyring package holding `members`, built with dpkg-deb. */
  function fakeArchive(name: string, members: ArchiveKey[], tamperDeb = false): string {
    const root = path.join(tmp, name);
    const pkg = path.join(root, 'pkg');
    fs.mkdirSync(path.join(pkg, 'DEBIAN'), { recursive: true });
    fs.writeFileSync(
      path.join(pkg, 'DEBIAN', 'control'),
      'Package: ubuntu-keyring\nVersion: 2099.01.01\nArchitecture: all\nMaintainer: test <t@test.invalid>\nDescription: test keyring\n',
    );
    fs.mkdirSync(path.dirname(path.join(pkg, KEYRING_IN_PACKAGE)), { recursive: true });
    fs.copyFileSync(keyring(`${name}.gpg`, ...members), path.join(pkg, KEYRING_IN_PACKAGE));
    const debRel = 'pool/main/u/ubuntu-keyring/ubuntu-keyring_2099.01.01_all.deb';
    const deb = path.join(root, debRel);
    fs.mkdirSync(path.dirname(deb), { recursive: true });
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', pkg, deb], { stdio: 'ignore' });
    const bytes = fs.readFileSync(deb);
    const sha = crypto.createHash('sha256').update(bytes).digest('hex');
    if (tamperDeb) fs.appendFileSync(deb, 'x');
    const index = `Package: ubuntu-keyring\nVersion: 2099.01.01\nFilename: ${debRel}\nSize: ${bytes.length}\nSHA256: ${sha}\n`;
    const dir = path.join(root, 'dists', 'noble', 'main', 'binary-amd64');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'Packages.gz'), zlib.gzipSync(`Package: bash\nVersion: 5\n\n${index}`));
    return `file://${root}`;
  }

  it('fetches ubuntu-keyring from the mirror, exports the two keys into the work dir, and says so', async () => {
    const mirror = fakeArchive('archive-good', [keys.a2012, keys.cd, keys.b2018]);
    const config = profileConfig('ailinux', (c) => {
      c.distribution.mirror = mirror;
    });
    const work = path.join(tmp, 'work-good');
    const lines: string[] = [];
    const record = await fetchArchiveKeyring(
      { ...tools(), tmpDir: path.join(work, 'tmp') },
      config,
      work,
      (l) => lines.push(l),
      expected(),
    );
    expect(record).toMatchObject({ package: 'ubuntu-keyring', version: '2099.01.01', mirror });
    const paths = fetchedKeyringPaths(work);
    const exported = await showKeys(tools(), paths.keyring);
    expect(exported.map((k) => k.fingerprint).sort()).toEqual(
      expected()
        .map((k) => k.fingerprint)
        .sort(),
    );
    const source = keyringSource(config, work, undefined, (p) => p !== UBUNTU_ARCHIVE_KEYRING && fs.existsSync(p));
    expect(describeKeyringSource(source!)).toBe(
      `fetched from ${mirror} ubuntu-keyring 2099.01.01, checked against the 2012 and 2018 Ubuntu archive keys (${paths.keyring})`,
    );
    expect(fs.readdirSync(path.join(work, 'tmp'))).toEqual([]);
    // a second run reuses it, with no archive to read
    fs.rmSync(new URL(mirror).pathname, { recursive: true });
    const again = await fetchArchiveKeyring(
      { ...tools(), tmpDir: path.join(work, 'tmp') },
      config,
      work,
      (l) => lines.push(l),
      expected(),
    );
    expect(again.version).toBe('2099.01.01');
    expect(lines.at(-1)).toMatch(/^archive keyring: reusing /);
  });

  it('stops on a package whose keyring has a swapped key, and writes no keyring', async () => {
    const mirror = fakeArchive('archive-evil', [keys.a2012, keys.cd, keys.evil]);
    const config = profileConfig('ailinux', (c) => {
      c.distribution.mirror = mirror;
    });
    const work = path.join(tmp, 'work-evil');
    const error = await fetchArchiveKeyring(
      { ...tools(), tmpDir: path.join(work, 'tmp') },
      config,
      work,
      () => {},
      expected(),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as Error).message).toContain(`expected ${keys.b2018.fingerprint}`);
    expect((error as Error).message).toContain(`found ${keys.a2012.fingerprint}`);
    expect((error as Error).message).toContain(keys.evil.fingerprint);
    expect(fs.existsSync(fetchedKeyringPaths(work).keyring)).toBe(false);
    expect(fs.existsSync(fetchedKeyringPaths(work).record)).toBe(false);
  });

  it.skipIf(fs.existsSync(UBUNTU_ARCHIVE_KEYRING))(
    'the bootstrap step fetches the keyring before debootstrap and hands it over with --keyring',
    async () => {
      const mirror = fakeArchive('archive-step', [keys.a2012, keys.cd, keys.b2018]);
      const config = profileConfig('ailinux', (c) => {
        c.distribution.mirror = mirror;
      });
      const work = path.join(tmp, 'work-step');
      fs.mkdirSync(work);
      // gpg and dpkg-deb for real; debootstrap and the chroot scripted
      const fake = new FakeRunner();
      const runner: Runner = {
        run: (argv, o) => (argv[0] === 'gpg' || argv[0] === 'dpkg-deb' ? real.run(argv, o) : fake.run(argv, o)),
        drain: async () => {},
        signalAll: () => {},
      };
      const real = new ExecaRunner({ graceMs: 1000 });
      const ctx = { ...stepContext({ config, workDir: work, stepId: 'bootstrap' }), runner };
      // the expected keys are the pinned ones: the test's keys stand in for them through the record a first fetch left
      await fetchArchiveKeyring(
        { runner: real, signal: ctx.signal, tmpDir: ctx.paths.tmpDir },
        config,
        work,
        () => {},
        expected(),
      );
      const keyring = fetchedKeyringPaths(work).keyring;
      // the step rechecks the cached keyring against UBUNTU_ARCHIVE_KEYS, which these test keys are not: it fetches
      // again, finds the package without the pinned keys, and stops before debootstrap
      const error = (await bootstrapStep.run(ctx).catch((e: unknown) => e)) as StepError;
      expect(error).toBeInstanceOf(StepError);
      expect(error.message).toContain(`expected ${UBUNTU_ARCHIVE_KEYS[0]!.fingerprint}`);
      expect(error.message).toContain(keys.b2018.fingerprint);
      expect(fake.calls.filter((c) => c.argv.some((a) => a.endsWith('debootstrap')))).toEqual([]);
      expect(fs.existsSync(keyring)).toBe(true); // the old one stays until a good one replaces it
      // with the pins the package does hold, the step hands the fetched keyring to debootstrap
      const pinned = UBUNTU_ARCHIVE_KEYS as ArchiveKey[];
      const saved = pinned.splice(0, pinned.length, ...expected());
      try {
        await bootstrapStep.run(ctx);
      } finally {
        pinned.splice(0, pinned.length, ...saved);
      }
      const debootstrap = fake.calls.find((c) => c.argv.includes('debootstrap'))!;
      expect(debootstrap.argv).toContain(`--keyring=${keyring}`);
      expect(ctx.infos).toContain(
        `archive keyring: fetched from ${mirror} ubuntu-keyring 2099.01.01, checked against the 2012 and 2018 Ubuntu archive keys (${keyring})`,
      );
    },
  );

  it('stops on a .deb whose sha256 is not the one the Packages index lists', async () => {
    const mirror = fakeArchive('archive-changed', [keys.a2012, keys.b2018], true);
    const config = profileConfig('ailinux', (c) => {
      c.distribution.mirror = mirror;
    });
    const work = path.join(tmp, 'work-changed');
    await expect(
      fetchArchiveKeyring({ ...tools(), tmpDir: path.join(work, 'tmp') }, config, work, () => {}, expected()),
    ).rejects.toThrow(/has sha256 [0-9a-f]{64} \(\d+ bytes\), but the Packages index lists/);
  });
});
