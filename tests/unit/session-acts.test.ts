/**
 * The session record acts (issue 9, finding 15): a check after a step that shows a violation (a signal the guard
 * refused) stops the build like SIGHUP, state saved, the next step never started; a violation seen after the last
 * step still ends it interrupted by SIGHUP. An ancestor that exited (the shell of a nohup'd build) is no violation,
 * even when its pid now names a group of ours that we signalled. `status` and the report show the record. Before
 * the fix the checks were only recorded: the build went on and succeeded, and status showed nothing of them.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../../state/store.js';
import { renderStatus, statusReport } from '../../src/cli/commands/status.js';
import type { BuildDeps, BuildRequest } from '../../src/engine/build.js';
import { BuildRun } from '../../src/engine/build-run.js';
import type { ProgressView } from '../../src/engine/progress.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { readProcStat } from '../../src/runtime/proc-stat.js';
import { registerRunnerGroup, releaseRunnerGroup, sendSignal } from '../../src/runtime/process-groups.js';
import { checkViolation, SafetyRecorder, summarizeSafety } from '../../src/runtime/session.js';
import { renderReportText, type BuildReport } from '../../src/steps/report.js';
import { registerStep, unregisterStep } from '../../src/steps/registry.js';
import type { StepDef } from '../../src/steps/types.js';

const STEPS = ['sa-one', 'sa-two', 'sa-three'];
const misbehave: Record<string, boolean> = {};
const runs: Record<string, number> = {};

/** A step that, when told to, asks the guard to signal init: a bug the guard refuses, which the step swallows. */
function testStep(id: string): StepDef {
  return {
    id,
    title: `test step ${id}`,
    version: 1,
    layer: 'none',
    phase: 12,
    configFields: ['name'],
    async run() {
      runs[id] = (runs[id] ?? 0) + 1;
      if (misbehave[id]) {
        try {
          sendSignal(1, 'SIGTERM', 'a bug');
        } catch {
          // the guard refused; the step carries on as if nothing happened
        }
      }
      return [];
    },
    async verify() {},
    async undo() {},
  };
}

let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-session-acts-'));
  for (const id of STEPS) registerStep(testStep(id));
});

afterAll(() => {
  for (const id of STEPS) unregisterStep(id);
  fs.rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => {
  for (const k of Object.keys(misbehave)) delete misbehave[k];
  for (const k of Object.keys(runs)) delete runs[k];
});

let n = 0;
function setup(): { workDir: string; configFile: string } {
  const dir = path.join(tmp, `case-${++n}`);
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'ailinux.config.yaml');
  fs.writeFileSync(configFile, `extends: minimal\nsteps: [${STEPS.join(', ')}]\nresources: { minFreeDiskMb: 0 }\n`);
  return { workDir: path.join(dir, 'work'), configFile };
}

async function build(where: { workDir: string; configFile: string }) {
  const messages: string[] = [];
  const view: ProgressView = {
    stepStarted: () => undefined,
    stepLine: () => undefined,
    stepEnded: () => undefined,
    message: (text) => messages.push(text),
    close: () => undefined,
  };
  const deps: BuildDeps = { view, warn: (m) => messages.push(m), env: {}, createRunner: () => new FakeRunner() };
  const request: BuildRequest = { command: 'build', ...where, commandLine: 'ailinux build (test)' };
  const result = await new BuildRun(request, deps).run();
  return { result, messages };
}

describe('a violation found by a session check stops the build like SIGHUP', () => {
  it('after a middle step: interrupted by SIGHUP, state saved, the next step interrupted as it began; status shows it', async () => {
    const where = setup();
    misbehave['sa-two'] = true;
    const { result, messages } = await build(where);
    expect(result.outcome).toBe('interrupted');
    expect(result.signal).toBe('SIGHUP');
    expect(messages).toContain(
      'session check after sa-two: the signal guard refused 1 signal(s); stopping the build like SIGHUP (the state is saved)',
    );
    const state = StateStore.open(path.join(where.workDir, 'state', 'state.json')).load()!;
    expect(state.outcome).toBe('interrupted');
    expect(state.interruptSignal).toBe('SIGHUP');
    // the check runs once sa-two's transition is taken, as sa-three starts: like a SIGHUP at that moment
    expect(state.ledger['sa-two']!.status).toBe('done');
    expect(state.ledger['sa-three']!.status).toBe('interrupted');
    const report = await statusReport(where.workDir);
    expect(report.safety).toMatchObject({ violation: 'after sa-two: the signal guard refused 1 signal(s)' });
    expect(renderStatus(report)).toMatch(
      /^safety: {3}none session, \d+ check\(s\), the last at \S+ \(end, sa-three\): VIOLATION after sa-two: the signal guard refused 1 signal\(s\)/m,
    );
  });

  it('after the last step: the work is kept, and the build still ends interrupted by SIGHUP', async () => {
    const where = setup();
    misbehave['sa-three'] = true;
    const { result } = await build(where);
    expect(result.outcome).toBe('interrupted');
    expect(result.signal).toBe('SIGHUP');
    expect(runs).toEqual({ 'sa-one': 1, 'sa-two': 1, 'sa-three': 1 });
  });

  it('a build with no violation succeeds, and status says the checks were ok', async () => {
    const where = setup();
    const { result } = await build(where);
    expect(result.outcome).toBe('succeeded');
    expect(renderStatus(await statusReport(where.workDir))).toMatch(
      /^safety: {3}none session, 5 check\(s\), the last at \S+ \(end\): ok$/m,
    );
  });
});

describe('an ancestor that exited is no violation', () => {
  it("the dead shell's pid, reused by a group of ours that we signal, is not taken for the shell", async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const pgid = child.pid!;
    const ticks = readProcStat(pgid)!.startTicks;
    registerRunnerGroup(pgid, ticks);
    try {
      // the shell that started us (nohup ... &) had this pid and has exited: another start time
      const recorder = new SafetyRecorder('r-nohup', null, [
        { pid: pgid, ppid: 1, comm: 'bash', startTicks: ticks - 1 } as never,
      ]);
      sendSignal(-pgid, 'SIGTERM', 'ending a command group this runner started');
      const check = recorder.check('sa-one', 'step');
      expect(check.ancestorsAlive).toBe(false);
      expect(check.allOurs).toBe(true);
      expect(checkViolation(check)).toBeNull();
    } finally {
      releaseRunnerGroup(pgid);
      child.kill('SIGKILL');
    }
  });

  it('a live ancestor signalled would be one (the guard refuses it first)', () => {
    const recorder = new SafetyRecorder('r-live', null);
    expect(() => sendSignal(process.ppid, 'SIGCONT', 'a bug')).toThrow(/ancestor/);
    const check = recorder.check(null, 'end');
    expect(check.refused).toBe(1);
    expect(checkViolation(check)).toBe('the signal guard refused 1 signal(s)');
  });
});

describe('the report shows the record', () => {
  it('one line under the steps, with the violation', () => {
    const recorder = new SafetyRecorder('r-report', null);
    recorder.check(null, 'start');
    const report: BuildReport = {
      tool: { name: 'ailinux', version: '0' },
      profile: 'minimal',
      generatedAt: '2025-01-01T00:00:00.000Z',
      iso: { path: 'output/x.iso', size: null, sha256: null, volumeLabel: 'X' },
      steps: [],
      packages: [],
      safety: summarizeSafety(recorder.record, 'r-report'),
    };
    expect(renderReportText(report)).toMatch(
      /\nsession safety: \w+ session, 1 check\(s\), the last at \S+ \(start\): ok\n/,
    );
  });
});
