/** The shape of `<work-dir>/state/state.json`, and a small hand-written check of it. */
import type { BuildOutcome, Ledger, StepStatus } from '../src/types.js';

/** Bumped when the state file's shape changes; state/migrations.ts upgrades older files. */
export const STATE_SCHEMA_VERSION = 1;

export type BuildCommand = 'build' | 'resume';

/** A process group this work dir started, so a later run can recognise (and only ever signal) its own. */
export interface StateProcess {
  pgid: number;
  argv: string[];
  /** Start time of the group leader in clock ticks since boot, to tell a reused pid apart. */
  startTicks: number | null;
  startedAt: string;
}

export interface StateHistoryEntry {
  runId: string;
  command: BuildCommand;
  startedAt: string;
  endedAt: string | null;
  outcome: BuildOutcome;
}

/** One check of the session-safety invariant, written at the start of a run and after every step. */
export interface StateSafetyCheck {
  at: string;
  runId: string;
  /** null at the start of a run; else the step that just ended (or was current at the end). */
  step: string | null;
  phase: 'start' | 'step' | 'end';
  /** Signals this run has sent so far (all through the guard). */
  signalsSent: number;
  /** Signals the guard refused (each one a bug it stopped). */
  refused: number;
  /** Every signal sent went to a group we started or a verified leftover, never to us or an ancestor. */
  allOurs: boolean;
  /** Every ancestor recorded at the start of the run is still alive (same pid, same start time). */
  ancestorsAlive: boolean;
}

/** Session safety of the latest run: where it ran, its ancestors, each signal sent, and the checks. */
export interface StateSafety {
  session: { kind: 'ssh' | 'graphical' | 'console' | 'none'; tty: string | null; evidence: string[]; note: string };
  ancestors: Array<{ pid: number; comm: string; startTicks: number }>;
  signals: Array<{
    runId: string;
    at: string;
    target: number;
    signal: string;
    reason: string;
    authority: string;
    delivered: boolean;
  }>;
  checks: StateSafetyCheck[];
}

export interface StateFile {
  schemaVersion: number;
  /** Version of the machine that wrote `snapshot`; opaque to the store, compared by the engine. */
  machineVersion: string;
  /** Random, stable for the work dir; used as the env marker of our processes. */
  workId: string;
  /** Per build/resume invocation. */
  runId: string;
  profile: string;
  configSource: { profile: string; configFile: string | null };
  /** The resolved config used; null when there is none. */
  config: unknown;
  outcome: BuildOutcome;
  createdAt: string;
  updatedAt: string;
  /** Step ids in the order the profile runs them. */
  order: string[];
  ledger: Ledger;
  /** XState persisted snapshot, for status and inspection; resume is driven by the ledger. */
  snapshot: unknown | null;
  current: string | null;
  interruptSignal: string | null;
  processes: StateProcess[];
  history: StateHistoryEntry[];
  /** Why the build paused, when outcome is "paused". */
  pauseReason?: string | null;
  /** Host resource figures per step of the latest run: lowest free disk, peak memory in use, peak load. */
  resources?: Record<string, { minDiskFreeMb: number; peakMemUsedMb: number; peakLoad1: number; samples: number }>;
  /** The session-safety invariant, checked at the start of each run and after every step. */
  safety?: StateSafety;
}

const OUTCOMES: readonly BuildOutcome[] = ['running', 'succeeded', 'failed', 'interrupted', 'paused'];
const STEP_STATUSES: readonly StepStatus[] = [
  'pending',
  'running',
  'verifying',
  'retrying',
  'recovering',
  'done',
  'skipped',
  'failed',
  'interrupted',
];
const COMMANDS: readonly BuildCommand[] = ['build', 'resume'];

type Check = (value: unknown) => boolean;

const isString: Check = (v) => typeof v === 'string';
const isNullableString: Check = (v) => v === null || typeof v === 'string';
const isInteger: Check = (v) => Number.isInteger(v);
const isNullableInteger: Check = (v) => v === null || Number.isInteger(v);
const isStringArray: Check = (v) => Array.isArray(v) && v.every(isString);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPresent: Check = (v) => v !== undefined;
const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return typeof value;
}

