/**
 * What `ailinux build` prints, through its command with fake tools (test steps, the fake runner, no sandbox) and a
 * hand-driven clock (issue 13, point 1): without a TTY a row when each step starts and ends and a heartbeat after
 * 30 s of a step with its latest output line; --progress=plain streams each output line with its step's name;
 * on a TTY a live line with step N of M; stdout holds the ISO's path and nothing else; --quiet prints nothing on
 * success but that path. Before this, nothing was printed while a step ran and the path went to stderr.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildCommandOptions, runBuildCommand } from '../../src/cli/commands/build.js';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import type { ProgressTimers } from '../../src/cli/progress-timers.js';
import { BuildRun } from '../../src/engine/build-run.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { registerStep, unregisterStep } from '../../src/steps/registry.js';
import type { StepContext, StepDef } from '../../src/steps/types.js';

/** The clock and timers of the view, moved on by the test: a heartbeat without waiting 30 s of real time. */
class ManualTimers implements ProgressTimers {
  private time = 1_000_000;
  private readonly timers = new Map<number, { ms: number; due: number; fn: () => void }>();
  private next = 0;

  every(ms: number, fn: () => void): () => void {
    const id = ++this.next;
    this.timers.set(id, { ms, due: this.time + ms, fn });
    return () => this.timers.delete(id);
  }

  now(): number {
    return this.time;
  }

  /** Moves the clock on, firing each timer as often as its interval passed, in time order. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers.values()].filter((t) => t.due <= until).sort((a, b) => a.due - b.due)[0];
      if (!due) break;
      this.time = due.due;
      due.due += due.ms;
      due.fn();
    }
    this.time = until;
  }
}

let timers = new ManualTimers();
/** What the slow step does between its two commands; tests set it. */
let midway: () => void = () => undefined;
let failSlow = false;

function testStep(id: string, run: (ctx: StepContext) => Promise<void>, output?: string): StepDef {
  return {
    id,
    title: `progress test step ${id}`,
    version: 1,
    layer: 'none',
    phase: 12,
    configFields: ['name'],
    async run(ctx) {
      await run(ctx);
      if (!output) return [];
      const file = path.join(ctx.paths.outputDir, output);
      fs.mkdirSync(ctx.paths.outputDir, { recursive: true });
      fs.writeFileSync(file, `${id}\n`);
      return [{ path: path.relative(ctx.paths.workDir, file), kind: 'file', size: fs.statSync(file).size }];
    },
    async verify() {},
    async undo() {},
  };
}

const STEPS = [
  testStep('pv-fetch', async (ctx) => {
    await ctx.runner.run(['fake-fetch']);
  }),
  testStep('pv-slow', async (ctx) => {
    await ctx.runner.run(['fake-unpack']);
    midway();
    if (failSlow) throw new StepError('pv-slow', 'the frob table is missing');
    await ctx.runner.run(['fake-setup']);
  }),
  testStep('pv-iso', async () => undefined, 'pv.iso'),
];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-build-progress-'));
  for (const step of STEPS) registerStep(step);
});
afterAll(() => {
  for (const step of STEPS) unregisterStep(step.id);
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function setup(): { workDir: string; config: string } {
  const dir = path.join(tmp, `case-${++n}`);
  fs.mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'ailinux.config.yaml');
  fs.writeFileSync(
    config,
    `extends: minimal\nsteps: [${STEPS.map((s) => s.id).join(', ')}]\nretry: { maxAttempts: 1 }\nresources: { minFreeDiskMb: 0 }\n`,
  );
  return { workDir: path.join(dir, 'work'), config };
}

function fakeRunner(): FakeRunner {
  return new FakeRunner()
    .on('fake-fetch', { stdout: 'Get:1 http://mirror stable InRelease\nGet:2 http://mirror stable/main amd64\n' })
    .on('fake-unpack', { stdout: 'Unpacking foo (1.0) ...\n' })
    .on('fake-setup', { stdout: 'Setting up foo (1.0) ...\n' });
}

interface Printed {
  code: number;
  stdout: string;
  stderr: string;
}

async function build(
  where: { workDir: string; config: string },
  options: Partial<BuildCommandOptions> = {},
  tty = false,
): Promise<Printed> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t), isTTY: tty, columns: 100 },
    env: { NO_COLOR: '1' },
    cwd: tmp,
    uid: 0,
    commandLine: 'ailinux build (test)',
  };
  const code = await runBuildCommand('build', { workDir: where.workDir, config: where.config, ...options }, io, {
    startBuild: (request, deps) => new BuildRun(request, { ...deps, createRunner: () => fakeRunner() }),
    timers,
  });
  return { code, stdout, stderr };
}

