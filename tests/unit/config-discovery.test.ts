/**
 * Issue 10, points 7 and 9: a config found where you stand, `ailinux config` with where each value came from, and
 * no field silently ignored (a field the file sets that no step of its steps reads is refused, exit 2).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wrapValue } from '../../src/cli/commands/config.js';
import { computePlan } from '../../src/cli/commands/plan.js';
import { completionModel } from '../../src/cli/completion-model.js';
import type { CliIO } from '../../src/cli/io.js';
import { createProgram, main } from '../../src/cli/main.js';
import { DISCOVERED_NAMES, discoverConfigFile, loadConfig } from '../../src/config/load.js';
import { builtInProfiles } from '../../src/config/profiles/index.js';
import { fieldValues, maskedConfig, SECRET_PLACEHOLDER } from '../../src/config/provenance.js';
import type { BuildDeps } from '../../src/engine/build.js';
import { BuildRun } from '../../src/engine/build-run.js';
import { loadBuildConfig } from '../../src/engine/build.js';
import { ConfigError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { checkFieldsUsed, readersOf, unusedFields } from '../../src/steps/field-use.js';
import { scriptBuildHost } from '../helpers/fake-build-host.js';

let tmp = '';
let n = 0;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-discovery-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fresh directory holding the given files. */
function dirWith(files: Record<string, string>): string {
  const dir = path.join(tmp, `d${n++}`);
  fs.mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

function cliIO(cwd: string, out: { stdout: string; stderr: string }): CliIO {
  return {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' },
    cwd,
    uid: 1000,
    commandLine: 'ailinux',
  };
}

async function run(cwd: string, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const code = await main(argv, cliIO(cwd, out));
  return { code, ...out };
}

/** The ConfigError loading `yaml` (as ./ailinux.config.yaml) throws, or null. */
function loadError(yaml: string): ConfigError | null {
  const dir = dirWith({ 'ailinux.config.yaml': yaml });
  try {
    loadBuildConfig({ configFile: path.join(dir, 'ailinux.config.yaml') });
    return null;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

describe('no field is silently ignored', () => {
  it('refuses helper.files in a minimal config: only branding installs them, and minimal has no branding', () => {
    const error = loadError(
      [
        'extends: minimal',
        'helper:',
        '  name: motd',
        '  title: Motd',
        '  files: [{ source: motd, destination: /etc/motd, mode: "0644" }]',
        '',
      ].join('\n'),
    );
    expect(error).not.toBeNull();
    expect(error!.message).toMatch(
      /^helper\.files is used by step "branding", which this config's steps do not include \(.*ailinux\.config\.yaml\)$/,
    );
    expect(error!.hint).toBe('add "branding" to steps, or remove helper.files');
    // name and title are read by identity (the launcher), which minimal has: only the files are refused
    expect(error!.issues.map((i) => i.path)).toEqual(['helper.files']);
  });

  it('exits 2 through the CLI, naming the field, the step and the fix, and writes nothing', async () => {
    const dir = dirWith({
      'my.yaml': 'extends: minimal\ninstaller: { filesystem: btrfs }\n',
    });
    const r = await run(dir, ['config', '-c', 'my.yaml']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'ailinux: installer.filesystem is used by step "installer", which this config\'s steps do not include',
    );
    expect(r.stderr).toContain('  installer.filesystem: used by step "installer", which is not in steps\n');
    expect(r.stderr).toContain('  fix: add "installer" to steps, or remove installer.filesystem');
    expect(fs.readdirSync(dir)).toEqual(['my.yaml']);
  });

  it('a field read by several steps is refused only when none of them is in steps', () => {
    // installer.launcher: the installer step's, and identity's (the "Install" launcher on the desktop)
    expect(readersOf('installer.launcher').map((s) => s.id)).toEqual(['installer', 'identity']);
    expect(loadError('extends: minimal\ninstaller: { launcher: false }\n')).toBeNull();
    const error = loadError(
      [
        'extends: minimal',
        'installer: { launcher: false }',
        'steps: [bootstrap, configure, packages, chroot-cleanup, squashfs, bootloaders, iso, checksums, report]',
        '',
      ].join('\n'),
    );
    expect(error?.message).toMatch(
      /^installer\.launcher is used by steps "installer" and "identity", none of which this config's steps include/,
    );
    expect(error?.hint).toBe('add one of "installer", "identity" to steps, or remove installer.launcher');
  });

  it("a profile's own values for steps it leaves out are not errors", () => {
    // minimal carries branding, installer and verify values; a config that drops verify keeps the profile's
    expect(loadError('extends: minimal\nhostname: kiosk\n')).toBeNull();
    expect(
      loadError(
        'extends: minimal\nsteps: [bootstrap, configure, packages, identity, chroot-cleanup, squashfs, bootloaders, iso]\n',
      ),
    ).toBeNull();
    expect(() => loadBuildConfig({ profile: 'minimal' })).not.toThrow();
    expect(() => loadBuildConfig({ profile: 'ailinux' })).not.toThrow();
  });

  it('fields the engine reads (name, resources, retry, steps) are never refused', () => {
    expect(
      loadError(
        [
          'extends: minimal',
          'name: tiny',
          'steps: [bootstrap]',
          'resources: { minFreeDiskMb: 0 }',
          'retry: { maxAttempts: 1 }',
          '',
        ].join('\n'),
      ),
    ).toBeNull();
  });

  it('names every unused field, each with its steps', () => {
    const error = loadError(
      'extends: minimal\nbranding: { productName: X, url: "https://x.example" }\nverify: { boot: false }\nsteps: [bootstrap, configure, packages, identity]\n',
    );
    expect(error?.message).toMatch(
      /^2 fields the config sets are used by no step in its steps .*; first: branding\.url/,
    );
    expect(error?.hint).toBe('add the steps named above to steps, or remove the fields they would read');
    expect(error?.issues.map((i) => [i.path, i.kind])).toEqual([
      ['branding.url', 'unused-field'],
      ['verify.boot', 'unused-field'],
    ]);
    expect(error?.issues[0]?.expected).toBe('used by steps "installer" and "branding", none of them in steps');
  });

  it('walks objects down to their fields; a list or an empty object is one field', () => {
    const steps = ['bootstrap'];
    expect(unusedFields({ locale: {} }, steps).map((u) => u.field)).toEqual(['locale']);
    expect(unusedFields({ iso: { kernelArgs: ['quiet'] } }, steps).map((u) => u.field)).toEqual(['iso.kernelArgs']);
    expect(unusedFields({ distribution: { suite: 'trixie' } }, steps)).toEqual([]);
    expect(() => checkFieldsUsed({ squashfs: { level: 3 } }, steps, null)).toThrow(
      /squashfs\.level is used by step "squashfs"/,
    );
  });
});

describe('config discovery', () => {
  it('finds ./ailinux.config.yaml, .yml or .json, and nothing when none is there', () => {
    expect(DISCOVERED_NAMES).toEqual(['ailinux.config.yaml', 'ailinux.config.yml', 'ailinux.config.json']);
    expect(discoverConfigFile(dirWith({}))).toBeNull();
    expect(discoverConfigFile(dirWith({ 'other.yaml': 'extends: minimal\n' }))).toBeNull();
    for (const name of DISCOVERED_NAMES) {
      const dir = dirWith({ [name]: '{"extends": "minimal"}\n' });
      expect(discoverConfigFile(dir)).toBe(path.join(dir, name));
    }
  });

  it('refuses two or more, naming them', () => {
    const dir = dirWith({ 'ailinux.config.yaml': 'extends: minimal\n', 'ailinux.config.json': '{}' });
    expect(() => discoverConfigFile(dir)).toThrow(ConfigError);
    expect(() => discoverConfigFile(dir)).toThrow(
      `${dir} holds more than one config file (ailinux.config.yaml, ailinux.config.json); ailinux cannot tell which one to use`,
    );
  });

  it('the two-files error exits 2 with its fix', async () => {
    const dir = dirWith({ 'ailinux.config.yml': 'extends: minimal\n', 'ailinux.config.json': '{}' });
    const r = await run(dir, ['plan', '-w', path.join(dir, 'w')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds more than one config file (ailinux.config.yml, ailinux.config.json)');
    expect(r.stderr).toContain('fix: keep one of them, or name one with --config (e.g. --config ./ailinux.config.yml)');
  });

  it('plan with no build uses the config found here, and says so on stderr', async () => {
    const dir = dirWith({ 'ailinux.config.yaml': 'extends: minimal\nname: found-here\n' });
    const r = await run(dir, ['plan', '-w', path.join(dir, 'w')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('using ./ailinux.config.yaml\n');
    expect(r.stdout).toMatch(/^plan for profile found-here in /);
  });

  it('--config and --profile win; nothing is said', async () => {
    const dir = dirWith({
      'ailinux.config.yaml': 'extends: minimal\nname: found-here\n',
      'other.json': '{"extends": "minimal", "name": "named"}',
    });
    const byConfig = await run(dir, ['plan', '-w', path.join(dir, 'w'), '-c', 'other.json']);
    expect(byConfig.stdout).toMatch(/^plan for profile named /);
    expect(byConfig.stderr).toBe('');
    const byProfile = await run(dir, ['plan', '-w', path.join(dir, 'w'), '-p', 'minimal']);
    expect(byProfile.stdout).toMatch(/^plan for profile minimal /);
    expect(byProfile.stderr).toBe('');
  });

  it('a work dir with a build keeps the config its build recorded (as resume does)', async () => {
    const recorded = dirWith({
      'ailinux.config.yaml':
        'extends: minimal\nname: recorded\nsteps: [bootstrap]\nresources: { minFreeDiskMb: 0, checkEstimates: false }\n',
    });
    const configFile = path.join(recorded, 'ailinux.config.yaml');
    const workDir = path.join(recorded, 'w');
    const { config } = loadConfig({ configFile });
    const deps: BuildDeps = {
      view: { stepStarted() {}, stepLine() {}, stepEnded() {}, message() {}, close() {} },
      warn: () => undefined,
      env: {},
      createRunner: () => scriptBuildHost(new FakeRunner(), config, workDir),
    };
    const result = await new BuildRun(
      { command: 'build', workDir, configFile, commandLine: 'ailinux build' },
      deps,
    ).run();
    expect(result.outcome).toBe('succeeded');
    // another config stands where plan runs: it is not used, and not announced
    const here = dirWith({ 'ailinux.config.yaml': 'extends: minimal\nname: found-here\n' });
    let stderr = '';
    const plan = await computePlan(
      { workDir },
      { env: {}, cwd: here, stderr: { write: (s: string) => (stderr += s) } },
    );
    expect(plan.profile).toBe('recorded');
    expect(stderr).toBe('');
  });
});

describe('ailinux config', () => {
  const yaml = [
    'extends: minimal',
    'hostname: kiosk',
    'liveUser: { name: kiosk, password: "s3cret-pass" }',
    'squashfs: { compression: xz }',
    '',
  ].join('\n');

  it('says where each value came from: the file, the profile, or a default', () => {
    const dir = dirWith({ 'ailinux.config.yaml': yaml });
    const loaded = loadConfig({ configFile: path.join(dir, 'ailinux.config.yaml') });
    const values = new Map(fieldValues(loaded.config as never, loaded.layers).map((v) => [v.field, v]));
    expect(values.get('hostname')).toMatchObject({ value: 'kiosk', source: 'file' });
    expect(values.get('squashfs.compression')).toMatchObject({ value: 'xz', source: 'file' });
    // the rest of squashfs is the profile's: objects merge field by field
    expect(values.get('squashfs.level')).toMatchObject({ value: 3, source: 'profile' });
    expect(values.get('name')).toMatchObject({ value: 'minimal', source: 'profile' });
    // neither set it: the schema's default
    expect(values.get('installer.filesystem')).toMatchObject({ value: 'ext4', source: 'default' });
    expect(values.get('resources.minFreeDiskMb')).toMatchObject({ value: 1024, source: 'default' });
    expect(values.has('helper')).toBe(false);
  });

  it('masks secrets, in the values and in the whole config', () => {
    const dir = dirWith({ 'ailinux.config.yaml': yaml });
    const loaded = loadConfig({ configFile: path.join(dir, 'ailinux.config.yaml') });
    const password = fieldValues(loaded.config as never, loaded.layers).find((v) => v.field === 'liveUser.password');
    expect(password).toEqual({ field: 'liveUser.password', value: SECRET_PLACEHOLDER, source: 'file', secret: true });
    const masked = maskedConfig(loaded.config as never) as typeof loaded.config;
    expect(masked.liveUser.password).toBe(SECRET_PLACEHOLDER);
    expect(masked.liveUser.name).toBe('kiosk');
    expect(loaded.config.liveUser.password).toBe('s3cret-pass');
  });

  it('prints the table with the found file, and never the secret', async () => {
    const dir = dirWith({ 'ailinux.config.yaml': yaml });
    const r = await run(dir, ['config']);
    expect(r.code, r.stderr).toBe(0);
    // the table names the found file: no separate `using` line on stderr
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`config file: ${path.join(dir, 'ailinux.config.yaml')} (found in the current directory)`);
    expect(lines[1]).toBe('profile:     minimal (built in)');
    expect(r.stdout).toMatch(/^hostname +\.\/ailinux\.config\.yaml +kiosk$/m);
    expect(r.stdout).toMatch(/^squashfs\.level +profile minimal +3$/m);
    expect(r.stdout).toMatch(/^installer\.filesystem +default +ext4$/m);
    expect(r.stdout).toMatch(/^liveUser\.password +\.\/ailinux\.config\.yaml +\(secret, not shown\)$/m);
    expect(r.stdout).not.toContain('s3cret');
  });

  it('--json gives the same for scripts', async () => {
    const dir = dirWith({ 'ailinux.config.yaml': yaml });
    const r = await run(dir, ['config', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    const file = path.join(dir, 'ailinux.config.yaml');
    expect(out).toMatchObject({ profile: 'minimal', configFile: file, discovered: true });
    expect(out.config.hostname).toBe('kiosk');
    expect(out.config.liveUser.password).toBe(SECRET_PLACEHOLDER);
    const byField = new Map(out.fields.map((f: { field: string }) => [f.field, f]));
    expect(byField.get('hostname')).toEqual({ field: 'hostname', value: 'kiosk', source: 'file', file });
    expect(byField.get('name')).toEqual({ field: 'name', value: 'minimal', source: 'profile', profile: 'minimal' });
    expect(byField.get('installer.swap')).toEqual({ field: 'installer.swap', value: 'file', source: 'default' });
    expect(byField.get('liveUser.password')).toMatchObject({ value: SECRET_PLACEHOLDER, secret: true });
    expect(r.stdout).not.toContain('s3cret');
  });

  it('with no file here, the default profile alone; -p names another', async () => {
    const dir = dirWith({});
    const r = await run(dir, ['config', '--json']);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ profile: 'ailinux', configFile: null, discovered: false });
    expect(out.fields.every((f: { source: string }) => f.source !== 'file')).toBe(true);
    expect(r.stderr).toBe('');
    const minimal = await run(dir, ['config', '-p', 'minimal']);
    expect(minimal.stdout).toMatch(/^config file: none \(built-in profile only\)\nprofile: +minimal/);
    expect(minimal.stdout).toContain(`iso.volumeLabel`);
    expect(builtInProfiles['minimal']?.iso?.volumeLabel).toBe('AILINUX_MINIMAL');
  });

  it('on a terminal, a long value wraps under its column, after a comma where it can', () => {
    const list = JSON.stringify(['partition', 'mount', 'unpackfs', 'machineid', 'fstab', 'locale', 'keyboard']);
    expect(wrapValue(list, 30, 0)).toBe(list);
    expect(wrapValue('short', 30, 80)).toBe('short');
    const wrapped = wrapValue(list, 30, 70).split('\n');
    expect(wrapped.length).toBeGreaterThan(1);
    for (const line of wrapped) expect(line.length).toBeLessThanOrEqual(70);
    expect(wrapped[0]).toMatch(/,$/);
    expect(wrapped.slice(1).every((l) => l.startsWith(' '.repeat(30)))).toBe(true);
    expect(wrapped.map((l) => l.trim()).join('')).toBe(list);
  });

  it('is in the completion model with its flags', () => {
    const io = cliIO('/nonexistent', { stdout: '', stderr: '' });
    const model = completionModel(createProgram(io, () => {}));
    const config = model.commands.find((c) => c.name === 'config')!;
    expect(config.options.find((o) => o.flags.includes('--config'))?.values).toEqual({ kind: 'file' });
    expect(config.options.find((o) => o.flags.includes('--profile'))?.values).toEqual({
      kind: 'words',
      words: Object.keys(builtInProfiles),
    });
    expect(config.options.find((o) => o.flags.includes('--json'))?.values).toBeNull();
  });
});
