/**
 * A full disk pauses the build (issue 9, finding 6): a step's command that says `No space left on device`, a step's
 * own write that gets ENOSPC, and a state write that gets ENOSPC each end the build `paused` with the last good state
 * kept on disk, never `failed` or a crash; `resume` then finishes it. Driven with the fake runner and registered
 * test steps. Before the fix the first two failed the build (exit 1) and the third threw inside the machine's
 * subscriber (internal error: ENOSPC).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StateStore } from '../../state/store.js';
import type { BuildDeps, BuildRequest } from '../../src/engine/build.js';
import { BuildRun } from '../../src/engine/build-run.js';
import { isDiskFull } from '../../src/engine/disk-full.js';
import type { ProgressView } from '../../src/engine/progress.js';
import { CommandError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { registerStep, unregisterStep } from '../../src/steps/registry.js';
import type { StepContext, StepDef } from '../../src/steps/types.js';

const STEPS = ['df-one', 'df-two', 'df-three'];
const behaviour: Record<string, (ctx: StepContext) => Promise<void>> = {};
const runs: Record<string, number> = {};

function testStep(id: string): StepDef {
  return {
    id,
    title: `test step ${id}`,
    version: 1,
    layer: 'none',
    phase: 12,
    configFields: ['name'],
    async run(ctx) {
      runs[id] = (runs[id] ?? 0) + 1;
      await behaviour[id]?.(ctx);
      return [];
    },
    async verify() {},
    async undo() {},
  };
}

let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-disk-full-'));
  for (const id of STEPS) registerStep(testStep(id));
});

afterAll(() => {
  for (const id of STEPS) unregisterStep(id);
  fs.rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
  for (const k of Object.keys(behaviour)) delete behaviour[k];
  for (const k of Object.keys(runs)) delete runs[k];
});

let n = 0;
function setup(): { workDir: string; configFile: string } {
  const dir = path.join(tmp, `case-${++n}`);
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'ailinux.config.yaml');
  // retries would hide a pause behind a second attempt: a full disk is not a transient failure to retry
  fs.writeFileSync(
    configFile,
    `extends: minimal\nsteps: [${STEPS.join(', ')}]\nretry: { maxAttempts: 3, backoffMs: 0, backoffFactor: 1 }\nresources: { minFreeDiskMb: 0 }\n`,
  );
  return { workDir: path.join(dir, 'work'), configFile };
}

function deps(messages: string[]): BuildDeps {
  const view: ProgressView = {
    stepStarted: () => undefined,
    stepLine: () => undefined,
    stepEnded: () => undefined,
    message: (text) => messages.push(text),
    close: () => undefined,
  };
  const runner = () =>
    new FakeRunner().on('fill-disk', {
      exitCode: 1,
      stderr: "cp: error writing '/var/cache/apt/archives/big.deb': No space left on device",
    });
  return { view, warn: (m) => messages.push(`warning: ${m}`), env: {}, createRunner: runner };
}

function request(command: 'build' | 'resume', where: { workDir: string; configFile: string }): BuildRequest {
  return { command, workDir: where.workDir, configFile: where.configFile, commandLine: `ailinux ${command} (test)` };
}

async function build(command: 'build' | 'resume', where: { workDir: string; configFile: string }) {
  const messages: string[] = [];
  const result = await new BuildRun(request(command, where), deps(messages)).run();
  return { result, messages };
}

const stateFile = (workDir: string) => path.join(workDir, 'state', 'state.json');
const onDisk = (workDir: string) => StateStore.open(stateFile(workDir)).load()!;
const enospc = (syscall: string) =>
  Object.assign(new Error(`ENOSPC: no space left on device, ${syscall}`), { code: 'ENOSPC', syscall });

describe('a full disk pauses the build', () => {
  it("a step's command that says No space left on device: paused, no retry, the next step not started; resume finishes", async () => {
    const where = setup();
    behaviour['df-two'] = async (ctx) => {
      await ctx.runner.run(['fill-disk']);
    };
    const { result, messages } = await build('build', where);
    expect(result.outcome).toBe('paused');
    expect(result.pauseReason).toBe(
      `disk: no space left on device while running df-two; free some space where ${where.workDir} lies`,
    );
    expect(messages).toContain(`pausing: ${result.pauseReason}`);
    expect(runs).toEqual({ 'df-one': 1, 'df-two': 1 });
    const state = onDisk(where.workDir);
    expect(state.outcome).toBe('paused');
    expect(state.ledger['df-two']!.status).toBe('interrupted');
    delete behaviour['df-two'];
    const resumed = await build('resume', where);
    expect(resumed.result.outcome).toBe('succeeded');
    expect(runs).toEqual({ 'df-one': 1, 'df-two': 2, 'df-three': 1 });
  });

  it("a step's own write that gets ENOSPC: paused", async () => {
    const where = setup();
    behaviour['df-one'] = async () => {
      throw enospc('write');
    };
    const { result } = await build('build', where);
    expect(result.outcome).toBe('paused');
    expect(result.pauseReason).toMatch(/^disk: no space left on device while running df-one;/);
    expect(onDisk(where.workDir).ledger['df-one']!.status).toBe('interrupted');
  });

  it('the state write gets ENOSPC: paused, the last good state kept on disk, valid; resume finishes', async () => {
    const where = setup();
    let full = false;
    const save = StateStore.prototype.save;
    vi.spyOn(StateStore.prototype, 'save').mockImplementation(function (this: StateStore, state) {
      if (full) throw enospc('write');
      return save.call(this, state);
    });
    let lastGood = '';
    behaviour['df-two'] = async () => {
      lastGood = fs.readFileSync(stateFile(where.workDir), 'utf8');
      full = true;
    };
    const { result } = await build('build', where);
    expect(result.outcome).toBe('paused');
    expect(result.pauseReason).toMatch(/^disk: no space left on device while writing the state file;/);
    expect(runs).toEqual({ 'df-one': 1, 'df-two': 1 });
    // nothing was written once the disk was full: the file is the one df-two saw when it started
    expect(fs.readFileSync(stateFile(where.workDir), 'utf8')).toBe(lastGood);
    const kept = onDisk(where.workDir);
    expect(kept.ledger['df-one']!.status).toBe('done');
    expect(kept.ledger['df-two']!.status).toBe('running');
    full = false;
    delete behaviour['df-two'];
    const resumed = await build('resume', where);
    expect(resumed.result.outcome).toBe('succeeded');
    expect(onDisk(where.workDir).ledger['df-three']!.status).toBe('done');
  });

  it('any other failure is still a failure', async () => {
    const where = setup();
    behaviour['df-one'] = async () => {
      throw Object.assign(new Error('EACCES: permission denied, open /x'), { code: 'EACCES', syscall: 'open' });
    };
    const { result } = await build('build', where);
    expect(result.outcome).toBe('failed');
  });
});

describe('isDiskFull', () => {
  const failed = (stderrTail: string) =>
    new CommandError(
      { argv: ['x'], exitCode: 1, signal: null, stderrTail, rerun: 'x', timedOut: false, cancelled: false },
      false,
    );
  it('knows ENOSPC and EDQUOT, what tools print, and an error that wraps one', () => {
    expect(isDiskFull(enospc('write'))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('q'), { code: 'EDQUOT' }))).toBe(true);
    expect(isDiskFull(failed('dpkg: error: failed to write (No space left on device)'))).toBe(true);
    expect(isDiskFull(failed("E: You don't have enough free space in /var/cache/apt/archives/."))).toBe(true);
    expect(isDiskFull(new Error('step failed', { cause: enospc('write') }))).toBe(true);
    expect(isDiskFull(failed('E: Unable to locate package x'))).toBe(false);
    expect(isDiskFull(new Error('no space'))).toBe(false);
  });
});
