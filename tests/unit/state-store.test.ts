import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StateError } from '../../src/errors.js';
import { emptyLedgerEntry } from '../../src/types.js';
import { applyMigrations, migrateState, SchemaVersionError } from '../../state/migrations.js';
import { STATE_SCHEMA_VERSION, validateStateFile, type StateFile } from '../../state/schema.js';
import { readStateReadOnly, StateStore } from '../../state/store.js';

let dir: string;
let stateDir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-store-'));
  stateDir = path.join(dir, 'state');
  file = path.join(stateDir, 'state.json');
});

afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

function makeState(overrides: Partial<StateFile> = {}): StateFile {
  const bootstrap = { ...emptyLedgerEntry('bootstrap'), status: 'done' as const, fingerprint: 'abc', attempts: 1 };
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w-123',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: { hostname: 'ailinux' },
    outcome: 'running',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    order: ['bootstrap', 'iso'],
    ledger: { bootstrap, iso: emptyLedgerEntry('iso') },
    snapshot: { status: 'active', value: { pipeline: 'iso' } },
    current: 'iso',
    interruptSignal: null,
    processes: [
      {
        pgid: 4242,
        argv: ['mmdebstrap', '--variant=minbase'],
        startTicks: 1234,
        startedAt: '2025-01-01T00:00:01.000Z',
      },
    ],
    history: [
      { runId: 'r-1', command: 'build', startedAt: '2025-01-01T00:00:00.000Z', endedAt: null, outcome: 'running' },
    ],
    ...overrides,
  };
}

