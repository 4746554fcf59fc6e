/**
 * The quick state check (state/quick-parse.ts) gives zod's answer or none (issue 11, point 7): it describes the same
 * shape as stateFileSchema, read from zod's own definition, so a field added to one and not the other fails here;
 * and on a full state, its keys shuffled, and on every field of it deleted, nulled, or given a value of each other
 * kind, whatever it accepts zod accepts too, with the same values in the same key order. readStateQuick
 * (state/read-quick.ts) answers as readStateReadOnly does on valid, missing, broken and old files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyLedgerEntry } from '../../src/types.js';
import { QUICK_STATE_SCHEMA, quickParseState } from '../../state/quick-parse.js';
import { readStateQuick } from '../../state/read-quick.js';
import { parseStateFile, STATE_SCHEMA_VERSION, stateFileSchema, type StateFile } from '../../state/schema.js';
import { readStateReadOnly } from '../../state/store.js';

/** A zod schema in quick-parse's words; anything it does not know is an error, so a new kind of field fails here. */
// biome-ignore lint/suspicious/noExplicitAny: zod's internal definition is walked generically
function describeZod(schema: any): string {
  const def = schema._zod.def;
  const checks: string[] = (def.checks ?? []).map((c: { _zod: { def: Record<string, unknown> } }) => {
    const d = c._zod.def;
    if (d.check === 'greater_than' && d.value === 0 && d.inclusive === true) return '>=0';
    if (d.check === 'custom' && def.type === 'record') return '+idIsKey';
    throw new Error(`quick-parse knows no check ${JSON.stringify(d)}: add it there and here`);
  });
  const suffix = checks.join('');
  switch (def.type) {
    case 'string':
    case 'boolean':
    case 'unknown':
    case 'custom':
      if (suffix) throw new Error(`quick-parse knows no check on a ${def.type}`);
      return def.type;
    case 'number':
      return `${def.format === 'safeint' ? 'int' : def.format === undefined ? 'number' : `?${def.format}`}${suffix}`;
    case 'enum':
      return `enum(${Object.values(def.entries).join('|')})`;
    case 'optional':
    case 'nullable':
      return `${def.type}(${describeZod(def.innerType)})`;
    case 'array':
      return `array(${describeZod(def.element)})`;
    case 'record':
      if (def.keyType._zod.def.type !== 'string') throw new Error('quick-parse knows records with string keys only');
      return `record(${describeZod(def.valueType)})${suffix}`;
    case 'object':
      if (def.catchall !== undefined) throw new Error('quick-parse drops unknown keys, as zod does by default');
      return `object{${Object.entries(def.shape)
        .map(([k, v]) => `${k}:${describeZod(v)}`)
        .join(',')}}${suffix}`;
    default:
      throw new Error(`quick-parse knows no ${def.type}: add it there and here`);
  }
}

