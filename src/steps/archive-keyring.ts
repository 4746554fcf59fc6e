/**
 * The Ubuntu archive keyring without manual steps. A Debian host has no ubuntu-keyring package, so when the config
 * names Ubuntu's default keyring path and the host lacks that file, the bootstrap step fetches the ubuntu-keyring
 * package from the configured archive, requires the two archive signing keys below in its keyring, and exports a
 * keyring of only those two keys into the work dir (cache/keyrings/; a shared cache can take that place later).
 * debootstrap then verifies the archive's InRelease against it, as it does against a host keyring.
 *
 * The InRelease cannot be verified before we have the key, so the Packages index and the .deb are fetched unverified
 * (their sha256 and size are only checked against each other); the trust comes from the pinned fingerprints alone.
 * gpg always runs with a temporary GNUPGHOME inside the work dir, never the user's.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import type { Runner } from '../runtime/runner.js';

export interface ArchiveKey {
  /** The key's user id, as gpg shows it. */
  name: string;
  /** The primary key's full fingerprint, upper-case hex without spaces. */
  fingerprint: string;
}

/**
 * The Ubuntu archive signing keys that sign noble's InRelease files (the 2018 key) and older suites' (2012), pinned
 * here and only here. Checked on 2026-12-07 in two places:
 * - ubuntu-keyring 2023.11.28.1 (noble main, pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb, sha256
 *   36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8 as the noble Packages index lists it), fetched
 *   from archive.ubuntu.com: `gpg --show-keys --with-colons usr/share/keyrings/ubuntu-archive-keyring.gpg` lists these
 *   two and the CD image key (2012) 843938DF228D22F7B3742BC0D94AA3F0EFE21092, which is left out;
 * - Launchpad bug 1881278 ("Ship 2018 Archive key in xenial's ubuntu-keyring", package ubuntu-keyring), whose test
 *   case lists the 2012 archive key as 790B C727 7767 219C 42C8 6F93 3B4F E6AC C0B2 1F32, and the `apt-key list` of
 *   Ubuntu hosts (/etc/apt/trusted.gpg.d/ubuntu-keyring-2018-archive.gpg) published with the 2018 key as
 *   F6EC B376 2474 EDA9 D21B 7022 8719 20D1 991B C93C (rsa4096, 2018-09-17).
 * The noble InRelease verifies with gpgv against the keyring exported from them (signed by the 2018 key).
 */
export const UBUNTU_ARCHIVE_KEYS: readonly ArchiveKey[] = [
  {
    name: 'Ubuntu Archive Automatic Signing Key (2012) <ftpmaster@ubuntu.com>',
    fingerprint: '790BC7277767219C42C86F933B4FE6ACC0B21F32',
  },
  {
    name: 'Ubuntu Archive Automatic Signing Key (2018) <ftpmaster@ubuntu.com>',
    fingerprint: 'F6ECB3762474EDA9D21B7022871920D1991BC93C',
  },
];

/** The keyring an Ubuntu host ships (ubuntu-keyring), and the profile's default. */
export const UBUNTU_ARCHIVE_KEYRING = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';
export const KEYRING_PACKAGE = 'ubuntu-keyring';
/** Where the keyring is inside the package. */
export const KEYRING_IN_PACKAGE = UBUNTU_ARCHIVE_KEYRING.slice(1);
/** What a user is told the fetched keyring was checked against. */
export const ARCHIVE_KEYS_LABEL = 'the 2012 and 2018 Ubuntu archive keys';

const STEP = 'bootstrap';
const DOWNLOAD_TIMEOUT_MS = 120_000;

/** Where the fetched keyring and the record of where it came from live in a work dir. */
export function fetchedKeyringPaths(workDir: string): { dir: string; keyring: string; record: string } {
  const dir = path.join(workDir, 'cache', 'keyrings');
  return {
    dir,
    keyring: path.join(dir, 'ubuntu-archive-keyring.gpg'),
    record: path.join(dir, 'ubuntu-archive-keyring.json'),
  };
}

