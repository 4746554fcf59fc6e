/**
 * The planner: config fingerprints + ledger -> what a build would run or skip, and why.
 * Pure: the caller passes in the fingerprints and how to check that artifacts are still there.
 */
import {
  IN_FLIGHT_STATUSES,
  type Artifact,
  type FingerprintMaterial,
  type Ledger,
  type LedgerEntry,
  type StepStatus,
} from '../types.js';
import { holdsSecret } from '../config/secrets.js';
import { ARCHIVE_KEY_PREFIX, PACKAGES_KEY_PREFIX, parseArchiveEntry } from '../runtime/archive-release.js';
import type { StepFingerprint } from './fingerprint.js';
import { canonicalJson, UNKNOWN_SECRET } from './fingerprint.js';

export interface PlanEntry {
  id: string;
  action: 'run' | 'skip';
  /** Why: for a skip, what makes the checkpoint reusable; for a run, every reason it must run. */
  reasons: string[];
  fingerprint: string;
  material: FingerprintMaterial;
  /** The step left work behind (it was running, interrupted or failed), which its undo removes first. */
  undoFirst: boolean;
}

const REUSABLE = new Set(['done', 'skipped']);
/** A step that started and did not end: in flight when the build stopped, or interrupted. */
const UNFINISHED: ReadonlySet<StepStatus> = new Set([...IN_FLIGHT_STATUSES, 'interrupted']);

export function planBuild(
  fingerprints: readonly StepFingerprint[],
  ledger: Ledger,
  artifactPresent: (artifact: Artifact) => boolean,
): PlanEntry[] {
  let rerunFrom: string | null = null;
  return fingerprints.map(({ id, fingerprint, material }) => {
    const entry = ledger[id];
    const reasons = entry
      ? reasonsToRun(entry, material, fingerprint, artifactPresent)
      : ['it has never run in this work dir'];
    if (reasons.length === 0 && rerunFrom !== null) reasons.push(`an earlier step (${rerunFrom}) runs again`);
    // The chain changed with no earlier step rerunning: a step before it was added, removed or reordered.
    else if (reasons.length === 0 && entry?.material && entry.material.previous !== material.previous) {
      reasons.push('the steps before it changed (one was added, removed or reordered)');
    }
    const undoFirst = entry !== undefined && (UNFINISHED.has(entry.status) || entry.status === 'failed');
    if (reasons.length > 0) {
      rerunFrom ??= id;
      return { id, action: 'run' as const, reasons, fingerprint, material, undoFirst };
    }
    const when = entry?.endedAt ? ` (${entry.endedAt})` : '';
    return {
      id,
      action: 'skip' as const,
      reasons: [`inputs unchanged since its last run${when}`],
      fingerprint,
      material,
      undoFirst: false,
    };
  });
}

function reasonsToRun(
  entry: LedgerEntry,
  material: FingerprintMaterial,
  fingerprint: string,
  artifactPresent: (a: Artifact) => boolean,
): string[] {
  if (UNFINISHED.has(entry.status)) {
    return [`it was ${entry.status} when the last build stopped; its partial work is undone first`];
  }
  if (entry.status === 'failed') {
    return [`it failed last time${entry.error ? `: ${entry.error.message}` : ''}`];
  }
  if (!REUSABLE.has(entry.status) || entry.fingerprint === null || entry.material === null) {
    return ['it has not completed in this work dir'];
  }
  const reasons = entry.fingerprint === fingerprint ? [] : describeChanges(entry.material, material);
  // A change that only flows in from the step before is reported as that step's rerun, by the caller.
  if (entry.fingerprint !== fingerprint && reasons.length === 0 && entry.material.previous === material.previous)
    reasons.push('its fingerprint changed');
  for (const artifact of entry.artifacts) {
    if (!artifactPresent(artifact)) reasons.push(`its output ${artifact.path} is missing or was changed`);
  }
  return reasons;
}

