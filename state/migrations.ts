/**
 * Upgrades a parsed state file to STATE_SCHEMA_VERSION, one version at a time.
 * To add schema v2: bump STATE_SCHEMA_VERSION and add `1: (v1) => v2` to STATE_MIGRATIONS.
 */
import { STATE_SCHEMA_VERSION } from './version.js';

export type StateData = { schemaVersion: number } & Record<string, unknown>;

/** Turns data of schema `from` into data of schema `from + 1` (schemaVersion is set by the caller). */
export type StateMigration = (data: Record<string, unknown>) => Record<string, unknown>;

/** Keyed by the version a migration upgrades from. Empty: v1 is the first schema. */
export const STATE_MIGRATIONS: Readonly<Record<number, StateMigration>> = {};

/** The state's schema version is one this ailinux cannot read: newer than it knows, or not a valid version. */
export class SchemaVersionError extends Error {
  readonly found: unknown;
  readonly supported: number;
  readonly newer: boolean;
  constructor(found: unknown, supported: number) {
    const newer = typeof found === 'number' && Number.isInteger(found) && found > supported;
    super(
      newer
        ? `was written by a newer ailinux (schema ${String(found)}, this ailinux reads ${supported})`
        : `has an unknown schema version ${JSON.stringify(found)} (this ailinux reads ${supported === 1 ? '1' : `1 to ${supported}`})`,
    );
    this.name = 'SchemaVersionError';
    this.found = found;
    this.supported = supported;
    this.newer = newer;
  }
}

/** Applies `migrations` from `data.schemaVersion` up to `target`; the result is not validated. */
export function applyMigrations(
  data: StateData,
  migrations: Readonly<Record<number, StateMigration>>,
  target: number,
): Record<string, unknown> {
  const from = data.schemaVersion;
  if (!Number.isInteger(from) || from < 1 || from > target) throw new SchemaVersionError(from, target);
  let current: Record<string, unknown> = data;
  for (let version = from; version < target; version++) {
    const migrate = migrations[version];
    if (!migrate) throw new Error(`no state migration from schema ${version} to ${version + 1}`);
    current = { ...migrate(current), schemaVersion: version + 1 };
  }
  return current;
}

/**
 * Upgrades a state file to the current schema; throws SchemaVersionError for versions < 1 or newer than this
 * ailinux. The result is not validated: the store checks it against the schema next.
 */
export function migrateState(data: StateData): Record<string, unknown> {
  return applyMigrations(data, STATE_MIGRATIONS, STATE_SCHEMA_VERSION);
}
