/**
 * The no-op fast path (src/cli/build-fast.ts, src/engine/noop-digest.ts) against the full path (BuildRun behind the
 * build command), on the minimal profile's first steps on the scripted fake host. For each change of an input the
 * fast path must never say "nothing to do" when the full path then runs a step; with nothing changed it must decide,
 * print what the full path prints and leave the state the full path leaves (but for the run's ids and times).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateFile } from '../../state/schema.js';
import { runFastBuild } from '../../src/cli/build-fast.js';
import { runBuildCommand } from '../../src/cli/commands/build.js';
import { plainBuildArgs } from '../../src/cli/entry.js';
import type { CliIO } from '../../src/cli/io.js';
import { loadConfig } from '../../src/config/load.js';
import { BuildRun } from '../../src/engine/build-run.js';
import { digestFile, readNoopDigest, toolStamp } from '../../src/engine/noop-digest.js';
import { defaultArchiveReader } from '../../src/runtime/archive-release.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { scriptBuildHost } from '../helpers/fake-build-host.js';

const FIXED_RELEASE = path.resolve('tests/fixtures/archive/Release');
let tmp = '';

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-build-fast-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Case {
  dir: string;
  workDir: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
}

function config(hostname: string): string {
  return [
    'extends: minimal',
    'steps: [bootstrap, configure, packages, identity]',
    `hostname: ${hostname}`,
    'distribution: { keyring: { path: ./archive.gpg } }',
    'resources: { minFreeDiskMb: 0, checkEstimates: false }',
    '',
  ].join('\n');
}

let n = 0;
function newCase(): Case {
  const dir = path.join(tmp, `case-${++n}`);
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'ailinux.config.yaml');
  fs.writeFileSync(configFile, config('ailinux'));
  fs.writeFileSync(path.join(dir, 'archive.gpg'), 'key one\n');
  const release = path.join(dir, 'Release');
  fs.copyFileSync(FIXED_RELEASE, release);
  const env: NodeJS.ProcessEnv = {
    AILINUX_CACHE_DIR: path.join(dir, 'debs'),
    AILINUX_ARCHIVE_RELEASE_FILE: release,
    // another mount namespace than this process's: the fast path checks it runs in the sandbox, as the build does
    AILINUX_SANDBOX_FROM: 'mnt:[1]',
  };
  return { dir, workDir: path.join(dir, 'work'), configFile, env };
}

function io(c: Case, argv: string[]): CliIO & { out: () => { stdout: string; stderr: string } } {
  let stdout = '';
  let stderr = '';
  return {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: c.env,
    cwd: c.dir,
    uid: 0,
    commandLine: `ailinux ${argv.join(' ')}`,
    argv,
    out: () => ({ stdout, stderr }),
  };
}

/** The full path: the build command with a BuildRun on the scripted fake host. Returns the steps that ran. */
async function full(c: Case, extra: string[] = []) {
  const argv = ['build', '-c', c.configFile, '-w', c.workDir, ...extra];
  // as main gives them: the -c and -w typed
  const cli = { ...io(c, argv), hintFlags: { config: c.configFile, workDir: c.workDir } };
  const ran: string[] = [];
  const code = await runBuildCommand(
    'build',
    {
      config: c.configFile,
      workDir: c.workDir,
      offline: extra.includes('--offline'),
      quiet: extra.includes('--quiet') || extra.includes('-q'),
    },
    cli,
    {
      startBuild: (request, deps) => {
        const { config: loaded } = loadConfig({ configFile: c.configFile });
        return new BuildRun(request, {
          ...deps,
          view: { ...deps.view, stepStarted: (id, attempt) => (ran.push(id), deps.view.stepStarted(id, attempt)) },
          env: c.env,
          archive: defaultArchiveReader(c.env),
          sharedDebCache: true,
          createRunner: () => scriptBuildHost(new FakeRunner(), loaded, c.workDir),
        });
      },
    },
  );
  return { code, ran, ...cli.out() };
}

