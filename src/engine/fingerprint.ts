/**
 * A step's fingerprint: its version, its slice of the config, the contents of its input files,
 * and the fingerprint of the step before it. The material is kept so a plan can say what changed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { valueAt } from '../config/value-at.js';
import type { StepDef } from '../steps/types.js';
import type { FingerprintMaterial } from '../types.js';

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

function hashFile(file: string): string {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return 'missing';
  }
}

export interface EnvironmentInputs {
  /** SOURCE_DATE_EPOCH changes the bytes of the image, so it is an input of every step that writes them. */
  sourceDateEpoch: number | null;
}

export function fingerprintMaterial(
  step: StepDef,
  config: BuildConfig,
  baseDir: string,
  previous: string | null,
  env: EnvironmentInputs,
): FingerprintMaterial {
  const slice: Record<string, unknown> = {};
  for (const field of step.configFields) slice[field] = valueAt(config, field) ?? null;
  if (step.layer === 'none' && !step.hostOnly && env.sourceDateEpoch !== null)
    slice['env.SOURCE_DATE_EPOCH'] = env.sourceDateEpoch;
  const files: Record<string, string> = {};
  for (const file of step.inputFiles?.(config) ?? []) files[file] = hashFile(path.resolve(baseDir, file));
  return { stepVersion: step.version, config: slice, files, previous };
}

export function fingerprintOf(stepId: string, material: FingerprintMaterial): string {
  return crypto
    .createHash('sha256')
    .update(canonicalJson({ stepId, ...material }))
    .digest('hex');
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
  return steps.map((step) => {
    const material = fingerprintMaterial(step, config, baseDir, previous, env);
    const fingerprint = fingerprintOf(step.id, material);
    previous = fingerprint;
    return { id: step.id, fingerprint, material };
  });
}
