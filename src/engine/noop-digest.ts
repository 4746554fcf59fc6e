/**
 * The no-op digest (state/noop-digest.json): what a successful build leaves so that the next `ailinux build` with
 * nothing to do can tell so without loading the config schema, the steps and the machine (src/cli/build-fast.ts;
 * issue 11, the no-op target; docs/performance.md). It names every input the steps' fingerprints were made of that
 * can change without the state changing:
 *
 * - the tool itself: the size and mtime of every module of dist/ and the package version (step versions, profiles,
 *   the config schema's defaults, the fingerprint code), so an upgraded or rebuilt tool takes the full path;
 * - the command: the work dir, the config file (its sha256) or profile, and the environment the build reads;
 * - the state file as written at the end of that build (its sha256), and the work dir's fingerprint key;
 * - each step's input files (re-hashed by the fast path, as fingerprint.ts hashes them) and archive suites (read
 *   again unless --offline; their entries made by fingerprint.ts's own fingerprintMaterial).
 *
 * A build whose steps read input trees from the host (overlays, hooks, local packages) leaves no digest: those trees
 * are walked by the steps' code, and the fast path does not load it. Nor does a build whose material this module
 * cannot account for key by key (checkable): such a build always takes the full path.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import type { ArchiveSuite, ReleaseInfo } from '../runtime/archive-release.js';
import { suiteKey } from '../runtime/archive-release.js';
import { packageRoot, packageVersion } from '../runtime/package-root.js';
import type { StepDef } from '../steps/types.js';
import type { FingerprintMaterial, Ledger } from '../types.js';
import { fingerprintMaterial, hashFile } from './fingerprint.js';

export const NOOP_DIGEST_FILE = 'noop-digest.json';
const FORMAT_VERSION = 1;

/** The environment a build reads before its steps run: SOURCE_DATE_EPOCH, the deb cache's home, the archive file. */
export const DIGEST_ENV = [
  'SOURCE_DATE_EPOCH',
  'AILINUX_CACHE_DIR',
  'XDG_CACHE_HOME',
  'HOME',
  'AILINUX_ARCHIVE_RELEASE_FILE',
] as const;

export interface DigestInputFile {
  /** The key in the step's material (the path as the config gives it). */
  key: string;
  /** The file the fingerprint hashed, absolute, and its real path then (null when missing). */
  path: string;
  real: string | null;
}

export interface DigestStep {
  id: string;
  inputFiles: DigestInputFile[];
  /** The suites the step installs from, as its archiveSuites gave them. */
  suites: ArchiveSuite[];
}

export interface NoopDigest {
  version: typeof FORMAT_VERSION;
  tool: string;
  workDir: string;
  configFile: string | null;
  profile: string | null;
  configSha256: string | null;
  env: Record<string, string | null>;
  /** sha256 of the state file's bytes as this build left them: any later write of the state voids the digest. */
  stateSha256: string;
  /** sha256 of the work dir's fingerprint key (never the key). */
  keySha256: string | null;
  /** The shared deb cache's dir the build opened. */
  debCache: string;
  /** Every suite of the steps, in the order the archive check reads them (its suitesOf), and apt.proxy. */
  suites: ArchiveSuite[];
  proxy: string | null;
  steps: DigestStep[];
}

export function digestFile(stateDir: string): string {
  return path.join(stateDir, NOOP_DIGEST_FILE);
}

function sha256(data: Buffer | string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file's bytes, or null when it cannot be read. */
export function fileSha256(file: string): string | null {
  try {
    return sha256(fs.readFileSync(file));
  } catch {
    return null;
  }
}

function realOrNull(file: string): string | null {
  try {
    return fs.realpathSync(file);
  } catch {
    return null;
  }
}

/**
 * The tool as built: the package version and every module under dist/ (path, size, mtime). Any rebuild or upgrade
 * changes it, so a step version, a profile or the fingerprint code that changed is never taken for unchanged.
 */
export function toolStamp(root: string = packageRoot()): string {
  const hash = crypto.createHash('sha256').update(`ailinux ${packageVersion()}\n`);
  const walk = (dir: string, rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      hash.update(`unreadable ${rel}\n`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p, r);
      else if (e.name.endsWith('.js') || e.name.endsWith('.json')) {
        const st = fs.statSync(p, { bigint: true });
        hash.update(`${r} ${st.size} ${st.mtimeNs} ${st.ino}\n`);
      }
    }
  };
  walk(path.join(root, 'dist'), 'dist');
  return hash.digest('hex');
}

/** The environment values the digest keeps. */
export function digestEnv(env: NodeJS.ProcessEnv): Record<string, string | null> {
  return Object.fromEntries(DIGEST_ENV.map((name) => [name, env[name] ?? null]));
}