/** Checks `record[key]`; pushes a problem naming `prefix.key` when it is missing or wrong. */
function checkField(
  problems: string[],
  record: Record<string, unknown>,
  prefix: string,
  key: string,
  check: Check,
  expected: string,
): void {
  const field = prefix ? `${prefix}.${key}` : key;
  const value = record[key];
  if (value === undefined) problems.push(`field ${field} is missing`);
  else if (!check(value)) problems.push(`field ${field} must be ${expected} (found ${describeValue(value)})`);
}

function checkLedger(problems: string[], ledger: Record<string, unknown>): void {
  for (const [key, entry] of Object.entries(ledger)) {
    const prefix = `ledger.${key}`;
    if (!isObject(entry)) {
      problems.push(`field ${prefix} must be an object (found ${describeValue(entry)})`);
      continue;
    }
    checkField(problems, entry, prefix, 'id', isString, 'a string');
    if (typeof entry['id'] === 'string' && entry['id'] !== key)
      problems.push(`field ${prefix}.id must equal its key "${key}" (found ${describeValue(entry['id'])})`);
    checkField(problems, entry, prefix, 'status', oneOf(STEP_STATUSES), `one of ${STEP_STATUSES.join(', ')}`);
  }
}

function checkList(
  problems: string[],
  list: unknown[],
  prefix: string,
  checkItem: (item: Record<string, unknown>, itemPrefix: string) => void,
): void {
  list.forEach((item, i) => {
    const itemPrefix = `${prefix}.${i}`;
    if (isObject(item)) checkItem(item, itemPrefix);
    else problems.push(`field ${itemPrefix} must be an object (found ${describeValue(item)})`);
  });
}

/** Problems with a parsed state file, as "field <path> ..." sentences; empty when it is usable. */
export function validateStateFile(data: unknown): string[] {
  if (!isObject(data)) return [`the state must be a JSON object (found ${describeValue(data)})`];
  const problems: string[] = [];
  const field = (key: string, check: Check, expected: string) => checkField(problems, data, '', key, check, expected);

  field('schemaVersion', isInteger, 'an integer');
  field('machineVersion', isString, 'a string');
  field('workId', isString, 'a string');
  field('runId', isString, 'a string');
  field('profile', isString, 'a string');
  field('configSource', isObject, 'an object');
  if (isObject(data['configSource'])) {
    checkField(problems, data['configSource'], 'configSource', 'profile', isString, 'a string');
    checkField(problems, data['configSource'], 'configSource', 'configFile', isNullableString, 'a string or null');
  }
  field('config', isPresent, 'present (null when there is none)');
  field('outcome', oneOf(OUTCOMES), `one of ${OUTCOMES.join(', ')}`);
  field('createdAt', isString, 'a string');
  field('updatedAt', isString, 'a string');
  field('order', isStringArray, 'an array of strings');
  field('ledger', isObject, 'an object');
  if (isObject(data['ledger'])) checkLedger(problems, data['ledger']);
  field('snapshot', (v) => v === null || isObject(v), 'an object or null');
  field('current', isNullableString, 'a string or null');
  field('interruptSignal', isNullableString, 'a string or null');
  field('processes', Array.isArray, 'an array');
  if (Array.isArray(data['processes'])) {
    checkList(problems, data['processes'], 'processes', (item, prefix) => {
      checkField(problems, item, prefix, 'pgid', isInteger, 'an integer');
      checkField(problems, item, prefix, 'argv', isStringArray, 'an array of strings');
      checkField(problems, item, prefix, 'startTicks', isNullableInteger, 'an integer or null');
      checkField(problems, item, prefix, 'startedAt', isString, 'a string');
    });
  }
  field('history', Array.isArray, 'an array');
  if (Array.isArray(data['history'])) {
    checkList(problems, data['history'], 'history', (item, prefix) => {
      checkField(problems, item, prefix, 'runId', isString, 'a string');
      checkField(problems, item, prefix, 'command', oneOf(COMMANDS), COMMANDS.join(' or '));
      checkField(problems, item, prefix, 'startedAt', isString, 'a string');
      checkField(problems, item, prefix, 'endedAt', isNullableString, 'a string or null');
      checkField(problems, item, prefix, 'outcome', oneOf(OUTCOMES), `one of ${OUTCOMES.join(', ')}`);
    });
  }
  if (data['safety'] !== undefined) {
    field('safety', isObject, 'an object');
    if (isObject(data['safety'])) {
      checkField(problems, data['safety'], 'safety', 'checks', Array.isArray, 'an array');
      checkField(problems, data['safety'], 'safety', 'signals', Array.isArray, 'an array');
    }
  }
  return problems;
}
