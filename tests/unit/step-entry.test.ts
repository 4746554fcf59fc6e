/**
 * A step is one entry: a throwaway step registered once is picked up by doctor, preflight, plan and inspect with no
 * other change, through what the step itself declares (its tools, files, phase, fields and layer).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorReport } from '../../src/cli/commands/doctor.js';
import { runInspectCommand } from '../../src/cli/commands/inspect.js';
import { computePlan } from '../../src/cli/commands/plan.js';
import type { CliIO } from '../../src/cli/io.js';
import { loadConfig } from '../../src/config/load.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { hostRequirements, needsChroot } from '../../src/steps/host-requirements.js';
import { createPreflightStep, type HostProbe } from '../../src/steps/preflight.js';
import { registerStep, resolveSteps, unregisterStep } from '../../src/steps/registry.js';
import type { StepDef } from '../../src/steps/types.js';

const TOOL = 'ailinux-test-frobnicate';
const FILE = '/nonexistent-ailinux-test/frob.dat';

const throwaway: StepDef = {
  id: 'frobnicate',
  title: 'Frobnicate the ISO tree (test step)',
  version: 1,
  layer: 'none',
  phase: 11,
  configFields: ['name'],
  hostTools: () => [{ name: TOOL, pkg: 'frob-tools', why: 'frobnication (frobnicate step)', versionArgs: ['-V'] }],
  hostFiles: () => [{ path: FILE, pkg: 'frob-data', why: 'the frob table' }],
  async run() {
    return [];
  },
  async verify() {},
  async undo() {},
};

let tmp: string;
let configFile: string;
const io = (): CliIO & { out: string[] } => {
  const out: string[] = [];
  return {
    out,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => out.push(t) },
    env: { PATH: '/usr/bin:/bin' },
    cwd: tmp,
    uid: 1000,
    commandLine: 'ailinux test',
  };
};

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-step-entry-'));
  registerStep(throwaway);
  const minimal = loadConfig({ configFile: null, profile: 'minimal' }).config.steps;
  const steps = [...minimal.slice(0, minimal.indexOf('iso')), 'frobnicate', ...minimal.slice(minimal.indexOf('iso'))];
  configFile = path.join(tmp, 'ailinux.config.yaml');
  fs.writeFileSync(configFile, `extends: minimal\nsteps: [${steps.join(', ')}]\n`);
});

afterAll(() => {
  unregisterStep('frobnicate');
  fs.rmSync(tmp, { recursive: true, force: true });
});

// configFields is typed against the config's dotted paths: a misspelt field does not compile (tsc checks the tests)
const misspelt: StepDef['configFields'] = [
  'iso.bios',
  'liveUser',
  // @ts-expect-error `hostnmae` is no config field
  'hostnmae',
  // @ts-expect-error `iso.bois` is no field of iso
  'iso.bois',
];

describe('a step is one entry', () => {
  it('declares config fields by their typed paths', () => {
    expect(misspelt).toHaveLength(4);
  });

  it('refuses a second step with the same id, and ids that are not lowercase words', () => {
    expect(() => registerStep(throwaway)).toThrow('a step "frobnicate" is already registered');
    expect(() => registerStep({ ...throwaway, id: 'Frob nicate' })).toThrow('must be lowercase');
    expect(() => unregisterStep('bootstrap')).toThrow('built in');
  });

  it('hostRequirements lists its tool and file with the step that needs them', () => {
    const config = loadConfig({ configFile, profile: null }).config;
    const needs = hostRequirements(resolveSteps(config), config);
    expect(needs.tools.find((t) => t.name === TOOL)).toMatchObject({ pkg: 'frob-tools', steps: ['frobnicate'] });
    expect(needs.files.find((f) => f.path === FILE)).toMatchObject({ pkg: 'frob-data', steps: ['frobnicate'] });
    // derived from the layer kind, not declared: chroot steps get chroot and the namespace tools
    expect(needsChroot(throwaway)).toBe(false);
    expect(needs.tools.find((t) => t.name === 'chroot')?.steps).toEqual([
      'configure',
      'packages',
      'identity',
      'chroot-cleanup',
    ]);
  });

  it('doctor blocks on its missing tool and file', async () => {
    const report = await doctorReport({ workDir: path.join(tmp, 'w-doctor'), config: configFile }, io());
    expect(report.tools.find((t) => t.name === TOOL)).toMatchObject({ path: null, pkg: 'frob-tools' });
    expect(report.findings).toContainEqual({
      level: 'block',
      topic: 'tools',
      message: `${TOOL} is missing (frobnication (frobnicate step))`,
      fix: 'apt-get install frob-tools',
    });
    expect(report.findings).toContainEqual({
      level: 'block',
      topic: 'files',
      message: `${FILE} is missing (the frob table)`,
      fix: 'apt-get install frob-data',
    });
    expect(report.blocked).toBe(true);
  });

  it('preflight reports its tool and file, with one apt-get line', async () => {
    const config = loadConfig({ configFile, profile: null }).config;
    const probe: HostProbe = {
      envPath: () => '/usr/bin:/bin',
      isRoot: () => true,
      freeDiskMb: () => 1_000_000,
      fileExists: (f) => f !== FILE && fs.existsSync(f),
      fetchStatus: async () => 200,
      proxy: () => null,
    };
    const preflight = createPreflightStep({ probe, steps: (c) => resolveSteps(c) });
    const workDir = path.join(tmp, 'w-preflight');
    const infos: string[] = [];
    const ctx = {
      config,
      paths: { workDir } as never,
      runner: new FakeRunner(),
      log: { info: (m: string) => infos.push(m), line: () => undefined },
      signal: new AbortController().signal,
      layers: {} as never,
      sourceDateEpoch: null,
      cores: 1,
      baseDir: tmp,
    };
    const error = await preflight.run(ctx).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).message).toContain(
      `${TOOL} is not installed (needed for frobnication (frobnicate step)) [fix: apt-get install frob-tools]`,
    );
    expect((error as StepError).message).toContain(
      `${FILE} is missing (the frob table) [fix: apt-get install frob-data]`,
    );
    expect((error as StepError).hintArgv).toEqual(
      expect.arrayContaining(['apt-get', 'install', 'frob-tools', 'frob-data']),
    );
  });

  it('plan runs it in its place, with its title and phase, and says why', async () => {
    const { plan, titles, phases } = await computePlan({ workDir: path.join(tmp, 'w-plan'), config: configFile }, io());
    const ids = plan.map((p) => p.id);
    expect(ids.indexOf('frobnicate')).toBe(ids.indexOf('iso') - 1);
    expect(plan.find((p) => p.id === 'frobnicate')).toMatchObject({
      action: 'run',
      reasons: ['it has never run in this work dir'],
    });
    expect(titles['frobnicate']).toBe('Frobnicate the ISO tree (test step)');
    expect(phases['frobnicate']).toBe(11);
  });

  it('inspect draws it as a step of the machine, between its neighbours', async () => {
    // the compact picture: one node per step, in the list's order
    const compact = io();
    expect(
      await runInspectCommand({ workDir: path.join(tmp, 'w-inspect'), config: configFile, format: 'dot' }, compact),
    ).toBe(0);
    const small = compact.out.join('');
    const node = (id: string) => small.indexOf(`"build.pipeline.${id}" [`);
    expect(node('bootloaders')).toBeGreaterThan(0);
    expect(node('bootloaders')).toBeLessThan(node('frobnicate'));
    expect(node('frobnicate')).toBeLessThan(node('iso'));
    expect(small).not.toContain('"build.pipeline.frobnicate.running"');

    // --detail: the whole machine
    const cli = io();
    const code = await runInspectCommand(
      { workDir: path.join(tmp, 'w-inspect'), config: configFile, format: 'dot', detail: true },
      cli,
    );
    expect(code).toBe(0);
    const dot = cli.out.join('');
    // the machine is generated from the step list: the step has the same states as any other, in its place
    expect(dot).toContain('"build.pipeline.frobnicate.running"');
    expect(dot).toContain('"build.pipeline.frobnicate.recovering"');
    const at = (id: string) => dot.indexOf(`"cluster_build.pipeline.${id}"`);
    expect(at('bootloaders')).toBeGreaterThan(0);
    expect(at('bootloaders')).toBeLessThan(at('frobnicate'));
    expect(at('frobnicate')).toBeLessThan(at('iso'));
  });
});
