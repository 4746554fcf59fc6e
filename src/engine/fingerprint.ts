/**
 * A step's fingerprint: its version, its slice of the config, the contents of its input files,
 * and the fingerprint of the step before it. The material is kept so a plan can say what changed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isOwnFile, readOwnFile } from '../config/own-files.js';
import type { BuildConfig } from '../config/schema.js';
import { hideSecretParts, SECRET_FIELDS } from '../config/secrets.js';
import { valueAt } from '../config/value-at.js';
import {
  ARCHIVE_KEY_PREFIX,
  type ArchiveSuite,
  archiveEntry,
  PACKAGES_KEY_PREFIX,
  type ReleaseInfo,
  suiteKey,
} from '../runtime/archive-release.js';
import type { StepDef } from '../steps/types.js';
import type { FingerprintMaterial } from '../types.js';
import { InputHashCache } from './input-hash-cache.js';

/** JSON with object keys sorted, so equal values always hash the same. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function hashBytes(data: Buffer | null): string {
  return data === null ? 'missing' : crypto.createHash('sha256').update(data).digest('hex');
}

/** sha256 (hex) of a file's bytes, or `missing`: an input file in the material (also src/engine/noop-digest.ts). */
export function hashFile(file: string): string {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return 'missing';
  }
}

export interface EnvironmentInputs {
  /** SOURCE_DATE_EPOCH changes the bytes of the image, so it is an input of every step that writes them. */
  sourceDateEpoch: number | null;
  /**
   * The work dir's key (fingerprint-key.ts) for the keyed hash that stands for a secret field in the material.
   * null: the key could not be read (none yet, or `plan` run by a user who may not read it), and a secret field is
   * UNKNOWN_SECRET, which the planner reports as not comparable. Left out (tests): a key of this process.
   */
  secretKey?: Buffer | null;
  /**
   * Without the key (`plan` run by a user who may not read it), the keyed hashes the ledger kept for each step's
   * secret fields stand in for them: a secret is taken as unchanged, and the caller says it was not compared.
   */
  storedMaterial?: (stepId: string) => FingerprintMaterial | null | undefined;
  /** Hashes the files of the steps' input trees (overlays): once per build, reused across builds while unchanged. */
  hashCache?: InputHashCache;
  /**
   * The archive's Release files as read this run (a step's archiveSuites are in its material as `archive:` entries),
   * or --offline: each step keeps the entries its last run recorded, so its layer is kept. Left out (tests that do
   * not care): no archive entries.
   */
  archive?: ArchiveInputs;
}

export type ArchiveInputs =
  | { mode: 'checked'; releases: ReadonlyMap<string, ReleaseInfo> }
  | { mode: 'offline'; stored: (stepId: string) => FingerprintMaterial | null | undefined };

// a suite's key and entry in the material: src/runtime/archive-release.ts (the report, a step, reads them back)
export { ARCHIVE_KEY_PREFIX, archiveEntry } from '../runtime/archive-release.js';

const PROCESS_KEY = crypto.randomBytes(32);
/** What stands for a secret in material made without the work dir's key. */
export const UNKNOWN_SECRET = 'hmac-sha256:unknown';

/** What the material keeps of a secret: its HMAC-SHA256 under the work dir's key, never the value. */
export function keyedHash(value: unknown, key: Buffer | null): string {
  if (key === null) return UNKNOWN_SECRET;
  return `hmac-sha256:${crypto.createHmac('sha256', key).update(canonicalJson(value)).digest('hex')}`;
}

/** A keyed hash the ledger kept, standing in for a secret that cannot be hashed without the key. */
function storedHash(key: Buffer | null, stored: unknown): string | null {
  return key === null && typeof stored === 'string' && stored.startsWith('hmac-sha256:') ? stored : null;
}

/**
 * The value of `field` with every secret field at or below it replaced by its keyed hash (a copy; unset stays unset).
 * `stored` is the field's value in the ledger's material, used only when there is no key.
 */
export function sealSecrets(field: string, value: unknown, key: Buffer | null, stored?: unknown): unknown {
  // a field secret in part (a debconf password answer): each part by its keyed hash, the stored one's without a key
  let sealed = hideSecretParts(field, value, (secret, i) => {
    const same =
      Array.isArray(stored) && Array.isArray(value) && child(stored[i], 'question') === child(value[i], 'question');
    const was = same ? child((stored as unknown[])[i], 'value') : undefined;
    return storedHash(key, was) ?? keyedHash(secret, key);
  });
  for (const secret of SECRET_FIELDS) {
    if (secret === field) return storedHash(key, stored) ?? keyedHash(value, key);
    if (!secret.startsWith(`${field}.`)) continue;
    const rest = secret.slice(field.length + 1).split('.');
    sealed = sealAt(sealed, rest, key, stored);
  }
  return sealed;
}

