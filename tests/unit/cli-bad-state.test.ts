/**
 * A state file that fails the state schema, through the CLI's own entry point (in this process): `plan` refuses it
 * with exit 2 and writes nothing. Before the schema, a ledger entry without fingerprint and material passed the
 * check and `plan` crashed with a TypeError. (`build` and `resume`, which need root, are driven by
 * tests/integration/safety-state.test.ts; the store's one backup by tests/unit/state-store.test.ts.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { emptyLedgerEntry } from '../../src/types.js';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';

let work: string;
let stateFile: string;

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-bad-state-'));
  stateFile = path.join(work, 'state', 'state.json');
});

afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function captureIO(): CliIO & { output: () => string } {
  let text = '';
  const sink = { write: (chunk: string) => (text += chunk) };
  return {
    stdout: sink,
    stderr: sink,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: work,
    uid: process.getuid?.() ?? 1000,
    commandLine: 'ailinux test',
    output: () => text,
  };
}

/** A finished minimal build's state whose bootstrap entry lost its fingerprint and material. */
function writeStateWithoutFingerprint(): string {
  const now = '2025-01-01T00:00:00.000Z';
  const state: StateFile = {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '0',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'succeeded',
    createdAt: now,
    updatedAt: now,
    order: ['bootstrap'],
    ledger: {
      bootstrap: { ...emptyLedgerEntry('bootstrap'), status: 'done', attempts: 1, startedAt: now, endedAt: now },
    },
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'r-1', command: 'build', startedAt: now, endedAt: now, outcome: 'succeeded' }],
  };
  const raw = JSON.parse(JSON.stringify(state)) as { ledger: Record<string, Record<string, unknown>> };
  delete raw.ledger['bootstrap']!['fingerprint'];
  delete raw.ledger['bootstrap']!['material'];
  fs.mkdirSync(path.dirname(stateFile), { recursive: true });
  const text = JSON.stringify(raw, null, 2);
  fs.writeFileSync(stateFile, text);
  return text;
}

/** Every path under the work dir with its size: what a command wrote shows up here. */
function listing(): string[] {
  return fs
    .readdirSync(work, { recursive: true, encoding: 'utf8' })
    .map((p) => {
      const st = fs.lstatSync(path.join(work, p));
      return st.isDirectory() ? `${p}/` : `${p} ${st.size}`;
    })
    .sort();
}

describe('a ledger entry without fingerprint and material', () => {
  it('plan exits 2 naming the field, and writes nothing (it used to crash with a TypeError)', async () => {
    const text = writeStateWithoutFingerprint();
    const before = listing();
    const io = captureIO();
    const code = await main(['plan', '-w', work], io);
    expect(code, io.output()).toBe(2);
    expect(io.output()).toContain(`state file ${stateFile} is not a valid ailinux state`);
    expect(io.output()).toContain('field ledger.bootstrap.fingerprint is missing');
    expect(io.output()).toContain('no backup was written');
    expect(io.output()).not.toMatch(/TypeError|Cannot read properties/);
    expect(listing()).toEqual(before);
    expect(fs.readFileSync(stateFile, 'utf8')).toBe(text);
  });
});

/** The same finished state with these fields of the bootstrap entry taken out. */
function writeStateWithout(fields: string[]): string {
  writeStateWithoutFingerprint();
  const raw = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { ledger: Record<string, Record<string, unknown>> };
  raw.ledger['bootstrap']!['fingerprint'] = 'f';
  raw.ledger['bootstrap']!['material'] = {};
  for (const f of fields) delete raw.ledger['bootstrap']![f];
  const text = JSON.stringify(raw, null, 2);
  fs.writeFileSync(stateFile, text);
  return text;
}

// resume and build on such a file: tests/integration/safety-state.test.ts (they run only in the sandbox, as root)
describe('ledger entries that lack fields are refused by plan and status with a clear error (issue 9, finding 10)', () => {
  const cases: Array<[string, string[]]> = [
    ['status', ['status']],
    ['attempts and artifacts', ['attempts', 'artifacts']],
    ['startedAt and error', ['startedAt', 'error']],
  ];
  for (const [what, fields] of cases) {
    it.each([
      ['plan', ['plan']],
      ['status', ['status']],
      ['status --json', ['status', '--json']],
    ])(`without ${what}: %s exits 2 naming the field, writes nothing, no TypeError`, async (_, args) => {
      const text = writeStateWithout(fields);
      const before = listing();
      const io = captureIO();
      const code = await main([...args, '-w', work], io);
      expect(code, io.output()).toBe(2);
      expect(io.output()).toContain(`state file ${stateFile} is not a valid ailinux state`);
      expect(io.output()).toContain(`field ledger.bootstrap.${fields[0]} is missing`);
      expect(io.output()).not.toMatch(/TypeError|Cannot read properties|internal error/);
      expect(listing()).toEqual(before);
      expect(fs.readFileSync(stateFile, 'utf8')).toBe(text);
    });
  }
});
