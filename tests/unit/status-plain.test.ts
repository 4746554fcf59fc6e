/**
 * `ailinux status` in its plain forms skips commander (src/cli/entry.ts, src/cli/status-plain.ts; issue 11, point 7):
 * which command lines count as plain, and, on each of them, in each kind of work dir, that it writes what main writes
 * (stdout, stderr, exit code; the host's live figures aside) — a build's state, a failed step's fix lines with the
 * -w as typed, a work dir found from the current directory, none at all, and a broken state file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plainStatusArgs, run } from '../../src/cli/entry.js';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { writeMark } from '../../src/engine/work-dir-mark.js';
import { emptyLedgerEntry } from '../../src/types.js';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { StateStore } from '../../state/store.js';

describe('plainStatusArgs', () => {
  it.each([
    [['status'], { workDir: undefined, json: false }],
    [['status', '--json'], { workDir: undefined, json: true }],
    [['status', '-w', 'w'], { workDir: 'w', json: false }],
    [['status', '--work-dir', 'w', '--json'], { workDir: 'w', json: true }],
    [['status', '--json', '--work-dir=w'], { workDir: 'w', json: true }],
  ])('%j is plain', (argv, expected) => {
    expect(plainStatusArgs(argv)).toEqual(expected);
  });

  it.each([
    [[]],
    [['plan']],
    [['statusx']],
    [['-w', 'w', 'status']],
    [['-C', 'd', 'status']],
    [['status', '-C', 'd']],
    [['status', '--help']],
    [['status', '-h']],
    [['status', 'extra']],
    [['status', '-w']],
    [['status', '-w', '']],
    [['status', '-w', '--json']],
    [['status', '--work-dir=']],
    [['status', '-ww']],
    [['status', '-w', 'a', '-w', 'b']],
    [['status', '--json', '--json']],
    [['status', '--', '-w', 'w']],
  ])('%j goes to main', (argv) => {
    expect(plainStatusArgs(argv)).toBeNull();
  });
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-status-plain-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function state(workDir: string, over: Partial<StateFile> = {}): void {
  const now = '2025-01-01T00:00:00.000Z';
  const failed = {
    ...emptyLedgerEntry('packages'),
    status: 'failed' as const,
    attempts: 2,
    durationMs: 1500,
    error: {
      message: 'apt-get failed',
      code: 'COMMAND',
      transient: false,
      hint: 'see `ailinux log packages`',
      hintArgv: ['ailinux', 'log', 'packages'],
    },
  };
  StateStore.open(path.join(workDir, 'state', 'state.json')).save({
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w',
    runId: 'r',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'failed',
    createdAt: now,
    updatedAt: now,
    order: ['bootstrap', 'packages', 'iso'],
    ledger: {
      bootstrap: { ...emptyLedgerEntry('bootstrap'), status: 'done', attempts: 1, durationMs: 2000, runId: 'r' },
      packages: failed,
      iso: emptyLedgerEntry('iso'),
    },
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'r', command: 'build', startedAt: now, endedAt: now, outcome: 'failed' }],
    ...over,
  });
}

/** A work dir of each kind, under tmp. */
const built = path.join(tmp, 'built');
state(built);
const running = path.join(tmp, 'running');
state(running, { outcome: 'running', current: 'packages', snapshot: { value: { pipeline: { packages: 'running' } } } });
const marked = path.join(tmp, 'marked');
state(marked);
writeMark(marked);
fs.mkdirSync(path.join(marked, 'logs'), { recursive: true });
const broken = path.join(tmp, 'broken');
fs.mkdirSync(path.join(broken, 'state'), { recursive: true });
fs.writeFileSync(path.join(broken, 'state', 'state.json'), '{"schemaVersion": 1, "outcome": "won"}');
const empty = path.join(tmp, 'empty');
fs.mkdirSync(empty);

/** The built work dir as a relative path, as a user may type it (relative to the process's directory, as main reads it). */
const relative = path.relative(process.cwd(), built);

/** What a run wrote, the host's live figures (load, memory, disk) left out. */
async function outputOf(runner: (argv: readonly string[], io: CliIO) => Promise<number>, argv: string[], cwd: string) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: { NO_COLOR: '1' },
    cwd,
    uid: 0,
    commandLine: ['ailinux', ...argv].join(' '),
    argv,
  };
  const code = await runner(argv, io);
  const json = argv.includes('--json') && code === 0;
  if (json) {
    const report = JSON.parse(stdout);
    if (report.details) delete report.details.resources;
    stdout = JSON.stringify(report, null, 2);
  } else stdout = stdout.replace(/^host: .*$/m, 'host: …');
  return { code, stdout, stderr };
}

describe('plain status writes what main writes', { timeout: 30_000 }, () => {
  it.each([
    ['a failed build, -w', ['status', '-w', built], tmp],
    ['a failed build, --json', ['status', '--json', '-w', built], tmp],
    ['a relative --work-dir, as typed in the fix lines', ['status', '--work-dir', relative], tmp],
    ['--work-dir=', ['status', `--work-dir=${relative}`, '--json'], tmp],
    ['a running build (the machine state)', ['status', '-w', running], tmp],
    ['the work dir the current directory lies in', ['status'], path.join(marked, 'logs')],
    ['the default, ./ailinux-build, which is not there', ['status'], empty],
    ['no build in the work dir given', ['status', '-w', empty], tmp],
    ['a broken state file', ['status', '-w', broken], tmp],
    ['a broken state file, --json', ['status', '--json', '-w', broken], tmp],
  ])('%s', async (_, argv, cwd) => {
    expect(plainStatusArgs(argv)).not.toBeNull();
    const plain = await outputOf(run, argv, cwd);
    expect(plain).toEqual(await outputOf(main, argv, cwd));
    expect(plain.stdout.length + plain.stderr.length).toBeGreaterThan(0);
  });

  it('the cases above cover what they claim', async () => {
    const failed = await outputOf(run, ['status', '--work-dir', relative], tmp);
    expect(failed.stdout).toContain(`run: ailinux log packages --work-dir ${relative}`);
    expect((await outputOf(run, ['status', '-w', running], tmp)).stdout).toMatch(/^state: {4}\S/m);
    expect((await outputOf(run, ['status'], path.join(marked, 'logs'))).stderr).toContain(
      `is inside the work dir ${marked}`,
    );
    const bad = await outputOf(run, ['status', '-w', broken], tmp);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a valid ailinux state');
  });
});