async function fast(c: Case, extra: string[] = []) {
  const argv = ['build', '-c', c.configFile, '-w', c.workDir, ...extra];
  const args = plainBuildArgs(argv);
  expect(args).not.toBeNull();
  const cli = io(c, argv);
  const code = await runFastBuild(args!, cli);
  return { code, ...cli.out() };
}

const readState = (c: Case) => JSON.parse(fs.readFileSync(path.join(c.workDir, 'state', 'state.json'), 'utf8'));

/** The state without what differs from run to run: its ids, times and the session checks' times. */
function comparable(state: StateFile): unknown {
  const text = JSON.stringify(state)
    .replaceAll(state.runId, '<run>')
    .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/g, '"<time>"');
  const s = JSON.parse(text);
  s.safety = { checks: s.safety.checks.length, signals: s.safety.signals };
  s.history = s.history.map((h: { runId: string }) => ({ ...h, runId: h.runId === '<run>' ? '<run>' : 'earlier' }));
  return s;
}

const normal = (text: string) => text.replace(/build succeeded in [\d.]+ s/, 'build succeeded in <t>');

describe('the no-op fast path', () => {
  let base: Case;

  beforeAll(async () => {
    base = newCase();
    const first = await full(base);
    expect(first.code, first.stderr).toBe(0);
    expect(first.ran).toEqual(['bootstrap', 'configure', 'packages', 'identity']);
  }, 60_000);

  it('leaves a digest after a successful build, and decides a no-op as the full path does', async () => {
    expect(readNoopDigest(path.join(base.workDir, 'state'))?.steps.map((s) => s.id)).toEqual([
      'bootstrap',
      'configure',
      'packages',
      'identity',
    ]);
    // twice: after the build that ran the steps (the no-op shows each as skipped), then after a no-op (it shows none)
    for (const round of [1, 2]) {
      const stateDir = path.join(base.workDir, 'state');
      const kept = ['state.json', 'noop-digest.json'].map((f) => [f, fs.readFileSync(path.join(stateDir, f))] as const);
      const byFull = await full(base);
      expect(byFull.ran).toEqual([]);
      const fullState = readState(base);
      // the fast path from the very same state
      for (const [f, bytes] of kept) fs.writeFileSync(path.join(stateDir, f), bytes);
      const byFast = await fast(base);
      expect(byFast.code).toBe(0);
      expect({ stdout: byFast.stdout, stderr: normal(byFast.stderr) }).toEqual({
        stdout: byFull.stdout,
        stderr: normal(byFull.stderr),
      });
      expect(byFast.stderr.includes('skipped')).toBe(round === 1);
      const fastState = readState(base);
      expect(fastState.runId).not.toBe(fullState.runId);
      expect(comparable(fastState)).toEqual(comparable(fullState));
    }
    // and its own digest: the next no-op is decided fast too
    expect((await fast(base)).code).toBe(0);
  });

  it('says what the full path says with --offline and --quiet', async () => {
    for (const extra of [['--offline'], ['--quiet'], ['--offline', '-q']]) {
      const byFull = await full(base, extra);
      expect(byFull.ran).toEqual([]);
      const byFast = await fast(base, extra);
      expect(byFast.code).toBe(0);
      expect({ stdout: byFast.stdout, stderr: normal(byFast.stderr) }).toEqual({
        stdout: byFull.stdout,
        stderr: normal(byFull.stderr),
      });
    }
  });

  /** Each change: whether the full path then reruns something; the fast path must not decide when it does. */
  const changes: Array<{ name: string; change: (c: Case) => void; extra?: string[]; reruns: boolean }> = [
    { name: 'nothing', change: () => undefined, reruns: false },
    { name: 'the config file touched, same bytes', change: (c) => touch(c.configFile), reruns: false },
    { name: "the config's hostname", change: (c) => fs.writeFileSync(c.configFile, config('other')), reruns: true },
    {
      name: 'an input file (the keyring), same size',
      change: (c) => fs.writeFileSync(path.join(c.dir, 'archive.gpg'), 'key two\n'),
      reruns: true,
    },
    { name: 'the archive published', change: (c) => republish(c), reruns: true },
    { name: 'the archive published, --offline', change: (c) => republish(c), extra: ['--offline'], reruns: false },
    { name: 'SOURCE_DATE_EPOCH', change: (c) => (c.env['SOURCE_DATE_EPOCH'] = '1700000000'), reruns: true },
    {
      name: "a step's artifact removed",
      change: (c) => removeArtifact(c, 'identity'),
      reruns: true,
    },
    {
      name: 'the fingerprint key replaced',
      change: (c) => fs.writeFileSync(path.join(c.workDir, 'state', 'fingerprint.key'), Buffer.alloc(32, 7)),
      reruns: true,
    },
  ];

  for (const { name, change, extra = [], reruns } of changes) {
    it(`after a change of ${name}: decides only when the full path would run nothing`, async () => {
      const c = newCase();
      expect((await full(c)).code).toBe(0);
      change(c);
      const byFast = await fast(c, extra);
      const byFull = await full(c, extra);
      expect(byFull.code, byFull.stderr).toBe(0);
      expect(byFull.ran.length > 0).toBe(reruns);
      if (reruns) expect(byFast.code).toBeNull();
      else expect(byFast.code).toBe(0);
      // nothing written by a fast path that was not sure
      if (byFast.code === null) expect(byFast.stdout + byFast.stderr).toBe('');
    }, 60_000);
  }

  it('takes the full path when the state was written by anything else since', async () => {
    const c = newCase();
    expect((await full(c)).code).toBe(0);
    const file = path.join(c.workDir, 'state', 'state.json');
    fs.writeFileSync(file, `${JSON.stringify(JSON.parse(fs.readFileSync(file, 'utf8')))}\n`);
    expect((await fast(c)).code).toBeNull();
  }, 60_000);

  it('takes the full path when another build holds the lock, or the digest is gone', async () => {
    const c = newCase();
    expect((await full(c)).code).toBe(0);
    const { acquireLock } = await import('../../src/runtime/lock.js');
    const held = acquireLock(path.join(c.workDir, 'state', 'lock'), 'ailinux build (another)', () => undefined);
    try {
      expect((await fast(c)).code).toBeNull();
    } finally {
      held.release();
    }
    fs.rmSync(digestFile(path.join(c.workDir, 'state')));
    expect((await fast(c)).code).toBeNull();
  }, 60_000);

  it('leaves no decision to a command line it does not know', () => {
    expect(plainBuildArgs(['build', '--fresh'])).toBeNull();
    expect(plainBuildArgs(['build', '-c', 'a', '-c', 'b'])).toBeNull();
    expect(plainBuildArgs(['build', '--progress', 'plain'])).toBeNull();
    expect(plainBuildArgs(['-C', 'x', 'build'])).toBeNull();
    expect(plainBuildArgs(['build', '--work-dir=w', '--config=c.yaml', '-q', '--offline'])).toEqual({
      workDir: 'w',
      config: 'c.yaml',
      quiet: true,
      offline: true,
    });
  });
});

describe('the tool stamp', () => {
  it('changes when a module of dist/ changes', () => {
    const root = path.join(tmp, 'tool');
    fs.mkdirSync(path.join(root, 'dist', 'src'), { recursive: true });
    fs.writeFileSync(path.join(root, 'dist', 'src', 'a.js'), 'export const v = 1;\n');
    const before = toolStamp(root);
    expect(toolStamp(root)).toBe(before);
    fs.writeFileSync(path.join(root, 'dist', 'src', 'a.js'), 'export const v = 22;\n');
    expect(toolStamp(root)).not.toBe(before);
  });
});

function touch(file: string): void {
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(file, later, later);
}

/** The archive publishes: every suite's Release answers with a new Date (the loopback archive's update, in a file). */
function republish(c: Case): void {
  const file = c.env['AILINUX_ARCHIVE_RELEASE_FILE']!;
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^Date: .*$/m, 'Date: Tue, 08 Dec 2026 00:00:00 UTC'));
}

function removeArtifact(c: Case, step: string): void {
  const state = readState(c) as StateFile;
  const artifact = state.ledger[step]!.artifacts[0]!;
  fs.rmSync(path.join(c.workDir, artifact.path), { recursive: true, force: true });
}
