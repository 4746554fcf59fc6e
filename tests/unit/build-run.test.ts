/**
 * BuildRun driven with the fake runner and registered test steps (no host tools, no root): the outcome comes from
 * the machine's output, a signal before the start ends through the same cleanup, a disk shortfall pauses through
 * the machine, hints reach the ledger, and retries, interrupts and resume behave as the ledger says.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../../state/store.js';
import type { BuildDeps, BuildRequest, BuildResult } from '../../src/engine/build.js';
import { BuildRun, watchResources } from '../../src/engine/build-run.js';
import type { ProgressView } from '../../src/engine/progress.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import type { ResourceSample } from '../../src/runtime/resources.js';
import { registerStep, unregisterStep } from '../../src/steps/registry.js';
import type { StepContext, StepDef } from '../../src/steps/types.js';
import type { StepStatus } from '../../src/types.js';

/** What each test step does on its next run; tests set it before a build. */
const behaviour: Record<string, (ctx: StepContext) => Promise<void>> = {};
const runs: Record<string, number> = {};
const undos: Record<string, number> = {};
/** Resolves when a step starts running, for tests that act in the middle of a step. */
const started: Record<string, () => void> = {};

function testStep(id: string, extra: Partial<StepDef> = {}): StepDef {
  return {
    id,
    title: `test step ${id}`,
    version: 1,
    layer: 'none',
    phase: 12,
    configFields: ['name'],
    async run(ctx) {
      runs[id] = (runs[id] ?? 0) + 1;
      started[id]?.();
      await behaviour[id]?.(ctx);
      const file = path.join(ctx.paths.outputDir, `${id}.out`);
      fs.mkdirSync(ctx.paths.outputDir, { recursive: true });
      fs.writeFileSync(file, `${id}\n`);
      return [{ path: path.relative(ctx.paths.workDir, file), kind: 'file', size: fs.statSync(file).size }];
    },
    async verify() {},
    async undo() {
      undos[id] = (undos[id] ?? 0) + 1;
    },
    ...extra,
  };
}

const STEPS = ['br-one', 'br-two', 'br-three'];
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-build-run-'));
  for (const id of STEPS) registerStep(testStep(id));
  registerStep(testStep('br-huge', { diskEstimateMb: () => 900_000_000 }));
});

