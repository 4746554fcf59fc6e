/**
 * `ailinux log -f` (issue 13, point 5): a log followed as it grows, whole lines only, until what writes it ends, with
 * the step's or the build's result as exit code; Ctrl-C ends it with 130. And `ailinux log` of the event log through
 * pino-pretty: readable, plain without a terminal, coloured on one or with FORCE_COLOR, never with NO_COLOR.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { runLogCommand } from '../../src/cli/commands/log.js';
import type { CliIO } from '../../src/cli/io.js';
import { buildResult, followLog, stepEnded, type FollowEnd, type SignalSource } from '../../src/cli/log-follow.js';
import { eventLogPrinter } from '../../src/cli/log-pretty.js';
import { workPaths } from '../../src/runtime/paths.js';
import type { LedgerEntry } from '../../src/types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-log-follow-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;

function io(env: NodeJS.ProcessEnv = { NO_COLOR: '1' }, isTTY = false) {
  const out = { stdout: '', stderr: '' };
  const cli: CliIO = {
    stdout: { write: (s: string) => (out.stdout += s), isTTY },
    stderr: { write: (s: string) => (out.stderr += s) },
    env,
    cwd: tmp,
    uid: 1000,
    commandLine: 'ailinux',
  };
  return { cli, out };
}

function entry(id: string, status: LedgerEntry['status'], message?: string): LedgerEntry {
  return {
    id,
    status,
    fingerprint: null,
    material: null,
    attempts: 1,
    startedAt: null,
    endedAt: null,
    durationMs: null,
    artifacts: [],
    error: message ? { message, code: 'COMMAND_FAILED', transient: false } : null,
    reason: null,
    runId: 'r-1',
  };
}

function state(over: Partial<StateFile>): StateFile {
  const now = new Date().toISOString();
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'running',
    createdAt: now,
    updatedAt: now,
    order: ['bootstrap', 'squashfs'],
    ledger: {},
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [],
    ...over,
  };
}

/** A work dir with this state and no lock held: the build that wrote it has stopped. */
function workDir(st: StateFile | null): string {
  const work = path.join(tmp, `w${++dirs}`);
  const paths = workPaths(work);
  fs.mkdirSync(paths.stateDir, { recursive: true });
  fs.mkdirSync(paths.stepLogsDir, { recursive: true });
  if (st) fs.writeFileSync(paths.stateFile, JSON.stringify(st));
  return work;
}

function signals(): SignalSource & EventEmitter {
  return new EventEmitter() as SignalSource & EventEmitter;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('followLog', () => {
  it('prints what is appended, whole lines only, until ended() says so, then the rest and its exit code', async () => {
    const file = path.join(tmp, `f${++dirs}.log`);
    let end: FollowEnd | null = null;
    const { cli, out } = io();
    const following = followLog({ file, render: (s) => s.toUpperCase(), ended: () => end }, cli, signals(), 20);
    // no file yet: it waits for one
    await sleep(60);
    fs.writeFileSync(file, 'one\ntw');
    await sleep(120);
    expect(out.stdout).toBe('ONE\n');
    // a character split across writes is decoded whole
    const split = Buffer.from('o é\nthree\n');
    fs.appendFileSync(file, split.subarray(0, 3));
    await sleep(60);
    fs.appendFileSync(file, split.subarray(3));
    await sleep(120);
    expect(out.stdout).toBe('ONE\nTWO É\nTHREE\n');
    fs.appendFileSync(file, 'last, cut short');
    end = { code: 1, note: 'step squashfs failed' };
    expect(await following).toBe(1);
    expect(out.stdout).toBe('ONE\nTWO É\nTHREE\nLAST, CUT SHORT\n');
    expect(out.stderr).toBe('ailinux: step squashfs failed\n');
  });

  it('reads a log that was replaced (a step rerun) from its start', async () => {
    const dir = path.join(tmp, `r${++dirs}`);
    fs.mkdirSync(dir);
    const file = path.join(dir, 'step.log');
    fs.writeFileSync(file, 'first run, a long line\n');
    let end: FollowEnd | null = null;
    const { cli, out } = io();
    const following = followLog({ file, render: (s) => s, ended: () => end }, cli, signals(), 20);
    await sleep(80);
    fs.writeFileSync(`${file}.new`, 'second\n');
    fs.renameSync(`${file}.new`, file);
    await sleep(120);
    end = { code: 0, note: 'step done' };
    expect(await following).toBe(0);
    expect(out.stdout).toBe('first run, a long line\nsecond\n');
  });

  it('stops on Ctrl-C with 130 and on SIGTERM with 143, saying the build goes on', async () => {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const file = path.join(tmp, `s${++dirs}.log`);
      fs.writeFileSync(file, 'running\n');
      const source = signals();
      const { cli, out } = io();
      const following = followLog({ file, render: (s) => s, ended: () => null }, cli, source, 20);
      await sleep(60);
      source.emit(signal);
      expect(await following).toBe(code);
      expect(out.stdout).toBe('running\n');
      expect(out.stderr).toMatch(/^ailinux: stopped following \((Ctrl-C|SIGTERM)\); the build goes on\n$/);
      // it listens no more
      expect(source.listenerCount('SIGINT') + source.listenerCount('SIGTERM')).toBe(0);
    }
  });
});

