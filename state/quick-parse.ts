/**
 * The state file's shape checked without zod, for the commands that must start fast (`ailinux status`; issue 11,
 * point 7). zod's classic build is about 95 modules, half of `status`'s start-up. This checker mirrors
 * stateFileSchema (state/schema.ts) field by field and returns what zod's parse would: the same values, unknown keys
 * dropped, each object's keys in the schema's order. It only ever says yes or "ask zod": anything it is not sure of
 * (a missing field, a wrong kind, a key named __proto__) is null, and the reader then runs the full check, whose
 * errors are the ones users see. tests/unit/state-quick-parse.test.ts holds it to zod: the two schemas must describe
 * the same shape, and on valid and broken states its answer must be zod's.
 */
import type { StateFile } from './schema.js';

const FAIL: unique symbol = Symbol('not sure');
type Out = unknown;

/** One field's check: `d` describes it (the test compares it with zod's schema), `p` parses or gives FAIL. */
export interface QuickSchema {
  readonly d: string;
  readonly p: (value: unknown) => Out | typeof FAIL;
  /** May be absent from its object (zod's .optional()). */
  readonly optional?: true;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const text: QuickSchema = { d: 'string', p: (v) => (typeof v === 'string' ? v : FAIL) };
const int: QuickSchema = { d: 'int', p: (v) => (Number.isSafeInteger(v) ? v : FAIL) };
const count: QuickSchema = { d: 'int>=0', p: (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? v : FAIL) };
const num: QuickSchema = { d: 'number', p: (v) => (typeof v === 'number' && Number.isFinite(v) ? v : FAIL) };
const size: QuickSchema = {
  d: 'number>=0',
  p: (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : FAIL),
};
const bool: QuickSchema = { d: 'boolean', p: (v) => (typeof v === 'boolean' ? v : FAIL) };
const unknown: QuickSchema = { d: 'unknown', p: (v) => v };
/** The snapshot: zod's custom check, an object or null. */
const objectOrNull: QuickSchema = { d: 'custom', p: (v) => (v === null || isObject(v) ? v : FAIL) };

function oneOf(values: readonly string[]): QuickSchema {
  return { d: `enum(${values.join('|')})`, p: (v) => (typeof v === 'string' && values.includes(v) ? v : FAIL) };
}

function nullable(inner: QuickSchema): QuickSchema {
  return { d: `nullable(${inner.d})`, p: (v) => (v === null ? null : inner.p(v)) };
}

function optional(inner: QuickSchema): QuickSchema {
  return { d: `optional(${inner.d})`, p: inner.p, optional: true };
}

function list(item: QuickSchema): QuickSchema {
  return {
    d: `array(${item.d})`,
    p: (v) => {
      if (!Array.isArray(v)) return FAIL;
      const out: unknown[] = [];
      for (const x of v) {
        const y = item.p(x);
        if (y === FAIL) return FAIL;
        out.push(y);
      }
      return out;
    },
  };
}

/** A record with string keys; `refine` is a check of the whole (the ledger's id = key). */
function record(
  value: QuickSchema,
  refine?: { d: string; ok: (out: Record<string, unknown>) => boolean },
): QuickSchema {
  return {
    d: `record(${value.d})${refine ? `+${refine.d}` : ''}`,
    p: (v) => {
      if (!isObject(v) || Object.getPrototypeOf(v) !== Object.prototype) return FAIL;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v)) {
        if (key === '__proto__') return FAIL;
        const y = value.p(v[key]);
        if (y === FAIL) return FAIL;
        out[key] = y;
      }
      return refine && !refine.ok(out) ? FAIL : out;
    },
  };
}

/** An object: the shape's keys in the shape's order, others dropped; a required key must be there. */
function object(shape: Record<string, QuickSchema>): QuickSchema & { shape: Record<string, QuickSchema> } {
  const keys = Object.keys(shape);
  return {
    shape,
    d: `object{${keys.map((k) => `${k}:${shape[k]!.d}`).join(',')}}`,
    p: (v) => {
      if (!isObject(v)) return FAIL;
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        const field = shape[key]!;
        if (!Object.hasOwn(v, key)) {
          if (field.optional) continue;
          return FAIL;
        }
        const y = field.p(v[key]);
        if (y === FAIL) return FAIL;
        out[key] = y;
      }
      return out;
    },
  };
}