/** A state with every optional field set and every kind of ledger entry. */
function fullState(): StateFile {
  const now = '2025-01-01T00:00:00.000Z';
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '3',
    workId: 'w-1',
    runId: 'r-2',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: '/cfg/ailinux.config.yaml' },
    config: { hostname: 'ailinux', packages: { extra: ['vim'] }, nested: [1, { a: null }] },
    outcome: 'failed',
    createdAt: now,
    updatedAt: now,
    order: ['bootstrap', 'packages', 'iso'],
    ledger: {
      bootstrap: {
        ...emptyLedgerEntry('bootstrap'),
        status: 'done',
        fingerprint: 'f1',
        material: { stepVersion: 2, config: { 'distribution.suite': 'noble' }, files: { a: 'sha' }, previous: null },
        attempts: 1,
        startedAt: now,
        endedAt: now,
        durationMs: 12.5,
        artifacts: [
          { path: 'layers/bootstrap', kind: 'dir' },
          { path: 'out/x', kind: 'file', size: 10, sha256: 'abc' },
        ],
        runId: 'r-1',
      },
      packages: {
        ...emptyLedgerEntry('packages'),
        status: 'failed',
        attempts: 3,
        error: {
          message: 'apt failed',
          code: 'COMMAND',
          transient: false,
          command: 'apt-get install x',
          exitCode: 100,
          signal: null,
          stderrTail: 'E: …',
          hint: 'see the log',
          hintArgv: ['ailinux', 'log', 'packages'],
        },
        runId: 'r-2',
      },
      iso: { ...emptyLedgerEntry('iso'), status: 'skipped', reason: 'not reached' },
    },
    snapshot: { status: 'done', value: { cleanup: 'done' } },
    current: 'packages',
    interruptSignal: 'SIGINT',
    processes: [{ pgid: 42, argv: ['apt-get', 'install'], startTicks: null, startedAt: now }],
    history: [{ runId: 'r-2', command: 'resume', startedAt: now, endedAt: now, outcome: 'failed' }],
    pauseReason: null,
    resources: { packages: { minDiskFreeMb: 1000.5, peakMemUsedMb: 300, peakLoad1: 2.5, samples: 4 } },
    safety: {
      session: { kind: 'ssh', tty: '/dev/pts/1', evidence: ['SSH_CONNECTION'], note: 'over ssh' },
      ancestors: [{ pid: 1, comm: 'init', startTicks: 0 }],
      signals: [
        {
          runId: 'r-2',
          at: now,
          target: -42,
          signal: 'SIGTERM',
          reason: 'cancel',
          authority: 'own group',
          delivered: true,
        },
      ],
      checks: [
        {
          at: now,
          runId: 'r-2',
          step: null,
          phase: 'start',
          signalsSent: 0,
          refused: 0,
          allOurs: true,
          ancestorsAlive: true,
        },
      ],
    },
    userFlags: { chdir: '/proj', workDir: 'w', config: 'c.yaml' },
    workDirMark: { id: 'm-1', createdAt: now },
    archive: {
      mode: 'checked',
      at: now,
      suites: [{ uri: 'http://a', suite: 'noble', url: 'http://a/InRelease', file: 'f', sha256: 's', date: null }],
    },
  } as StateFile;
}

/** Every object's keys in reverse order, all the way down. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversed(v)]),
  );
}

type Path = (string | number)[];
function paths(value: unknown, at: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => [[...at, k], ...paths((value as Record<string | number, unknown>)[k], [...at, k])]);
}

const REMOVE = Symbol('remove');
/** A copy of `value` with the thing at `at` replaced (or removed). */
function changed(value: unknown, at: Path, by: unknown): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let parent = copy;
  for (const k of at.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = at[at.length - 1]!;
  if (by === REMOVE) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else parent[last] = by;
  return copy;
}

/** The quick check's answer is zod's or none: whenever it accepts, zod accepts with the very same JSON. */
function expectZodsAnswerOrNone(input: unknown): 'quick' | 'zod' {
  const quick = quickParseState(input);
  const zod = parseStateFile(input);
  if (quick === null) return 'zod';
  expect('state' in zod, `quick accepted what zod refused: ${JSON.stringify(zod)}`).toBe(true);
  expect(JSON.stringify(quick)).toBe(JSON.stringify((zod as { state: StateFile }).state));
  return 'quick';
}

