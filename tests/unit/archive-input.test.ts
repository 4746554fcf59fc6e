/**
 * The archive as an input (issue 11, point 5): the Release files each package step installs from are in its
 * fingerprint, a republished suite reruns the steps that use it and `plan` says so with the Release dates, --offline
 * keeps the layers, and distribution.snapshot builds from the snapshot services' URLs (which cannot be reached from
 * here: their URLs and fingerprints are tested, not fetched). The network reader is tested against a loopback
 * server: InRelease, the Release fallback, an error naming the URL, and apt.proxy (a plain-proxy GET).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { exitCodeForError } from '../../src/cli/exit-codes.js';
import { configSchema, type BuildConfig } from '../../src/config/schema.js';
import { archiveInputs, checkArchive, describeArchiveCheck, suitesOf } from '../../src/engine/archive-check.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { planBuild } from '../../src/engine/planner.js';
import {
  ArchiveUnreachableError,
  networkArchiveReader,
  type ArchiveReader,
  type ArchiveSuite,
  ARCHIVE_KEY_PREFIX,
  archiveEntry,
  parseArchiveEntry,
  releaseDate,
  releaseInfo,
  suiteKey,
} from '../../src/runtime/archive-release.js';
import { archiveState, renderArchiveLines } from '../../src/steps/report-archive.js';
import { aptSuites, bootstrapMirror, bootstrapSuites, snapshotUri } from '../../src/steps/archive-suites.js';
import { bootstrapArgv } from '../../src/steps/bootstrap.js';
import { renderSourcesList } from '../../src/steps/configure.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { doneLedger } from '../helpers/ledger.js';
import { profileConfig } from '../helpers/step-context.js';

const release = (date: string, extra = '') =>
  Buffer.from(`Origin: Debian\nSuite: x\nDate: ${date}\nArchitectures: amd64\n${extra}`);

/** A reader answering each suite from a table of Release texts by suite name (a missing one: the default). */
function tableReader(
  table: Record<string, Buffer>,
  fallback = release('Sat, 01 Nov 2026 09:00:00 UTC'),
): ArchiveReader {
  return {
    async read(suites) {
      return suites.map((s) =>
        releaseInfo(s, 'InRelease', `${s.uri}/dists/${s.suite}/InRelease`, table[s.suite] ?? fallback),
      );
    },
  };
}

async function fingerprintsWith(config: BuildConfig, reader: ArchiveReader, offline = false, ledger = {}) {
  const steps = resolveSteps(config);
  const check = await checkArchive(steps, config, { offline, reader });
  const stored = ledger as Record<string, { material?: never }>;
  return fingerprintSteps(steps, config, '/', {
    sourceDateEpoch: null,
    archive: archiveInputs(check, (id) => stored[id]?.material),
  });
}

describe('Release files', () => {
  it('reads the Date: field as UTC, and null when there is none', () => {
    expect(releaseDate('Origin: Ubuntu\nDate: Sat, 06 Dec 2026 03:30:17 UTC\nSuite: noble\n')).toBe(
      '2026-12-06T03:30:17Z',
    );
    expect(releaseDate('Date: Thu, 25 Apr 2024 15:10:33 +0000\n')).toBe('2024-04-25T15:10:33Z');
    expect(releaseDate('Origin: x\n')).toBeNull();
    expect(releaseDate('Date: yesterday\n')).toBeNull();
  });

  it('the steps that install from the archive declare their suites; each is read once per run', () => {
    const config = profileConfig('ailinux');
    const steps = resolveSteps(config);
    const declaring = steps.filter((s) => s.archiveSuites).map((s) => s.id);
    expect(declaring).toEqual(['bootstrap', 'configure', 'packages', 'desktop', 'installer']);
    // noble is both debootstrap's and a sources line: one read
    expect(suitesOf(steps, config).map((s) => s.suite)).toEqual([
      'noble',
      'noble-updates',
      'noble-backports',
      'noble-security',
    ]);
    const minimal = profileConfig('minimal');
    expect(suitesOf(resolveSteps(minimal), minimal)).toEqual([
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main'], arch: 'amd64' },
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm-updates', components: ['main'], arch: 'amd64' },
      { uri: 'http://deb.debian.org/debian-security', suite: 'bookworm-security', components: ['main'], arch: 'amd64' },
    ]);
  });
});