/** What differs between two fingerprint materials, in words a user can act on. */
export function describeChanges(before: FingerprintMaterial, after: FingerprintMaterial): string[] {
  const out: string[] = [];
  if (before.stepVersion !== after.stepVersion) {
    out.push(`the step's implementation changed (version ${before.stepVersion} -> ${after.stepVersion})`);
  }
  const fields = new Set([...Object.keys(before.config), ...Object.keys(after.config)]);
  for (const field of [...fields].sort()) {
    const a = before.config[field];
    const b = after.config[field];
    if (canonicalJson(a) !== canonicalJson(b)) out.push(describeFieldChange(field, a, b));
  }
  const files = new Set([...Object.keys(before.files), ...Object.keys(after.files)]);
  for (const file of [...files].sort()) {
    const a = before.files[file];
    const b = after.files[file];
    if (a === b) continue;
    if (file.startsWith(OVERLAY_KEY)) out.push(describeOverlayChange(file.slice(OVERLAY_KEY.length), a, b));
    else if (file.startsWith(HOOK_KEY)) out.push(describeHookChange(file.slice(HOOK_KEY.length), a, b));
    else if (file.startsWith(ARCHIVE_KEY_PREFIX))
      out.push(describeArchiveChange(file.slice(ARCHIVE_KEY_PREFIX.length), a, b));
    else if (file.startsWith(PACKAGES_KEY_PREFIX))
      out.push(describePackagesChange(file.slice(PACKAGES_KEY_PREFIX.length), a, b));
    else if (file.startsWith(LOCAL_PACKAGE_KEY)) {
      const name = file.slice(LOCAL_PACKAGE_KEY.length);
      out.push(`local package ${name} ${a === undefined ? 'added' : b === undefined ? 'removed' : 'changed'}`);
    } else if (a === undefined) out.push(`input file ${file} is new`);
    else if (b === undefined) out.push(`input file ${file} is no longer used`);
    else if (b === 'missing') out.push(`input file ${file} is missing`);
    else out.push(`input file ${file} changed`);
  }
  return out;
}

/** `archive noble-updates changed (Release of 2026-12-01T… -> 2026-12-07T…)`; the URI is in the key, the suite last. */
function describeArchiveChange(key: string, a: string | undefined, b: string | undefined): string {
  const suite = key.slice(key.lastIndexOf(' ') + 1);
  const where = key.slice(0, key.lastIndexOf(' '));
  const date = (v: string) => parseArchiveEntry(`${ARCHIVE_KEY_PREFIX}${key}`, v)?.date ?? 'unknown';
  if (a === undefined)
    return `archive ${suite} is not among its last run's inputs (now the Release of ${date(b!)} at ${where})`;
  if (b === undefined) return `archive ${suite} is no longer used (${where})`;
  if (date(a) === date(b)) return `archive ${suite} changed (Release of ${date(a)}, republished with other contents)`;
  return `archive ${suite} changed (Release of ${date(a)} -> ${date(b)})`;
}

/** `archive bookworm: main/binary-amd64/Packages changed (sha256 ab12cd34ef56 -> 0f1e2d3c4b5a)`. */
function describePackagesChange(key: string, a: string | undefined, b: string | undefined): string {
  const [, suite, index] = key.split(' ');
  const short = (v: string) => v.replace(/^sha256:/, '').slice(0, 12);
  if (a === undefined) return `archive ${suite}: ${index} is new among its inputs (sha256 ${short(b!)})`;
  if (b === undefined) return `archive ${suite}: ${index} is no longer used`;
  return `archive ${suite}: ${index} changed (sha256 ${short(a)} -> ${short(b)})`;
}

/** The prefix of a hook script's key in the material (HOOK_KEY_PREFIX of src/steps/hooks.ts). */
const HOOK_KEY = 'hook:';

/** A hook script's value is `script <path> sha256:<hex>`: `hook motd changed (its script hooks/motd.sh)`. */
function describeHookChange(name: string, a: string | undefined, b: string | undefined): string {
  const script = (v: string) => v.replace(/^script /, '').replace(/ sha256:[0-9a-f]+$/, '');
  if (a === undefined) return `hook ${name} is new`;
  if (b === undefined) return `hook ${name} is no longer run`;
  if (script(a) !== script(b)) return `hook ${name} changed (script ${script(a)} -> ${script(b)})`;
  return `hook ${name} changed (its script ${script(b)})`;
}

/** The prefix of an overlay entry's key in the material (OVERLAY_KEY_PREFIX of src/steps/overlays.ts). */
const OVERLAY_KEY = 'overlay:';
/** The prefix of a local package's key (LOCAL_PACKAGE_KEY_PREFIX of src/steps/local-packages.ts). */
const LOCAL_PACKAGE_KEY = 'local-package:';
const KIND_WORD: Record<string, string> = { file: 'file', dir: 'directory', symlink: 'symlink' };

