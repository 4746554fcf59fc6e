/**
 * The engine's side of the shared deb cache: a build opens it where AILINUX_CACHE_DIR or cache.dir say, hands the
 * steps it with the distribution's key, leaves it writable in the sandbox, refuses a system directory before
 * anything is written, turns it off (said once) when the default cannot be made, and never reruns a step because
 * the cache moved: it is where, not what.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildDeps, BuildRequest } from '../../src/engine/build.js';
import { BuildRun } from '../../src/engine/build-run.js';
import type { ProgressView } from '../../src/engine/progress.js';
import { ConfigError } from '../../src/errors.js';
import type { SharedDebs } from '../../src/runtime/deb-cache.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { registerStep, unregisterStep } from '../../src/steps/registry.js';
import type { StepDef } from '../../src/steps/types.js';

const seenDebs: Array<SharedDebs | undefined> = [];
const seenFingerprints: Array<string | undefined> = [];
let runs = 0;

const STEP: StepDef = {
  id: 'dc-step',
  title: 'deb cache test step',
  version: 1,
  layer: 'none',
  phase: 12,
  configFields: ['name'],
  async run(ctx) {
    runs++;
    seenDebs.push(ctx.debs);
    seenFingerprints.push(ctx.fingerprint);
    const file = path.join(ctx.paths.outputDir, 'dc.out');
    fs.mkdirSync(ctx.paths.outputDir, { recursive: true });
    fs.writeFileSync(file, 'x\n');
    return [{ path: path.relative(ctx.paths.workDir, file), kind: 'file', size: 2 }];
  },
  async verify() {},
  async undo() {},
};

let tmp: string;
beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-build-deb-cache-')));
  registerStep(STEP);
});
afterAll(() => {
  unregisterStep(STEP.id);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const FAST = 'steps: [dc-step]\nresources: { minFreeDiskMb: 0 }\n';

function where(name: string, extra = ''): { workDir: string; configFile: string } {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'ailinux.config.yaml');
  fs.writeFileSync(configFile, `extends: minimal\n${FAST}${extra}`);
  return { workDir: path.join(dir, 'work'), configFile };
}

async function build(at: { workDir: string; configFile: string }, env: NodeJS.ProcessEnv) {
  const messages: string[] = [];
  const writable: string[][] = [];
  const view: ProgressView = {
    stepStarted: () => undefined,
    stepLine: () => undefined,
    stepEnded: () => undefined,
    message: (text) => messages.push(text),
    close: () => undefined,
  };
  const deps: BuildDeps = {
    view,
    warn: (m) => messages.push(`warning: ${m}`),
    env,
    createRunner: () => new FakeRunner(),
    sharedDebCache: true,
    enterSandbox: async (_paths, alsoWritable) => {
      writable.push([...alsoWritable]);
    },
  };
  const request: BuildRequest = { command: 'build', ...at, commandLine: 'ailinux build (test)' };
  const result = await new BuildRun(request, deps).run();
  return { result, messages, writable };
}

describe('a build and the shared deb cache', () => {
  it("opens AILINUX_CACHE_DIR, hands the steps it with the distribution's key, and leaves it writable", async () => {
    seenDebs.length = 0;
    const cacheDir = path.join(tmp, 'env-cache');
    const { result, writable } = await build(where('env'), { AILINUX_CACHE_DIR: cacheDir });
    expect(result.outcome).toBe('succeeded');
    expect(seenDebs[0]?.cache.dir).toBe(cacheDir);
    expect(seenDebs[0]?.key).toEqual({ vendor: 'debian', suite: 'bookworm', arch: 'amd64' });
    expect(writable).toEqual([[cacheDir]]);
    // the step's fingerprint, by which the bootstrap step keeps its layer there
    expect(seenFingerprints.at(-1)).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(path.join(cacheDir, 'debs')).isDirectory()).toBe(true);
  });

  it('takes cache.dir relative to the config file; moving it reruns nothing', async () => {
    seenDebs.length = 0;
    const at = where('config', 'cache: { dir: debs-here, maxSize: 1GiB }\n');
    const first = await build(at, {});
    expect(first.result.outcome).toBe('succeeded');
    expect(seenDebs[0]?.cache.dir).toBe(path.join(tmp, 'config', 'debs-here'));
    expect(seenDebs[0]?.cache.maxBytes).toBe(1024 ** 3);
    const before = runs;
    fs.writeFileSync(at.configFile, `extends: minimal\n${FAST}cache: { dir: elsewhere, maxSize: 2GiB }\n`);
    const second = await build({ ...at }, {});
    expect(second.result.outcome).toBe('succeeded');
    expect(runs).toBe(before);
  });

  it('refuses a system directory before the work dir is made', async () => {
    const at = where('system', 'cache: { dir: /usr/share/ailinux-debs }\n');
    await expect(build(at, {})).rejects.toThrow(ConfigError);
    await expect(build(at, {})).rejects.toThrow(/cache\.dir \/usr\/share\/ailinux-debs is \/ or a system directory/);
    expect(fs.existsSync(at.workDir)).toBe(false);
  });

  it('turns the cache off, said once, when the default cannot be made; the build goes on', async () => {
    seenDebs.length = 0;
    const notADir = path.join(tmp, 'a-file');
    fs.writeFileSync(notADir, '');
    const { result, messages, writable } = await build(where('default'), { XDG_CACHE_HOME: notADir });
    expect(result.outcome).toBe('succeeded');
    expect(seenDebs).toEqual([undefined]);
    expect(writable).toEqual([[]]);
    expect(messages.filter((m) => m.startsWith('no shared deb cache'))).toEqual([
      `no shared deb cache: ${notADir}/ailinux cannot be made (ENOTDIR); downloads stay in the work dir (set cache.dir or AILINUX_CACHE_DIR)`,
    ]);
  });
});