/** Writes raw JSON as a state file, bypassing the store. */
function writeRaw(value: unknown): void {
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

const listing = () => fs.readdirSync(stateDir).sort();

describe('StateStore', () => {
  it('open creates nothing on disk, and load of a missing file is null', () => {
    const store = StateStore.open(file);
    expect(store.exists()).toBe(false);
    expect(store.load()).toBeNull();
    expect(fs.existsSync(stateDir)).toBe(false);
  });

  it('round-trips a state, creating the directory and setting updatedAt', () => {
    const store = StateStore.open(file);
    const state = makeState();
    const before = Date.now();
    store.save(state);
    expect(store.exists()).toBe(true);
    expect(Date.parse(state.updatedAt)).toBeGreaterThanOrEqual(before - 1);

    const loaded = StateStore.open(file).load();
    expect(loaded).toEqual(state);
    expect(loaded?.updatedAt).not.toBe('2025-01-01T00:00:00.000Z');
    expect(fs.readFileSync(file, 'utf8')).toBe(JSON.stringify(state, null, 2));
  });

  it('returns the save time in ms', () => {
    const { ms } = StateStore.open(file).save(makeState());
    expect(typeof ms).toBe('number');
    expect(Number.isFinite(ms)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('leaves no temp file after saving', () => {
    const store = StateStore.open(file);
    store.save(makeState());
    store.save(makeState({ current: null, outcome: 'succeeded' }));
    expect(listing()).toEqual(['state.json']);
    expect(store.load()?.outcome).toBe('succeeded');
  });

  it('ignores a stray temp file left by a crash mid-write', () => {
    const store = StateStore.open(file);
    store.save(makeState());
    const stray = path.join(stateDir, '.state.json.99999.tmp');
    fs.writeFileSync(stray, '{"schemaVersion": 1, "ledger": {"boot');
    expect(store.load()).toEqual(makeState({ updatedAt: store.load()!.updatedAt }));
    expect(store.load()?.current).toBe('iso');

    fs.rmSync(file);
    expect(store.load()).toBeNull();
    expect(fs.existsSync(stray)).toBe(true);
  });

  it('keeps the previous state when the process dies before the rename', () => {
    const store = StateStore.open(file);
    store.save(makeState());
    const saved = fs.readFileSync(file, 'utf8');
    vi.spyOn(fs, 'renameSync').mockImplementation(() => {
      throw new Error('killed');
    });
    expect(() => store.save(makeState({ outcome: 'failed' }))).toThrow('killed');
    expect(fs.readFileSync(file, 'utf8')).toBe(saved);
    expect(store.load()?.outcome).toBe('running');
  });

  it('refuses to save a state it could not load back, writing nothing', () => {
    const store = StateStore.open(file);
    const bad = makeState();
    (bad.ledger['iso'] as unknown as Record<string, unknown>)['status'] = 'bogus';
    const error = catchError(() => store.save(bad));
    expect(error).toBeInstanceOf(StateError);
    expect((error as StateError).message).toMatch(/ledger\.iso\.status/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('refuses a truncated file: StateError, a backup, the original untouched', () => {
    const store = StateStore.open(file);
    store.save(makeState());
    const full = fs.readFileSync(file);
    const truncated = full.subarray(0, Math.floor(full.length / 2));
    fs.writeFileSync(file, truncated);

    const error = catchError(() => store.load()) as StateError;
    expect(error).toBeInstanceOf(StateError);
    expect(error.code).toBe('STATE');
    expect(error.message).toContain(file);
    expect(error.message).toContain('is not valid JSON (truncated?)');
    expect(error.hint).toContain('ailinux build --fresh');
    expect(error.backupPath).toBeDefined();
    expect(path.dirname(error.backupPath!)).toBe(stateDir);
    expect(path.basename(error.backupPath!)).toMatch(/^state\.json\.bad-\d{8}T\d{6}$/);
    expect(error.message).toContain(error.backupPath!);
    expect(fs.readFileSync(error.backupPath!)).toEqual(truncated);
    expect(fs.readFileSync(file)).toEqual(truncated);
  });

  it('never overwrites an earlier backup', () => {
    writeRaw({ schemaVersion: 1 });
    fs.appendFileSync(file, '}');
    const store = StateStore.open(file);
    const first = (catchError(() => store.load()) as StateError).backupPath!;
    const second = (catchError(() => store.load()) as StateError).backupPath!;
    expect(second).not.toBe(first);
    expect(fs.existsSync(first)).toBe(true);
    expect(fs.existsSync(second)).toBe(true);
    expect(fs.existsSync(file)).toBe(true);
  });

  it('refuses an empty file', () => {
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(file, '');
    const error = catchError(() => StateStore.open(file).load()) as StateError;
    expect(error).toBeInstanceOf(StateError);
    expect(error.message).toMatch(/is empty/);
    expect(error.backupPath).toBeDefined();
  });

  it('refuses a file that holds JSON null rather than treating it as missing', () => {
    writeRaw(null);
    const error = catchError(() => StateStore.open(file).load()) as StateError;
    expect(error).toBeInstanceOf(StateError);
    expect(error.message).toMatch(/does not hold a JSON object/);
  });

  it('refuses a state written by a newer ailinux, naming both versions, keeping a backup', () => {
    writeRaw({ ...makeState(), schemaVersion: 7 });
    const original = fs.readFileSync(file, 'utf8');
    const error = catchError(() => StateStore.open(file).load()) as StateError;
    expect(error).toBeInstanceOf(StateError);
    expect(error.message).toContain('was written by a newer ailinux');
    expect(error.message).toContain('schema 7');
    expect(error.message).toContain(`this ailinux reads ${STATE_SCHEMA_VERSION}`);
    expect(fs.readFileSync(error.backupPath!, 'utf8')).toBe(original);
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });

  it('refuses a ledger entry without a status, naming the field', () => {
    const state = makeState() as unknown as Record<string, Record<string, Record<string, unknown>>>;
    delete state['ledger']!['bootstrap']!['status'];
    writeRaw(state);
    const error = catchError(() => StateStore.open(file).load()) as StateError;
    expect(error).toBeInstanceOf(StateError);
    expect(error.message).toContain('field ledger.bootstrap.status is missing');
    expect(error.backupPath).toBeDefined();
  });

  it('refuses a ledger entry without fingerprint and material like a corrupt file: one backup, nothing else written', () => {
    const state = makeState() as unknown as Record<string, Record<string, Record<string, unknown>>>;
    delete state['ledger']!['bootstrap']!['fingerprint'];
    delete state['ledger']!['bootstrap']!['material'];
    writeRaw(state);
    const original = fs.readFileSync(file, 'utf8');
    const error = catchError(() => StateStore.open(file).load()) as StateError;
    expect(error).toBeInstanceOf(StateError);
    expect(error.code).toBe('STATE');
    expect(error.message).toContain('is not a valid ailinux state: field ledger.bootstrap.fingerprint is missing');
    expect(error.message).toContain('field ledger.bootstrap.material is missing');
    expect(listing()).toEqual(['state.json', path.basename(error.backupPath!)]);
    expect(fs.readFileSync(error.backupPath!, 'utf8')).toBe(original);
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });

  it('refuses a ledger entry whose fields have the wrong shape, naming each', () => {
    const state = makeState();
    const entry = state.ledger['bootstrap'] as unknown as Record<string, unknown>;
    entry['material'] = { stepVersion: 1, config: {}, files: {} };
    entry['artifacts'] = [{ path: 'layers/bootstrap', kind: 'folder' }];
    entry['error'] = { message: 'boom', code: 'STEP', transient: 'no', hintArgv: 'ailinux resume' };
    entry['attempts'] = -1;
    const problems = validateStateFile(state);
    expect(problems).toEqual([
      'field ledger.bootstrap.material.previous is missing',
      'field ledger.bootstrap.attempts must be 0 or more (found -1)',
      'field ledger.bootstrap.artifacts.0.kind must be file or dir (found "folder")',
      'field ledger.bootstrap.error.transient must be true or false (found "no")',
      'field ledger.bootstrap.error.hintArgv must be an array of strings (found "ailinux resume")',
    ]);
  });

  it('keeps a step hint and its argv in the error summary', () => {
    const store = StateStore.open(file);
    const state = makeState();
    state.ledger['iso'] = {
      ...state.ledger['iso']!,
      status: 'failed',
      error: { message: 'no xorriso', code: 'STEP', transient: false, hint: 'install it', hintArgv: ['apt-get', 'x'] },
    };
    store.save(state);
    expect(store.load()?.ledger['iso']?.error).toEqual(state.ledger['iso'].error);
  });

  it('refuses a state without a ledger', () => {
    const state: Record<string, unknown> = { ...makeState() };
    delete state['ledger'];
    writeRaw(state);
    const error = catchError(() => StateStore.open(file).load()) as StateError;
    expect(error.message).toContain('field ledger is missing');
  });

  it('remove deletes the state file and keeps backups', () => {
    writeRaw({ schemaVersion: 99 });
    const store = StateStore.open(file);
    const backup = (catchError(() => store.load()) as StateError).backupPath!;
    store.remove();
    expect(store.exists()).toBe(false);
    expect(store.load()).toBeNull();
    expect(fs.existsSync(backup)).toBe(true);
    expect(() => store.remove()).not.toThrow();
  });
});

describe('readStateReadOnly', () => {
  it('reads a valid state and returns null for a missing one', () => {
    expect(readStateReadOnly(file)).toBeNull();
    expect(fs.existsSync(stateDir)).toBe(false);
    StateStore.open(file).save(makeState());
    expect(readStateReadOnly(file)?.ledger['bootstrap']?.status).toBe('done');
  });

  it('writes nothing when the state is corrupt, and says so', () => {
    writeRaw(makeState());
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 100));
    const before = listing();
    const contents = fs.readFileSync(file, 'utf8');
    const error = catchError(() => readStateReadOnly(file)) as StateError;
    expect(error).toBeInstanceOf(StateError);
    expect(error.message).toContain('is not valid JSON (truncated?)');
    expect(error.message).toContain('no backup was written');
    expect(error.backupPath).toBeUndefined();
    expect(listing()).toEqual(before);
    expect(fs.readFileSync(file, 'utf8')).toBe(contents);
  });

  it('checks the version (migrations run first) before the schema, which describes the current version only', () => {
    writeRaw({ ...makeState(), schemaVersion: STATE_SCHEMA_VERSION + 1, ledger: 'a shape from the future' });
    const error = catchError(() => readStateReadOnly(file)) as StateError;
    expect(error.message).toContain('was written by a newer ailinux');
    expect(error.message).not.toContain('field ledger');
  });

  it('writes nothing for a newer schema either', () => {
    writeRaw({ ...makeState(), schemaVersion: 3 });
    const before = listing();
    const error = catchError(() => readStateReadOnly(file)) as StateError;
    expect(error.message).toContain('schema 3');
    expect(listing()).toEqual(before);
  });
});

describe('migrateState', () => {
  it('passes the current version through', () => {
    const state = makeState();
    expect(migrateState({ ...state })).toEqual(state);
  });

  it.each([0, -1, 1.5])('refuses schema version %s', (version) => {
    const error = catchError(() => migrateState({ ...makeState(), schemaVersion: version }));
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as SchemaVersionError).newer).toBe(false);
  });

  it('refuses a version newer than this ailinux', () => {
    const error = catchError(() =>
      migrateState({ ...makeState(), schemaVersion: STATE_SCHEMA_VERSION + 1 }),
    ) as SchemaVersionError;
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect(error.newer).toBe(true);
    expect(error.message).toContain(`schema ${STATE_SCHEMA_VERSION + 1}`);
  });

  it('runs one migration per version step', () => {
    const seen: number[] = [];
    const table = {
      1: (d: Record<string, unknown>) => {
        seen.push(d['schemaVersion'] as number);
        return { ...d, renamed: d['old'] };
      },
      2: (d: Record<string, unknown>) => {
        seen.push(d['schemaVersion'] as number);
        const { old: _old, ...rest } = d;
        return rest;
      },
    };
    expect(applyMigrations({ schemaVersion: 1, old: 'x' }, table, 3)).toEqual({ schemaVersion: 3, renamed: 'x' });
    expect(seen).toEqual([1, 2]);
    expect(applyMigrations({ schemaVersion: 2, old: 'y' }, table, 3)).toEqual({ schemaVersion: 3 });
    expect(() => applyMigrations({ schemaVersion: 1 }, { 2: table[2] }, 3)).toThrow(/no state migration from schema 1/);
  });
});

describe('validateStateFile', () => {
  it('accepts a complete state', () => {
    expect(validateStateFile(makeState())).toEqual([]);
  });

  it('names missing and wrong-typed fields', () => {
    const state: Record<string, unknown> = { ...makeState(), order: 'bootstrap', current: 3 };
    delete state['workId'];
    state['ledger'] = { iso: { id: 'other', status: 'done' }, boot: 'x' };
    state['history'] = [{ runId: 'r', command: 'rebuild', startedAt: 'now', endedAt: null, outcome: 'running' }];
    const problems = validateStateFile(state);
    const missingFromIso = ['fingerprint', 'material', 'attempts', 'startedAt', 'endedAt', 'durationMs']
      .concat(['artifacts', 'error', 'reason', 'runId'])
      .map((key) => `field ledger.iso.${key} is missing`);
    expect(problems).toEqual([
      'field workId is missing',
      'field order must be an array of strings (found "bootstrap")',
      ...missingFromIso,
      'field ledger.boot must be an object (found "x")',
      'field ledger.iso.id must equal its key "iso" (found "other")',
      'field current must be a string or null (found 3)',
      'field history.0.command must be build or resume (found "rebuild")',
    ]);
  });

  it('rejects a non-object', () => {
    expect(validateStateFile([])).toHaveLength(1);
  });
});