/** An overlay entry's value (describeEntry): `file 0644 0:0 sha256:...`, `dir 0755 0:0`, `symlink 0:0 -> target`. */
function parseOverlayValue(v: string): { kind: string; mode: string; owner: string; rest: string } {
  const [kind = '', ...words] = v.split(' ');
  if (kind === 'symlink') return { kind, mode: '', owner: words[0] ?? '', rest: words.slice(2).join(' ') };
  return { kind, mode: words[0] ?? '', owner: words[1] ?? '', rest: words.slice(2).join(' ') };
}

/** `overlay file etc/motd changed`, `... added`, `... removed`, with what changed when it is not the content. */
function describeOverlayChange(rel: string, a: string | undefined, b: string | undefined): string {
  const before = a === undefined ? null : parseOverlayValue(a);
  const after = b === undefined ? null : parseOverlayValue(b);
  const word = (p: { kind: string }) => KIND_WORD[p.kind] ?? p.kind;
  if (before === null) return `overlay ${word(after!)} ${rel} added`;
  if (after === null) return `overlay ${word(before)} ${rel} removed`;
  if (before.kind !== after.kind) return `overlay ${rel} changed (${word(before)} -> ${word(after)})`;
  const what: string[] = [];
  if (before.mode !== after.mode) what.push(`mode ${before.mode} -> ${after.mode}`);
  if (before.owner !== after.owner) what.push(`owner ${before.owner} -> ${after.owner}`);
  if (before.rest !== after.rest && after.kind === 'symlink') what.push(`target ${before.rest} -> ${after.rest}`);
  else if (before.rest !== after.rest && after.kind === 'dir') what.push('named in the manifest or not');
  else if (before.rest !== after.rest && what.length > 0) what.push('content');
  return `overlay ${word(after)} ${rel} changed${what.length ? ` (${what.join(', ')})` : ''}`;
}

function describeFieldChange(field: string, a: unknown, b: unknown): string {
  const label = field.startsWith('env.')
    ? `environment ${field.slice(4)}`
    : field.startsWith('pinned.')
      ? `the pinned ${field.slice(7)} built into ailinux`
      : `config field ${field}`;
  // a secret's values (even its keyed hash, or the plain text an older state may hold) are never shown
  if (holdsSecret(field) && b === UNKNOWN_SECRET)
    return `${label} cannot be compared without the work dir's key (state/fingerprint.key: none yet, or readable by root only)`;
  if (holdsSecret(field) && !(isObject(a) && isObject(b))) return `${label} changed`;
  if (field === 'debconf' && Array.isArray(a) && Array.isArray(b)) return describeAnswers(label, a, b);
  if (Array.isArray(a) && Array.isArray(b) && [...a, ...b].every((x) => typeof x === 'string')) {
    const added = (b as string[]).filter((x) => !(a as string[]).includes(x));
    const removed = (a as string[]).filter((x) => !(b as string[]).includes(x));
    const parts = [
      added.length ? `added ${added.join(', ')}` : '',
      removed.length ? `removed ${removed.join(', ')}` : '',
    ].filter(Boolean);
    return `${label} changed (${parts.length ? parts.join('; ') : 'reordered'})`;
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])]
      .filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]))
      .sort();
    return keys.map((k) => describeFieldChange(`${field}.${k}`, a[k], b[k])).join('; ');
  }
  return `${label} changed (${short(a)} -> ${short(b)})`;
}

/** The debconf answers that were added, removed or changed, by question; a password answer's value is never shown. */
function describeAnswers(label: string, a: readonly unknown[], b: readonly unknown[]): string {
  const byQuestion = (list: readonly unknown[]) =>
    new Map(list.filter(isObject).map((x) => [`${String(x['question'])}`, x] as const));
  const before = byQuestion(a);
  const after = byQuestion(b);
  const parts: string[] = [];
  for (const [q, x] of after) {
    const was = before.get(q);
    if (!was) parts.push(`added ${q}`);
    else if (canonicalJson(was) !== canonicalJson(x)) {
      const secret = x['type'] === 'password' || was['type'] === 'password';
      parts.push(secret ? `${q} changed` : `${q} changed (${short(was['value'])} -> ${short(x['value'])})`);
    }
  }
  for (const q of before.keys()) if (!after.has(q)) parts.push(`removed ${q}`);
  return `${label} changed (${parts.length ? parts.join('; ') : 'reordered'})`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function short(v: unknown): string {
  const text = v === undefined ? 'unset' : JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
