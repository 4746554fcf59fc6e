/**
 * The shared deb cache (docs/performance.md#the-shared-deb-cache): the .debs that debootstrap and apt downloaded,
 * outside any work dir, so a second work dir with the same base downloads nothing the cache holds. Keyed by
 * distribution family, suite and architecture (debs/<vendor>/<suite>/<arch>/<package>_<version>_<arch>.deb).
 *
 * - Before a use, each cached file is checked against the size and sha256 of its entry in the Packages index the
 *   build fetched; a file whose bytes are not the entry's is removed, one no entry names is left out of the build.
 * - A build never writes into the cache through apt: each call gets a staging dir in its work dir with hard links to
 *   the checked files (a copy when the cache is on another file system), and the files apt downloaded there are
 *   checked the same way and moved in: linked under a temporary name and renamed, so a reader sees a whole file
 *   or none.
 * - index.json records each file's size, sha256 and when a build last used it (mtime and atime are unreliable on
 *   noatime mounts); it is rewritten whole and renamed, under an flock(2) on `lock` that two builds share.
 * - Past the size limit, the files least recently used go first.
 * - Safety: only regular files directly in a key directory are read, linked or removed, each by a name checked to
 *   be a plain file name; a symlink in the tree is never followed (it is removed, or refused as a key directory),
 *   and the cache dir may not be / or a system directory.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, UsageError } from '../errors.js';
import { writeNewFileWhole } from './new-file.js';
import { checkDeb, type PackagesIndex, sha256OfFile } from './packages-index.js';
import { runWithDescriptorSync } from './spawn-sync.js';

/** The environment variable that names the cache dir, over the config's cache.dir. */
export const CACHE_DIR_ENV = 'AILINUX_CACHE_DIR';
export const DEFAULT_CACHE_MAX_SIZE = '10GiB';
const INDEX_FILE = 'index.json';
const LOCK_FILE = 'lock';
const DEBS_DIR = 'debs';
const STAGING_DIR = 'staging';
const SETS_DIR = 'sets';
/** How long a build waits for another to finish its short index update. */
const LOCK_TIMEOUT_S = 120;
const LOCK_TIMEOUT_EXIT = 75;

export interface CacheKey {
  /** The distribution family: debian, ubuntu. */
  vendor: string;
  suite: string;
  arch: string;
}

/** The cache a build uses and its key there: what the engine hands the steps (StepContext.debs). */
export interface SharedDebs {
  cache: DebCache;
  key: CacheKey;
}

export function describeKey(key: CacheKey): string {
  return `${key.vendor}/${key.suite}/${key.arch}`;
}

/** Where the cache dir came from: AILINUX_CACHE_DIR, the config's cache.dir, or the user's cache home. */
export type CacheDirSource = 'env' | 'config' | 'default';

export interface CacheLocation {
  dir: string;
  source: CacheDirSource;
}

/** $XDG_CACHE_HOME/ailinux, else ~/.cache/ailinux (as root: /root/.cache/ailinux); null without a home. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string | null {
  const xdg = env['XDG_CACHE_HOME'];
  // the XDG base directory spec: a relative value is invalid and ignored
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'ailinux');
  const home = env['HOME'] || os.homedir();
  return home && path.isAbsolute(home) ? path.join(home, '.cache', 'ailinux') : null;
}

/**
 * The cache dir a command uses: AILINUX_CACHE_DIR, else the config's cache.dir (relative to the config file's
 * directory), else the default; checked by assertSafeCacheDir. null when none can be named (no home).
 */
export function resolveCacheDir(options: {
  configured?: string | undefined;
  baseDir?: string | undefined;
  env: NodeJS.ProcessEnv;
  cwd?: string;
}): CacheLocation | null {
  const cwd = options.cwd ?? process.cwd();
  const fromEnv = options.env[CACHE_DIR_ENV];
  let location: CacheLocation | null;
  if (fromEnv) location = { dir: path.resolve(cwd, fromEnv), source: 'env' };
  else if (options.configured)
    location = { dir: path.resolve(options.baseDir ?? cwd, options.configured), source: 'config' };
  else {
    const dir = defaultCacheDir(options.env);
    location = dir === null ? null : { dir, source: 'default' };
  }
  if (location) assertSafeCacheDir(location);
  return location;
}

