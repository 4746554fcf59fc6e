/**
 * The archive's Packages indexes as inputs of the build (docs/architecture.md#the-archive-is-an-input): which
 * Packages files of a suite a build uses and their digests, read from the suite's Release (signed inside its
 * InRelease), and the indexes themselves fetched into the shared cache, keyed by digest, and laid out as apt's
 * lists dir.
 *
 * - The digests: for each component the build uses, `<component>/binary-<arch>/Packages` as the Release's SHA256
 *   section lists it (the uncompressed file; where the Release lists no uncompressed entry, its .gz). They go into the
 *   fingerprints of the steps that install from the suite, so a republish that leaves them alone changes nothing
 *   but the Release entry, and a resume can name exactly the indexes its state was built from.
 * - The fetch: the .gz (else the .xz, unpacked by xz(1), else the plain file) by hash,
 *   `…/binary-<arch>/by-hash/SHA256/<digest>`, where the Release says Acquire-By-Hash: yes (the path stays valid
 *   after the next republish, for as long as the archive keeps it), else by its path; its bytes checked against the Release's SHA256 and size, unpacked, and the unpacked bytes
 *   checked against the Release's entry for the plain file when it lists one. Nothing that fails a check is stored.
 * - The cache: `<cache>/lists/sha256/<digest of the unpacked file>` and the InRelease by its own digest, each
 *   written whole under a temporary name and renamed, so an old state's indexes stay there for a resume days later.
 * - The layout: apt's file names in /var/lib/apt/lists (its URItoFileName: the URI without the scheme and any
 *   user:password, the characters apt quotes written %xx, each `/` as `_`), with `partial/`.
 * - The signature: verifyInRelease checks the InRelease with gpgv against the keyring the build uses for the suite,
 *   and only the text the signature covers is read for the digests (release-checksums.ts, signedText). apt trusts
 *   whatever is in its lists dir, so no laid-out dir may skip it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { AilinuxError, CommandError } from '../errors.js';
import { type ArchiveReadOptions, get } from './archive-release.js';
import type { Runner } from './runner.js';
import { acquireByHash, packagesDigests, releaseChecksums } from './release-checksums.js';

/** The characters apt's URItoFileName quotes (QuoteString), besides control characters, space and non-ASCII. */
const APT_QUOTED = new Set('\\|{}[]<>"^~_=!@#$%^&*');

/**
 * apt's name for a file of a URI in its lists dir (URItoFileName): `http://deb.debian.org/debian/dists/bookworm/
 * InRelease` -> `deb.debian.org_debian_dists_bookworm_InRelease`; a port stays (`127.0.0.1:8080_…`).
 */
export function aptListName(uri: string): string {
  let rest = uri.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:(\/\/)?/, '');
  // user:password@ before the host
  const slash = rest.indexOf('/');
  const at = rest.lastIndexOf('@', slash === -1 ? rest.length : slash);
  if (at !== -1) rest = rest.slice(at + 1);
  let quoted = '';
  for (const ch of Buffer.from(rest, 'utf8')) {
    const c = String.fromCharCode(ch);
    quoted += ch <= 0x20 || ch >= 0x7f || APT_QUOTED.has(c) ? `%${ch.toString(16).padStart(2, '0')}` : c;
  }
  return quoted.replace(/\/+/g, '_').replace(/^_+|_+$/g, '');
}

/** What one suite's lists are made from: the Release as fetched this run, the components and architecture used. */
export interface SuiteLists {
  uri: string;
  suite: string;
  file: 'InRelease' | 'Release';
  /** The InRelease's (or Release's) bytes, as the archive check read them. */
  release: Buffer;
  components: readonly string[];
  arch: string;
}

/** One Packages index in the cache. */
export interface CachedIndex {
  uri: string;
  suite: string;
  /** `<component>/binary-<arch>/Packages` (or `.gz` where the Release lists no plain file). */
  path: string;
  /** The digest the fingerprint carries: the Release's for `path`. */
  sha256: string;
  /** The unpacked file in the cache. */
  file: string;
  /** Fetched this run (false: the cache had it). */
  fetched: boolean;
}

/** The Release lists a Packages index of the build, and the archive no longer serves it, or serves other bytes. */
export class PackagesIndexError extends AilinuxError {
  constructor(message: string, hint: string) {
    super('ARCHIVE', message, { hint });
  }
}

/** The cache's dir of indexes, by digest. */
export function listsCacheDir(cacheRoot: string): string {
  return path.join(cacheRoot, 'lists', 'sha256');
}

