/**
 * Issue 9, finding 5: the live user's password never lands in the state file, the logs or the plan. A build of the
 * minimal profile up to identity on the scripted fake host, then the raw bytes of everything the work dir holds
 * outside the image layers are searched for the password; `plan` after a password change names the field only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computePlan } from '../../src/cli/commands/plan.js';
import { loadConfig, validateConfig } from '../../src/config/load.js';
import { BuildRun } from '../../src/engine/build-run.js';
import { FINGERPRINT_KEY_FILE } from '../../src/engine/fingerprint-key.js';
import { keyedHash, sealSecrets } from '../../src/engine/fingerprint.js';
import { describeChanges } from '../../src/engine/planner.js';
import type { BuildDeps } from '../../src/engine/build.js';
import { ConfigError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { scriptBuildHost } from '../helpers/fake-build-host.js';

const PASSWORD = 'Tr0ub4dor-and-3';
const NEW_PASSWORD = 'correct-horse-9';
let tmp = '';

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-secrets-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeConfig(dir: string, password: string): string {
  const file = path.join(dir, 'ailinux.config.yaml');
  fs.writeFileSync(
    file,
    [
      'extends: minimal',
      'steps: [bootstrap, configure, packages, identity]',
      `liveUser: { name: live, password: "${password}" }`,
      'resources: { minFreeDiskMb: 0, checkEstimates: false }',
      '',
    ].join('\n'),
  );
  return file;
}

async function build(workDir: string, configFile: string): Promise<void> {
  const { config } = loadConfig({ configFile });
  const deps: BuildDeps = {
    view: { stepStarted() {}, stepLine() {}, stepEnded() {}, message() {}, close() {} },
    warn: () => undefined,
    env: {},
    createRunner: () => scriptBuildHost(new FakeRunner(), config, workDir),
  };
  const run = new BuildRun({ command: 'build', workDir, configFile, commandLine: 'ailinux build (test)' }, deps);
  const result = await run.run();
  expect(result.outcome, JSON.stringify(result)).toBe('succeeded');
}

/** Every file of the work dir but the image layers (where chpasswd's result belongs), as text. */
function filesOutsideLayers(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      if (path.relative(dir, p) === 'layers') return;
      for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    } else if (st.isFile()) out.push([path.relative(dir, p), fs.readFileSync(p, 'latin1')]);
  };
  walk(dir);
  return out;
}

describe('the live user password stays out of the state, the logs and the plan', () => {
  it('after a build no file outside the image holds it, and plan names a change without values', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'build-'));
    const workDir = path.join(dir, 'work');
    const configFile = writeConfig(dir, PASSWORD);
    await build(workDir, configFile);
    const files = filesOutsideLayers(workDir);
    expect(files.map(([f]) => f)).toContain(path.join('state', 'state.json'));
    for (const [file, text] of files) expect(text.includes(PASSWORD), `${file} holds the password`).toBe(false);
    // the material holds a keyed hash, and the key sits beside the state, readable by root alone
    const state = JSON.parse(fs.readFileSync(path.join(workDir, 'state', 'state.json'), 'utf8'));
    const material = state.ledger.identity.material.config.liveUser;
    expect(material.password).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const keyFile = path.join(workDir, 'state', FINGERPRINT_KEY_FILE);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = fs.readFileSync(keyFile);
    expect(material.password).toBe(keyedHash(PASSWORD, key));
    expect(JSON.stringify(state)).not.toContain(key.toString('hex'));

    // an unchanged password reuses the checkpoint: the fingerprint is stable under the work dir's key
    const same = await computePlan({ workDir, config: configFile }, { env: {}, cwd: dir });
    expect(same.plan.find((p) => p.id === 'identity')?.action).toBe('skip');

    writeConfig(dir, NEW_PASSWORD);
    const { plan } = await computePlan({ workDir, config: configFile }, { env: {}, cwd: dir });
    const identity = plan.find((p) => p.id === 'identity')!;
    expect(identity.action).toBe('run');
    expect(identity.reasons).toEqual(['config field liveUser.password changed']);
    const text = JSON.stringify(plan);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(NEW_PASSWORD);

    // without the key (plan by a user who may not read it) the secret cannot be compared: the ledger's keyed hash
    // stands in for it, so an unchanged build plans nothing, and the plan names the secret it took as unchanged
    fs.rmSync(keyFile);
    writeConfig(dir, PASSWORD);
    const keyless = await computePlan({ workDir, config: configFile }, { env: {}, cwd: dir });
    expect(keyless.plan.filter((p) => p.action === 'run').map((p) => p.id)).toEqual([]);
    expect(keyless.uncompared).toEqual(['liveUser.password']);
    expect(same.uncompared, 'with the key every secret is compared').toEqual([]);
    // a changed password cannot be seen without the key: the plan is the same, and says so
    writeConfig(dir, NEW_PASSWORD);
    const keylessChanged = await computePlan({ workDir, config: configFile }, { env: {}, cwd: dir });
    expect(keylessChanged.plan.map((p) => p.action)).toEqual(keyless.plan.map((p) => p.action));
    expect(keylessChanged.uncompared).toEqual(['liveUser.password']);
    expect(fs.existsSync(keyFile), 'plan makes no key').toBe(false);
  });
});

describe('a refused secret is not echoed back', () => {
  it('names the field and the length of a bad password, never its text', () => {
    const { config } = loadConfig({ profile: 'minimal' });
    const bad = { ...config, liveUser: { ...config.liveUser, password: 'hunter2\nroot:toor' } };
    const error = (() => {
      try {
        validateConfig(bad);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues).toEqual([
      { path: 'liveUser.password', value: '(17 characters, not shown: a secret)', expected: expect.any(String) },
    ]);
    expect(JSON.stringify(error.issues) + error.message).not.toContain('hunter2');
  });
});

describe('sealSecrets and the plan wording', () => {
  const key = Buffer.alloc(32, 7);
  it('replaces a secret at or below the field with its keyed hash, and leaves the rest and unset values alone', () => {
    const user = { name: 'live', password: 'pw' };
    expect(sealSecrets('liveUser', user, key)).toEqual({ name: 'live', password: keyedHash('pw', key) });
    expect(user.password).toBe('pw');
    expect(sealSecrets('liveUser.password', 'pw', key)).toBe(keyedHash('pw', key));
    expect(sealSecrets('liveUser', { name: 'live' }, key)).toEqual({ name: 'live' });
    expect(sealSecrets('liveUser.name', 'live', key)).toBe('live');
    expect(sealSecrets('hostname', 'pw', key)).toBe('pw');
    expect(keyedHash('pw', key)).not.toBe(keyedHash('pw', Buffer.alloc(32, 8)));
    expect(keyedHash('pw', key)).not.toBe(keyedHash('pw2', key));
  });

  it('names a changed secret without values, also against the plain text an older state holds', () => {
    const material = (password: string) => ({
      stepVersion: 2,
      config: { liveUser: { name: 'live', password } },
      files: {},
      previous: null,
    });
    expect(describeChanges(material('old-secret'), material(keyedHash('new', key)))).toEqual([
      'config field liveUser.password changed',
    ]);
    const whole = describeChanges(
      { ...material('x'), config: {} },
      { ...material('old-secret'), config: { liveUser: { password: 'old-secret' } } },
    );
    expect(whole).toEqual(['config field liveUser changed']);
  });
});