describe('the quick state check', () => {
  it("describes the same shape as state/schema.ts's zod schema", () => {
    expect(QUICK_STATE_SCHEMA.d).toBe(describeZod(stateFileSchema));
  });

  it('the description notices a change: a field added to the zod schema alone', () => {
    const grown = stateFileSchema.extend({ more: stateFileSchema.shape.runId });
    expect(QUICK_STATE_SCHEMA.d).not.toBe(describeZod(grown));
  });

  it("accepts a full state, and a minimal one, with zod's values and key order, keys shuffled or not", () => {
    const full = fullState();
    expect(expectZodsAnswerOrNone(full)).toBe('quick');
    expect(expectZodsAnswerOrNone(reversed(full))).toBe('quick');
    const minimal = { ...full } as Record<string, unknown>;
    for (const k of ['pauseReason', 'resources', 'safety', 'userFlags', 'workDirMark', 'archive']) delete minimal[k];
    expect(expectZodsAnswerOrNone(minimal)).toBe('quick');
    // the values zod passes through are the same objects, not copies
    expect(quickParseState(full)?.config).toBe(full.config);
  });

  it('drops unknown keys as zod does, and leaves a __proto__ key to zod', () => {
    const full = fullState() as unknown as Record<string, unknown>;
    expect(expectZodsAnswerOrNone({ ...full, extra: 1 })).toBe('quick');
    expect(quickParseState({ ...full, extra: 1 })).not.toHaveProperty('extra');
    const entry = '{"minDiskFreeMb":1,"peakMemUsedMb":1,"peakLoad1":1,"samples":1}';
    const proto = JSON.parse(JSON.stringify(full).replace('"resources":{', `"resources":{"__proto__":${entry},`));
    expect(Object.keys(proto.resources)).toContain('__proto__');
    expect(quickParseState(proto)).toBeNull();
  });

  it('on every field deleted, nulled, or of another kind: zod accepts whatever it accepts, with the same result', () => {
    const full = fullState();
    const values: unknown[] = [REMOVE, null, 'x', '', 1.5, -1, 0, true, [], {}, ['x'], { extra: 1 }];
    let quick = 0;
    let zod = 0;
    for (const at of paths(full))
      for (const by of values) {
        if (expectZodsAnswerOrNone(changed(full, at, by)) === 'quick') quick++;
        else zod++;
      }
    // both answers happen: the check is neither always sure nor never
    expect(quick).toBeGreaterThan(100);
    expect(zod).toBeGreaterThan(100);
  });

  it('refuses what the ledger refinement refuses: an entry whose id is not its key', () => {
    const state = fullState();
    const bad = changed(state, ['ledger', 'iso', 'id'], 'bootstrap');
    expect(quickParseState(bad)).toBeNull();
    expect('problems' in parseStateFile(bad)).toBe(true);
  });

  it('refuses what is not a state at all', () => {
    for (const v of [null, undefined, 1, 'x', [], [fullState()]]) expect(quickParseState(v)).toBeNull();
  });
});

describe('readStateQuick', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-quick-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const write = (text: string | null) => {
    const file = path.join(dir, `state-${++n}.json`);
    if (text !== null) fs.writeFileSync(file, text);
    return file;
  };
  /** Both readers' answers: the state, or the error's message and hint. */
  const answer = async (read: () => unknown) => {
    try {
      return { state: await read() };
    } catch (error) {
      return { error: (error as Error).message, hint: (error as { hint?: string }).hint };
    }
  };

  it.each([
    ['a full state', JSON.stringify(fullState())],
    ['a state with an unknown key', JSON.stringify({ ...fullState(), extra: true })],
    ['no file', null],
    ['an empty file', ''],
    ['a truncated file', JSON.stringify(fullState()).slice(0, 100)],
    ['JSON that is no object', '[1]'],
    ['JSON null', 'null'],
    ['no schemaVersion', JSON.stringify({ ...fullState(), schemaVersion: undefined })],
    ['a newer schema', JSON.stringify({ ...fullState(), schemaVersion: STATE_SCHEMA_VERSION + 1 })],
    ['a bad field', JSON.stringify({ ...fullState(), outcome: 'won' })],
  ])('%s: the same answer as readStateReadOnly', async (_, text) => {
    const file = write(text);
    const quick = await answer(() => readStateQuick(file));
    expect(quick).toEqual(await answer(() => readStateReadOnly(file)));
    // and it wrote nothing beside it (no backup)
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(file)))).toHaveLength(text === null ? 0 : 1);
  });
});
