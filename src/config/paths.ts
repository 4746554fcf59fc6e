/** Dotted paths into the config, as a type: a step's `configFields` entry that names no field does not compile. */
import type { BuildConfig } from './schema.js';

type Depth = [never, 0, 1, 2, 3];
type Join<K extends string, P> = P extends string ? `${K}.${P}` : never;

/** Every dotted path into T down to `D` levels, stopping at arrays (a list is one input as a whole). */
export type PathsOf<T, D extends number = 3> = [D] extends [never]
  ? never
  : T extends readonly unknown[]
    ? never
    : T extends object
      ? { [K in keyof T & string]: K | Join<K, PathsOf<NonNullable<T[K]>, Depth[D]>> }[keyof T & string]
      : never;

/**
 * A config field a step may declare as one of its inputs, e.g. `iso.bios` or the whole `liveUser`; `hooks.<name>` is
 * one hook's entry, found by its name (valueAt), the field of its step hook-<name>.
 */
export type ConfigPath = PathsOf<BuildConfig> | `hooks.${string}`;