/** The real durations of ended steps and of the build, which the test does not drive, as T. */
function normalised(stderr: string): string[] {
  return stderr
    .trimEnd()
    .split('\n')
    .map((line) =>
      /^[✔↷✖■↻] |^build succeeded in /.test(line) ? line.replace(/ +(\d+ min )?\d+(\.\d)? s\b/, ' T') : line,
    );
}

describe('build output without a TTY', () => {
  it('a row when each step starts and ends, a heartbeat after 30 s with the latest line, the ISO path on stdout', async () => {
    timers = new ManualTimers();
    // 29.999 s pass without a heartbeat; at 30 s one comes, with the line the step printed last
    midway = () => {
      timers.advance(29_999);
      timers.advance(1);
    };
    const where = setup();
    const { code, stdout, stderr } = await build(where);
    expect(code).toBe(0);
    expect(normalised(stderr)).toEqual([
      '▶ pv-fetch         started       step 1/3',
      '✔ pv-fetch         done T',
      '▶ pv-slow          started       step 2/3',
      '· pv-slow          running         30.0 s  Unpacking foo (1.0) ...',
      '✔ pv-slow          done T',
      '▶ pv-iso           started       step 3/3',
      '✔ pv-iso           done T',
      'build succeeded in T',
    ]);
    expect(stdout).toBe(`${path.join(where.workDir, 'output', 'pv.iso')}\n`);
  });

  it('--progress=plain streams every output line after its step; a heartbeat comes only after a silent 30 s', async () => {
    timers = new ManualTimers();
    // the first 30 s follow an output line, the next 30 s are silent
    midway = () => timers.advance(60_000);
    const where = setup();
    const { code, stdout, stderr } = await build(where, { progress: 'plain' });
    expect(code).toBe(0);
    expect(normalised(stderr)).toEqual([
      '▶ pv-fetch         started       step 1/3',
      'pv-fetch         | Get:1 http://mirror stable InRelease',
      'pv-fetch         | Get:2 http://mirror stable/main amd64',
      '✔ pv-fetch         done T',
      '▶ pv-slow          started       step 2/3',
      'pv-slow          | Unpacking foo (1.0) ...',
      '· pv-slow          running      1 min 0 s  Unpacking foo (1.0) ...',
      'pv-slow          | Setting up foo (1.0) ...',
      '✔ pv-slow          done T',
      '▶ pv-iso           started       step 3/3',
      '✔ pv-iso           done T',
      'build succeeded in T',
    ]);
    expect(stdout).toBe(`${path.join(where.workDir, 'output', 'pv.iso')}\n`);
  });
});

/** Replaces the work dir's recorded durations with these, for pv-slow, in the first sample's profile and host. */
function seedDurations(workDir: string, ms: number[]): void {
  const file = path.join(workDir, 'state', 'durations.json');
  const recorded = JSON.parse(fs.readFileSync(file, 'utf8'));
  const first = recorded.steps['pv-slow'][0];
  const samples = ms.map((m, i) => ({ ...first, ms: m, runId: `seed-${i}` }));
  fs.writeFileSync(file, JSON.stringify({ version: 1, steps: { 'pv-slow': samples } }));
}

describe('expected times from earlier runs (issue 11, point 6)', () => {
  it('a build records each done step; the next one shows the median as the expected time in its rows', async () => {
    timers = new ManualTimers();
    midway = () => timers.advance(30_000);
    const where = setup();
    const first = await build(where);
    expect(first.code).toBe(0);
    expect(first.stderr).not.toMatch(/expected/);
    const recorded = JSON.parse(fs.readFileSync(path.join(where.workDir, 'state', 'durations.json'), 'utf8'));
    expect(Object.keys(recorded.steps).sort()).toEqual(['pv-fetch', 'pv-iso', 'pv-slow']);
    expect(recorded.steps['pv-slow']).toHaveLength(1);
    expect(recorded.steps['pv-slow'][0]).toMatchObject({ host: os.hostname(), fingerprint: expect.any(String) });

    seedDurations(where.workDir, [150_000, 130_000, 140_000]);
    const { code, stderr } = await build(where, { fresh: true });
    expect(code).toBe(0);
    const lines = normalised(stderr);
    expect(lines).toContain('▶ pv-slow          started       step 2/3  expected ~2:20');
    expect(lines).toContain('· pv-slow          running         30.0 s  expected ~2:20 · Unpacking foo (1.0) ...');
    // no history for pv-fetch (the seed replaced it): its row says nothing about an expected time
    expect(lines).toContain('▶ pv-fetch         started       step 1/3');
    // the --fresh run added its own sample to the three seeded ones
    const after = JSON.parse(fs.readFileSync(path.join(where.workDir, 'state', 'durations.json'), 'utf8'));
    expect(after.steps['pv-slow']).toHaveLength(4);
  });

  it('a failed step records no duration', async () => {
    timers = new ManualTimers();
    midway = () => undefined;
    failSlow = true;
    try {
      const where = setup();
      expect((await build(where)).code).toBe(1);
      const recorded = JSON.parse(fs.readFileSync(path.join(where.workDir, 'state', 'durations.json'), 'utf8'));
      expect(Object.keys(recorded.steps)).toEqual(['pv-fetch']);
    } finally {
      failSlow = false;
    }
  });
});

