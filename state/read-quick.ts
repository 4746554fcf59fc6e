/**
 * readStateReadOnly (state/store.ts) for a command that must start fast: the same answer, without loading zod or
 * lowdb when the file is a valid state of the current schema (issue 11, point 7). A missing file is null; a file
 * the quick check is not sure of (an older schema, a broken or odd file) goes to readStateReadOnly itself, loaded
 * then, so its errors and its migrations are exactly the store's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DurableJsonFileSync } from './durable-adapter.js';
import { quickParseState } from './quick-parse.js';
import type { StateFile } from './schema.js';
import { STATE_SCHEMA_VERSION } from './version.js';

export async function readStateQuick(stateFile: string): Promise<StateFile | null> {
  const file = path.resolve(stateFile);
  let data: unknown;
  try {
    data = new DurableJsonFileSync<unknown>(file).read();
  } catch {
    // unreadable or not JSON: the store says which, in its words
    data = undefined;
  }
  // as the store: null from the adapter with no file there is no state
  if (data === null && !fs.existsSync(file)) return null;
  if (
    typeof data === 'object' &&
    data !== null &&
    (data as { schemaVersion?: unknown }).schemaVersion === STATE_SCHEMA_VERSION
  ) {
    const state = quickParseState(data);
    if (state !== null) return state;
  }
  return (await import('./store.js')).readStateReadOnly(file);
}
