/**
 * The state file of a work dir: lowdb over the durable adapter, plus version migration,
 * validation, and a backup of any file it refuses to read (the original is never touched).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LowSync } from 'lowdb';
import { StateError } from '../src/errors.js';
import { CorruptStateFileError, DurableJsonFileSync, fsyncDirectory } from './durable-adapter.js';
import { migrateState, SchemaVersionError, type StateData } from './migrations.js';
import { parseStateFile, validateStateFile, type StateFile } from './schema.js';

const FRESH_HINT = 'inspect it, or run `ailinux build --fresh` to start over (the backup is kept)';
const READ_ONLY_HINT =
  'inspect it; `ailinux build` or `ailinux resume` keeps a backup of it before refusing, and `ailinux build --fresh` starts over';
const MAX_LISTED_PROBLEMS = 5;

type CheckedState = { state: StateFile } | { problem: string; cause?: unknown } | null;

/** Parses, migrates and validates whatever `read` returns; null when the file does not exist. */
function checkState(file: string, read: () => unknown): CheckedState {
  let data: unknown;
  try {
    data = read();
  } catch (error) {
    if (error instanceof CorruptStateFileError) {
      const what =
        error.rawLength === 0 ? 'is empty (truncated?)' : `is not valid JSON (truncated?): ${error.rawLength} bytes`;
      return { problem: what, cause: error };
    }
    throw new StateError(`cannot read state file ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (data === null || data === undefined) {
    // the adapter also yields null for a file holding a falsy JSON value, so tell that from a missing file
    return fs.existsSync(file) ? { problem: 'does not hold a JSON object' } : null;
  }
  if (typeof data !== 'object' || Array.isArray(data)) return { problem: 'does not hold a JSON object' };
  const version = (data as Record<string, unknown>)['schemaVersion'];
  if (version === undefined) return { problem: 'is not an ailinux state: field schemaVersion is missing' };
  let migrated: Record<string, unknown>;
  try {
    migrated = migrateState(data as StateData);
  } catch (error) {
    if (error instanceof SchemaVersionError) return { problem: error.message, cause: error };
    return { problem: `could not be upgraded: ${(error as Error).message}`, cause: error };
  }
  // migrations first: the schema describes the current version only
  const parsed = parseStateFile(migrated);
  if ('problems' in parsed) return { problem: `is not a valid ailinux state: ${listProblems(parsed.problems)}` };
  return { state: parsed.state };
}

function listProblems(problems: string[]): string {
  const shown = problems.slice(0, MAX_LISTED_PROBLEMS).join('; ');
  const more = problems.length - MAX_LISTED_PROBLEMS;
  return more > 0 ? `${shown}; and ${more} more` : shown;
}

/** UTC time as YYYYMMDDTHHMMSS, for backup names. */
function compactTimestamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/[-:]/g, '');
}

/** Copies a refused state file to `<file>.bad-<YYYYMMDDTHHMMSS>` (with `-N` if taken); never overwrites. */
export function backupStateFile(file: string, now: Date = new Date()): string {
  const base = `${file}.bad-${compactTimestamp(now)}`;
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? base : `${base}-${n}`;
    try {
      fs.copyFileSync(file, candidate, fs.constants.COPYFILE_EXCL);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

export class StateStore {
  readonly stateFile: string;
  private readonly db: LowSync<StateFile | null>;

  private constructor(stateFile: string) {
    this.stateFile = stateFile;
    this.db = new LowSync<StateFile | null>(new DurableJsonFileSync<StateFile | null>(stateFile), null);
  }

  /** Binds a store to a state file path; nothing is created on disk until save(). */
  static open(stateFile: string): StateStore {
    return new StateStore(path.resolve(stateFile));
  }

  exists(): boolean {
    return fs.existsSync(this.stateFile);
  }

  /** The state, upgraded to the current schema; null if there is no file. A refused file is backed up, then StateError. */
  load(): StateFile | null {
    // LowSync.read keeps the old data when the adapter returns null
    this.db.data = null;
    const checked = checkState(this.stateFile, () => {
      this.db.read();
      return this.db.data;
    });
    if (checked === null) return null;
    if ('state' in checked) {
      this.db.data = checked.state;
      return checked.state;
    }
    let backupPath: string;
    try {
      backupPath = backupStateFile(this.stateFile);
    } catch (error) {
      throw new StateError(
        `state file ${this.stateFile} ${checked.problem}; and it could not be backed up: ${(error as Error).message}`,
        {
          cause: error,
          hint: 'inspect it, or run `ailinux build --fresh` to start over',
        },
      );
    }
    throw new StateError(`state file ${this.stateFile} ${checked.problem}; a copy was kept as ${backupPath}`, {
      cause: checked.cause,
      hint: FRESH_HINT,
      backupPath,
    });
  }

  /** Writes the state durably; sets `state.updatedAt`. Returns how long it took, for per-transition timing. */
  save(state: StateFile): { ms: number } {
    const started = performance.now();
    state.updatedAt = new Date().toISOString();
    const problems = validateStateFile(state);
    // refuse to write a file that load() would then refuse to read
    if (problems.length > 0)
      throw new StateError(`refusing to save an invalid state to ${this.stateFile}: ${listProblems(problems)}`);
    const dir = path.dirname(this.stateFile);
    const created = fs.mkdirSync(dir, { recursive: true });
    if (created !== undefined) fsyncDirectory(path.dirname(created));
    this.db.data = state;
    this.db.write();
    return { ms: performance.now() - started };
  }

  /** Deletes the state file (backups of refused files are kept). */
  remove(): void {
    if (!this.exists()) return;
    fs.rmSync(this.stateFile, { force: true });
    fsyncDirectory(path.dirname(this.stateFile));
    this.db.data = null;
  }
}

/** Reads the state for status and plan commands; writes nothing, not even a backup of a refused file. */
export function readStateReadOnly(stateFile: string): StateFile | null {
  const file = path.resolve(stateFile);
  const adapter = new DurableJsonFileSync<unknown>(file);
  const checked = checkState(file, () => adapter.read());
  if (checked === null) return null;
  if ('state' in checked) return checked.state;
  throw new StateError(`state file ${file} ${checked.problem}; no backup was written (this command only reads)`, {
    cause: checked.cause,
    hint: READ_ONLY_HINT,
  });
}
