/**
 * Where each value of a loaded config came from: the config file, the built-in profile it extends, or the schema's
 * default (neither set it). `ailinux config` prints it, like `mkosi summary`. Secret values (and the secret parts of
 * a field, a debconf password answer) are masked here, so nothing that prints a provenance can print a secret.
 */
import { hideSecretParts, holdsSecret } from './secrets.js';
import { valueAt } from './value-at.js';

export type ValueSource = 'file' | 'profile' | 'default';

export interface FieldValue {
  /** Dotted path; a list is one field, as in the fingerprint and `configFields`. */
  field: string;
  /** The value the build uses, or SECRET_PLACEHOLDER for a secret. */
  value: unknown;
  source: ValueSource;
  secret: boolean;
}

/** What stands in for a secret's value in every provenance. */
export const SECRET_PLACEHOLDER = '(secret, not shown)';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every leaf of the config (objects walked into, lists and scalars as they are), in the config's order. */
function leaves(value: Record<string, unknown>, prefix: string, out: Array<[string, unknown]>): void {
  for (const [key, v] of Object.entries(value)) {
    const at = prefix ? `${prefix}.${key}` : key;
    if (v === undefined) continue;
    if (isObject(v) && Object.keys(v).length > 0) leaves(v, at, out);
    else out.push([at, v]);
  }
}

/**
 * Each value of `config` with where it came from. `layers` are what the profile and the file gave before the
 * schema's defaults (LoadedConfig.layers): objects merged field by field, so a field is the file's when the file has
 * it, else the profile's when the profile has it, else a default.
 */
export function fieldValues(
  config: Record<string, unknown>,
  layers: { profile: Record<string, unknown>; file: Record<string, unknown> },
): FieldValue[] {
  const found: Array<[string, unknown]> = [];
  leaves(config, '', found);
  return found.map(([field, value]) => {
    const source: ValueSource =
      valueAt(layers.file, field) !== undefined
        ? 'file'
        : valueAt(layers.profile, field) !== undefined
          ? 'profile'
          : 'default';
    const secret = holdsSecret(field);
    const shown = secret ? SECRET_PLACEHOLDER : hideSecretParts(field, value, () => SECRET_PLACEHOLDER);
    return { field, value: shown, source, secret };
  });
}

/** The config with every secret replaced by SECRET_PLACEHOLDER (a copy; the config is left as it is). */
export function maskedConfig<T extends Record<string, unknown>>(config: T): T {
  const copy = structuredClone(config) as Record<string, unknown>;
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [key, v] of Object.entries(node)) {
      const at = prefix ? `${prefix}.${key}` : key;
      if (v === undefined) continue;
      if (holdsSecret(at) && !isObject(v)) node[key] = SECRET_PLACEHOLDER;
      else if (!isObject(v)) node[key] = hideSecretParts(at, v, () => SECRET_PLACEHOLDER);
      else if (isObject(v)) walk(v, at);
    }
  };
  walk(copy, '');
  return copy as T;
}