describe("a followed step's end, from the state and the lock", () => {
  it('done or skipped is 0, failed is 1 with the first line of its error', () => {
    const paths = (st: StateFile) => workPaths(workDir(st));
    expect(stepEnded(paths(state({ ledger: { squashfs: entry('squashfs', 'done') } })), 'squashfs')).toEqual({
      code: 0,
      note: 'step squashfs done',
    });
    expect(stepEnded(paths(state({ ledger: { squashfs: entry('squashfs', 'skipped') } })), 'squashfs')?.code).toBe(0);
    expect(
      stepEnded(
        paths(state({ ledger: { squashfs: entry('squashfs', 'failed', 'mksquashfs exited 1\nmore') } })),
        'squashfs',
      ),
    ).toEqual({ code: 1, note: 'step squashfs failed: mksquashfs exited 1' });
  });

  it('a step still running when no build holds the lock ends with the build: its signal, paused, or killed', () => {
    const running = { squashfs: entry('squashfs', 'running') };
    const ended = (over: Partial<StateFile>) =>
      stepEnded(workPaths(workDir(state({ ledger: running, ...over }))), 'squashfs');
    expect(ended({ outcome: 'interrupted', interruptSignal: 'SIGTERM' })).toEqual({
      code: 143,
      note: 'step squashfs did not end: the build was interrupted by SIGTERM; ailinux resume continues it',
    });
    expect(ended({ outcome: 'interrupted', interruptSignal: 'SIGINT' })?.code).toBe(130);
    expect(ended({ outcome: 'paused', pauseReason: 'disk full' })?.code).toBe(75);
    expect(ended({ outcome: 'running' })).toEqual({
      code: 1,
      note: 'step squashfs did not end: the build stopped without recording an outcome (killed or crashed); ailinux resume continues it',
    });
    // the build went on past a step that never ran, and succeeded: the step did not end, so not 0
    expect(stepEnded(workPaths(workDir(state({ outcome: 'succeeded' }))), 'squashfs')?.code).toBe(1);
  });

  it("the build's result is its own run's exit code", () => {
    expect(buildResult(state({ outcome: 'succeeded' })).code).toBe(0);
    expect(buildResult(state({ outcome: 'failed' })).code).toBe(1);
    expect(buildResult(state({ outcome: 'interrupted', interruptSignal: 'SIGHUP' })).code).toBe(129);
    expect(buildResult(state({ outcome: 'interrupted', interruptSignal: 'SIGQUIT' })).code).toBe(131);
    expect(buildResult(null).code).toBe(1);
  });
});