function child(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

function sealAt(value: unknown, rest: readonly string[], key: Buffer | null, stored: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const [head, ...tail] = rest as [string, ...string[]];
  const obj = value as Record<string, unknown>;
  if (obj[head] === undefined) return value;
  const below = child(stored, head);
  return {
    ...obj,
    [head]:
      tail.length === 0 ? (storedHash(key, below) ?? keyedHash(obj[head], key)) : sealAt(obj[head], tail, key, below),
  };
}

/**
 * A suite's Packages indexes that the step uses, as material: `packages:<uri> <suite> main/binary-amd64/Packages` ->
 * `sha256:<hex>`, from the Release read this run (src/runtime/release-checksums.ts). A Release that lists none (or a
 * suite without components) adds nothing.
 */
export function packagesEntries(suite: ArchiveSuite, release: ReleaseInfo): Record<string, string> {
  const out: Record<string, string> = {};
  if (!release.packages || !suite.arch) return out;
  for (const component of suite.components ?? []) {
    const plain = `${component}/binary-${suite.arch}/Packages`;
    for (const p of [plain, `${plain}.gz`]) {
      const digest = release.packages[p];
      if (digest === undefined) continue;
      out[`${PACKAGES_KEY_PREFIX}${suiteKey(suite)} ${p}`] = `sha256:${digest}`;
      break;
    }
  }
  return out;
}

export function fingerprintMaterial(
  step: StepDef,
  config: BuildConfig,
  baseDir: string,
  previous: string | null,
  env: EnvironmentInputs,
): FingerprintMaterial {
  const slice: Record<string, unknown> = {};
  const key = env.secretKey === undefined ? PROCESS_KEY : env.secretKey;
  const stored = key === null ? env.storedMaterial?.(step.id)?.config : undefined;
  for (const field of step.configFields)
    slice[field] = sealSecrets(field, valueAt(config, field) ?? null, key, stored?.[field]);
  for (const [name, value] of Object.entries(step.pinned?.(config) ?? {})) slice[`pinned.${name}`] = value;
  // every step that writes the image: the layers too, since chroot commands get it (shadow's dates, the initrd)
  if (!step.hostOnly && env.sourceDateEpoch !== null) slice['env.SOURCE_DATE_EPOCH'] = env.sourceDateEpoch;
  const files: Record<string, string> = {};
  for (const file of step.inputFiles?.(config) ?? [])
    files[file] = isOwnFile(config, file)
      ? hashBytes(readOwnFile(config, baseDir, file)) // the very bytes the step will install
      : hashFile(path.resolve(baseDir, file));
  // the suites are asked for only when the archive was read (or --offline): without it there are no archive entries
  for (const suite of env.archive ? (step.archiveSuites?.(config) ?? []) : []) {
    const key = `${ARCHIVE_KEY_PREFIX}${suiteKey(suite)}`;
    if (env.archive?.mode === 'checked') {
      const release = env.archive.releases.get(suiteKey(suite));
      if (!release) throw new Error(`the archive suite ${suiteKey(suite)} of step ${step.id} was not read this run`);
      files[key] = archiveEntry(release);
      Object.assign(files, packagesEntries(suite, release));
    } else if (env.archive?.mode === 'offline') {
      // as the step's last run recorded it: --offline keeps the layer whatever the archive did since
      const stored = env.archive.stored(step.id)?.files ?? {};
      const kept = stored[key];
      if (kept !== undefined) files[key] = kept;
      const prefix = `${PACKAGES_KEY_PREFIX}${suiteKey(suite)} `;
      for (const [k, v] of Object.entries(stored)) if (k.startsWith(prefix)) files[k] = v;
    }
  }
  if (step.inputTree) {
    const cache = env.hashCache ?? new InputHashCache({ file: null });
    Object.assign(
      files,
      step.inputTree(config, baseDir, (handle, hostPath) => cache.hashHandle(handle, hostPath)),
    );
  }
  return { stepVersion: step.version, config: slice, files, previous };
}

export function fingerprintOf(stepId: string, material: FingerprintMaterial): string {
  return crypto
    .createHash('sha256')
    .update(canonicalJson({ stepId, ...material }))
    .digest('hex');
}

/**
 * Walks the steps' input trees (the overlays) without reading a file: what the fingerprint would refuse (a missing
 * directory, a FIFO, a bad manifest) is refused by this first, before a build touches the work dir.
 */
export function checkInputTrees(steps: readonly StepDef[], config: BuildConfig, baseDir: string): void {
  for (const step of steps) step.inputTree?.(config, baseDir, () => 'not read');
}

export interface StepFingerprint {
  id: string;
  fingerprint: string;
  material: FingerprintMaterial;
}

/** Fingerprints for the whole ordered step list: each one chained to the one before. */
export function fingerprintSteps(
  steps: readonly StepDef[],
  config: BuildConfig,
  baseDir: string,
  env: EnvironmentInputs,
): StepFingerprint[] {
  let previous: string | null = null;
  const withCache = { ...env, hashCache: env.hashCache ?? new InputHashCache({ file: null }) };
  return steps.map((step) => {
    const material = fingerprintMaterial(step, config, baseDir, previous, withCache);
    const fingerprint = fingerprintOf(step.id, material);
    previous = fingerprint;
    return { id: step.id, fingerprint, material };
  });
}
