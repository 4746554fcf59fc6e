/** The state file's schema version, apart from its zod schema (state/schema.ts) so the quick reader needs no zod. */

/** Bumped when the state file's shape changes; state/migrations.ts upgrades older files. */
export const STATE_SCHEMA_VERSION = 1;