function sha256(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** Writes bytes whole: a temporary name in the same dir, then a rename, so a reader sees the whole file or none. */
function storeWhole(file: string, bytes: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(temp, bytes, { flag: 'wx', mode: 0o644 });
  fs.renameSync(temp, file);
}

/** A cached file of this digest, or null; one whose bytes are not the digest's is removed. */
function cached(dir: string, digest: string): string | null {
  const file = path.join(dir, digest);
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st) return null;
  if (st.isFile() && sha256(fs.readFileSync(file)) === digest) return file;
  fs.rmSync(file, { force: true });
  return null;
}

/**
 * An .xz index unpacked by xz(1) (xz-utils; node has no xz of its own), through the runner: the packed bytes into a
 * temporary file in the cache's dir, `xz --decompress` beside it, the unpacked file read and both removed.
 */
export async function unxz(runner: Runner, dir: string, packed: Buffer, signal?: AbortSignal): Promise<Buffer> {
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `unxz.${process.pid}.${crypto.randomBytes(4).toString('hex')}`);
  fs.writeFileSync(`${temp}.xz`, packed, { flag: 'wx', mode: 0o600 });
  try {
    await runner.run(['xz', '--decompress', '--force', '--', `${temp}.xz`], signal ? { signal } : {});
    return fs.readFileSync(temp);
  } catch (error) {
    if (!signal?.aborted)
      throw new PackagesIndexError(
        `cannot unpack an .xz Packages index with xz: ${(error as Error).message}`,
        'install xz-utils on the host (the archive serves this index as .xz only)',
      );
    throw error;
  } finally {
    fs.rmSync(`${temp}.xz`, { force: true });
    fs.rmSync(temp, { force: true });
  }
}

/**
 * Checks the signature of a suite's InRelease with gpgv, through the runner, against binary OpenPGP keyrings: the
 * distribution's (the one debootstrap checks the bootstrap suite with) for the distribution's suites, an extra
 * repository's own key for its suites. gpgv runs with a throwaway --homedir, so it reads no user's keyring and no
 * default one. A good signature is gpgv's exit 0 with a VALIDSIG status line; anything else, and a suite that has
 * only a Release (its Release.gpg is not read), is a PackagesIndexError: its indexes are not trusted.
 */
