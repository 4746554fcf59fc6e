/**
 * No field is ever silently ignored: a field the config FILE sets must be read by at least one step of the config's
 * `steps`, or by the engine itself. Which step reads which field is what each step declares in `configFields` (the
 * same list its fingerprint covers) and `runtimeFields` (read, but not an input: `apt.proxy`), so a new step or field
 * needs no entry here.
 *
 * The profile's own values are not checked: `minimal` carries defaults for the installer and the branding it leaves
 * out, and those are no mistake of the user's.
 */
import { ConfigError, type ConfigIssue } from '../errors.js';
import { allSteps } from './registry.js';
import type { StepDef } from './types.js';

/**
 * Fields the engine reads whatever the steps are, with why; a field under one of them is never refused. Fields no
 * step declares (`resources`, `retry`, `steps`) pass without an entry here, but are named so the list says it all.
 */
export const ENGINE_FIELDS: ReadonlyArray<{ field: string; why: string }> = [
  { field: 'name', why: 'the build is recorded, planned and shown under this name (state, plan, status, doctor)' },
  { field: 'steps', why: 'the build machine is generated from it' },
  { field: 'resources', why: 'the engine checks disk space and samples the host before and during every step' },
  { field: 'retry', why: "the machine's retry of a step that failed for a transient reason" },
  { field: 'hooks', why: 'each hook becomes a step of its own, hook-<name>, placed after the step it names' },
  {
    field: 'cache',
    why: 'the engine opens the shared deb cache there and binds it into the package steps; in no fingerprint',
  },
];

/** The dotted paths a file sets: objects are walked into, and an array, a scalar or an empty object is one field. */
export function fieldsSet(data: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    const at = prefix ? `${prefix}.${key}` : key;
    const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
    if (isObject && Object.keys(value).length > 0) out.push(...fieldsSet(value as Record<string, unknown>, at));
    else out.push(at);
  }
  return out;
}

/** One path covers the other: the same field, or one is an object that holds the other. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

/** The steps that declare a field (an input, or a field read at run time only), in registry order. */
export function readersOf(field: string, steps: readonly StepDef[] = allSteps()): StepDef[] {
  return steps.filter((s) => [...s.configFields, ...(s.runtimeFields ?? [])].some((f) => overlaps(f, field)));
}

export interface UnusedField {
  field: string;
  /** The steps that would read it; none of them is in the config's steps. */
  readers: string[];
}

/** The fields `fileData` sets that no step in `stepIds` reads and the engine does not read either. */
export function unusedFields(
  fileData: Record<string, unknown>,
  stepIds: readonly string[],
  steps: readonly StepDef[] = allSteps(),
): UnusedField[] {
  const out: UnusedField[] = [];
  for (const field of fieldsSet(fileData)) {
    if (field === 'extends' || field === '$schema') continue;
    if (ENGINE_FIELDS.some((e) => overlaps(e.field, field))) continue;
    const readers = readersOf(field, steps).map((s) => s.id);
    // a field no step declares is read by the engine, or by nothing at all, which the schema already refuses
    if (readers.length === 0 || readers.some((id) => stepIds.includes(id))) continue;
    out.push({ field, readers });
  }
  return out;
}

const quoted = (ids: readonly string[]) => ids.map((id) => `"${id}"`);

/** `step "branding"`, `steps "installer" or "identity"`. */
function stepsText(ids: readonly string[], joiner: 'and' | 'or'): string {
  const q = quoted(ids);
  if (q.length === 1) return `step ${q[0]}`;
  return `steps ${q.slice(0, -1).join(', ')} ${joiner} ${q[q.length - 1]}`;
}

/** What to do about one unused field. */
export function unusedFieldFix(u: UnusedField): string {
  const add =
    u.readers.length === 1 ? `add "${u.readers[0]}" to steps` : `add one of ${quoted(u.readers).join(', ')} to steps`;
  return `${add}, or remove ${u.field}`;
}

/** `helper.files is used by step "branding", which this config's steps do not include`. */
export function unusedFieldText(u: UnusedField): string {
  return u.readers.length === 1
    ? `${u.field} is used by ${stepsText(u.readers, 'and')}, which this config's steps do not include`
    : `${u.field} is used by ${stepsText(u.readers, 'and')}, none of which this config's steps include`;
}

/**
 * Refuses a config whose file sets a field that no step of its `steps` reads (exit 2, nothing written): each such
 * field is one issue, naming the steps that would read it and the fix.
 */
export function checkFieldsUsed(
  fileData: Record<string, unknown>,
  stepIds: readonly string[],
  file: string | null,
  steps: readonly StepDef[] = allSteps(),
): void {
  const unused = unusedFields(fileData, stepIds, steps);
  if (unused.length === 0) return;
  const issues: ConfigIssue[] = unused.map((u) => ({
    path: u.field,
    value: undefined,
    expected: `used by ${stepsText(u.readers, 'and')}, ${u.readers.length === 1 ? 'which is not in steps' : 'none of them in steps'}`,
    kind: 'unused-field',
  }));
  const first = unused[0]!;
  const where = file ? ` (${file})` : '';
  const message =
    unused.length === 1
      ? `${unusedFieldText(first)}${where}`
      : `${unused.length} fields the config sets are used by no step in its steps${where}; first: ${unusedFieldText(first)}`;
  throw new ConfigError(message, issues, file ?? undefined, {
    hint:
      unused.length === 1
        ? unusedFieldFix(first)
        : 'add the steps named above to steps, or remove the fields they would read',
  });
}
