/**
 * Expected times: how long each step took in earlier runs, and what it should take now.
 *
 * `<work-dir>/state/durations.json` keeps, per step id, the durations of the runs that ended with the step done,
 * each with the profile and the host it ran on. A step's expected time is the median of its last MEDIAN_OF runs
 * on this host for this profile: another machine or another profile does not mislead it, and a step whose inputs
 * changed (a new fingerprint) keeps its expected time, which is what `plan` needs to price a rerun. A failed,
 * interrupted or skipped step records nothing: its time says nothing about a whole run.
 *
 * The file lives beside state.json but apart from it: `--fresh` and `clean` (without --all) start a new ledger and
 * keep it; it is rewritten whole (temp file, fsync, rename) after each step that ends done. An unreadable file is
 * taken as no history and replaced by the next write. See docs/state-format.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Ledger } from '../src/types.js';
import { DurableJsonFileSync } from './durable-adapter.js';

export const DURATIONS_FILE = 'durations.json';
/** Samples kept per step; older ones are dropped. */
export const KEEP_PER_STEP = 20;
/** A step's expected time is the median of this many of its latest matching runs. */
export const MEDIAN_OF = 5;

export interface DurationSample {
  /** How long the step took, from its first attempt's start to its end, in milliseconds. */
  ms: number;
  /** When it ended (ISO 8601). */
  at: string;
  /** The config's name (the profile, or the name a config file gives itself). */
  profile: string;
  /** The host it ran on (os.hostname()). */
  host: string;
  runId: string;
  /** The step's fingerprint in that run, for the record; estimates do not filter on it. */
  fingerprint: string | null;
}

export interface DurationsFile {
  version: 1;
  steps: Record<string, DurationSample[]>;
}

/** Which runs count for an estimate: the same profile on the same host. */
export interface EstimateContext {
  profile: string;
  host: string;
}

export function durationsFile(stateDir: string): string {
  return path.join(stateDir, DURATIONS_FILE);
}

export function thisHost(): string {
  return os.hostname();
}

export function emptyDurations(): DurationsFile {
  return { version: 1, steps: {} };
}

function isSample(value: unknown): value is DurationSample {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return (
    typeof s['ms'] === 'number' &&
    Number.isFinite(s['ms']) &&
    s['ms'] >= 0 &&
    typeof s['at'] === 'string' &&
    typeof s['profile'] === 'string' &&
    typeof s['host'] === 'string' &&
    typeof s['runId'] === 'string' &&
    (s['fingerprint'] === null || typeof s['fingerprint'] === 'string')
  );
}

/** The samples in `data`, keeping only well-formed ones; anything else (a torn or foreign file) is no history. */
export function parseDurations(data: unknown): DurationsFile {
  const out = emptyDurations();
  if (typeof data !== 'object' || data === null || (data as { version?: unknown }).version !== 1) return out;
  const steps = (data as { steps?: unknown }).steps;
  if (typeof steps !== 'object' || steps === null || Array.isArray(steps)) return out;
  for (const [id, list] of Object.entries(steps)) {
    if (!Array.isArray(list)) continue;
    const samples = list.filter(isSample);
    if (samples.length) out.steps[id] = samples;
  }
  return out;
}

/** The recorded durations; none when the file is missing or cannot be read or parsed. */
export function readDurations(file: string): DurationsFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return emptyDurations();
  }
  try {
    return parseDurations(JSON.parse(text));
  } catch {
    return emptyDurations();
  }
}

/** `durations` with `sample` appended to the step's list, trimmed to the latest KEEP_PER_STEP. */
export function withSample(durations: DurationsFile, stepId: string, sample: DurationSample): DurationsFile {
  const list = [...(durations.steps[stepId] ?? []), sample].slice(-KEEP_PER_STEP);
  return { version: 1, steps: { ...durations.steps, [stepId]: list } };
}

/** Writes the file whole (temp file, fsync, rename: state's own writer); mode 0644, so `plan` as a user sees it. */
export function writeDurations(file: string, durations: DurationsFile): void {
  new DurableJsonFileSync<DurationsFile>(file, 0o644).write(durations);
}

/** Adds one sample to the file (read, append, write). */
export function recordDuration(file: string, stepId: string, sample: DurationSample): void {
  writeDurations(file, withSample(readDurations(file), stepId, sample));
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The step's expected time: the median of its latest MEDIAN_OF runs for this profile on this host; else null. */
export function expectedMs(durations: DurationsFile, stepId: string, context: EstimateContext): number | null {
  const matching = (durations.steps[stepId] ?? []).filter(
    (s) => s.profile === context.profile && s.host === context.host,
  );
  const m = median(matching.slice(-MEDIAN_OF).map((s) => s.ms));
  return m === null ? null : Math.round(m);
}

/** The expected time of each step that has one. */
export function expectedTimes(
  durations: DurationsFile,
  ids: readonly string[],
  context: EstimateContext,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) {
    const ms = expectedMs(durations, id, context);
    if (ms !== null) out[id] = ms;
  }
  return out;
}

/**
 * The steps that ended done in this transition, with their durations: what a build records. A step that failed,
 * was interrupted, is retrying or was skipped records nothing.
 */
export function completedRuns(
  before: Ledger,
  after: Ledger,
): Array<{ id: string; ms: number; fingerprint: string | null }> {
  const out: Array<{ id: string; ms: number; fingerprint: string | null }> = [];
  for (const entry of Object.values(after)) {
    if (entry.status !== 'done' || entry.durationMs === null) continue;
    const was = before[entry.id];
    if (was?.status === 'done' && was.runId === entry.runId) continue;
    out.push({ id: entry.id, ms: entry.durationMs, fingerprint: entry.fingerprint });
  }
  return out;
}

/** A duration as a clock: `0:07`, `2:20`, `1:02:03`. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** What is left of a running build, from the expected times: the live page's ETA. */
export interface Eta {
  /** The expected time of the steps still to run, less what the running ones have already taken. */
  remainingMs: number;
  /** now + remainingMs, ISO 8601. */
  endsAt: string;
  /** Steps still to run that have no expected time: the ETA leaves them out. */
  withoutHistory: string[];
}

const FINISHED = new Set(['done', 'skipped']);
const RUNNING = new Set(['running', 'verifying', 'retrying', 'recovering']);

/**
 * The ETA of a running build: each step not yet done or skipped costs its expected time (a running one, what is
 * left of it, never below 0). The build resets every step it will run to pending, so a pending step is one to run.
 * Null when none of the steps left has an expected time.
 */
export function estimateRemaining(
  order: readonly string[],
  ledger: Ledger,
  expected: Readonly<Record<string, number>>,
  now: number,
): Eta | null {
  let remainingMs = 0;
  let known = 0;
  const withoutHistory: string[] = [];
  for (const id of order) {
    const entry = ledger[id];
    if (entry && FINISHED.has(entry.status)) continue;
    const ms = expected[id];
    if (ms === undefined) {
      withoutHistory.push(id);
      continue;
    }
    known++;
    const started = entry && RUNNING.has(entry.status) && entry.startedAt ? Date.parse(entry.startedAt) : null;
    remainingMs += started === null || Number.isNaN(started) ? ms : Math.max(0, ms - (now - started));
  }
  if (known === 0) return null;
  return { remainingMs, endsAt: new Date(now + remainingMs).toISOString(), withoutHistory };
}