/** Directories a cache may never be, nor lie under (the first group), or be exactly (the second). */
const SYSTEM_TREES = [
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/boot',
  '/etc',
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
];
const SYSTEM_DIRS = [
  '/',
  '/home',
  '/root',
  '/tmp',
  '/var',
  '/var/tmp',
  '/var/cache',
  '/var/lib',
  '/opt',
  '/srv',
  '/mnt',
  '/media',
];

function sourceWords(source: CacheDirSource): string {
  return source === 'env' ? `${CACHE_DIR_ENV}` : source === 'config' ? 'cache.dir' : 'the default cache dir';
}

/** Refuses / and the system's own directories, by the path as given and by where it resolves. */
export function assertSafeCacheDir(location: CacheLocation): void {
  const candidates = [path.resolve(location.dir)];
  try {
    candidates.push(fs.realpathSync(location.dir));
  } catch {
    // not there yet: the path as given is what will be made
  }
  for (const dir of candidates) {
    const bad =
      SYSTEM_DIRS.includes(dir) || SYSTEM_TREES.some((t) => dir === t || dir.startsWith(`${t}/`)) ? dir : null;
    if (bad === null) continue;
    const message = `${sourceWords(location.source)} ${location.dir}${dir !== location.dir ? ` (${dir})` : ''} is / or a system directory; the deb cache needs a directory of its own`;
    const hint = `point it at a directory of its own, e.g. ${defaultCacheDir({ HOME: os.homedir() }) ?? '/var/cache/ailinux-debs'} or /srv/ailinux-cache`;
    if (location.source === 'config')
      throw new ConfigError(
        message,
        [{ path: 'cache.dir', value: location.dir, expected: 'a directory of its own, not / or a system directory' }],
        undefined,
        { hint },
      );
    throw new UsageError(message, { hint });
  }
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
export const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i;

/** A size as users write it: 10GiB, 500M, 1.5G, 1048576 (bytes); binary units. null when it is not one. */
export function parseSize(text: string): number | null {
  const m = SIZE_PATTERN.exec(text.trim());
  if (!m) return null;
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!);
  return Number.isFinite(bytes) ? bytes : null;
}

interface IndexEntry {
  size: number;
  sha256: string;
  /** ms since the epoch: the last build that used the file, or that put it in. */
  lastUsed: number;
}

interface IndexFile {
  version: 1;
  /** By the file's path under debs/: <vendor>/<suite>/<arch>/<file>. */
  entries: Record<string, IndexEntry>;
}

const KEY_PART = /^[A-Za-z0-9][A-Za-z0-9.+_~-]*$/;
/** A .deb's name as apt and debootstrap write it: no slash, no leading dot. */
const DEB_NAME = /^[A-Za-z0-9][A-Za-z0-9.+~%_:-]*\.deb$/;
/** A step's layer, kept by its fingerprint (src/steps/layer-cache.ts): a tar of its tree. */
const LAYER_NAME = /^[a-z][a-z0-9-]*-[0-9a-f]{64}\.layer\.tar$/;
const FINGERPRINT = /^[0-9a-f]{64}$/;
const LAYER_SUFFIX = '.layer.tar';

function isEntryName(name: string): boolean {
  return DEB_NAME.test(name) || LAYER_NAME.test(name);
}

export interface StageResult {
  /** Files linked (or copied) into the staging dir. */
  staged: string[];
  /** Files removed from the cache: their bytes were not their Packages entry's. */
  dropped: { name: string; reason: string }[];
  /** Files left out: no entry of the index names them. */
  unknown: number;
  bytes: number;
}

export interface AbsorbResult {
  /** New files checked and moved into the cache. */
  added: string[];
  /** Files the staging dir held that were not moved in: not in the index, or not its bytes. */
  rejected: { name: string; reason: string }[];
  /** Files evicted to keep the cache under its limit. */
  evicted: string[];
}

export interface KeyStats {
  key: string;
  /** Files: the .debs and the kept layers. */
  entries: number;
  bytes: number;
  /** Of the entries, the kept layers (each step's by its fingerprint: src/steps/layer-cache.ts). */
  layers: number;
  /** Their bytes, of `bytes`. */
  layerBytes: number;
  /** The steps whose layers these are, each once, sorted. */
  layerSteps: string[];
}

