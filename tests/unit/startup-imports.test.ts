/**
 * `status` and `plan` start fast (issue 11, point 7): they load neither execa, Graphviz's WASM, pino, log-update,
 * playwright nor the build engine, which the CLI loads only for the commands that use them (src/cli/lazy-commands.ts).
 * `status` of a finished build loads none of zod, lowdb, xstate, commander or main.ts either: it reads the state with
 * the quick check (state/read-quick.ts) and runs without commander (src/cli/status-plain.ts). Not a timed test: it
 * fails when a static import brings one of them back. Each command runs from the sources (tsx), through the CLI's
 * entry as bin/ailinux.js calls it, in a child node with a module hook that records every file it resolves, static or
 * dynamic; the control cases (`verify` of a missing ISO, `status` of a broken state) show that the hook sees execa and
 * zod when they are loaded.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyLedgerEntry } from '../../src/types.js';
import { STATE_SCHEMA_VERSION } from '../../state/version.js';
import { REPO } from '../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-startup-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** tsx's loader by its path: the child runs in a temp dir, where the bare name would not resolve. */
const TSX = pathToFileURL(path.join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;

let n = 0;
/** The files the CLI resolves while it runs `args`, relative to the checkout. */
function modulesLoadedBy(args: string[]): string[] {
  const record = path.join(tmp, `modules-${++n}.txt`);
  const entry = pathToFileURL(path.join(REPO, 'src/cli/entry.ts')).href;
  const script = `const { run } = await import(${JSON.stringify(entry)}); process.exitCode = await run(${JSON.stringify(args)});`;
  try {
    execFileSync(
      process.execPath,
      ['--import', TSX, '--import', path.join(REPO, 'tests/fixtures/startup/record-modules.mjs'), '-e', script],
      { cwd: tmp, env: { ...process.env, RECORD_MODULES: record, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (error) {
    // a usage error (exit 2) is the control case's expected end; the record is what counts
    if ((error as { status?: number }).status !== 2) throw error;
  }
  const root = `${pathToFileURL(REPO).href}/`;
  // a package by its path from node_modules/ (wherever that lies), a file of ours from the checkout
  const named = (url: string): string | null => {
    const at = url.lastIndexOf('/node_modules/');
    if (at >= 0) return url.slice(at + 1);
    return url.startsWith(root) ? url.slice(root.length) : null;
  };
  return [...new Set(fs.readFileSync(record, 'utf8').trim().split('\n'))]
    .map(named)
    .filter((f): f is string => f !== null);
}

/** What status and plan must not load: each costs start-up time and serves only other commands. */
const HEAVY = [
  /^node_modules\/execa\//,
  /^node_modules\/@hpcc-js\/wasm-graphviz\//,
  /^node_modules\/playwright-core\//,
  /^node_modules\/pino\//,
  /^node_modules\/log-update\//,
  /^src\/runtime\/execa-runner\.ts$/,
  /^src\/engine\/build-run\.ts$/,
  /^src\/inspect\/render\.ts$/,
  /^src\/inspect\/server\.ts$/,
  /^src\/verify\/verify-iso\.ts$/,
];
const heavyIn = (files: string[]) => files.filter((f) => HEAVY.some((re) => re.test(f)));

/** What `status` of a finished build does not load either: plan needs them, status does not. */
const HEAVY_FOR_STATUS = [
  /^node_modules\/zod\//,
  /^node_modules\/lowdb\//,
  /^node_modules\/xstate\//,
  /^node_modules\/commander\//,
  /^src\/cli\/main\.ts$/,
  /^src\/cli\/command-help\.ts$/,
  /^src\/config\/profiles\//,
  /^state\/store\.ts$/,
  /^state\/schema\.ts$/,
  /^machines\//,
];
const heavyForStatusIn = (files: string[]) => files.filter((f) => HEAVY_FOR_STATUS.some((re) => re.test(f)));

/** A finished build's work dir: every step done, no machine state left (what status reads most often). */
function finishedWorkDir(): string {
  const work = path.join(tmp, 'finished');
  const now = new Date().toISOString();
  const ledger = Object.fromEntries(
    ['bootstrap', 'iso'].map((id) => [id, { ...emptyLedgerEntry(id), status: 'done', attempts: 1, durationMs: 5 }]),
  );
  const state = {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w',
    runId: 'r',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'succeeded',
    createdAt: now,
    updatedAt: now,
    order: ['bootstrap', 'iso'],
    ledger,
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'r', command: 'build', startedAt: now, endedAt: now, outcome: 'succeeded' }],
  };
  fs.mkdirSync(path.join(work, 'state'), { recursive: true });
  fs.writeFileSync(path.join(work, 'state', 'state.json'), JSON.stringify(state));
  return work;
}

describe('what a command loads', { timeout: 60_000 }, () => {
  it('status loads none of execa, Graphviz, pino, log-update, playwright, the build engine or the ISO verifier', () => {
    const files = modulesLoadedBy(['status', '-w', path.join(tmp, 'work')]);
    expect(files).toContain('src/cli/commands/status.ts');
    expect(heavyIn(files)).toEqual([]);
  });

  it("status of a finished build, plain or --json, loads none of zod, lowdb, xstate, commander or main's commands", () => {
    const work = finishedWorkDir();
    for (const args of [
      ['status', '-w', work],
      ['status', '--json', '--work-dir', work],
    ]) {
      const files = modulesLoadedBy(args);
      expect(files).toContain('src/cli/commands/status.ts');
      expect(files).toContain('state/read-quick.ts');
      expect(heavyForStatusIn(files)).toEqual([]);
    }
  });

  it('the control: status of a broken state loads zod for its error, so the record sees it', () => {
    const work = path.join(tmp, 'broken');
    fs.mkdirSync(path.join(work, 'state'), { recursive: true });
    fs.writeFileSync(path.join(work, 'state', 'state.json'), '{"schemaVersion": 1}');
    const files = modulesLoadedBy(['status', '-w', work]);
    expect(files.some((f) => f.startsWith('node_modules/zod/'))).toBe(true);
  });

  it('plan loads none of them either, nor xstate (it compares the machine shape version only)', () => {
    const files = modulesLoadedBy(['plan', '-p', 'minimal', '-w', path.join(tmp, 'work')]);
    expect(files).toContain('src/cli/commands/plan.ts');
    expect(heavyIn(files)).toEqual([]);
    expect(files.filter((f) => f.startsWith('node_modules/xstate/') || f === 'machines/build-machine.ts')).toEqual([]);
  });

  it('the control: verify loads execa and the verifier when it runs, so the record sees a lazy import', () => {
    const files = modulesLoadedBy(['verify', path.join(tmp, 'missing.iso')]);
    expect(files).toContain('src/cli/commands/verify.ts');
    expect(files.some((f) => f.startsWith('node_modules/execa/'))).toBe(true);
  });
});