/** What was fetched, kept beside the keyring so doctor and plan can say it. */
export interface FetchRecord {
  mirror: string;
  suite: string;
  package: string;
  version: string;
  url: string;
  debSha256: string;
  fingerprints: string[];
  fetchedAt: string;
}

export type KeyringSource =
  /** A keyring the config names (not Ubuntu's default): used as it is. */
  | { kind: 'configured'; path: string }
  /** Ubuntu's default keyring, present on this host (an Ubuntu host, or ubuntu-keyring installed). */
  | { kind: 'host'; path: string }
  /** Ubuntu's default keyring, missing here: the bootstrap step fetches it into the work dir. */
  | { kind: 'fetch'; path: string; mirror: string; suite: string; record: FetchRecord | null };

/** The config names Ubuntu's default keyring: the one ailinux can fetch when the host lacks it. */
export function isFetchableKeyring(config: BuildConfig): boolean {
  const k = config.distribution.keyring;
  return config.distribution.family === 'ubuntu' && k?.path === UBUNTU_ARCHIVE_KEYRING && k.sha256 === undefined;
}

/** The pinned keys a config's keyring is checked against, when it is fetched: for the bootstrap step's fingerprint. */
export function pinnedArchiveKeys(config: BuildConfig): string[] {
  return isFetchableKeyring(config) ? UBUNTU_ARCHIVE_KEYS.map((k) => k.fingerprint) : [];
}

export function readFetchRecord(file: string): FetchRecord | null {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as FetchRecord;
    return typeof r.version === 'string' && typeof r.mirror === 'string' ? r : null;
  } catch {
    return null;
  }
}

/** Where this build's archive keyring comes from; null when the config names none (debootstrap's default). */
export function keyringSource(
  config: BuildConfig,
  workDir: string,
  hostPath: (p: string) => string = (p) => p,
  exists: (p: string) => boolean = fs.existsSync,
): KeyringSource | null {
  const k = config.distribution.keyring;
  if (!k) return null;
  if (!isFetchableKeyring(config)) return { kind: 'configured', path: hostPath(k.path) };
  if (exists(k.path)) return { kind: 'host', path: k.path };
  const paths = fetchedKeyringPaths(workDir);
  const record = exists(paths.keyring) ? readFetchRecord(paths.record) : null;
  return {
    kind: 'fetch',
    path: paths.keyring,
    mirror: config.distribution.mirror,
    suite: config.distribution.suite,
    record,
  };
}

/** One line for doctor, plan and the step log. */
export function describeKeyringSource(source: KeyringSource): string {
  switch (source.kind) {
    case 'configured':
      return `the configured keyring ${source.path}`;
    case 'host':
      return `this host's own ${source.path} (an Ubuntu host, or ubuntu-keyring installed)`;
    case 'fetch':
      return source.record
        ? `fetched from ${source.record.mirror} ${source.record.package} ${source.record.version}, checked against ${ARCHIVE_KEYS_LABEL} (${source.path})`
        : `not on this host: the bootstrap step fetches ${KEYRING_PACKAGE} from ${source.mirror} (${source.suite}) and checks it against ${ARCHIVE_KEYS_LABEL}, into ${source.path}`;
  }
}

/** The primary keys gpg lists in `--with-colons` output: each `pub` with its `fpr` and first `uid`. */
export function parseColonKeys(text: string): ArchiveKey[] {
  const keys: ArchiveKey[] = [];
  let current: ArchiveKey | null = null;
  let wantFpr = false;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub') {
      current = { name: '', fingerprint: '' };
      keys.push(current);
      wantFpr = true;
    } else if (f[0] === 'sub' || f[0] === 'ssb') {
      wantFpr = false; // a subkey's fpr line is not the key's
    } else if (f[0] === 'fpr' && wantFpr && current) {
      current.fingerprint = (f[9] ?? '').toUpperCase();
      wantFpr = false;
    } else if (f[0] === 'uid' && current && current.name === '') {
      current.name = (f[9] ?? '').replace(/\\x3a/g, ':');
    }
  }
  return keys.filter((k) => k.fingerprint !== '');
}