describe('the archive in the fingerprints', () => {
  const minimal = profileConfig('minimal');
  const before = tableReader({ 'bookworm-updates': release('Sat, 01 Nov 2026 09:00:00 UTC', 'a\n') });
  const after = tableReader({ 'bookworm-updates': release('Mon, 07 Dec 2026 02:14:57 UTC', 'b\n') });

  it('a republished suite reruns the package steps, and plan says which suite and both Release dates', async () => {
    const built = await fingerprintsWith(minimal, before);
    const same = planBuild(await fingerprintsWith(minimal, before), doneLedger(built), () => true);
    expect(same.filter((p) => p.action === 'run')).toEqual([]);

    const plan = planBuild(await fingerprintsWith(minimal, after), doneLedger(built), () => true);
    const byId = Object.fromEntries(plan.map((p) => [p.id, p]));
    // debootstrap reads bookworm alone, which did not change
    expect(byId['bootstrap']!.action).toBe('skip');
    const reason = 'archive bookworm-updates changed (Release of 2026-11-01T09:00:00Z -> 2026-12-07T02:14:57Z)';
    expect(byId['configure']).toMatchObject({ action: 'run', reasons: [reason] });
    expect(byId['packages']).toMatchObject({ action: 'run', reasons: [reason] });
    // the steps after them rerun on the chain
    expect(byId['identity']).toMatchObject({ action: 'run', reasons: ['an earlier step (configure) runs again'] });
  });

  it('the report lists each suite the package steps ran against, with its Release date, once per Release file', async () => {
    const built = await fingerprintsWith(minimal, before);
    const ledger = doneLedger(built);
    const order = built.map((f) => f.id);
    const state = archiveState(ledger, order);
    const updates = state.filter((a) => a.suite === 'bookworm-updates');
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({
      uri: 'http://deb.debian.org/debian',
      file: 'InRelease',
      date: '2026-11-01T09:00:00Z',
      steps: ['configure', 'packages'],
    });
    expect(updates[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // debootstrap reads bookworm alone, and comes first
    expect(state[0]).toMatchObject({ suite: 'bookworm', steps: ['bootstrap', 'configure', 'packages'] });
    expect(state.map((a) => a.suite).sort()).toEqual(['bookworm', 'bookworm-security', 'bookworm-updates']);

    // packages rebuilt against a newer bookworm-updates while configure kept its older run (--offline then): both
    const newer = await fingerprintsWith(minimal, after);
    const mixed = { ...ledger, packages: doneLedger(newer)['packages']! };
    const both = archiveState(mixed, order).filter((a) => a.suite === 'bookworm-updates');
    expect(both.map((a) => [a.date, a.steps])).toEqual([
      ['2026-11-01T09:00:00Z', ['configure']],
      ['2026-12-07T02:14:57Z', ['packages']],
    ]);

    const lines = renderArchiveLines(state);
    expect(lines[0]).toBe('archive state (3 suite(s), as the package steps last ran):');
    expect(lines.find((l) => l.includes('bookworm-updates'))).toMatch(
      /^ {2}bookworm-updates {3}Release of 2026-11-01T09:00:00Z {2}InRelease sha256:[0-9a-f]{16}… {2}http:\/\/deb\.debian\.org\/debian {2}\(configure, packages\)$/,
    );
    expect(renderArchiveLines([])).toEqual([]);
  });

  it('an archive entry reads back as it was written; other keys are not one', () => {
    const info = releaseInfo(
      { uri: 'http://archive.ubuntu.com/ubuntu', suite: 'noble-updates' },
      'Release',
      'http://archive.ubuntu.com/ubuntu/dists/noble-updates/Release',
      release('Sun, 06 Dec 2026 03:30:17 UTC'),
    );
    expect(parseArchiveEntry(`${ARCHIVE_KEY_PREFIX}${suiteKey(info)}`, archiveEntry(info))).toEqual({
      uri: 'http://archive.ubuntu.com/ubuntu',
      suite: 'noble-updates',
      file: 'Release',
      sha256: info.sha256,
      date: '2026-12-06T03:30:17Z',
    });
    expect(parseArchiveEntry('archive:x noble', 'InRelease sha256:ab date:unknown')?.date).toBeNull();
    expect(parseArchiveEntry('hook:motd', 'script hooks/motd.sh sha256:ab')).toBeNull();
  });

  it('the same date with other contents is still a change', async () => {
    const built = await fingerprintsWith(minimal, before);
    const other = tableReader({ 'bookworm-updates': release('Sat, 01 Nov 2026 09:00:00 UTC', 'c\n') });
    const plan = planBuild(await fingerprintsWith(minimal, other), doneLedger(built), () => true);
    expect(plan.find((p) => p.id === 'configure')?.reasons).toEqual([
      'archive bookworm-updates changed (Release of 2026-11-01T09:00:00Z, republished with other contents)',
    ]);
  });

  it('--offline reads nothing and keeps every layer, whatever the archive did', async () => {
    const built = await fingerprintsWith(minimal, before);
    const ledger = doneLedger(built);
    const never: ArchiveReader = {
      read: () => {
        throw new Error('--offline must not read the archive');
      },
    };
    const plan = planBuild(await fingerprintsWith(minimal, never, true, ledger), ledger, () => true);
    expect(plan.filter((p) => p.action === 'run')).toEqual([]);
    expect(describeArchiveCheck({ mode: 'offline' })).toMatch(/^archive: not checked \(--offline\)/);
    // and a step with no record of the archive (never built) just has no archive entries
    const fresh = await fingerprintsWith(minimal, never, true, {});
    expect(Object.keys(fresh.find((f) => f.id === 'packages')!.material.files)).toEqual([]);
  });

  it('a config change still names the field, and a step that reads no archive has no archive entry', async () => {
    const fps = await fingerprintsWith(minimal, before);
    expect(Object.keys(fps.find((f) => f.id === 'bootstrap')!.material.files)).toEqual([
      'archive:http://deb.debian.org/debian bookworm',
    ]);
    expect(fps.find((f) => f.id === 'identity')!.material.files).toEqual({});
    expect(
      fps.find((f) => f.id === 'packages')!.material.files[
        'archive:http://deb.debian.org/debian-security bookworm-security'
      ],
    ).toMatch(/^InRelease sha256:[0-9a-f]{64} date:2026-11-01T09:00:00Z$/);
  });

  it('an unreachable archive is exit 69 with the URL, never a silent reuse', async () => {
    const failing: ArchiveReader = {
      read: async () => {
        throw new ArchiveUnreachableError('http://deb.debian.org/debian/dists/bookworm/InRelease', 'HTTP 503');
      },
    };
    const error = await checkArchive(resolveSteps(minimal), minimal, { offline: false, reader: failing }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ArchiveUnreachableError);
    expect((error as Error).message).toBe(
      "cannot read the archive's Release file http://deb.debian.org/debian/dists/bookworm/InRelease: HTTP 503",
    );
    expect((error as ArchiveUnreachableError).hint).toContain('--offline');
    expect(exitCodeForError(error)).toBe(69);
  });
});

describe('distribution.snapshot', () => {
  const at = '20240301T000000Z';
  const snap = (name: 'minimal' | 'ailinux', ts = at) => profileConfig(name, (c) => (c.distribution.snapshot = ts));

  it('maps the Debian and Ubuntu archives to their snapshot services', () => {
    expect(snapshotUri('http://deb.debian.org/debian', 'debian', at, 'f')).toBe(
      'http://snapshot.debian.org/archive/debian/20240301T000000Z',
    );
    expect(snapshotUri('http://deb.debian.org/debian-security/', 'debian', at, 'f')).toBe(
      'http://snapshot.debian.org/archive/debian-security/20240301T000000Z',
    );
    expect(snapshotUri('http://security.debian.org/debian-security', 'debian', at, 'f')).toBe(
      'http://snapshot.debian.org/archive/debian-security/20240301T000000Z',
    );
    expect(snapshotUri('http://archive.ubuntu.com/ubuntu', 'ubuntu', at, 'f')).toBe(
      'https://snapshot.ubuntu.com/ubuntu/20240301T000000Z',
    );
    expect(snapshotUri('http://security.ubuntu.com/ubuntu/', 'ubuntu', at, 'f')).toBe(
      'https://snapshot.ubuntu.com/ubuntu/20240301T000000Z',
    );
    expect(snapshotUri('http://de.archive.ubuntu.com/ubuntu', 'ubuntu', at, 'f')).toBe(
      'https://snapshot.ubuntu.com/ubuntu/20240301T000000Z',
    );
    expect(snapshotUri('http://ports.ubuntu.com/ubuntu-ports', 'ubuntu', at, 'f')).toBe(
      'https://snapshot.ubuntu.com/ubuntu-ports/20240301T000000Z',
    );
  });

  it('refuses a mirror the service does not keep, naming the field', () => {
    expect(() => snapshotUri('http://mirror.example.org/debian', 'debian', at, 'distribution.mirror')).toThrow(
      /distribution\.snapshot: http:\/\/mirror\.example\.org\/debian \(distribution\.mirror\) is not an archive the debian snapshot service keeps/,
    );
    expect(() => snapshotUri('http://deb.debian.org/debian', 'ubuntu', at, 'f')).toThrow(/ubuntu snapshot service/);
  });

  it('debootstrap, the sources and the suites read all use the snapshot', () => {
    const config = snap('minimal');
    expect(bootstrapMirror(config)).toBe('http://snapshot.debian.org/archive/debian/20240301T000000Z');
    expect(bootstrapArgv(config, '/t', '/c', undefined).at(-1)).toBe(
      'http://snapshot.debian.org/archive/debian/20240301T000000Z',
    );
    expect(renderSourcesList(config)).toContain(
      'deb [check-valid-until=no] http://snapshot.debian.org/archive/debian-security/20240301T000000Z bookworm-security main',
    );
    expect(bootstrapSuites(config)).toEqual([
      {
        uri: 'http://snapshot.debian.org/archive/debian/20240301T000000Z',
        suite: 'bookworm',
        components: ['main'],
        arch: 'amd64',
      },
    ]);
    const ubuntu = snap('ailinux');
    expect(aptSuites(ubuntu).map((s: ArchiveSuite) => s.uri)).toEqual(
      Array(4).fill('https://snapshot.ubuntu.com/ubuntu/20240301T000000Z'),
    );
    expect(renderSourcesList(ubuntu)).toContain(
      'deb [check-valid-until=no] https://snapshot.ubuntu.com/ubuntu/20240301T000000Z noble-security main restricted universe multiverse',
    );
    // without it, the config's own sources, with no options
    expect(renderSourcesList(profileConfig('minimal'))).toContain('deb http://deb.debian.org/debian bookworm main\n');
  });

  it('its fingerprints: the same snapshot gives the same fingerprints; another reruns from bootstrap', async () => {
    const reader = tableReader({});
    const a = await fingerprintsWith(snap('minimal'), reader);
    const again = await fingerprintsWith(snap('minimal'), reader);
    expect(again.map((f) => f.fingerprint)).toEqual(a.map((f) => f.fingerprint));
    expect(Object.keys(a.find((f) => f.id === 'packages')!.material.files)).toEqual([
      'archive:http://snapshot.debian.org/archive/debian/20240301T000000Z bookworm',
      'archive:http://snapshot.debian.org/archive/debian/20240301T000000Z bookworm-updates',
      'archive:http://snapshot.debian.org/archive/debian-security/20240301T000000Z bookworm-security',
    ]);
    const later = await fingerprintsWith(snap('minimal', '20240401T120000Z'), reader);
    const plan = planBuild(later, doneLedger(a), () => true);
    const bootstrap = plan.find((p) => p.id === 'bootstrap')!;
    expect(bootstrap.action).toBe('run');
    expect(bootstrap.reasons).toContain(
      'config field distribution.snapshot changed ("20240301T000000Z" -> "20240401T120000Z")',
    );
    expect(bootstrap.reasons).toContain(
      'archive bookworm is no longer used (http://snapshot.debian.org/archive/debian/20240301T000000Z)',
    );
    // a build without a snapshot reads other URLs: not the same inputs
    const live = await fingerprintsWith(profileConfig('minimal'), reader);
    expect(live[1]!.fingerprint).not.toBe(a[1]!.fingerprint);
  });

  it('the schema takes YYYYMMDDTHHMMSSZ of a real moment only', () => {
    const parse = (snapshot: string) =>
      configSchema.safeParse({
        ...profileConfig('minimal'),
        distribution: { ...profileConfig('minimal').distribution, snapshot },
      });
    expect(parse('20240301T000000Z').success).toBe(true);
    expect(parse('2024-03-01').success).toBe(false);
    expect(parse('20240231T000000Z').success).toBe(false);
    expect(parse('20240301T240000Z').success).toBe(false);
    const bad = parse('2024-03-01');
    expect(bad.success ? '' : bad.error.issues[0]!.message).toContain('YYYYMMDDTHHMMSSZ');
  });
});

describe('the network reader', () => {
  let server: http.Server | null = null;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(null)));
    server = null;
  });
  /** A loopback server: `routes` by path, 404 otherwise; every request line is recorded. */
  async function serve(routes: Record<string, [number, string]>, seen: string[]): Promise<string> {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
      const path = req.url?.startsWith('http://') ? new URL(req.url).pathname : (req.url ?? '');
      const [status, body] = routes[path] ?? [404, 'no\n'];
      res.writeHead(status).end(body);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  }

  it('reads InRelease, falls back to Release where InRelease is 404, one request each', async () => {
    const seen: string[] = [];
    const base = await serve(
      {
        '/debian/dists/a/InRelease': [200, 'Date: Mon, 07 Dec 2026 01:02:03 UTC\n'],
        '/debian/dists/b/Release': [200, 'Date: Sun, 06 Dec 2026 01:02:03 UTC\n'],
      },
      seen,
    );
    const got = await networkArchiveReader.read(
      [
        { uri: `${base}/debian/`, suite: 'a' },
        { uri: `${base}/debian`, suite: 'b' },
      ],
      {},
    );
    expect(got.map((r) => [r.suite, r.file, r.date, r.url])).toEqual([
      ['a', 'InRelease', '2026-12-07T01:02:03Z', `${base}/debian/dists/a/InRelease`],
      ['b', 'Release', '2026-12-06T01:02:03Z', `${base}/debian/dists/b/Release`],
    ]);
    expect(seen.map((l) => l.split(' ').slice(0, 2).join(' ')).sort()).toEqual([
      'GET /debian/dists/a/InRelease',
      'GET /debian/dists/b/InRelease',
      'GET /debian/dists/b/Release',
    ]);
  });

  it('an HTTP error or a refused connection names the URL', async () => {
    const base = await serve({ '/d/dists/x/InRelease': [503, 'busy\n'] }, []);
    await expect(networkArchiveReader.read([{ uri: `${base}/d`, suite: 'x' }], {})).rejects.toThrow(
      `cannot read the archive's Release file ${base}/d/dists/x/InRelease: HTTP 503`,
    );
    await expect(networkArchiveReader.read([{ uri: `${base}/d`, suite: 'gone' }], {})).rejects.toThrow(
      `${base}/d/dists/gone/Release: not found (404), nor InRelease`,
    );
    await expect(networkArchiveReader.read([{ uri: 'http://127.0.0.1:9/d', suite: 'x' }], {})).rejects.toThrow(
      /http:\/\/127\.0\.0\.1:9\/d\/dists\/x\/InRelease: connect ECONNREFUSED/,
    );
  });

  it('goes through apt.proxy: a plain-proxy GET with the absolute URL', async () => {
    const seen: string[] = [];
    const proxy = await serve(
      { '/debian/dists/bookworm/InRelease': [200, 'Date: Mon, 07 Dec 2026 01:02:03 UTC\n'] },
      seen,
    );
    // the archive's host is never contacted: only the proxy answers
    const got = await networkArchiveReader.read([{ uri: 'http://deb.debian.org.invalid/debian', suite: 'bookworm' }], {
      proxy,
    });
    expect(got[0]!.date).toBe('2026-12-07T01:02:03Z');
    expect(seen).toEqual([
      'GET http://deb.debian.org.invalid/debian/dists/bookworm/InRelease host=deb.debian.org.invalid',
    ]);
  });
});
