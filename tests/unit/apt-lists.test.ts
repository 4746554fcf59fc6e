/**
 * The Packages indexes as inputs (src/runtime/release-checksums.ts, src/runtime/apt-lists.ts): their digests read
 * from the Release, in the package steps' fingerprints, and the indexes fetched by hash, checked, kept in the cache
 * by digest and laid out under apt's names. The archive is a table of URLs (the getter), no network.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { archiveInputs, checkArchive } from '../../src/engine/archive-check.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { planBuild } from '../../src/engine/planner.js';
import {
  aptListName,
  fetchPackagesIndexes,
  layoutAptLists,
  listsCacheDir,
  PackagesIndexError,
  type SuiteLists,
  verifyInRelease,
} from '../../src/runtime/apt-lists.js';
import { type ArchiveReader, type get, releaseInfo } from '../../src/runtime/archive-release.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { packagesDigests, releaseChecksums, signedText } from '../../src/runtime/release-checksums.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { doneLedger } from '../helpers/ledger.js';
import { profileConfig } from '../helpers/step-context.js';

const sha = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => crypto.createHash('md5').update(b).digest('hex');

/** A suite as an archive publishes it: its Packages (plain and .gz) and a Release listing both. */
function publish(packages: Record<string, string>, options: { byHash?: boolean; date?: string } = {}) {
  const files: Record<string, Buffer> = {};
  for (const [component, text] of Object.entries(packages)) {
    files[`${component}/binary-amd64/Packages`] = Buffer.from(text);
    files[`${component}/binary-amd64/Packages.gz`] = zlib.gzipSync(Buffer.from(text));
  }
  const lines = (hash: (b: Buffer) => string) =>
    Object.entries(files).map(([p, b]) => ` ${hash(b)} ${String(b.length).padStart(8)} ${p}`);
  const release = Buffer.from(
    [
      'Origin: Debian',
      'Suite: stable',
      'Codename: bookworm',
      `Date: ${options.date ?? 'Sat, 01 Nov 2026 09:00:00 UTC'}`,
      ...(options.byHash === false ? [] : ['Acquire-By-Hash: yes']),
      'Architectures: amd64',
      `Components: ${Object.keys(packages).join(' ')}`,
      'MD5Sum:',
      ...lines(md5),
      'SHA256:',
      ...lines(sha),
      '',
    ].join('\n'),
  );
  return { files, release };
}

const URI = 'http://deb.example.org/debian';

/** A getter serving `served` (URL -> bytes), recording every URL asked for. */
function archiveGetter(served: Map<string, Buffer>, asked: string[]): typeof get {
  return async (url) => {
    asked.push(url);
    const body = served.get(url);
    return body === undefined ? { status: 404, body: Buffer.alloc(0) } : { status: 200, body };
  };
}

/** What a by-hash archive serves for a published suite: each file by its path and by its hash. */
function served(suite: string, published: ReturnType<typeof publish>, byHash = true): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [p, b] of Object.entries(published.files)) {
    out.set(`${URI}/dists/${suite}/${p}`, b);
    if (byHash) out.set(`${URI}/dists/${suite}/${path.posix.dirname(p)}/by-hash/SHA256/${sha(b)}`, b);
  }
  return out;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-lists-'));
  dirs.push(d);
  return d;
}

const MAIN =
  'Package: a\nVersion: 1\nArchitecture: amd64\nFilename: pool/a_1_amd64.deb\nSize: 3\nSHA256: ' +
  'a'.repeat(64) +
  '\n';
const CONTRIB = 'Package: b\nVersion: 2\nArchitecture: amd64\n';