export interface CacheStats {
  dir: string;
  bytes: number;
  entries: number;
  maxBytes: number;
  keys: KeyStats[];
}

/** A digest taken earlier in this process of the same unchanged inode: a file is hashed once per run. */
const digests = new Map<string, { dev: number; ino: number; size: number; ctimeMs: number; sha256: string }>();

function digestOf(file: string, st: fs.Stats): string {
  const seen = digests.get(file);
  if (seen && seen.dev === st.dev && seen.ino === st.ino && seen.size === st.size && seen.ctimeMs === st.ctimeMs)
    return seen.sha256;
  const sha256 = sha256OfFile(file);
  digests.set(file, { dev: st.dev, ino: st.ino, size: st.size, ctimeMs: st.ctimeMs, sha256 });
  return sha256;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

export class DebCache {
  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly now: () => number,
  ) {}

  /**
   * Opens (and makes) the cache dir. The dir itself may be a symlink the user made (resolved once, here); nothing
   * below it is ever followed.
   */
  static open(location: CacheLocation, options: { maxBytes: number; now?: () => number }): DebCache {
    assertSafeCacheDir(location);
    fs.mkdirSync(location.dir, { recursive: true, mode: 0o755 });
    const real = fs.realpathSync(location.dir);
    assertSafeCacheDir({ dir: real, source: location.source });
    const cache = new DebCache(real, options.maxBytes, options.now ?? Date.now);
    cache.ownDir(path.join(real, DEBS_DIR));
    // writable, or no cache: a home that is there but read-only (a sandbox) fails here, not in the middle of a step
    fs.closeSync(
      fs.openSync(
        path.join(real, LOCK_FILE),
        fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW,
        0o644,
      ),
    );
    return cache;
  }

  /** Makes dir (one level) or checks the one there: a real directory, never a symlink. */
  private ownDir(dir: string): void {
    try {
      fs.mkdirSync(dir, { mode: 0o755 });
    } catch (error) {
      if (errno(error) !== 'EEXIST') throw error;
    }
    const st = fs.lstatSync(dir);
    if (!st.isDirectory())
      throw new UsageError(
        `${dir} in the deb cache is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; ailinux never follows a link out of its cache`,
        {
          hint: `remove ${dir} (the cache makes it again)`,
        },
      );
  }

  /** debs/<vendor>/<suite>/<arch>, each part checked and made a real directory when make is set. */
  keyDir(key: CacheKey, make = false): string {
    for (const part of [key.vendor, key.suite, key.arch])
      if (!KEY_PART.test(part)) throw new UsageError(`"${part}" cannot name a deb cache directory`);
    let dir = path.join(this.dir, DEBS_DIR);
    for (const part of [key.vendor, key.suite, key.arch]) {
      dir = path.join(dir, part);
      if (make) this.ownDir(dir);
      else {
        const st = fs.lstatSync(dir, { throwIfNoEntry: false });
        if (st === undefined) return dir;
        if (!st.isDirectory()) this.ownDir(dir);
      }
    }
    return dir;
  }

  private relOf(key: CacheKey, name: string): string {
    return `${key.vendor}/${key.suite}/${key.arch}/${name}`;
  }

  /** The .deb files directly in dir, as regular files; a symlink or other entry with a .deb name is removed. */
  private debsIn(dir: string): Map<string, fs.Stats> {
    return this.filesIn(dir, (name) => DEB_NAME.test(name));
  }

  /** The regular files directly in dir whose names `wanted` takes; a symlink or other entry so named is removed. */
  private filesIn(dir: string, wanted: (name: string) => boolean): Map<string, fs.Stats> {
    const out = new Map<string, fs.Stats>();
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (error) {
      if (errno(error) === 'ENOENT') return out;
      throw error;
    }
    for (const name of names) {
      if (!wanted(name)) continue;
      const file = path.join(dir, name);
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isFile()) out.set(name, st);
      // a link or device with a .deb's name: removed (unlink never follows it)
      else if (!st.isDirectory()) fs.rmSync(file, { force: true });
    }
    return out;
  }

  /** Runs fn holding the cache's flock (shared by every build and `ailinux cache`); waits up to two minutes. */
  withLock<T>(fn: () => T): T {
    const lockFile = path.join(this.dir, LOCK_FILE);
    const fd = fs.openSync(lockFile, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
    try {
      const r = runWithDescriptorSync(
        [
          'flock',
          '--exclusive',
          '--timeout',
          String(LOCK_TIMEOUT_S),
          '--conflict-exit-code',
          String(LOCK_TIMEOUT_EXIT),
          '3',
        ],
        fd,
      );
      if (r.error)
        throw new UsageError(`cannot lock ${lockFile}: flock cannot be run (${r.error.message})`, {
          hint: 'install util-linux, which provides flock(1)',
        });
      if (r.status === LOCK_TIMEOUT_EXIT)
        throw new UsageError(`another ailinux held the deb cache's lock ${lockFile} for ${LOCK_TIMEOUT_S} s`, {
          hint: 'wait for it, or point this build at another cache dir (AILINUX_CACHE_DIR)',
        });
      if (r.status !== 0)
        throw new UsageError(`cannot lock ${lockFile}: flock failed (${r.stderr.trim() || r.status})`);
      return fn();
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * A staging dir for one apt call of a work dir's step: staging/<work dir's hash>-<step>, inside the cache so its
   * files can be hard links (link(2) works only within one mount). One build per work dir runs at a time (its
   * lock), so the name is its own; what a killed call left there is emptied by the next stage().
   */
  stagingDir(workDir: string, stepId: string): string {
    if (!KEY_PART.test(stepId)) throw new UsageError(`"${stepId}" cannot name a staging dir`);
    this.ownDir(path.join(this.dir, STAGING_DIR));
    const tag = crypto.createHash('sha256').update(path.resolve(workDir)).digest('hex').slice(0, 12);
    const dir = path.join(this.dir, STAGING_DIR, `${tag}-${stepId}`);
    this.ownDir(dir);
    return dir;
  }

  /** Removes a staging dir this cache made (only one directly in staging/, never through a link). */
  removeStaging(dir: string): void {
    if (path.dirname(dir) !== path.join(this.dir, STAGING_DIR))
      throw new Error(`${dir} is no staging dir of ${this.dir}`);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (!st.isDirectory()) {
      fs.rmSync(dir, { force: true });
      return;
    }
    // rm -r unlinks a symlink it meets, never follows it
    fs.rmSync(dir, { recursive: true, force: true });
  }

  private setFile(key: CacheKey, name: string): string {
    this.keyDir(key);
    if (!KEY_PART.test(name)) throw new UsageError(`"${name}" cannot name a set`);
    this.ownDir(path.join(this.dir, SETS_DIR));
    return path.join(this.dir, SETS_DIR, `${key.vendor}_${key.suite}_${key.arch}_${name}.json`);
  }

  /**
   * A set of file names a step used last time (the base system debootstrap installed), so the next run is given
   * those alone; null when none was recorded or it cannot be read.
   */
  readSet(key: CacheKey, name: string): Set<string> | null {
    const file = this.setFile(key, name);
    try {
      if (!fs.lstatSync(file).isFile()) return null;
      const names = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
      return Array.isArray(names) && names.every((n) => typeof n === 'string') ? new Set(names) : null;
    } catch {
      return null;
    }
  }

  /** Records a set, written whole and renamed. */
  writeSet(key: CacheKey, name: string, names: Iterable<string>): void {
    const file = this.setFile(key, name);
    const temp = `${file}.${process.pid}.tmp`;
    fs.rmSync(temp, { force: true });
    writeNewFileWhole(temp, `${JSON.stringify([...names].sort())}\n`, 0o644);
    fs.renameSync(temp, file);
  }

  /** The index as on disk, reconciled with the files there: a missing file's entry goes, an unlisted file is oldest. */
  private readIndex(): IndexFile {
    let index: IndexFile = { version: 1, entries: {} };
    try {
      const parsed = JSON.parse(fs.readFileSync(path.join(this.dir, INDEX_FILE), 'utf8')) as IndexFile;
      if (parsed && parsed.version === 1 && typeof parsed.entries === 'object' && parsed.entries !== null)
        index = parsed;
    } catch {
      // none yet, or unreadable: rebuilt from the files below
    }
    const entries: Record<string, IndexEntry> = {};
    for (const { key, dir } of this.keyDirs()) {
      for (const [name, st] of this.filesIn(dir, isEntryName)) {
        const rel = this.relOf(key, name);
        const known = index.entries[rel];
        entries[rel] = known && known.size === st.size ? known : { size: st.size, sha256: '', lastUsed: 0 };
      }
    }
    return { version: 1, entries };
  }

  private writeIndex(index: IndexFile): void {
    const file = path.join(this.dir, INDEX_FILE);
    const temp = `${file}.${process.pid}.tmp`;
    fs.rmSync(temp, { force: true });
    writeNewFileWhole(temp, `${JSON.stringify(index)}\n`, 0o644);
    fs.renameSync(temp, file);
  }

  /** Every key directory there is: debs/<vendor>/<suite>/<arch>, real directories only. */
  private keyDirs(): { key: CacheKey; dir: string }[] {
    const out: { key: CacheKey; dir: string }[] = [];
    const subdirs = (dir: string) => {
      try {
        return fs
          .readdirSync(dir, { withFileTypes: true })
          .filter((d) => d.isDirectory() && KEY_PART.test(d.name))
          .map((d) => d.name);
      } catch {
        return [];
      }
    };
    const root = path.join(this.dir, DEBS_DIR);
    for (const vendor of subdirs(root))
      for (const suite of subdirs(path.join(root, vendor)))
        for (const arch of subdirs(path.join(root, vendor, suite)))
          out.push({ key: { vendor, suite, arch }, dir: path.join(root, vendor, suite, arch) });
    return out;
  }

  /**
   * Fills staging with the cached files of key that the index vouches for (all of them when index is null:
   * debootstrap, which has no index before it runs, checks each against the one it fetches). Earlier .debs in
   * staging are removed first. A file whose bytes are not its entry's is removed from the cache.
   */
  stage(
    key: CacheKey,
    staging: string,
    index: PackagesIndex | null,
    only: ReadonlySet<string> | null = null,
  ): StageResult {
    fs.mkdirSync(staging, { recursive: true });
    for (const [name] of this.debsIn(staging)) fs.rmSync(path.join(staging, name), { force: true });
    const dir = this.keyDir(key);
    const result: StageResult = { staged: [], dropped: [], unknown: 0, bytes: 0 };
    for (const [name, st] of this.debsIn(dir)) {
      if (only !== null && !only.has(name)) continue;
      const file = path.join(dir, name);
      if (index !== null) {
        const check = checkDeb(index, name, st.size, () => digestOf(file, st));
        if (check.kind === 'unknown') {
          result.unknown++;
          continue;
        }
        if (check.kind === 'corrupt') {
          fs.rmSync(file, { force: true });
          result.dropped.push({ name, reason: check.reason });
          continue;
        }
      }
      if (this.place(file, path.join(staging, name))) {
        result.staged.push(name);
        result.bytes += st.size;
      }
    }
    if (result.dropped.length > 0)
      this.withLock(() => {
        const idx = this.readIndex();
        this.writeIndex(idx);
      });
    return result;
  }

  /**
   * Checks every cached file of key that the index names and removes those whose bytes are not its entry's (after
   * debootstrap, which checked what it took against the index it fetched, but left the cache's copy as it was).
   */
  sweep(key: CacheKey, index: PackagesIndex): { name: string; reason: string }[] {
    const dir = this.keyDir(key);
    const dropped: { name: string; reason: string }[] = [];
    for (const [name, st] of this.debsIn(dir)) {
      const file = path.join(dir, name);
      const check = checkDeb(index, name, st.size, () => digestOf(file, st));
      if (check.kind !== 'corrupt') continue;
      fs.rmSync(file, { force: true });
      dropped.push({ name, reason: check.reason });
    }
    return dropped;
  }

  /** A hard link at dest (a copy across file systems); false when source went meanwhile (evicted by another build). */
  private place(source: string, dest: string): boolean {
    try {
      fs.linkSync(source, dest);
      return true;
    } catch (error) {
      if (errno(error) === 'ENOENT') return false;
      if (errno(error) !== 'EXDEV' && errno(error) !== 'EPERM') throw error;
    }
    try {
      fs.copyFileSync(source, dest, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
      return true;
    } catch (error) {
      if (errno(error) === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Moves the new .debs of staging (those the cache lacks) into the cache once the index vouches for them, marks
   * `used` (file names) and the new ones as used now, evicts past the limit, and empties staging of .debs.
   */
  absorb(key: CacheKey, staging: string, index: PackagesIndex, used: ReadonlySet<string> = new Set()): AbsorbResult {
    const dir = this.keyDir(key, true);
    const have = this.debsIn(dir);
    const result: AbsorbResult = { added: [], rejected: [], evicted: [] };
    const digestsOf = new Map<string, { size: number; sha256: string }>();
    for (const [name, st] of this.debsIn(staging)) {
      const file = path.join(staging, name);
      if (have.has(name)) continue;
      const check = checkDeb(index, name, st.size, () => digestOf(file, st));
      if (check.kind !== 'ok') {
        result.rejected.push({ name, reason: check.kind === 'unknown' ? 'no Packages entry names it' : check.reason });
        continue;
      }
      const temp = path.join(dir, `.${name}.${process.pid}.tmp`);
      fs.rmSync(temp, { force: true });
      if (!this.place(file, temp)) continue;
      fs.renameSync(temp, path.join(dir, name));
      result.added.push(name);
      digestsOf.set(name, { size: st.size, sha256: check.sha256 });
    }
    for (const [name] of this.debsIn(staging)) fs.rmSync(path.join(staging, name), { force: true });
    this.withLock(() => {
      const idx = this.readIndex();
      const now = this.now();
      for (const name of [...used, ...result.added]) {
        const rel = this.relOf(key, name);
        const entry = idx.entries[rel];
        if (entry === undefined) continue;
        entry.lastUsed = now;
        const d = digestsOf.get(name);
        if (d) entry.sha256 = d.sha256;
      }
      result.evicted = this.evict(idx, this.maxBytes);
      this.writeIndex(idx);
    });
    return result;
  }

  /** Removes the least recently used files until the total is at most maxBytes; their paths under debs/. */
  private evict(idx: IndexFile, maxBytes: number): string[] {
    let total = Object.values(idx.entries).reduce((n, e) => n + e.size, 0);
    const order = Object.entries(idx.entries).sort((a, b) => a[1].lastUsed - b[1].lastUsed || a[0].localeCompare(b[0]));
    const removed: string[] = [];
    for (const [rel, entry] of order) {
      if (total <= maxBytes) break;
      const parts = rel.split('/');
      const name = parts[3]!;
      if (parts.length !== 4 || !isEntryName(name)) continue;
      const key = { vendor: parts[0]!, suite: parts[1]!, arch: parts[2]! };
      const file = path.join(this.keyDir(key), name);
      // lstat again: only a regular file in a key directory is ever removed
      if (fs.lstatSync(file, { throwIfNoEntry: false })?.isFile()) fs.rmSync(file, { force: true });
      delete idx.entries[rel];
      total -= entry.size;
      removed.push(rel);
    }
    return removed;
  }

  private layerName(name: string, fingerprint: string): string {
    const file = `${name}-${fingerprint}.layer.tar`;
    if (!FINGERPRINT.test(fingerprint) || !LAYER_NAME.test(file))
      throw new UsageError(`cannot keep a layer as ${file}`);
    return file;
  }

  /**
   * The kept layer of a step by its fingerprint, checked: its size and sha256 are what the index recorded when it
   * was stored (a file the index has no digest for, or whose bytes differ, is removed); marked used. null: none.
   */
  findLayer(key: CacheKey, name: string, fingerprint: string): { file: string; size: number } | null {
    const fileName = this.layerName(name, fingerprint);
    const dir = this.keyDir(key);
    const file = path.join(dir, fileName);
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (st === undefined) return null;
    const recorded = this.withLock(() => this.readIndex().entries[this.relOf(key, fileName)]);
    const ok =
      st.isFile() &&
      recorded !== undefined &&
      recorded.sha256 !== '' &&
      recorded.size === st.size &&
      digestOf(file, st) === recorded.sha256;
    this.withLock(() => {
      if (!ok) fs.rmSync(file, { force: true });
      const idx = this.readIndex();
      const entry = idx.entries[this.relOf(key, fileName)];
      if (ok && entry) entry.lastUsed = this.now();
      this.writeIndex(idx);
    });
    return ok ? { file, size: st.size } : null;
  }

  /** Whether the index records a kept layer of the step by this fingerprint (not checked: findLayer checks). */
  hasLayer(key: CacheKey, name: string, fingerprint: string): boolean {
    const rel = this.relOf(key, this.layerName(name, fingerprint));
    const entry = this.withLock(() => this.readIndex()).entries[rel];
    return entry !== undefined && entry.sha256 !== '';
  }

  /**
   * Keeps a step's layer by its fingerprint: `write` makes the tar at the temporary path it is given; it is hashed,
   * renamed into place and recorded, the step's other kept layers of the key are removed (one per key), and the
   * cache is pruned to its limit.
   */
  async storeLayer(
    key: CacheKey,
    name: string,
    fingerprint: string,
    write: (temp: string) => Promise<void>,
  ): Promise<void> {
    const fileName = this.layerName(name, fingerprint);
    const dir = this.keyDir(key, true);
    const temp = path.join(dir, `.${fileName}.${process.pid}.tmp`);
    fs.rmSync(temp, { force: true });
    try {
      await write(temp);
      // root's files of the image (/etc/shadow, /root) are in it: readable by the cache's owner alone
      fs.chmodSync(temp, 0o600);
      const st = fs.lstatSync(temp);
      const sha256 = digestOf(temp, st);
      this.withLock(() => {
        fs.renameSync(temp, path.join(dir, fileName));
        // this step's alone: packages-remove-<fingerprint> is no layer of packages
        const mine = (n: string) =>
          LAYER_NAME.test(n) &&
          n.startsWith(`${name}-`) &&
          FINGERPRINT.test(n.slice(name.length + 1, -LAYER_SUFFIX.length));
        for (const [other] of this.filesIn(dir, mine))
          if (other !== fileName) fs.rmSync(path.join(dir, other), { force: true });
        const idx = this.readIndex();
        idx.entries[this.relOf(key, fileName)] = { size: st.size, sha256, lastUsed: this.now() };
        this.evict(idx, this.maxBytes);
        this.writeIndex(idx);
      });
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }

  /** Prunes to maxBytes (the limit when not given): what went, least recently used first. */
  prune(maxBytes: number = this.maxBytes): string[] {
    return this.withLock(() => {
      const idx = this.readIndex();
      const removed = this.evict(idx, maxBytes);
      this.writeIndex(idx);
      return removed;
    });
  }

  /** The cache's size by key. */
  stats(): CacheStats {
    const idx = this.withLock(() => this.readIndex());
    const byKey = new Map<string, KeyStats>();
    for (const [rel, e] of Object.entries(idx.entries)) {
      const key = rel.split('/').slice(0, 3).join('/');
      const s = byKey.get(key) ?? { key, entries: 0, bytes: 0, layers: 0, layerBytes: 0, layerSteps: [] };
      s.entries++;
      const name = rel.split('/')[3] ?? '';
      if (LAYER_NAME.test(name)) {
        s.layers++;
        s.layerBytes += e.size;
        const step = name.slice(0, -(1 + 64 + LAYER_SUFFIX.length));
        if (!s.layerSteps.includes(step)) s.layerSteps = [...s.layerSteps, step].sort();
      }
      s.bytes += e.size;
      byKey.set(key, s);
    }
    const keys = [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
    return {
      dir: this.dir,
      bytes: keys.reduce((n, k) => n + k.bytes, 0),
      entries: keys.reduce((n, k) => n + k.entries, 0),
      maxBytes: this.maxBytes,
      keys,
    };
  }

  /** The index's record of one file (tests, and the cache command's --json). */
  entry(key: CacheKey, name: string): IndexEntry | undefined {
    return this.withLock(() => this.readIndex()).entries[this.relOf(key, name)];
  }
}