function listKeys(keys: readonly ArchiveKey[]): string {
  return keys.length === 0 ? 'none' : keys.map((k) => `${k.fingerprint}${k.name ? ` "${k.name}"` : ''}`).join(', ');
}

/** Every expected key is among those found; otherwise a StepError naming the expected and the found fingerprints. */
export function requireArchiveKeys(found: readonly ArchiveKey[], expected: readonly ArchiveKey[], where: string): void {
  const have = new Set(found.map((k) => k.fingerprint));
  const missing = expected.filter((k) => !have.has(k.fingerprint));
  if (missing.length === 0) return;
  throw new StepError(
    STEP,
    `the archive keyring in ${where} does not hold the pinned Ubuntu archive key${missing.length > 1 ? 's' : ''}: expected ${listKeys(missing)}; found ${listKeys(found)}`,
    {
      hint: `the package is not the one Ubuntu signs its archive with: check distribution.mirror (is it a real Ubuntu mirror?), or install ubuntu-keyring on the host, or set distribution.keyring.path (and .sha256) to a keyring you trust`,
    },
  );
}

/** The stanza of `name` in a Packages index (the newest version when it is listed more than once). */
export function packageEntry(
  index: string,
  name: string,
): { version: string; filename: string; sha256: string; size: number } | null {
  let best: { version: string; filename: string; sha256: string; size: number } | null = null;
  for (const stanza of index.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!.trim());
    }
    if (fields.get('Package') !== name) continue;
    const filename = fields.get('Filename');
    const sha256 = fields.get('SHA256');
    const version = fields.get('Version');
    if (!filename || !sha256 || !version || !/^[0-9a-f]{64}$/.test(sha256)) continue;
    if (filename.split('/').includes('..') || filename.startsWith('/')) continue;
    const entry = { version, filename, sha256, size: Number(fields.get('Size') ?? NaN) };
    if (!best || version > best.version) best = entry;
  }
  return best;
}

/** GET an http:// url through an HTTP proxy (the request names the whole URL, as a proxy takes it), into memory. */
function getThroughProxy(url: string, proxy: string, signal: AbortSignal): Promise<{ status: number; body: Buffer }> {
  const via = new URL(proxy);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: via.hostname.replace(/^\[|\]$/g, ''),
        port: via.port === '' ? 80 : Number(via.port),
        path: url,
        headers: { host: new URL(url).host },
        signal: AbortSignal.any([signal, AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS)]),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/**
 * GET url (http, https or file) into memory; a network failure is transient. With a proxy (apt.proxy) an http:// url
 * is fetched through it, as debootstrap and apt fetch theirs; an https:// one goes direct.
 */
export async function downloadBytes(url: string, signal: AbortSignal, proxy?: string): Promise<Buffer> {
  if (url.startsWith('file://')) {
    const file = new URL(url).pathname;
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new StepError(STEP, `cannot read ${url}: ${(error as Error).message}`, {
        hint: 'check distribution.mirror',
      });
    }
  }
  if (proxy !== undefined && url.startsWith('http://')) {
    let got: { status: number; body: Buffer };
    try {
      got = await getThroughProxy(url, proxy, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new StepError(STEP, `cannot fetch ${url} through the proxy ${proxy} (${(error as Error).message})`, {
        hint: 'check apt.proxy and that the proxy runs; or install ubuntu-keyring on the host, or set distribution.keyring.path (and .sha256) to a keyring you have',
        transient: true,
      });
    }
    if (got.status < 200 || got.status >= 300) {
      throw new StepError(STEP, `${url} answered HTTP ${got.status} through the proxy ${proxy}`, {
        hint: 'check distribution.mirror and distribution.suite, and what the proxy (apt.proxy) allows',
      });
    }
    return got.body;
  }
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS)]) });
  } catch (error) {
    if (signal.aborted) throw error;
    const why = (error as { cause?: Error }).cause?.message ?? (error as Error).message;
    const proxy = process.env['http_proxy'] ?? process.env['HTTP_PROXY'];
    throw new StepError(STEP, `cannot fetch ${url} (${why})`, {
      hint: `${proxy ? 'http_proxy is set, but this download does not use it (apt.proxy in the config does, for an http:// mirror): ' : 'check the network and distribution.mirror, or '}install ubuntu-keyring on the host, or set distribution.keyring.path (and .sha256) to a keyring you have`,
      transient: true,
    });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new StepError(STEP, `${url} answered HTTP ${response.status}`, {
      hint: 'check distribution.mirror and distribution.suite',
      transient: response.status >= 500,
    });
  }
  return Buffer.from(await response.arrayBuffer());
}

