/**
 * The config reference, generated from the schema: one row per field (dotted path, type, default,
 * description). docs/profiles.md carries this table; a unit test fails when they drift apart.
 */
import { configJsonSchema } from './schema.js';

export interface FieldRow {
  path: string;
  type: string;
  /** The default as JSON, or "required" / "optional" when there is none. */
  default: string;
  description: string;
}

type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
};

function describeType(s: JsonSchema): string {
  if (s.enum) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) return [...new Set(s.anyOf.map(describeType))].join(' or ');
  if (s.type === 'array') return `list of ${s.items ? describeType(s.items) : 'values'}`;
  if ((s.type === 'integer' || s.type === 'number') && s.minimum !== undefined && s.maximum !== undefined)
    return `${s.type} ${s.minimum}-${s.maximum}`;
  if (s.type === 'object' && s.properties) return `object { ${Object.keys(s.properties).join(', ')} }`;
  return s.type ?? 'any';
}

function walk(s: JsonSchema, path: string, required: boolean, rows: FieldRow[]): void {
  const isObject = s.type === 'object' && s.properties !== undefined;
  const listOfObjects = s.type === 'array' && s.items?.type === 'object' && s.items.properties !== undefined;
  if (!isObject || path === '') {
    if (path !== '') {
      rows.push({
        path,
        type: describeType(s),
        default: s.default !== undefined ? JSON.stringify(s.default) : required ? 'required' : 'optional',
        description: (s.description ?? '').replace(/\|/g, '\\|'),
      });
    }
  } else {
    rows.push({
      path,
      type: 'object',
      default: required ? 'required' : s.default !== undefined ? "its fields' defaults" : 'optional',
      description: (s.description ?? '').replace(/\|/g, '\\|'),
    });
  }
  const inner = isObject ? s : listOfObjects ? s.items! : null;
  if (!inner?.properties) return;
  const prefix = listOfObjects ? `${path}[].` : path === '' ? '' : `${path}.`;
  for (const [key, child] of Object.entries(inner.properties))
    walk(child, `${prefix}${key}`, inner.required?.includes(key) ?? false, rows);
}

/** Every field of the config schema, in schema order. */
export function configFieldRows(): FieldRow[] {
  const rows: FieldRow[] = [];
  walk(configJsonSchema() as JsonSchema, '', true, rows);
  return rows;
}

/** The Markdown table docs/profiles.md carries between its "fields" markers. */
export function renderFieldTable(): string {
  const cell = (t: string) => t.replace(/\n/g, ' ');
  return [
    '| field | type | default | description |',
    '|---|---|---|---|',
    ...configFieldRows().map(
      (r) =>
        `| \`${r.path}\` | ${cell(r.type)} | ${r.default === 'required' || r.default === 'optional' || r.default.startsWith('its ') ? r.default : `\`${r.default}\``} | ${cell(r.description)} |`,
    ),
  ].join('\n');
}

/** Leaf values of a config, by dotted path (arrays are leaves). */
export function flattenConfig(value: unknown, prefix = ''): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { [prefix]: value };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>))
    Object.assign(out, flattenConfig(v, prefix ? `${prefix}.${k}` : k));
  return out;
}

/** The fields in which two validated configs differ, as a Markdown table. */
export function renderProfileDiff(names: readonly [string, string], configs: readonly [unknown, unknown]): string {
  const [a, b] = configs.map((c) => flattenConfig(c));
  const keys = [...new Set([...Object.keys(a!), ...Object.keys(b!)])].filter(
    (k) => JSON.stringify(a![k]) !== JSON.stringify(b![k]),
  );
  const show = (v: unknown) => (v === undefined ? '(unset)' : `\`${JSON.stringify(v).replace(/\|/g, '\\|')}\``);
  return [
    `| field | ${names[0]} | ${names[1]} |`,
    '|---|---|---|',
    ...keys.map((k) => `| \`${k}\` | ${show(a![k])} | ${show(b![k])} |`),
  ].join('\n');
}