describe('--quiet', () => {
  it('prints nothing on success but the ISO path on stdout, the --fresh notice included', async () => {
    timers = new ManualTimers();
    midway = () => timers.advance(90_000);
    const where = setup();
    const first = await build(where, { quiet: true });
    const fresh = await build(where, { quiet: true, fresh: true });
    const iso = `${path.join(where.workDir, 'output', 'pv.iso')}\n`;
    expect(first).toEqual({ code: 0, stdout: iso, stderr: '' });
    expect(fresh).toEqual({ code: 0, stdout: iso, stderr: '' });
  });

  it("prints a failure: the failed step's row and the summary, and nothing on stdout", async () => {
    timers = new ManualTimers();
    midway = () => undefined;
    failSlow = true;
    try {
      const where = setup();
      const { code, stdout, stderr } = await build(where, { quiet: true });
      expect(code).toBe(1);
      expect(stdout).toBe('');
      const lines = normalised(stderr);
      expect(lines[0]).toBe('✖ pv-slow          failed T');
      expect(lines[1]).toBe('build failed at step pv-slow: the frob table is missing');
      expect(lines.some((l) => /started|pv-fetch/.test(l))).toBe(false);
    } finally {
      failSlow = false;
    }
  });

  it('and --progress together are refused with exit 2, before anything runs', async () => {
    let stderr = '';
    const sink = { write: (t: string) => (stderr += t) };
    const io: CliIO = { stdout: sink, stderr: sink, env: {}, cwd: tmp, uid: 0, commandLine: 'ailinux build' };
    const where = setup();
    expect(await main(['build', '-q', '--progress=plain', '-w', where.workDir], io)).toBe(2);
    expect(stderr).toMatch(/option '-q, --quiet' cannot be used with option '--progress <mode>'/);
    expect(fs.existsSync(where.workDir)).toBe(false);
  });
});

describe('build output on a TTY', () => {
  it('a live line with the step, step N of M, its elapsed time and latest line; rows for ended steps', async () => {
    timers = new ManualTimers();
    let shown = '';
    midway = () => {
      timers.advance(42_000);
      shown = stderrSoFar();
    };
    let stderrSoFar = () => '';
    const where = setup();
    let stderr = '';
    let stdout = '';
    const io: CliIO = {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t), isTTY: true, columns: 100 },
      env: { NO_COLOR: '1' },
      cwd: tmp,
      uid: 0,
      commandLine: 'ailinux build (test)',
    };
    stderrSoFar = () => stderr;
    const code = await runBuildCommand('build', { workDir: where.workDir, config: where.config }, io, {
      startBuild: (request, deps) => new BuildRun(request, { ...deps, createRunner: () => fakeRunner() }),
      timers,
    });
    expect(code).toBe(0);
    expect(shown).toContain('▶ [2/3] pv-slow  0:42  Unpacking foo (1.0) ...');
    // no start rows and no heartbeats on a TTY: the live line does their work
    const text = stderr.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).not.toMatch(/started|running/);
    expect(text).toMatch(/✔ pv-slow {10}done/);
    expect(stdout).toBe(`${path.join(where.workDir, 'output', 'pv.iso')}\n`);

    // with history, the live line shows elapsed / expected
    seedDurations(where.workDir, [140_000]);
    stderr = '';
    shown = '';
    const again = await runBuildCommand('build', { workDir: where.workDir, config: where.config, fresh: true }, io, {
      startBuild: (request, deps) => new BuildRun(request, { ...deps, createRunner: () => fakeRunner() }),
      timers,
    });
    expect(again).toBe(0);
    expect(shown).toContain('▶ [2/3] pv-slow  0:42 / ~2:20  Unpacking foo (1.0) ...');
  });
});