afterAll(() => {
  for (const id of [...STEPS, 'br-huge']) unregisterStep(id);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function reset(): void {
  for (const k of Object.keys(behaviour)) delete behaviour[k];
  for (const k of Object.keys(runs)) delete runs[k];
  for (const k of Object.keys(undos)) delete undos[k];
  for (const k of Object.keys(started)) delete started[k];
}

let n = 0;
function setup(configText: string): { workDir: string; configFile: string } {
  n++;
  const dir = path.join(tmp, `case-${n}`);
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'ailinux.config.yaml');
  fs.writeFileSync(configFile, `extends: minimal\n${configText}`);
  return { workDir: path.join(dir, 'work'), configFile };
}

interface Seen {
  messages: string[];
  ended: Array<[string, StepStatus, string | undefined]>;
}

function deps(seen: Seen, onEnded?: (id: string, status: StepStatus) => void): BuildDeps {
  const view: ProgressView = {
    stepStarted: () => undefined,
    stepLine: () => undefined,
    stepEnded: (id, status, _ms, note) => {
      seen.ended.push([id, status, note]);
      onEnded?.(id, status);
    },
    message: (text) => seen.messages.push(text),
    close: () => undefined,
  };
  return { view, warn: (m) => seen.messages.push(`warning: ${m}`), env: {}, createRunner: () => new FakeRunner() };
}

function request(command: 'build' | 'resume', where: { workDir: string; configFile: string }): BuildRequest {
  return { command, workDir: where.workDir, configFile: where.configFile, commandLine: `ailinux ${command} (test)` };
}

async function build(
  command: 'build' | 'resume',
  where: { workDir: string; configFile: string },
  before?: (run: BuildRun) => void,
  onEnded?: (run: BuildRun, id: string, status: StepStatus) => void,
): Promise<{ result: BuildResult; seen: Seen }> {
  const seen: Seen = { messages: [], ended: [] };
  let run: BuildRun | null = null;
  run = new BuildRun(
    request(command, where),
    deps(seen, (id, status) => onEnded?.(run!, id, status)),
  );
  before?.(run);
  const result = await run.run();
  return { result, seen };
}

const onDisk = (workDir: string) => StateStore.open(path.join(workDir, 'state', 'state.json')).load()!;
const FAST = `steps: [${STEPS.join(', ')}]\nretry: { maxAttempts: 3, backoffMs: 0, backoffFactor: 1 }\nresources: { minFreeDiskMb: 0 }\n`;

describe('BuildRun with the fake runner', () => {
  it('runs every step once and records the outcome the machine gives', async () => {
    reset();
    const where = setup(FAST);
    const { result } = await build('build', where);
    expect(result.outcome).toBe('succeeded');
    expect(result.failedStep).toBeNull();
    expect(runs).toEqual({ 'br-one': 1, 'br-two': 1, 'br-three': 1 });
    const state = onDisk(where.workDir);
    expect(state.outcome).toBe('succeeded');
    expect(state.current).toBeNull();
    expect(STEPS.map((id) => state.ledger[id]!.status)).toEqual(['done', 'done', 'done']);
    expect(state.history.at(-1)).toMatchObject({ command: 'build', outcome: 'succeeded' });
    expect(state.safety?.checks.map((c) => c.phase)).toEqual(['start', 'step', 'step', 'step', 'end']);
    expect(result.stateWrites.count).toBeGreaterThan(STEPS.length);
  });

  it('a failed step keeps its hint and the command it suggests in the ledger; resume reruns only from it', async () => {
    reset();
    const where = setup(FAST);
    behaviour['br-two'] = async () => {
      throw new StepError('br-two', 'the frob table is missing', {
        hint: 'install it',
        hintArgv: ['apt-get', 'install', 'frob-data'],
      });
    };
    const { result } = await build('build', where);
    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('br-two');
    // not transient: tried once, undone once by the recovering state (and once before its run)
    expect(runs['br-two']).toBe(1);
    const entry = onDisk(where.workDir).ledger['br-two']!;
    expect(entry).toMatchObject({ status: 'failed', attempts: 1 });
    expect(entry.error).toMatchObject({
      message: 'the frob table is missing',
      code: 'STEP',
      transient: false,
      hint: 'install it',
      hintArgv: ['apt-get', 'install', 'frob-data'],
    });
    expect(onDisk(where.workDir).ledger['br-three']!.status).toBe('pending');

    delete behaviour['br-two'];
    const again = await build('resume', where);
    expect(again.result.outcome).toBe('succeeded');
    expect(runs).toEqual({ 'br-one': 1, 'br-two': 2, 'br-three': 1 });
    expect(again.seen.messages).toContain('br-two: it failed last time: the frob table is missing');
  });

  it('build refuses a work dir with an unfinished build, and says how to go on in argv', async () => {
    reset();
    const where = setup(FAST);
    behaviour['br-one'] = async () => {
      throw new StepError('br-one', 'no');
    };
    await build('build', where);
    const error = await build('build', where).then(
      () => null,
      (e: unknown) => e as { message: string; hintArgv?: string[] },
    );
    expect(error?.message).toContain('holds an unfinished build (failed at br-one)');
    expect(error?.hintArgv).toEqual(['ailinux', 'resume']);
  });

  it('a transient failure is retried with backoff (a permanent one is tried once: the hint test above)', async () => {
    reset();
    const where = setup(FAST);
    let calls = 0;
    behaviour['br-one'] = async () => {
      calls++;
      if (calls === 1) throw new StepError('br-one', 'mirror hiccup', { transient: true });
    };
    const { result, seen } = await build('build', where);
    expect(result.outcome).toBe('succeeded');
    expect(onDisk(where.workDir).ledger['br-one']).toMatchObject({ status: 'done', attempts: 2, error: null });
    expect(seen.ended).toContainEqual(['br-one', 'retrying', 'attempt 1 failed: mirror hiccup; retrying']);
  });

  it('a signal before the start ends the build through the machine: interrupted, no step run, state saved', async () => {
    reset();
    const where = setup(FAST);
    const { result } = await build('build', where, (run) => run.interrupt('SIGTERM'));
    expect(result.outcome).toBe('interrupted');
    expect(result.signal).toBe('SIGTERM');
    expect(runs).toEqual({});
    const state = onDisk(where.workDir);
    expect(state.outcome).toBe('interrupted');
    expect(state.interruptSignal).toBe('SIGTERM');
    expect(state.history.at(-1)?.outcome).toBe('interrupted');
    expect(STEPS.map((id) => state.ledger[id]!.status)).toEqual(['pending', 'pending', 'pending']);
    // the one end-of-build path: the end check is recorded like after any build
    expect(state.safety?.checks.at(-1)?.phase).toBe('end');
  });

  it('an interrupt during a step stops it; resume undoes it first and runs it again', async () => {
    reset();
    const where = setup(FAST);
    behaviour['br-two'] = (ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    const interrupting = new Promise<void>((resolve) => {
      started['br-two'] = resolve;
    });
    let run: BuildRun | null = null;
    const seen: Seen = { messages: [], ended: [] };
    run = new BuildRun(request('build', where), deps(seen));
    const done = run.run();
    await interrupting;
    run.interrupt('SIGINT');
    const result = await done;
    expect(result.outcome).toBe('interrupted');
    expect(onDisk(where.workDir).ledger['br-two']!.status).toBe('interrupted');

    delete behaviour['br-two'];
    const undone = undos['br-two'] ?? 0;
    const again = await build('resume', where);
    expect(again.result.outcome).toBe('succeeded');
    expect(runs['br-one']).toBe(1);
    expect(undos['br-two']).toBeGreaterThan(undone);
  });

  it('Ctrl-C during a long backoff wait ends the build at once, not when the wait ends', async () => {
    reset();
    const where = setup(
      `steps: [${STEPS.join(', ')}]\nretry: { maxAttempts: 3, backoffMs: 600000, backoffFactor: 1 }\nresources: { minFreeDiskMb: 0 }\n`,
    );
    behaviour['br-one'] = async () => {
      throw new StepError('br-one', 'mirror hiccup', { transient: true });
    };
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const began = Date.now();
    const { result } = await build('build', where, undefined, (run, id, status) => {
      if (id === 'br-one' && status === 'retrying') run.interrupt('SIGINT');
    });
    expect(result.outcome).toBe('interrupted');
    expect(onDisk(where.workDir).ledger['br-one']!.status).toBe('interrupted');
    // the wait was 600 s: anything near that would time the test out long before
    expect(Date.now() - began).toBeLessThan(600_000);
    // and its timer is gone: a backoff that ignored the abort would keep the process alive for ten minutes
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('a step whose disk estimate does not fit pauses the build through the machine, before the step touches anything', async () => {
    reset();
    const where = setup(`steps: [br-one, br-huge, br-three]\nresources: { minFreeDiskMb: 0 }\n`);
    const { result, seen } = await build('build', where);
    expect(result.outcome).toBe('paused');
    expect(result.pauseReason).toMatch(
      /^disk: br-huge needs about 900000000 MiB plus the floor of 0 MiB, but .* MiB free/,
    );
    expect(runs['br-huge']).toBeUndefined();
    expect(undos['br-huge']).toBeUndefined();
    expect(seen.messages.some((m) => m.startsWith('pausing: disk: br-huge needs about'))).toBe(true);
    const state = onDisk(where.workDir);
    expect(state.outcome).toBe('paused');
    expect(state.ledger['br-one']!.status).toBe('done');
    expect(state.ledger['br-huge']!.status).toBe('interrupted');
  });
});

describe('a step to redo', () => {
  it('loses its old checkpoint at once, so a pause before it cannot leave a stale one to reuse', async () => {
    reset();
    const where = setup(FAST);
    expect((await build('build', where)).result.outcome).toBe('succeeded');
    const done = onDisk(where.workDir).ledger['br-three']!;
    expect(done.fingerprint).not.toBeNull();
    // a step that cannot fit is put before br-three: the build pauses there, with br-three still to redo
    fs.writeFileSync(
      where.configFile,
      'extends: minimal\nsteps: [br-one, br-two, br-huge, br-three]\nresources: { minFreeDiskMb: 0 }\n',
    );
    const { result } = await build('build', where);
    expect(result.outcome).toBe('paused');
    const entry = onDisk(where.workDir).ledger['br-three']!;
    expect(entry).toMatchObject({ status: 'pending', fingerprint: null, material: null, artifacts: [], runId: null });
  });
});

describe('the resource monitor', () => {
  const sample = (freeMb: number): ResourceSample => ({
    diskFreeBytes: freeMb * 1024 * 1024,
    memUsedBytes: 1024 * 1024 * 100,
    load1: 0.5,
  });

  it('records samples for the current step and asks for one pause when the disk falls below the floor', async () => {
    const recorded: Array<[string, number]> = [];
    const pauses: string[] = [];
    const frees = [5000, 3000, 100, 50];
    let step: string | null = null;
    let stop: () => void = () => undefined;
    await new Promise<void>((resolve) => {
      stop = watchResources({
        dir: '/w',
        intervalMs: 5,
        floorMb: 1024,
        currentStep: () => step,
        record: (s, r) => {
          recorded.push([s, Math.round(r.diskFreeBytes / 1024 / 1024)]);
          if (recorded.length === 3) setTimeout(resolve, 50);
        },
        pause: (reason) => pauses.push(reason),
        sample: () => sample(frees.shift() ?? 10),
      });
      step = 'packages';
    });
    stop();
    expect(recorded).toEqual([
      ['packages', 5000],
      ['packages', 3000],
      ['packages', 100],
    ]);
    expect(pauses).toEqual(['disk: 100 MiB free in /w, below the floor of 1024 MiB (resources.minFreeDiskMb)']);
  });
});
