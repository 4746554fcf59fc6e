/**
 * The zod schemas of the ledger and the build outcome, and the types derived from them. src/types.ts
 * re-exports the types and state/schema.ts builds the state file's schema on these, so the machine,
 * the engine and the store share one definition and every import points down (docs/state-format.md).
 */
import { z } from 'zod';

/** The issue text of a field: the store prints it as "field <path> must be <what> (found <value>)". */
export const mustBe = (what: string) => ({ error: `must be ${what}` });

export const STEP_STATUSES = [
  'pending',
  'running',
  'verifying',
  'retrying',
  'recovering',
  'done',
  'skipped',
  'failed',
  'interrupted',
] as const;
export const stepStatusSchema = z.enum(STEP_STATUSES, mustBe(`one of ${STEP_STATUSES.join(', ')}`));
export type StepStatus = z.infer<typeof stepStatusSchema>;

/** paused: stopped cleanly for lack of a resource (disk); resumable once it is freed. */
export const BUILD_OUTCOMES = ['running', 'succeeded', 'failed', 'interrupted', 'paused'] as const;
export const buildOutcomeSchema = z.enum(BUILD_OUTCOMES, mustBe(`one of ${BUILD_OUTCOMES.join(', ')}`));
export type BuildOutcome = z.infer<typeof buildOutcomeSchema>;

export const artifactSchema = z.object(
  {
    /** Path relative to the work dir. */
    path: z.string(mustBe('a string')),
    kind: z.enum(['file', 'dir'], mustBe('file or dir')),
    size: z.int(mustBe('an integer')).nonnegative(mustBe('0 or more')).optional(),
    sha256: z.string(mustBe('a string')).optional(),
  },
  mustBe('an object'),
);
export type Artifact = z.infer<typeof artifactSchema>;

export const stepErrorSummarySchema = z.object(
  {
    message: z.string(mustBe('a string')),
    code: z.string(mustBe('a string')),
    transient: z.boolean(mustBe('true or false')),
    /** The command's rerun line, for a failed command. */
    command: z.string(mustBe('a string')).optional(),
    exitCode: z.int(mustBe('an integer or null')).nullable().optional(),
    signal: z.string(mustBe('a string or null')).nullable().optional(),
    stderrTail: z.string(mustBe('a string')).optional(),
    /** What the user can do about it, from the step's StepError. */
    hint: z.string(mustBe('a string')).optional(),
    /** The command the hint suggests, as argv, so the CLI can render it with the user's own -w and -c. */
    hintArgv: z.array(z.string(mustBe('a string')), mustBe('an array of strings')).optional(),
  },
  mustBe('an object or null'),
);
export type StepErrorSummary = z.infer<typeof stepErrorSummarySchema>;

/** What a step's fingerprint is made of; kept so the planner can say which input changed. */
export const fingerprintMaterialSchema = z.object(
  {
    stepVersion: z.int(mustBe('an integer')),
    /** Config field path to its value. */
    config: z.record(z.string(), z.unknown(), mustBe('an object')),
    /** Input file path (as the config names it) to the sha256 of its contents, or "missing". */
    files: z.record(z.string(), z.string(mustBe('a string')), mustBe('an object')),
    /** Fingerprint of the step before, so a change flows down the chain. */
    previous: z.string(mustBe('a string or null')).nullable(),
  },
  mustBe('an object or null'),
);
export type FingerprintMaterial = z.infer<typeof fingerprintMaterialSchema>;

const nullableTime = z.string(mustBe('a string or null')).nullable();

export const ledgerEntrySchema = z.object(
  {
    id: z.string(mustBe('a string')),
    status: stepStatusSchema,
    fingerprint: z.string(mustBe('a string or null')).nullable(),
    material: fingerprintMaterialSchema.nullable(),
    /** Attempts in the run that last executed this step. */
    attempts: z.int(mustBe('an integer')).nonnegative(mustBe('0 or more')),
    startedAt: nullableTime,
    endedAt: nullableTime,
    durationMs: z.number(mustBe('a number or null')).nonnegative(mustBe('0 or more')).nullable(),
    artifacts: z.array(artifactSchema, mustBe('an array')),
    error: stepErrorSummarySchema.nullable(),
    /** Why the step was skipped, for a skipped step. */
    reason: z.string(mustBe('a string or null')).nullable(),
    /** Id of the build run that last executed (not skipped) this step. */
    runId: z.string(mustBe('a string or null')).nullable(),
  },
  mustBe('an object'),
);
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

/** One entry per step, keyed by step id; each entry's id equals its key. */
export const ledgerSchema = z.record(z.string(), ledgerEntrySchema, mustBe('an object')).superRefine(
  (ledger, ctx) => {
    // runs on a ledger with other problems too (when), so neither it nor an entry need be an object here
    if (typeof ledger !== 'object' || ledger === null) return;
    for (const [key, entry] of Object.entries(ledger)) {
      const id: unknown = typeof entry === 'object' && entry !== null ? (entry as { id?: unknown }).id : undefined;
      if (typeof id === 'string' && id !== key)
        ctx.addIssue({ code: 'custom', path: [key, 'id'], input: id, message: `must equal its key "${key}"` });
    }
  },
  { when: () => true },
);
export type Ledger = z.infer<typeof ledgerSchema>;