describe('ailinux log -f on a build that has stopped', () => {
  it("prints the step's whole log and exits with its result at once", async () => {
    const work = workDir(state({ outcome: 'failed', ledger: { squashfs: entry('squashfs', 'failed', 'boom') } }));
    fs.writeFileSync(path.join(workPaths(work).stepLogsDir, 'squashfs.log'), '$ mksquashfs\n! boom\u001b[31m\n');
    const { cli, out } = io();
    expect(await runLogCommand('squashfs', { workDir: work, follow: true }, cli, signals())).toBe(1);
    expect(out.stdout).toBe('$ mksquashfs\n! boom\n');
    expect(out.stderr).toBe('ailinux: step squashfs failed: boom\n');
  });

  it('refuses a step that has no log and cannot start (no build runs), as log does', async () => {
    const work = workDir(state({ outcome: 'failed' }));
    const { cli } = io();
    await expect(runLogCommand('squashfs', { workDir: work, follow: true }, cli, signals())).rejects.toThrow(
      `no log for step squashfs in ${work}`,
    );
  });
});

describe('the event log through pino-pretty', () => {
  const events = [
    { level: 30, time: '2026-12-07T13:04:55.207Z', runId: 'r', command: 'build', plan: [{}], msg: 'build started' },
    {
      level: 30,
      time: '2026-12-07T13:04:55.313Z',
      runId: 'r',
      step: 'bootstrap',
      status: 'running',
      attempts: 1,
      msg: 'step running',
    },
    {
      level: 30,
      time: '2026-12-07T13:04:56.194Z',
      runId: 'r',
      step: 'bootstrap',
      argv: ['x'],
      ms: 877,
      exitCode: 0,
      msg: 'command finished',
    },
    { level: 40, time: '2026-12-07T13:04:57.000Z', runId: 'r', step: 'iso', msg: 'evil \u001b[2J title' },
    { level: 50, time: '2026-12-07T13:04:58.000Z', runId: 'r', msg: 'the build machine stopped with an error' },
  ];
  const ndjson = `${events.map((e) => JSON.stringify(e)).join('\n')}\n{"level":30,"ti\n`;

  it('is one readable line per event, with the step, the fields that add something, and no escape sequence', () => {
    const text = eventLogPrinter({ isTTY: false }, {})(ndjson);
    expect(text.split('\n')).toEqual([
      `[${events[0]!.time}] INFO: build started {"command":"build"}`,
      `[${events[1]!.time}] INFO: [bootstrap] step running`,
      `[${events[2]!.time}] INFO: [bootstrap] command finished {"exitCode":0}`,
      `[${events[3]!.time}] WARN: [iso] evil  title`,
      `[${events[4]!.time}] ERROR: the build machine stopped with an error`,
      '{"level":30,"ti',
      '',
    ]);
  });

  it('is coloured on a terminal or with FORCE_COLOR, and plain with NO_COLOR or in a pipe', () => {
    const coloured = (s: string) => /\u001b\[\d+m/.test(s);
    expect(coloured(eventLogPrinter({ isTTY: true }, {})(ndjson))).toBe(true);
    expect(coloured(eventLogPrinter({ isTTY: false }, { FORCE_COLOR: '1' })(ndjson))).toBe(true);
    expect(coloured(eventLogPrinter({ isTTY: true }, { NO_COLOR: '1' })(ndjson))).toBe(false);
    expect(coloured(eventLogPrinter({ isTTY: false }, {})(ndjson))).toBe(false);
  });

  it('is what ailinux log prints', async () => {
    const work = workDir(null);
    fs.mkdirSync(workPaths(work).logsDir, { recursive: true });
    fs.writeFileSync(workPaths(work).buildLog, ndjson);
    const { cli, out } = io();
    expect(await runLogCommand(undefined, { workDir: work }, cli)).toBe(0);
    expect(out.stdout).toBe(eventLogPrinter({ isTTY: false }, {})(ndjson));
  });
});