/**
 * The archive entries of a step's material for these suites, as fingerprint.ts makes them (its fingerprintMaterial
 * on a step that has nothing but the suites): `archive:` and whatever else it derives from the Release files read.
 */
export function archiveMaterial(
  stepId: string,
  suites: readonly ArchiveSuite[],
  archive:
    | { mode: 'checked'; releases: readonly ReleaseInfo[] }
    | { mode: 'offline'; stored: FingerprintMaterial | null | undefined },
): Record<string, string> {
  const step = {
    id: stepId,
    version: 0,
    configFields: [],
    hostOnly: true,
    archiveSuites: () => [...suites],
  } as unknown as StepDef;
  const inputs =
    archive.mode === 'checked'
      ? { mode: 'checked' as const, releases: new Map(archive.releases.map((r) => [suiteKey(r), r])) }
      : { mode: 'offline' as const, stored: () => archive.stored };
  return fingerprintMaterial(step, {} as BuildConfig, '/', null, { sourceDateEpoch: null, archive: inputs }).files;
}

/** The input files' part of a step's material, re-read: each file's hash as fingerprint.ts's hashFile makes it. */
export function inputFilesMaterial(files: readonly DigestInputFile[]): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const f of files) {
    if (realOrNull(f.path) !== f.real) return null;
    out[f.key] = hashFile(f.path);
  }
  return out;
}

/** Same keys, same values. */
export function sameEntries(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

export interface DigestSource {
  workDir: string;
  stateFile: string;
  keyFile: string;
  configFile: string | null;
  profile: string | null;
  baseDir: string;
  env: NodeJS.ProcessEnv;
  config: BuildConfig;
  steps: readonly StepDef[];
  /** The suites the archive check reads (its suitesOf), and what it read this run; null: --offline. */
  suites: readonly ArchiveSuite[];
  releases: readonly ReleaseInfo[] | null;
  proxy: string | null;
  ledger: Ledger;
  debCache: string | null;
  /** Steps whose input tree reads nothing from the host for this config (the packages step without packages.local). */
  treeReadsNothing: (step: StepDef) => boolean;
}

/**
 * The digest of a build that succeeded, or null when the fast path could not decide for it exactly: a step with an
 * input tree, a step not done or skipped, material with an entry this module does not account for.
 */
export function makeNoopDigest(src: DigestSource): NoopDigest | null {
  if (src.debCache === null) return null;
  const steps: DigestStep[] = [];
  for (const step of src.steps) {
    if (step.inputTree && !src.treeReadsNothing(step)) return null;
    const entry = src.ledger[step.id];
    if (!entry || (entry.status !== 'done' && entry.status !== 'skipped') || !entry.material) return null;
    const inputFiles: DigestInputFile[] = (step.inputFiles?.(src.config) ?? []).map((key) => {
      const abs = path.resolve(src.baseDir, key);
      return { key, path: abs, real: realOrNull(abs) };
    });
    const suites = step.archiveSuites?.(src.config) ?? [];
    const fromFiles = inputFilesMaterial(inputFiles);
    if (fromFiles === null) return null;
    const archive = archiveMaterial(
      step.id,
      suites,
      src.releases === null ? { mode: 'offline', stored: entry.material } : { mode: 'checked', releases: src.releases },
    );
    const expected = { ...fromFiles, ...archive };
    if (!sameEntries(expected, entry.material.files)) return null;
    steps.push({ id: step.id, inputFiles, suites: [...suites] });
  }
  const stateSha256 = fileSha256(src.stateFile);
  if (stateSha256 === null) return null;
  const configSha256 = src.configFile === null ? null : fileSha256(src.configFile);
  if (src.configFile !== null && configSha256 === null) return null;
  return {
    version: FORMAT_VERSION,
    tool: toolStamp(),
    workDir: src.workDir,
    configFile: src.configFile,
    profile: src.profile,
    configSha256,
    env: digestEnv(src.env),
    stateSha256,
    keySha256: fileSha256(src.keyFile),
    debCache: src.debCache,
    suites: [...src.suites],
    proxy: src.proxy,
    steps,
  };
}

/** Writes the digest (or removes a stale one when there is none); only a speed-up, so a failure is ignored. */
export function saveNoopDigest(stateDir: string, digest: NoopDigest | null): void {
  const file = digestFile(stateDir);
  try {
    if (digest === null) {
      fs.rmSync(file, { force: true });
      return;
    }
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(digest)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    // the next no-op takes the full path
  }
}

/** The digest on disk, or null when it is missing, unreadable or of another format. */
export function readNoopDigest(stateDir: string): NoopDigest | null {
  try {
    const data = JSON.parse(fs.readFileSync(digestFile(stateDir), 'utf8')) as NoopDigest;
    return data?.version === FORMAT_VERSION && Array.isArray(data.steps) && Array.isArray(data.suites) ? data : null;
  } catch {
    return null;
  }
}
