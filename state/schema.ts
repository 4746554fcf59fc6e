/** The shape of `<work-dir>/state/state.json`: its zod schema, the types derived from it, and its check. */
import { z } from 'zod';
import { buildOutcomeSchema, ledgerSchema, mustBe } from '../src/state-types.js';

export { STATE_SCHEMA_VERSION } from './version.js';

const text = z.string(mustBe('a string'));
const nullableText = z.string(mustBe('a string or null')).nullable();
const integer = z.int(mustBe('an integer'));
const textList = z.array(text, mustBe('an array of strings'));
const object = <T extends z.ZodRawShape>(shape: T) => z.object(shape, mustBe('an object'));

const buildCommandSchema = z.enum(['build', 'resume'], mustBe('build or resume'));
export type BuildCommand = z.infer<typeof buildCommandSchema>;

/** A process group this work dir started, so a later run can recognise (and only ever signal) its own. */
const stateProcessSchema = object({
  pgid: integer,
  argv: textList,
  /** Start time of the group leader in clock ticks since boot, to tell a reused pid apart. */
  startTicks: z.int(mustBe('an integer or null')).nullable(),
  startedAt: text,
});
export type StateProcess = z.infer<typeof stateProcessSchema>;

const stateHistoryEntrySchema = object({
  runId: text,
  command: buildCommandSchema,
  startedAt: text,
  endedAt: nullableText,
  outcome: buildOutcomeSchema,
});
export type StateHistoryEntry = z.infer<typeof stateHistoryEntrySchema>;

/** One check of the session-safety invariant, written at the start of a run and after every step. */
const stateSafetyCheckSchema = object({
  at: text,
  runId: text,
  /** null at the start of a run; else the step that just ended (or was current at the end). */
  step: nullableText,
  phase: z.enum(['start', 'step', 'end'], mustBe('start, step or end')),
  /** Signals this run has sent so far (all through the guard). */
  signalsSent: integer,
  /** Signals the guard refused (each one a bug it stopped). */
  refused: integer,
  /** Every signal sent went to a group we started or a verified leftover, never to us or an ancestor. */
  allOurs: z.boolean(mustBe('true or false')),
  /** Every ancestor recorded at the start of the run is still alive (same pid, same start time). */
  ancestorsAlive: z.boolean(mustBe('true or false')),
});
export type StateSafetyCheck = z.infer<typeof stateSafetyCheckSchema>;

/** Session safety of the latest run: where it ran, its ancestors, each signal sent, and the checks. */
const stateSafetySchema = object({
  session: object({
    kind: z.enum(['ssh', 'graphical', 'console', 'none'], mustBe('ssh, graphical, console or none')),
    tty: nullableText,
    evidence: textList,
    note: text,
  }),
  ancestors: z.array(object({ pid: integer, comm: text, startTicks: integer }), mustBe('an array')),
  signals: z.array(
    object({
      runId: text,
      at: text,
      target: integer,
      signal: text,
      reason: text,
      authority: text,
      delivered: z.boolean(mustBe('true or false')),
    }),
    mustBe('an array'),
  ),
  checks: z.array(stateSafetyCheckSchema, mustBe('an array')),
});
export type StateSafety = z.infer<typeof stateSafetySchema>;

/** Host resource figures of one step: lowest free disk, peak memory in use, peak load, and how many samples. */
const stepResourcesSchema = object({
  minDiskFreeMb: z.number(mustBe('a number')),
  peakMemUsedMb: z.number(mustBe('a number')),
  peakLoad1: z.number(mustBe('a number')),
  samples: integer,
});

export const stateFileSchema = object({
  schemaVersion: integer,
  /** Version of the machine that wrote `snapshot`; opaque to the store, compared by the engine. */
  machineVersion: text,
  /** Random, stable for the work dir; used as the env marker of our processes. */
  workId: text,
  /** Per build/resume invocation. */
  runId: text,
  profile: text,
  configSource: object({ profile: text, configFile: nullableText }),
  /** The resolved config used; null when there is none (the config's own schema checks it when it is used). */
  config: z.unknown(),
  outcome: buildOutcomeSchema,
  createdAt: text,
  updatedAt: text,
  /** Step ids in the order the profile runs them. */
  order: textList,
  ledger: ledgerSchema,
  /** XState persisted snapshot, for status and inspection; resume is driven by the ledger. */
  snapshot: z.custom<unknown>(
    (v) => v === null || (typeof v === 'object' && !Array.isArray(v)),
    mustBe('an object or null'),
  ),
  current: nullableText,
  interruptSignal: nullableText,
  processes: z.array(stateProcessSchema, mustBe('an array')),
  history: z.array(stateHistoryEntrySchema, mustBe('an array')),
  /** Why the build paused, when outcome is "paused". */
  pauseReason: nullableText.optional(),
  /** Host resource figures per step of the latest run. */
  resources: z.record(z.string(), stepResourcesSchema, mustBe('an object')).optional(),
  /** The session-safety invariant, checked at the start of each run and after every step. */
  safety: stateSafetySchema.optional(),
  /**
   * The flags the user typed for the latest build or resume (-C, --work-dir, --config; not defaults, not what
   * ailinux found), as typed, so the fix lines the report and inspect show later carry them as the CLI's do.
   * Absent in states from before it.
   */
  userFlags: object({ chdir: text.optional(), workDir: text.optional(), config: text.optional() }).optional(),
  /** The mark (`.ailinux-work-dir`) of the work dir this state was written in; absent in states from before it. */
  workDirMark: object({ id: text, createdAt: text }).optional(),
  /**
   * The archive as the latest build or resume found it: each suite's Release file (its URL, digest and Date:), or
   * `offline` when --offline kept the layers without looking. Absent in states from before it.
   */
  archive: object({
    mode: z.enum(['checked', 'offline'], mustBe('checked or offline')),
    at: text,
    suites: z.array(
      object({
        uri: text,
        suite: text,
        url: text,
        file: text,
        sha256: text,
        date: nullableText,
        /** The Release's sha256 of each Packages index the build uses, by path; absent in states from before it. */
        packages: z.record(z.string(), text, mustBe('an object')).optional(),
      }),
      mustBe('an array'),
    ),
  }).optional(),
});
export type StateFile = z.infer<typeof stateFileSchema>;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}

/** One zod issue as a sentence that names the field; every schema above words its issue as "must …". */
function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.map(String).join('.');
  if (issue.input === undefined) return `field ${field} is missing`;
  return `field ${field} ${issue.message} (found ${describeValue(issue.input)})`;
}

/** The state, typed, or the problems with it as "field <path> ..." sentences. */
export function parseStateFile(data: unknown): { state: StateFile } | { problems: string[] } {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    return { problems: [`the state must be a JSON object (found ${describeValue(data)})`] };
  // the fallback words an issue no schema above words itself
  const result = stateFileSchema.safeParse(data, { reportInput: true, error: () => 'must be valid' });
  if (result.success) return { state: result.data };
  return { problems: result.error.issues.map(describeIssue) };
}

/** Problems with a parsed state file, as "field <path> ..." sentences; empty when it is usable. */
export function validateStateFile(data: unknown): string[] {
  const parsed = parseStateFile(data);
  return 'problems' in parsed ? parsed.problems : [];
}
