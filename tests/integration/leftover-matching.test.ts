/**
 * Leftover processes are matched to one work dir alone (issue 9, finding 4). A work dir copied with its state shares
 * the state's ids, so `clean` or `resume` of the copy used to end the original's processes. Now a leftover is ours
 * only when its marker names this work dir's real path and one of its runs, and its root or working directory lies
 * inside it. The fake leftover is a `sleep` with the marker a command of the original's last run carries.
 *
 * `resume` runs through BuildRun with the fake runner and test steps; `clean` is the real CLI (root, in its sandbox).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StateFile } from '../../state/schema.js';
import { StateStore } from '../../state/store.js';
import type { BuildDeps, BuildRequest } from '../../src/engine/build.js';
import { BuildRun } from '../../src/engine/build-run.js';
import type { ProgressView } from '../../src/engine/progress.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { registerStep, unregisterStep } from '../../src/steps/registry.js';
import type { StepDef } from '../../src/steps/types.js';
import { assertCliBuilt, runCli } from '../helpers/cli.js';
import { isRunning, StartedProcesses, waitFor } from '../helpers/processes.js';
import { missingRoot, skipTestWithout } from '../helpers/root.js';

const STEP = 'lm-only';
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-leftovers-')));
const started = new StartedProcesses();
const configFile = path.join(tmp, 'ailinux.config.yaml');

const step: StepDef = {
  id: STEP,
  title: 'test step',
  version: 1,
  layer: 'none',
  phase: 12,
  configFields: ['name'],
  async run(ctx) {
    const file = path.join(ctx.paths.outputDir, 'lm.out');
    fs.mkdirSync(ctx.paths.outputDir, { recursive: true });
    fs.writeFileSync(file, 'lm\n');
    return [{ path: path.relative(ctx.paths.workDir, file), kind: 'file', size: 3 }];
  },
  async verify() {},
  async undo() {},
};

beforeAll(() => {
  registerStep(step);
  fs.writeFileSync(configFile, `extends: minimal\nsteps: [${STEP}]\nresources: { minFreeDiskMb: 0 }\n`);
});
afterEach(() => started.killAll());
afterAll(() => {
  unregisterStep(STEP);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A build or resume through BuildRun (fake runner); what it warned. */
async function runBuild(command: 'build' | 'resume', workDir: string): Promise<string[]> {
  const messages: string[] = [];
  const view: ProgressView = {
    stepStarted: () => undefined,
    stepLine: () => undefined,
    stepEnded: () => undefined,
    message: (text) => messages.push(text),
    close: () => undefined,
  };
  const deps: BuildDeps = { view, warn: (m) => messages.push(m), env: {}, createRunner: () => new FakeRunner() };
  const request: BuildRequest = { command, workDir, configFile, commandLine: `ailinux ${command} (test)` };
  const result = await new BuildRun(request, deps).run();
  expect(result.outcome).toBe('succeeded');
  return messages;
}

const stateOf = (workDir: string): StateFile => StateStore.open(path.join(workDir, 'state', 'state.json')).load()!;

/** A process as a command of the work dir's last run would be: its marker, and cwd in it unless told otherwise. */
async function startLeftover(workDir: string, cwd = workDir): Promise<ChildProcess> {
  const state = stateOf(workDir);
  const child = started.child(
    spawn('sleep', ['300'], {
      cwd,
      detached: true,
      stdio: 'ignore',
      env: {
        ...process.env,
        AILINUX_WORK_ID: state.workId,
        AILINUX_WORK_DIR: fs.realpathSync(workDir),
        AILINUX_BUILD_ID: state.runId,
      },
    }),
  );
  // the marker is in /proc/PID/environ once sleep runs
  expect(
    await waitFor(() => fs.readFileSync(`/proc/${child.pid}/environ`, 'latin1').includes('AILINUX_WORK_ID='), 30_000),
  ).toBe(true);
  return child;
}

async function clean(workDir: string): Promise<string> {
  const run = await runCli(['clean', '-w', workDir]);
  expect(run.code, run.output).toBe(0);
  return run.stderr;
}

describe('leftovers are matched to one work dir alone', () => {
  let original: string;
  let copy: string;

  beforeAll(async () => {
    original = path.join(tmp, 'original');
    copy = path.join(tmp, 'copy');
    await runBuild('build', original);
    // a finished work dir, copied state and all
    fs.cpSync(original, copy, { recursive: true });
    expect(stateOf(copy).workId).toBe(stateOf(original).workId);
  });

  it("resume of a copy leaves the original's process alone; resume of the original ends it", async () => {
    const leftover = await startLeftover(original);
    const fromCopy = await runBuild('resume', copy);
    expect(fromCopy.join('\n')).not.toContain('ended');
    expect(isRunning(leftover.pid!)).toBe(true);

    // the resume ran under a new id: a leftover of the run the original recorded before it
    const fromOriginal = await runBuild('resume', original);
    expect(fromOriginal).toContainEqual(
      `ended 1 process(es) left running by an earlier build of this work dir: ${leftover.pid}`,
    );
    expect(await waitFor(() => !isRunning(leftover.pid!), 30_000)).toBe(true);
  });

  it('a marked process whose root and working directory lie outside the work dir is not its leftover', async () => {
    const elsewhere = await startLeftover(original, tmp);
    const inside = await startLeftover(original);
    await runBuild('resume', original);
    expect(await waitFor(() => !isRunning(inside.pid!), 30_000)).toBe(true);
    expect(isRunning(elsewhere.pid!)).toBe(true);
  });

  it("clean of a copy leaves the original's process alone; clean of the original ends it", async (ctx) => {
    skipTestWithout(ctx, missingRoot());
    assertCliBuilt();
    const leftover = await startLeftover(original);
    // the copy's state names the same runs as the original's
    fs.cpSync(path.join(original, 'state'), path.join(copy, 'state'), { recursive: true, force: true });
    expect(stateOf(copy).runId).toBe(stateOf(original).runId);
    expect(await clean(copy)).not.toContain('ended');
    expect(isRunning(leftover.pid!)).toBe(true);

    expect(await clean(original)).toContain(`ended 1 process(es) left by an earlier build: ${leftover.pid}`);
    expect(await waitFor(() => !isRunning(leftover.pid!), 30_000)).toBe(true);
  });
});
