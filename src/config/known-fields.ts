/** The field names the config schema knows at a path, for suggesting one in place of an unknown key. */
import type { z } from 'zod';
import { configSchema } from './schema.js';

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
};

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under optional, default and prefault. */
function unwrap(schema: z.ZodType): z.ZodType {
  const inner = defOf(schema).innerType;
  return inner ? unwrap(inner) : schema;
}

/** The object schemas a value here may be: one, one per union alternative, or none. */
function objectsOf(schema: z.ZodType): Def[] {
  const def = defOf(unwrap(schema));
  if (def.type === 'object') return [def];
  if (def.type === 'union') return (def.options ?? []).flatMap(objectsOf);
  return [];
}

/** The step from a schema to the schemas at one path part: an array's items, or an object's field. */
function childrenOf(schema: z.ZodType, part: PropertyKey): z.ZodType[] {
  const def = defOf(unwrap(schema));
  if (def.type === 'array') return /^\d+$/.test(String(part)) ? [def.element!] : [];
  return objectsOf(schema).flatMap((o) => (o.shape?.[String(part)] ? [o.shape[String(part)]!] : []));
}

/** The keys of the object at `at` (an array index walks into the items); [] where the schema has no object. */
export function knownFieldsAt(at: readonly PropertyKey[], schema: z.ZodType = configSchema): string[] {
  let here: z.ZodType[] = [schema];
  for (const part of at) here = here.flatMap((s) => childrenOf(s, part));
  return [...new Set(here.flatMap((s) => objectsOf(s).flatMap((o) => Object.keys(o.shape ?? {}))))];
}