const sha256 = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');

export interface KeyringTools {
  runner: Runner;
  signal: AbortSignal;
  /** A directory inside the work dir for the temporary GNUPGHOME and the unpacked package. */
  tmpDir: string;
}

/** gpg with its own empty home: never the user's keyrings, never their agent. */
function gpgArgv(home: string, ...args: string[]): string[] {
  return ['gpg', '--homedir', home, '--batch', '--no-tty', '--no-autostart', ...args];
}

function makeHome(tmpDir: string): string {
  fs.mkdirSync(tmpDir, { recursive: true });
  return fs.mkdtempSync(path.join(tmpDir, 'gnupg-'));
}

/** The primary keys in a keyring file, as `gpg --show-keys` reads them. */
export async function showKeys(tools: KeyringTools, file: string): Promise<ArchiveKey[]> {
  const home = makeHome(tools.tmpDir);
  try {
    const r = await tools.runner.run(gpgArgv(home, '--show-keys', '--with-colons', '--with-fingerprint', file), {
      signal: tools.signal,
      env: { GNUPGHOME: home },
    });
    return parseColonKeys(r.stdout);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Checks `source` holds every expected key and writes a keyring of only those keys to `out` (written beside it,
 * then renamed). Returns the keys found in `source`.
 */
export async function exportArchiveKeyring(
  tools: KeyringTools,
  source: string,
  out: string,
  expected: readonly ArchiveKey[],
  where: string,
): Promise<ArchiveKey[]> {
  const found = await showKeys(tools, source);
  requireArchiveKeys(found, expected, where);
  const home = makeHome(tools.tmpDir);
  const temp = `${out}.tmp-${process.pid}`;
  try {
    const opts = { signal: tools.signal, env: { GNUPGHOME: home } };
    await tools.runner.run(gpgArgv(home, '--quiet', '--import', source), opts);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.rmSync(temp, { force: true });
    await tools.runner.run(
      gpgArgv(home, '--yes', '--output', temp, '--export', ...expected.map((k) => k.fingerprint)),
      opts,
    );
    const exported = await showKeys(tools, temp);
    const want = expected.map((k) => k.fingerprint).sort();
    const got = exported.map((k) => k.fingerprint).sort();
    if (want.join(',') !== got.join(',')) {
      throw new StepError(
        STEP,
        `the exported keyring holds ${listKeys(exported)}, but only ${want.join(', ')} were asked for`,
        {
          hint: 'the gpg on this host exported other keys: report this with the output of gpg --version',
        },
      );
    }
    fs.chmodSync(temp, 0o644);
    fs.renameSync(temp, out);
    return found;
  } finally {
    fs.rmSync(temp, { force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Fetches the ubuntu-keyring package of the config's suite from its mirror and exports the pinned archive keys into
 * the work dir's keyring. Reuses a keyring fetched before when it still holds exactly the pinned keys.
 */
export async function fetchArchiveKeyring(
  tools: KeyringTools,
  config: BuildConfig,
  workDir: string,
  log: (line: string) => void,
  expected: readonly ArchiveKey[] = UBUNTU_ARCHIVE_KEYS,
): Promise<FetchRecord> {
  const paths = fetchedKeyringPaths(workDir);
  const cached = fs.existsSync(paths.keyring) ? readFetchRecord(paths.record) : null;
  if (cached) {
    const keys = await showKeys(tools, paths.keyring);
    const want = expected.map((k) => k.fingerprint).sort();
    if (
      keys
        .map((k) => k.fingerprint)
        .sort()
        .join(',') === want.join(',')
    ) {
      log(`archive keyring: reusing ${paths.keyring} (${cached.package} ${cached.version} from ${cached.mirror})`);
      return cached;
    }
    log(`archive keyring: ${paths.keyring} no longer holds exactly the pinned keys; fetching it again`);
  }
  const d = config.distribution;
  const mirror = d.mirror.replace(/\/+$/, '');
  const indexUrl = `${mirror}/dists/${d.suite}/main/binary-${config.architecture}/Packages.gz`;
  log(`archive keyring: ${UBUNTU_ARCHIVE_KEYRING} is not on this host; reading ${indexUrl}`);
  let index: string;
  const gz = await downloadBytes(indexUrl, tools.signal, config.apt.proxy);
  try {
    index = zlib.gunzipSync(gz).toString('utf8');
  } catch (error) {
    throw new StepError(STEP, `${indexUrl} is not a gzip file (${(error as Error).message})`, {
      hint: 'check distribution.mirror: it should be an Ubuntu archive',
      transient: true,
    });
  }
  const entry = packageEntry(index, KEYRING_PACKAGE);
  if (!entry) {
    throw new StepError(STEP, `${indexUrl} lists no ${KEYRING_PACKAGE} package`, {
      hint: 'check distribution.mirror and distribution.suite; or install ubuntu-keyring on the host, or set distribution.keyring.path',
    });
  }
  const url = `${mirror}/${entry.filename}`;
  const deb = await downloadBytes(url, tools.signal, config.apt.proxy);
  const debSha256 = sha256(deb);
  if (debSha256 !== entry.sha256 || (Number.isFinite(entry.size) && deb.length !== entry.size)) {
    throw new StepError(
      STEP,
      `${url} has sha256 ${debSha256} (${deb.length} bytes), but the Packages index lists ${entry.sha256} (${entry.size} bytes)`,
      {
        hint: 'a mirror in the middle of an update, or a proxy that changes files: run the build again',
        transient: true,
      },
    );
  }
  log(`archive keyring: ${KEYRING_PACKAGE} ${entry.version} (${url}, sha256 ${debSha256})`);
  fs.mkdirSync(tools.tmpDir, { recursive: true });
  const unpack = fs.mkdtempSync(path.join(tools.tmpDir, 'ubuntu-keyring-'));
  try {
    const debFile = path.join(unpack, 'ubuntu-keyring.deb');
    fs.writeFileSync(debFile, deb);
    const tree = path.join(unpack, 'tree');
    await tools.runner.run(['dpkg-deb', '-x', debFile, tree], { signal: tools.signal });
    const inside = path.join(tree, KEYRING_IN_PACKAGE);
    if (!fs.existsSync(inside)) {
      throw new StepError(STEP, `${KEYRING_PACKAGE} ${entry.version} has no /${KEYRING_IN_PACKAGE}`, {
        hint: 'install ubuntu-keyring on the host, or set distribution.keyring.path to a keyring you trust',
      });
    }
    const found = await exportArchiveKeyring(
      tools,
      inside,
      paths.keyring,
      expected,
      `${KEYRING_PACKAGE} ${entry.version} from ${mirror}`,
    );
    log(
      `archive keyring: ${KEYRING_PACKAGE} ${entry.version} holds ${found.map((k) => k.fingerprint).join(', ')}; exported ${expected.map((k) => k.fingerprint).join(', ')} to ${paths.keyring}`,
    );
  } finally {
    fs.rmSync(unpack, { recursive: true, force: true });
  }
  const record: FetchRecord = {
    mirror,
    suite: d.suite,
    package: KEYRING_PACKAGE,
    version: entry.version,
    url,
    debSha256,
    fingerprints: expected.map((k) => k.fingerprint),
    fetchedAt: new Date().toISOString(),
  };
  fs.writeFileSync(`${paths.record}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(`${paths.record}.tmp`, paths.record);
  return record;
}