const nullableText = nullable(text);
const BUILD_OUTCOMES = ['running', 'succeeded', 'failed', 'interrupted', 'paused'];
const STEP_STATUSES = [
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

const ledgerEntry = object({
  id: text,
  status: oneOf(STEP_STATUSES),
  fingerprint: nullableText,
  material: nullable(
    object({ stepVersion: int, config: record(unknown), files: record(text), previous: nullableText }),
  ),
  attempts: count,
  startedAt: nullableText,
  endedAt: nullableText,
  durationMs: nullable(size),
  artifacts: list(object({ path: text, kind: oneOf(['file', 'dir']), size: optional(count), sha256: optional(text) })),
  error: nullable(
    object({
      message: text,
      code: text,
      transient: bool,
      command: optional(text),
      exitCode: optional(nullable(int)),
      signal: optional(nullableText),
      stderrTail: optional(text),
      hint: optional(text),
      hintArgv: optional(list(text)),
    }),
  ),
  reason: nullableText,
  runId: nullableText,
});

/** The state file as state/schema.ts's stateFileSchema describes it. */
export const QUICK_STATE_SCHEMA = object({
  schemaVersion: int,
  machineVersion: text,
  workId: text,
  runId: text,
  profile: text,
  configSource: object({ profile: text, configFile: nullableText }),
  config: unknown,
  outcome: oneOf(BUILD_OUTCOMES),
  createdAt: text,
  updatedAt: text,
  order: list(text),
  ledger: record(ledgerEntry, {
    d: 'idIsKey',
    ok: (ledger) => Object.entries(ledger).every(([key, entry]) => (entry as { id: string }).id === key),
  }),
  snapshot: objectOrNull,
  current: nullableText,
  interruptSignal: nullableText,
  processes: list(object({ pgid: int, argv: list(text), startTicks: nullable(int), startedAt: text })),
  history: list(
    object({
      runId: text,
      command: oneOf(['build', 'resume']),
      startedAt: text,
      endedAt: nullableText,
      outcome: oneOf(BUILD_OUTCOMES),
    }),
  ),
  pauseReason: optional(nullableText),
  resources: optional(record(object({ minDiskFreeMb: num, peakMemUsedMb: num, peakLoad1: num, samples: int }))),
  safety: optional(
    object({
      session: object({
        kind: oneOf(['ssh', 'graphical', 'console', 'none']),
        tty: nullableText,
        evidence: list(text),
        note: text,
      }),
      ancestors: list(object({ pid: int, comm: text, startTicks: int })),
      signals: list(
        object({
          runId: text,
          at: text,
          target: int,
          signal: text,
          reason: text,
          authority: text,
          delivered: bool,
        }),
      ),
      checks: list(
        object({
          at: text,
          runId: text,
          step: nullableText,
          phase: oneOf(['start', 'step', 'end']),
          signalsSent: int,
          refused: int,
          allOurs: bool,
          ancestorsAlive: bool,
        }),
      ),
    }),
  ),
  userFlags: optional(object({ chdir: optional(text), workDir: optional(text), config: optional(text) })),
  workDirMark: optional(object({ id: text, createdAt: text })),
  archive: optional(
    object({
      mode: oneOf(['checked', 'offline']),
      at: text,
      suites: list(
        object({
          uri: text,
          suite: text,
          url: text,
          file: text,
          sha256: text,
          date: nullableText,
          packages: optional(record(text)),
        }),
      ),
    }),
  ),
});

/** The state as zod's stateFileSchema would parse it; null when this check is not sure (then ask zod). */
export function quickParseState(data: unknown): StateFile | null {
  const out = QUICK_STATE_SCHEMA.p(data);
  return out === FAIL ? null : (out as StateFile);
}
