/**
 * configure (phase 3) for the ailinux profile with extra repositories: the exact sources.list, each
 * repository key copied from its pinned host file into /etc/apt/keyrings (armored keys decoded), and
 * no key ever fetched from the network. The host name is not set here: see identity.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { planBuild } from '../../src/engine/planner.js';
import { StepError } from '../../src/errors.js';
import { NETWORK_TRANSIENT_PATTERNS } from '../../src/runtime/runner.js';
import { dearmorKey } from '../../src/steps/apt-keys.js';
import { configureStep } from '../../src/steps/configure.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';
import {
  chrootOptions,
  expectedChrootArgv,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type TestStepContext,
} from '../helpers/step-context.js';

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-configure-');
});
afterEach(() => removeWorkDir(workDir));

function chrootCmd(command: readonly string[], apt = false): string[] {
  return expectedChrootArgv(workDir, 'configure', ['bootstrap'], command, apt);
}

/** Binary OpenPGP-ish bytes (a public-key packet tag first) and their ASCII armor. */
const KEY = Buffer.concat([
  Buffer.from([0x99, 0x01, 0x0d, 0x04]),
  crypto.createHash('sha512').update('test key').digest(),
  Buffer.alloc(200, 7),
]);
function armor(data: Buffer): string {
  const b64 = data
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n${b64}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n`;
}
const sha = (data: string | Buffer) => crypto.createHash('sha256').update(data).digest('hex');

/** A config file's directory with two keys in it; the repositories name them relative to it. */
function withRepositories(): { config: BuildConfig; dir: string } {
  const dir = path.join(workDir, 'config');
  fs.mkdirSync(path.join(dir, 'keys'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'keys', 'ailinux.asc'), armor(KEY));
  fs.writeFileSync(path.join(dir, 'keys', 'tools.gpg'), KEY);
  const config = profileConfig('ailinux', (c) => {
    c.distribution.extraRepositories = [
      {
        name: 'ailinux',
        uri: 'https://repo.ailinux.example/apt',
        suites: ['noble'],
        components: ['main', 'ai'],
        key: { path: 'keys/ailinux.asc', sha256: sha(armor(KEY)) },
      },
      {
        name: 'tools',
        uri: 'http://tools.example/debian',
        suites: ['stable', 'testing'],
        components: ['main'],
        key: { path: path.join(dir, 'keys', 'tools.gpg'), sha256: sha(KEY) },
      },
    ];
  });
  return { config, dir };
}

function ctxFor(config: BuildConfig, baseDir: string): TestStepContext {
  writeTree(`${workDir}/layers/bootstrap/root`, {
    'etc/os-release': 'ID=ubuntu\n',
    'etc/apt/.keep': '',
    'usr/sbin/.keep': '',
  });
  const ctx = stepContext({ config, workDir, stepId: 'configure' });
  ctx.baseDir = baseDir;
  return ctx;
}

const upper = () => `${workDir}/layers/configure/upper`;

describe('configure with extra repositories', () => {
  it('writes the exact sources.list (distribution, then each repository signed by its own key) and the keys, mode 0644', async () => {
    const { config, dir } = withRepositories();
    const ctx = ctxFor(config, dir);
    await configureStep.run(ctx);
    expect(fs.readFileSync(`${upper()}/etc/apt/sources.list`, 'utf8')).toBe(
      [
        '# Written by ailinux from the profile; edit the config, not this file.',
        'deb http://archive.ubuntu.com/ubuntu noble main restricted universe multiverse',
        'deb http://archive.ubuntu.com/ubuntu noble-updates main restricted universe multiverse',
        'deb http://archive.ubuntu.com/ubuntu noble-backports main restricted universe multiverse',
        'deb http://security.ubuntu.com/ubuntu noble-security main restricted universe multiverse',
        '# extra repository ailinux',
        'deb [signed-by=/etc/apt/keyrings/ailinux.gpg] https://repo.ailinux.example/apt noble main ai',
        '# extra repository tools',
        'deb [signed-by=/etc/apt/keyrings/tools.gpg] http://tools.example/debian stable main',
        'deb [signed-by=/etc/apt/keyrings/tools.gpg] http://tools.example/debian testing main',
        '',
      ].join('\n'),
    );
    // the armored key is stored decoded (apt reads binary keys from a .gpg file), the binary one as it is
    for (const name of ['ailinux', 'tools']) {
      const file = `${upper()}/etc/apt/keyrings/${name}.gpg`;
      expect(fs.readFileSync(file).equals(KEY)).toBe(true);
      expect(fs.statSync(file).mode & 0o7777).toBe(0o644);
    }
    expect(fs.statSync(`${upper()}/etc/apt/keyrings`).mode & 0o7777).toBe(0o755);
    // the same commands as without repositories: no download, no gpg, no shell
    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      chrootCmd(['ln', '-sf', '/usr/share/zoneinfo/Europe/Berlin', '/etc/localtime']),
      chrootCmd(['apt-get', 'update']),
      chrootCmd(['apt-get', 'install', '-y', '--no-install-recommends', 'locales'], true),
      chrootCmd(['locale-gen']),
    ]);
    expect(ctx.runner.calls[1]!.options).toEqual(
      chrootOptions(config, { transientPatterns: NETWORK_TRANSIENT_PATTERNS }),
    );
    for (const call of ctx.runner.calls) {
      expect(call.argv.some((a) => /curl|wget|gpg|apt-key|repo\.ailinux/.test(a))).toBe(false);
    }
    await expect(configureStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('a key whose sha256 is not the pinned one is refused before anything is written or run', async () => {
    const { config, dir } = withRepositories();
    fs.appendFileSync(path.join(dir, 'keys', 'ailinux.asc'), '\n');
    const ctx = ctxFor(config, dir);
    const run = configureStep.run(ctx);
    await expect(run).rejects.toBeInstanceOf(StepError);
    await expect(run).rejects.toThrow(
      `distribution.extraRepositories.0.key: keys/ailinux.asc has sha256 ${sha(`${armor(KEY)}\n`)}, but the config pins ${sha(armor(KEY))}`,
    );
    expect(ctx.runner.calls).toEqual([]);
    expect(fs.existsSync(`${upper()}/etc/apt/sources.list`)).toBe(false);
  });

  it('a missing key file is named with where it was looked for', async () => {
    const { config, dir } = withRepositories();
    fs.rmSync(path.join(dir, 'keys', 'ailinux.asc'));
    await expect(configureStep.run(ctxFor(config, dir))).rejects.toThrow(
      `distribution.extraRepositories.0.key: the file keys/ailinux.asc does not exist (looked for ${dir}/keys/ailinux.asc)`,
    );
  });

  it('an armored file that is not a public key block is refused', () => {
    expect(() =>
      dearmorKey(
        Buffer.from('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n'),
        'f',
      ),
    ).toThrow('f: the key file is ASCII-armored but not an OpenPGP public key block');
    expect(() => dearmorKey(Buffer.from(armor(Buffer.from('plain text, not a packet'))), 'f')).toThrow(
      'f: the armored key does not decode to OpenPGP data',
    );
    expect(dearmorKey(KEY, 'f')).toBe(KEY);
  });

  it('the keys are input files: a changed key reruns configure, and the plan says which file', () => {
    const { config, dir } = withRepositories();
    expect(configureStep.inputFiles!(config)).toEqual(['keys/ailinux.asc', path.join(dir, 'keys', 'tools.gpg')]);
    const steps = resolveSteps(config);
    const before = fingerprintSteps(steps, config, dir, { sourceDateEpoch: null });
    const ledger: Ledger = {};
    for (const f of before)
      ledger[f.id] = { ...emptyLedgerEntry(f.id), status: 'done', fingerprint: f.fingerprint, material: f.material };
    fs.writeFileSync(path.join(dir, 'keys', 'ailinux.asc'), armor(Buffer.concat([KEY, Buffer.from([1])])));
    const plan = planBuild(fingerprintSteps(steps, config, dir, { sourceDateEpoch: null }), ledger, () => true);
    expect(plan.filter((p) => p.action === 'skip').map((p) => p.id)).toEqual(['preflight', 'bootstrap']);
    expect(plan.find((p) => p.id === 'configure')!.reasons).toEqual(['input file keys/ailinux.asc changed']);
  });

  it('without extra repositories the ailinux sources.list has the four noble suites only', async () => {
    const config = profileConfig('ailinux');
    const ctx = ctxFor(config, workDir);
    await configureStep.run(ctx);
    const text = fs.readFileSync(`${upper()}/etc/apt/sources.list`, 'utf8');
    expect(
      text
        .split('\n')
        .filter((l) => l.startsWith('deb '))
        .map((l) => l.split(' ')[2]),
    ).toEqual(['noble', 'noble-updates', 'noble-backports', 'noble-security']);
    expect(fs.existsSync(`${upper()}/etc/apt/keyrings`)).toBe(false);
    // the host name is not configure's: it is set late, by identity
    expect(fs.existsSync(`${upper()}/etc/hostname`)).toBe(false);
  });
});