describe('the Release lists the Packages digests', () => {
  it('reads the SHA256 section only, and picks the plain Packages of each component used', () => {
    const p = publish({ main: MAIN, contrib: CONTRIB });
    const sums = releaseChecksums(p.release.toString());
    expect(sums.get('main/binary-amd64/Packages')).toEqual({ sha256: sha(MAIN), size: MAIN.length });
    expect(sums.size).toBe(4);
    expect(packagesDigests(p.release.toString(), ['main'], 'amd64')).toEqual({
      'main/binary-amd64/Packages': sha(MAIN),
    });
    // another architecture, or a component the Release does not have: nothing
    expect(packagesDigests(p.release.toString(), ['non-free'], 'amd64')).toEqual({});
    expect(packagesDigests(p.release.toString(), ['main'], 'arm64')).toEqual({});
    // a Release listing only the .gz: its digest, by its own path
    const gzOnly = `SHA256:\n ${'b'.repeat(64)} 10 main/binary-amd64/Packages.gz\n`;
    expect(packagesDigests(gzOnly, ['main'], 'amd64')).toEqual({ 'main/binary-amd64/Packages.gz': 'b'.repeat(64) });
  });
});

describe('the Packages digests in the fingerprints', () => {
  const minimal = profileConfig('minimal');
  const reader = (releases: Record<string, Buffer>): ArchiveReader => ({
    async read(suites) {
      return suites.map((s) => releaseInfo(s, 'InRelease', `${s.uri}/dists/${s.suite}/InRelease`, releases[s.suite]!));
    },
  });
  const fingerprints = async (r: ArchiveReader, offline = false, ledger: ReturnType<typeof doneLedger> = {}) => {
    const steps = resolveSteps(minimal);
    const check = await checkArchive(steps, minimal, { offline, reader: r });
    return fingerprintSteps(steps, minimal, '/', {
      sourceDateEpoch: null,
      archive: archiveInputs(check, (id) => ledger[id]?.material),
    });
  };
  const base = { bookworm: publish({ main: MAIN }).release, 'bookworm-security': publish({ main: MAIN }).release };

  it('a package step carries each used Packages digest; a new index reruns it and plan names the index', async () => {
    const old = publish({ main: MAIN });
    const built = await fingerprints(reader({ ...base, 'bookworm-updates': old.release }));
    const packages = built.find((f) => f.id === 'packages')!.material.files;
    expect(packages['packages:http://deb.debian.org/debian bookworm-updates main/binary-amd64/Packages']).toBe(
      `sha256:${sha(MAIN)}`,
    );
    // debootstrap reads bookworm alone
    expect(Object.keys(built.find((f) => f.id === 'bootstrap')!.material.files)).toEqual([
      'archive:http://deb.debian.org/debian bookworm',
      'packages:http://deb.debian.org/debian bookworm main/binary-amd64/Packages',
    ]);
    // bookworm-updates republished with a new main Packages, the same Date:
    const newer = `${MAIN}\nPackage: c\nVersion: 3\nArchitecture: amd64\n`;
    const republished = publish({ main: newer });
    const plan = planBuild(
      await fingerprints(reader({ ...base, 'bookworm-updates': republished.release })),
      doneLedger(built),
      () => true,
    );
    const byId = Object.fromEntries(plan.map((p) => [p.id, p]));
    expect(byId['bootstrap']!.action).toBe('skip');
    expect(byId['packages']!.action).toBe('run');
    expect(byId['packages']!.reasons).toContain(
      `archive bookworm-updates: main/binary-amd64/Packages changed (sha256 ${sha(MAIN).slice(0, 12)} -> ${sha(newer).slice(0, 12)})`,
    );
  });

  it('--offline keeps the Packages digests the step recorded', async () => {
    const built = await fingerprints(reader({ ...base, 'bookworm-updates': publish({ main: MAIN }).release }));
    const offline = await fingerprints(reader({}), true, doneLedger(built));
    expect(offline.map((f) => f.fingerprint)).toEqual(built.map((f) => f.fingerprint));
  });
});