export async function verifyInRelease(
  runner: Runner,
  s: Pick<SuiteLists, 'uri' | 'suite' | 'file' | 'release'>,
  keyrings: readonly string[],
  tmpDir: string,
  signal?: AbortSignal,
): Promise<void> {
  const where = `${s.uri.replace(/\/+$/, '')}/dists/${s.suite}/${s.file}`;
  if (s.file !== 'InRelease')
    throw new PackagesIndexError(
      `${where}: the suite has no InRelease, and its Release.gpg is not checked, so its indexes are not trusted`,
      'use a mirror that publishes InRelease files (every Debian and Ubuntu mirror does)',
    );
  if (keyrings.length === 0)
    throw new PackagesIndexError(`${where}: no keyring to check its signature against`, 'name the archive keyring');
  fs.mkdirSync(tmpDir, { recursive: true });
  const home = fs.mkdtempSync(path.join(tmpDir, 'gpgv.'));
  const file = path.join(home, 'InRelease');
  fs.writeFileSync(file, s.release, { mode: 0o600 });
  try {
    const argv = ['gpgv', '--homedir', home, '--status-fd', '1', ...keyrings.flatMap((k) => ['--keyring', k]), file];
    let stdout = '';
    try {
      stdout = (await runner.run(argv, signal ? { signal } : {})).stdout;
    } catch (error) {
      if (signal?.aborted || !(error instanceof CommandError)) throw error;
      throw new PackagesIndexError(
        `${where} is not signed by a key of ${keyrings.join(', ')}: gpgv exited ${error.failure.exitCode}${error.failure.stderrTail ? `: ${error.failure.stderrTail.trim()}` : ''}`,
        "check the archive keyring (distribution.keyring, an extra repository's key) and the mirror",
      );
    }
    if (!/^\[GNUPG:\] VALIDSIG /m.test(stdout))
      throw new PackagesIndexError(
        `${where}: gpgv reported no valid signature`,
        "check the archive keyring (distribution.keyring, an extra repository's key) and the mirror",
      );
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** The maximum size of one Packages index fetched (noble's universe Packages is about 70 MiB unpacked). */
const MAX_INDEX_BYTES = 512 * 1024 * 1024;

/**
 * Each Packages index of the suite that the Release lists for the components and architecture, in the cache: taken
 * from it when there, else fetched (by hash where the archive offers it), checked and stored. The InRelease is
 * stored too. Throws PackagesIndexError when the archive's bytes are not the Release's, ArchiveUnreachableError when
 * it cannot be read.
 */
export async function fetchPackagesIndexes(
  s: SuiteLists,
  cacheRoot: string,
  options: ArchiveReadOptions & { runner: Runner; getter?: typeof get },
): Promise<CachedIndex[]> {
  const getter = options.getter ?? get;
  const dir = listsCacheDir(cacheRoot);
  const text = s.release.toString('latin1');
  const sums = releaseChecksums(text);
  const byHash = acquireByHash(text);
  const base = `${s.uri.replace(/\/+$/, '')}/dists/${s.suite}`;
  const releaseDigest = sha256(s.release);
  if (cached(dir, releaseDigest) === null) storeWhole(path.join(dir, releaseDigest), s.release);
  const out: CachedIndex[] = [];
  for (const [indexPath, digest] of Object.entries(packagesDigests(text, s.components, s.arch))) {
    const plain = indexPath.replace(/\.gz$/, '');
    const plainEntry = sums.get(plain);
    // the unpacked file's digest names it in the cache; where the Release lists none, that of the bytes unpacked
    const have = plainEntry ? cached(dir, plainEntry.sha256) : null;
    if (have) {
      out.push({ uri: s.uri, suite: s.suite, path: indexPath, sha256: digest, file: have, fetched: false });
      continue;
    }
    // packed first (a tenth of the bytes): .gz (unpacked in process), .xz (by xz; Debian's -updates have no .gz)
    const candidates = [`${plain}.gz`, `${plain}.xz`, plain].filter((p) => sums.has(p));
    let bytes: Buffer | null = null;
    let tried: string[] = [];
    for (const p of candidates) {
      const entry = sums.get(p)!;
      const urls = [
        ...(byHash ? [`${base}/${path.posix.dirname(p)}/by-hash/SHA256/${entry.sha256}`] : []),
        `${base}/${p}`,
      ];
      for (const url of urls) {
        const got = await getter(url, { proxy: options.proxy, signal: options.signal, maxBytes: MAX_INDEX_BYTES });
        tried.push(`${url} (${got.status === 200 ? 'other bytes than the Release lists' : `HTTP ${got.status}`})`);
        if (got.status !== 200) continue;
        if (got.body.length !== entry.size || sha256(got.body) !== entry.sha256) continue;
        bytes = p.endsWith('.gz')
          ? zlib.gunzipSync(got.body)
          : p.endsWith('.xz')
            ? await unxz(options.runner, dir, got.body, options.signal)
            : got.body;
        if (plainEntry && (bytes.length !== plainEntry.size || sha256(bytes) !== plainEntry.sha256)) {
          tried.push(`${url} unpacked to other bytes than the Release lists for ${plain}`);
          bytes = null;
          continue;
        }
        break;
      }
      if (bytes) break;
    }
    if (!bytes)
      throw new PackagesIndexError(
        `the archive's ${s.suite} Release lists ${indexPath} (sha256 ${digest}), and the archive does not serve it: ${tried.join('; ') || 'no .gz nor plain file in the Release'}`,
        'the archive republished while it was read (run the command again), or the mirror is out of step with its Release: try another mirror',
      );
    tried = [];
    const key = plainEntry?.sha256 ?? sha256(bytes);
    const file = path.join(dir, key);
    storeWhole(file, bytes);
    out.push({ uri: s.uri, suite: s.suite, path: indexPath, sha256: digest, file, fetched: true });
  }
  return out;
}

/**
 * Lays out a lists dir as apt-get update leaves it: each suite's InRelease (or Release) and its Packages indexes
 * under apt's names, hard links to the cache's files (a copy where the dir is on another file system), and an
 * empty partial/. `dir` must be empty or absent.
 */
export function layoutAptLists(
  dir: string,
  suites: readonly { s: SuiteLists; indexes: readonly CachedIndex[] }[],
  cacheRoot: string,
): string[] {
  fs.mkdirSync(path.join(dir, 'partial'), { recursive: true });
  const names: string[] = [];
  const place = (from: string, name: string) => {
    const to = path.join(dir, name);
    try {
      fs.linkSync(from, to);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV' && (error as NodeJS.ErrnoException).code !== 'EPERM')
        throw error;
      fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
    }
    names.push(name);
  };
  for (const { s, indexes } of suites) {
    const prefix = aptListName(`${s.uri.replace(/\/+$/, '')}/dists/${s.suite}`);
    place(path.join(listsCacheDir(cacheRoot), sha256(s.release)), `${prefix}_${s.file}`);
    for (const index of indexes) place(index.file, `${prefix}_${aptListName(index.path.replace(/\.gz$/, ''))}`);
  }
  return names;
}