describe('fetching the Packages indexes into the cache', () => {
  const suite = (release: Buffer, components = ['main']): SuiteLists => ({
    uri: URI,
    suite: 'bookworm',
    file: 'InRelease',
    release,
    components,
    arch: 'amd64',
  });

  it('fetches the .gz by hash, checks and unpacks it, keeps it by digest; the next run reads the cache', async () => {
    const cache = tempDir();
    const p = publish({ main: MAIN, contrib: CONTRIB });
    const asked: string[] = [];
    const got = await fetchPackagesIndexes(suite(p.release, ['main', 'contrib']), cache, {
      runner: new FakeRunner(),
      getter: archiveGetter(served('bookworm', p), asked),
    });
    expect(asked).toEqual([
      `${URI}/dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha(p.files['main/binary-amd64/Packages.gz']!)}`,
      `${URI}/dists/bookworm/contrib/binary-amd64/by-hash/SHA256/${sha(p.files['contrib/binary-amd64/Packages.gz']!)}`,
    ]);
    expect(got.map((g) => [g.path, g.sha256, g.fetched])).toEqual([
      ['main/binary-amd64/Packages', sha(MAIN), true],
      ['contrib/binary-amd64/Packages', sha(CONTRIB), true],
    ]);
    expect(fs.readFileSync(path.join(listsCacheDir(cache), sha(MAIN)), 'utf8')).toBe(MAIN);
    expect(fs.readFileSync(path.join(listsCacheDir(cache), sha(p.release)))).toEqual(p.release);

    // days later the archive has moved on: the cache still answers for this Release, without a request
    const later: string[] = [];
    const again = await fetchPackagesIndexes(suite(p.release, ['main', 'contrib']), cache, {
      runner: new FakeRunner(),
      getter: archiveGetter(new Map(), later),
    });
    expect(later).toEqual([]);
    expect(again.map((g) => g.fetched)).toEqual([false, false]);
  });

  it('without Acquire-By-Hash, or where the hash path is gone, the path itself', async () => {
    const p = publish({ main: MAIN }, { byHash: false });
    const asked: string[] = [];
    await fetchPackagesIndexes(suite(p.release), tempDir(), {
      runner: new FakeRunner(),
      getter: archiveGetter(served('bookworm', p), asked),
    });
    expect(asked).toEqual([`${URI}/dists/bookworm/main/binary-amd64/Packages.gz`]);

    const h = publish({ main: MAIN });
    const plainOnly = served('bookworm', h, false);
    const asked2: string[] = [];
    await fetchPackagesIndexes(suite(h.release), tempDir(), {
      runner: new FakeRunner(),
      getter: archiveGetter(plainOnly, asked2),
    });
    expect(asked2).toEqual([
      `${URI}/dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha(h.files['main/binary-amd64/Packages.gz']!)}`,
      `${URI}/dists/bookworm/main/binary-amd64/Packages.gz`,
    ]);
  });

  it('an index served as .xz alone (Debian -updates) is unpacked by xz and checked against the plain entry', async () => {
    const packed = Buffer.from(`XZ:${MAIN}`);
    const plainEntry = ` ${sha(MAIN)} ${MAIN.length} main/binary-amd64/Packages`;
    const xzEntry = ` ${sha(packed)} ${packed.length} main/binary-amd64/Packages.xz`;
    const release = Buffer.from(`Suite: bookworm-updates\nAcquire-By-Hash: yes\nSHA256:\n${plainEntry}\n${xzEntry}\n`);
    const xzUrl = `${URI}/dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha(packed)}`;
    const asked: string[] = [];
    // xz --decompress: <file>.xz becomes <file>, as the real one does
    const xz = (out: (packed: Buffer) => Buffer) =>
      new FakeRunner().on(['xz'], {
        effect: ({ argv }) => {
          const file = argv.at(-1)!;
          fs.writeFileSync(file.replace(/\.xz$/, ''), out(fs.readFileSync(file)));
          fs.rmSync(file);
        },
      });
    const runner = xz((b) => b.subarray(3));
    const cache = tempDir();
    const got = await fetchPackagesIndexes(suite(release), cache, {
      runner,
      getter: archiveGetter(new Map([[xzUrl, packed]]), asked),
    });
    expect(asked).toEqual([xzUrl]);
    expect(runner.calls.map((c) => c.argv.slice(0, 4))).toEqual([['xz', '--decompress', '--force', '--']]);
    expect(got.map((g) => [g.path, g.sha256])).toEqual([['main/binary-amd64/Packages', sha(MAIN)]]);
    // the temporary files are gone: the cache dir holds the Release and the index alone
    expect(fs.readdirSync(listsCacheDir(cache)).sort()).toEqual([sha(MAIN), sha(release)].sort());
    // an xz that unpacks to other bytes than the plain entry's: nothing stored, an error
    const wrong = await fetchPackagesIndexes(suite(release), tempDir(), {
      runner: xz(() => Buffer.from('other')),
      getter: archiveGetter(new Map([[xzUrl, packed]]), []),
    }).catch((e: unknown) => e);
    expect((wrong as Error).message).toContain('unpacked to other bytes than the Release lists');
    // no xz on the host: an error that says what to install
    const missing = await fetchPackagesIndexes(suite(release), tempDir(), {
      runner: new FakeRunner().on(['xz'], { exitCode: 127, stderr: 'xz: not found' }),
      getter: archiveGetter(new Map([[xzUrl, packed]]), []),
    }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PackagesIndexError);
    expect((missing as PackagesIndexError).hint).toContain('xz-utils');
  });

  it('bytes other than the Release lists are never stored: a clear error when no copy matches', async () => {
    const cache = tempDir();
    const p = publish({ main: MAIN });
    const tampered = served('bookworm', p);
    // the mirror serves a newer index than its Release says, by every path
    for (const url of tampered.keys())
      if (url.endsWith('.gz') || url.includes('by-hash')) tampered.set(url, zlib.gzipSync(Buffer.from(`${MAIN}x`)));
      else tampered.set(url, Buffer.from(`${MAIN}x`));
    const error = await fetchPackagesIndexes(suite(p.release), cache, {
      runner: new FakeRunner(),
      getter: archiveGetter(tampered, []),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackagesIndexError);
    expect((error as Error).message).toContain(`main/binary-amd64/Packages (sha256 ${sha(MAIN)})`);
    expect((error as Error).message).toContain('other bytes than the Release lists');
    expect(fs.existsSync(path.join(listsCacheDir(cache), sha(MAIN)))).toBe(false);
  });

  it('a damaged cached index is removed and fetched again', async () => {
    const cache = tempDir();
    const p = publish({ main: MAIN });
    await fetchPackagesIndexes(suite(p.release), cache, {
      runner: new FakeRunner(),
      getter: archiveGetter(served('bookworm', p), []),
    });
    fs.writeFileSync(path.join(listsCacheDir(cache), sha(MAIN)), 'damaged');
    const asked: string[] = [];
    const got = await fetchPackagesIndexes(suite(p.release), cache, {
      runner: new FakeRunner(),
      getter: archiveGetter(served('bookworm', p), asked),
    });
    expect(got[0]!.fetched).toBe(true);
    expect(asked).toHaveLength(1);
    expect(fs.readFileSync(got[0]!.file, 'utf8')).toBe(MAIN);
  });
});

describe("apt's lists dir", () => {
  it("names files as apt's URItoFileName does", () => {
    expect(aptListName('http://deb.debian.org/debian/dists/bookworm/InRelease')).toBe(
      'deb.debian.org_debian_dists_bookworm_InRelease',
    );
    expect(aptListName('http://127.0.0.1:8080/debian/dists/bookworm-updates/main/binary-amd64/Packages')).toBe(
      '127.0.0.1:8080_debian_dists_bookworm-updates_main_binary-amd64_Packages',
    );
    expect(aptListName('https://user:secret@ppa.example.org/~team/ubuntu/dists/noble')).toBe(
      'ppa.example.org_%7eteam_ubuntu_dists_noble',
    );
    expect(aptListName('http://example.org/my_repo/dists/x')).toBe('example.org_my%5frepo_dists_x');
  });

  it('lays out the InRelease and each index under those names, with partial/', async () => {
    const cache = tempDir();
    const p = publish({ main: MAIN });
    const s: SuiteLists = {
      uri: URI,
      suite: 'bookworm',
      file: 'InRelease',
      release: p.release,
      components: ['main'],
      arch: 'amd64',
    };
    const indexes = await fetchPackagesIndexes(s, cache, {
      runner: new FakeRunner(),
      getter: archiveGetter(served('bookworm', p), []),
    });
    const lists = path.join(tempDir(), 'lists');
    const names = layoutAptLists(lists, [{ s, indexes }], cache);
    expect(names).toEqual([
      'deb.example.org_debian_dists_bookworm_InRelease',
      'deb.example.org_debian_dists_bookworm_main_binary-amd64_Packages',
    ]);
    expect(fs.readdirSync(lists).sort()).toEqual([...names, 'partial'].sort());
    expect(fs.readFileSync(path.join(lists, names[1]!), 'utf8')).toBe(MAIN);
  });
});

describe('the InRelease signature', () => {
  const body = (release: string) =>
    Buffer.from(
      `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${release}-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n`,
    );

  it('only the signed text is read: a SHA256 section after the signature is not', () => {
    const p = publish({ main: MAIN });
    const forged = ` ${'f'.repeat(64)} 1 main/binary-amd64/Packages`;
    const signed = body(p.release.toString());
    const appended = Buffer.concat([signed, Buffer.from(`SHA256:\n${forged}\n`)]);
    expect(packagesDigests(appended.toString(), ['main'], 'amd64')).toEqual({
      'main/binary-amd64/Packages': sha(MAIN),
    });
    // dash-escaped lines are read unescaped; no signature block at all: nothing signed
    expect(
      signedText('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n- -x\nA: b\n-----BEGIN PGP SIGNATURE-----\n'),
    ).toBe('-x\nA: b');
    expect(
      packagesDigests(`-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${p.release}`, ['main'], 'amd64'),
    ).toEqual({});
  });

  const suiteOf = (file: 'InRelease' | 'Release') => ({
    uri: URI,
    suite: 'bookworm',
    file,
    release: body('Suite: x\n'),
  });

  it('runs gpgv with a throwaway home and each keyring, and takes a VALIDSIG line as good', async () => {
    const tmp = tempDir();
    let home = '';
    const runner = new FakeRunner().on(['gpgv'], {
      stdout:
        '[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG AB Debian\n[GNUPG:] VALIDSIG 4D64FEC119C2029067D6E791F8D2585B8783D481 x\n',
      effect: ({ argv }) => {
        home = argv[2]!;
        expect(fs.readFileSync(argv.at(-1)!)).toEqual(body('Suite: x\n'));
      },
    });
    await verifyInRelease(runner, suiteOf('InRelease'), ['/k/debian.gpg', '/k/security.gpg'], tmp);
    const argv = runner.calls[0]!.argv;
    expect(argv.slice(0, 9)).toEqual([
      'gpgv',
      '--homedir',
      home,
      '--status-fd',
      '1',
      '--keyring',
      '/k/debian.gpg',
      '--keyring',
      '/k/security.gpg',
    ]);
    expect(home.startsWith(`${tmp}/gpgv.`)).toBe(true);
    // the throwaway home is gone afterwards
    expect(fs.existsSync(home)).toBe(false);
  });

  it('a bad signature, no valid one, or a Release without InRelease is an error: the indexes are not trusted', async () => {
    const bad = new FakeRunner().on(['gpgv'], { exitCode: 1, stderr: 'gpgv: BAD signature from "Debian"' });
    const e1 = await verifyInRelease(bad, suiteOf('InRelease'), ['/k/d.gpg'], tempDir()).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(PackagesIndexError);
    expect((e1 as Error).message).toBe(
      `${URI}/dists/bookworm/InRelease is not signed by a key of /k/d.gpg: gpgv exited 1: gpgv: BAD signature from "Debian"`,
    );
    const silent = new FakeRunner().on(['gpgv'], { stdout: '[GNUPG:] NEWSIG\n' });
    const e2 = await verifyInRelease(silent, suiteOf('InRelease'), ['/k/d.gpg'], tempDir()).catch((e: unknown) => e);
    expect((e2 as Error).message).toContain('gpgv reported no valid signature');
    const none = new FakeRunner();
    const e3 = await verifyInRelease(none, suiteOf('Release'), ['/k/d.gpg'], tempDir()).catch((e: unknown) => e);
    expect((e3 as Error).message).toContain('has no InRelease');
    expect(none.calls).toEqual([]);
  });
});
