/**
 * packages.local (issue 10, point 3): the checks at load, the fingerprint and the plan's reasons, the repository the
 * packages step builds (fake dpkg-scanpackages and chroot), its bind in the package steps, and chroot-cleanup
 * removing every trace of it. The real dpkg-scanpackages and apt run in tests/integration/local-packages.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { ConfigError, StepError } from '../../src/errors.js';
import { checkInputTrees, fingerprintSteps } from '../../src/engine/fingerprint.js';
import { InputHashCache } from '../../src/engine/input-hash-cache.js';
import { planBuild } from '../../src/engine/planner.js';
import { chrootCleanupStep, cleanupCommands } from '../../src/steps/chroot-cleanup.js';
import { desktopStep } from '../../src/steps/desktop.js';
import { unusedFields } from '../../src/steps/field-use.js';
import { hostRequirements } from '../../src/steps/host-requirements.js';
import {
  LOCAL_LISTS_GLOB,
  LOCAL_REPO_IN_IMAGE,
  LOCAL_SOURCE_FILE,
  LOCAL_SOURCE_LINE,
  scanLocalPackages,
} from '../../src/steps/local-packages.js';
import { packagesStep } from '../../src/steps/packages.js';
import { resolveSteps } from '../../src/steps/registry.js';
import {
  layerRoot,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type TestStepContext,
} from '../helpers/step-context.js';
import { doneLedger } from '../helpers/ledger.js';

const sha = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');

/** An ar member: 60-byte header, data, a pad byte to an even length. */
function arMember(name: string, data: Buffer): Buffer {
  const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(data.length).padEnd(10)}\`\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), data, data.length % 2 ? Buffer.from('\n') : Buffer.alloc(0)]);
}

/** The shape of a .deb (what the load checks; dpkg-scanpackages, faked here, reads the rest). */
function debBytes(payload: string): Buffer {
  return Buffer.concat([
    Buffer.from('!<arch>\n'),
    arMember('debian-binary', Buffer.from('2.0\n')),
    arMember('control.tar.xz', Buffer.from(`control of ${payload}`)),
    arMember('data.tar.xz', Buffer.from(`data of ${payload}`)),
  ]);
}

function stanza(pkg: string, version: string, file: string, arch = 'all'): string {
  return `Package: ${pkg}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: t <t@example.org>\nFilename: ./${file}\nSize: 1\nDescription: test\n`;
}

let work: string;
let project: string;
let debs: string;

function configWith(local: string | null = 'debs', patch?: (c: BuildConfig) => void): BuildConfig {
  return profileConfig('minimal', (c) => {
    if (local === null) delete c.packages.local;
    else c.packages.local = local;
    patch?.(c);
  });
}

function ctxFor(config: BuildConfig, stepId = 'packages'): TestStepContext {
  const ctx = stepContext({ config, workDir: work, stepId });
  ctx.baseDir = project;
  return ctx;
}

function writeBase(config: BuildConfig): void {
  writeTree(layerRoot(config, work, 'bootstrap'), {
    'etc/os-release': 'ID=test\n',
    'var/lib/dpkg/status': '',
    'etc/apt/sources.list.d/.keep': '',
    'var/lib/apt/lists/.keep': '',
  });
}

const hash = (handle: number) => new InputHashCache({ file: null }).hashHandle(handle, 'x');

beforeEach(() => {
  work = makeWorkDir('ailinux-local-packages-');
  project = path.join(work, 'project');
  debs = path.join(project, 'debs');
  fs.mkdirSync(debs, { recursive: true });
  fs.writeFileSync(path.join(debs, 'hello-local_1.0_all.deb'), debBytes('hello 1.0'));
  fs.writeFileSync(path.join(debs, 'tool_2.1_amd64.deb'), debBytes('tool 2.1'));
  fs.writeFileSync(path.join(debs, 'README'), 'not a package, left alone\n');
});
afterEach(() => removeWorkDir(work));

describe('packages.local at load', () => {
  it('is a path relative to the config file: absolute paths and ".." are refused by the schema', () => {
    for (const bad of ['/srv/debs', '../debs', 'a/../../debs']) {
      const file = path.join(project, 'bad.json');
      fs.writeFileSync(file, JSON.stringify({ extends: 'minimal', packages: { local: bad } }));
      expect(() => loadConfig({ configFile: file }), bad).toThrow(ConfigError);
    }
  });

  it('takes the .deb files of the directory, sorted, each hashed; other entries are left alone', () => {
    const found = scanLocalPackages(configWith(), project, hash);
    expect(found).toEqual([
      { name: 'hello-local_1.0_all.deb', sha256: sha(debBytes('hello 1.0')) },
      { name: 'tool_2.1_amd64.deb', sha256: sha(debBytes('tool 2.1')) },
    ]);
    expect(scanLocalPackages(configWith(null), project, hash)).toEqual([]);
  });

  const refusal = (config: BuildConfig): ConfigError => {
    try {
      checkInputTrees(resolveSteps(config), config, project);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  it('a missing directory, one without a .deb, a symlink on the way: a config error naming it and the fix', () => {
    let e = refusal(configWith('nope'));
    expect(e.message).toBe(
      `packages.local: the directory nope does not exist (looked for ${path.join(project, 'nope')})`,
    );
    expect(e.hint).toMatch(/relative to the config file; create the directory/);
    fs.mkdirSync(path.join(project, 'empty'));
    fs.writeFileSync(path.join(project, 'empty', 'notes.txt'), 'x');
    e = refusal(configWith('empty'));
    expect(e.message).toBe(`packages.local: ${path.join(project, 'empty')} holds no .deb file`);
    expect(e.hint).toMatch(/put the .deb files to install there .* or remove packages.local/);
    fs.symlinkSync(debs, path.join(project, 'linked'));
    expect(refusal(configWith('linked')).message).toMatch(
      /linked is not a directory \(or linked on the way is a symlink/,
    );
  });

  it('a file that is no .deb archive, a truncated one, a symlink and an odd name: refused by name', () => {
    const file = path.join(debs, 'broken_1.0_all.deb');
    fs.writeFileSync(file, 'this is text\n');
    const e = refusal(configWith());
    expect(e.message).toBe(`packages.local: ${file} is not a .deb archive (no "!<arch>" ar header)`);
    expect(e.hint).toMatch(/dpkg-deb --build \(check it with dpkg-deb --info\), or remove it/);
    fs.writeFileSync(file, debBytes('broken').subarray(0, 150));
    expect(refusal(configWith()).message).toMatch(/broken_1.0_all.deb is (truncated|not a valid .deb archive)/);
    const arOnly = Buffer.concat([Buffer.from('!<arch>\n'), arMember('data.tar.xz', Buffer.from('x'))]);
    fs.writeFileSync(file, arOnly);
    expect(refusal(configWith()).message).toMatch(/its first member is not debian-binary/);
    fs.rmSync(file);
    fs.symlinkSync(path.join(debs, 'tool_2.1_amd64.deb'), file);
    expect(refusal(configWith()).message).toBe(`packages.local: ${file} is a symlink`);
    fs.rmSync(file);
    fs.writeFileSync(path.join(debs, 'with space.deb'), debBytes('x'));
    expect(refusal(configWith()).message).toMatch(
      /the name "with space.deb" has characters a Packages index cannot carry/,
    );
  });

  it('is read by the packages step: a config without it in steps is refused, naming the step', () => {
    expect(unusedFields({ packages: { local: 'debs' } }, ['bootstrap', 'configure'])).toEqual([
      { field: 'packages.local', readers: ['packages'] },
    ]);
    expect(unusedFields({ packages: { local: 'debs' } }, ['bootstrap', 'configure', 'packages'])).toEqual([]);
  });

  it('brings dpkg-scanpackages (dpkg-dev) into the host tools only when set', () => {
    const tools = (c: BuildConfig) => hostRequirements(resolveSteps(c), c).tools;
    expect(tools(configWith()).find((t) => t.name === 'dpkg-scanpackages')).toMatchObject({
      pkg: 'dpkg-dev',
      steps: ['packages'],
    });
    expect(tools(configWith(null)).find((t) => t.name === 'dpkg-scanpackages')).toBeUndefined();
  });
});

describe('the fingerprint and the plan', () => {
  const fingerprints = (config: BuildConfig, cache?: InputHashCache) =>
    fingerprintSteps(resolveSteps(config), config, project, {
      sourceDateEpoch: null,
      ...(cache ? { hashCache: cache } : {}),
    });

  it("covers each .deb by name and sha256 in the packages step's material", () => {
    const { material } = fingerprints(configWith()).find((f) => f.id === 'packages')!;
    expect(material.config['packages.local']).toBe('debs');
    expect(material.files).toEqual({
      'local-package:hello-local_1.0_all.deb': `deb sha256:${sha(debBytes('hello 1.0'))}`,
      'local-package:tool_2.1_amd64.deb': `deb sha256:${sha(debBytes('tool 2.1'))}`,
    });
  });

  it('hashes each .deb once, and not at all in the next build when nothing changed (the input hash cache)', () => {
    const later = () => BigInt(Date.now()) * 1_000_000n + 10_000_000_000n;
    const cacheDir = path.join(work, 'cache');
    const first = InputHashCache.forWorkDir(cacheDir, later);
    fingerprints(configWith(), first);
    expect(first.stats.reads).toBe(2);
    first.save();
    const second = InputHashCache.forWorkDir(cacheDir, later);
    fingerprints(configWith(), second);
    expect(second.stats).toEqual({ reads: 0, hits: 2 });
  });

  it('plan says which local package changed, was added or removed, and reruns from the packages step', () => {
    const config = configWith();
    const before = fingerprints(config);
    fs.writeFileSync(path.join(debs, 'hello-local_1.0_all.deb'), debBytes('hello 1.0, rebuilt'));
    fs.writeFileSync(path.join(debs, 'new_0.1_all.deb'), debBytes('new'));
    fs.rmSync(path.join(debs, 'tool_2.1_amd64.deb'));
    const plan = planBuild(fingerprints(config), doneLedger(before), () => true);
    const byId = Object.fromEntries(plan.map((p) => [p.id, p]));
    expect(byId['configure']!.action).toBe('skip');
    expect(byId['packages']!.action).toBe('run');
    expect(byId['packages']!.reasons).toEqual([
      'local package hello-local_1.0_all.deb changed',
      'local package new_0.1_all.deb added',
      'local package tool_2.1_amd64.deb removed',
    ]);
    expect(byId['chroot-cleanup']!.reasons).toEqual(['an earlier step (packages) runs again']);
    // a file that is not a .deb does not count
    const again = fingerprints(config);
    fs.writeFileSync(path.join(debs, 'README'), 'changed\n');
    expect(planBuild(fingerprints(config), doneLedger(again), () => true).every((p) => p.action === 'skip')).toBe(true);
  });

  it('setting it names the field in the plan', () => {
    const before = fingerprints(configWith(null));
    const byId = Object.fromEntries(
      planBuild(fingerprints(configWith()), doneLedger(before), () => true).map((p) => [p.id, p]),
    );
    expect(byId['packages']!.reasons).toEqual([
      'config field packages.local changed (null -> "debs")',
      'local package hello-local_1.0_all.deb added',
      'local package tool_2.1_amd64.deb added',
    ]);
  });
});

describe('the packages step with packages.local', () => {
  const repo = () => path.join(work, 'cache', 'local-repo');
  const mnt = () => path.join(work, 'mnt', 'packages');
  const INDEX =
    stanza('hello-local', '1.0', 'hello-local_1.0_all.deb') +
    '\n' +
    stanza('tool', '2.1', 'tool_2.1_amd64.deb', 'amd64');

  function scripted(ctx: TestStepContext, index = INDEX): void {
    ctx.runner.on(['dpkg-scanpackages'], { stdout: index });
    ctx.runner.on(['unshare'], {
      effect: (call) => {
        const i = call.argv.indexOf('install');
        if (i === -1) return;
        const names = call.argv.slice(i + 3);
        const status = path.join(work, 'layers/packages/upper/var/lib/dpkg/status');
        const before = fs.existsSync(status) ? fs.readFileSync(status, 'utf8') : '';
        writeTree(path.join(work, 'layers/packages/upper'), {
          'var/lib/dpkg/status':
            before + names.map((n) => `Package: ${n}\nStatus: install ok installed\nVersion: 1\n\n`).join(''),
        });
      },
    });
  }

  it('copies the .deb files into the work dir, indexes them, writes its own source entry, binds the repository read-only and installs every local package with the userland', async () => {
    const config = configWith();
    writeBase(config);
    fingerprintSteps(resolveSteps(config), config, project, { sourceDateEpoch: null });
    const ctx = ctxFor(config);
    scripted(ctx);
    await packagesStep.run(ctx);
    const [scan, update, userland, kernel] = ctx.runner.calls;
    expect(scan!.argv).toEqual(['dpkg-scanpackages', '--multiversion', '.', '/dev/null']);
    expect(scan!.options.cwd).toBe(`${repo()}.tmp`);
    // the repository: the very bytes, and the index as dpkg-scanpackages wrote it; no temp dir left
    expect(fs.readdirSync(repo()).sort()).toEqual(['Packages', 'hello-local_1.0_all.deb', 'tool_2.1_amd64.deb']);
    expect(fs.readFileSync(path.join(repo(), 'hello-local_1.0_all.deb'))).toEqual(debBytes('hello 1.0'));
    expect(fs.readFileSync(path.join(repo(), 'Packages'), 'utf8')).toBe(INDEX);
    expect(fs.existsSync(`${repo()}.tmp`)).toBe(false);
    expect(fs.statSync(repo()).mode & 0o777).toBe(0o755);
    // the source entry is ailinux's own line, in the step's layer
    const list = path.join(work, 'layers/packages/upper', LOCAL_SOURCE_FILE);
    expect(fs.readFileSync(list, 'utf8')).toBe('deb [trusted=yes] file:/var/lib/ailinux-local-packages ./\n');
    expect(LOCAL_SOURCE_LINE).toBe('deb [trusted=yes] file:/var/lib/ailinux-local-packages ./');
    // the lists of that source alone, then the install: each apt call with the repository bound read-only
    const tail = (argv: string[]) => argv.slice(argv.lastIndexOf('chroot') + 2);
    expect(tail(update!.argv)).toEqual([
      'apt-get',
      'update',
      '-o',
      'Dir::Etc::SourceList=sources.list.d/ailinux-local-packages.list',
      '-o',
      'Dir::Etc::SourceParts=/dev/null',
      '-o',
      'APT::Get::List-Cleanup=0',
    ]);
    for (const call of [update!, userland!, kernel!]) {
      const bind = call.argv.indexOf('--bind-ro', call.argv.indexOf(`${work}/cache/apt-archives`));
      expect(call.argv.slice(bind, bind + 3)).toEqual(['--bind-ro', repo(), `${mnt()}${LOCAL_REPO_IN_IMAGE}`]);
    }
    expect(tail(userland!.argv)).toEqual([
      'apt-get',
      'install',
      '-y',
      '--no-install-recommends',
      ...config.packages.live,
      'hello-local',
      'tool',
    ]);
    expect(tail(kernel!.argv)).toEqual([
      'apt-get',
      'install',
      '-y',
      '--no-install-recommends',
      ...config.packages.kernel,
    ]);
    expect(ctx.infos).toContain('local packages from debs: hello-local tool');
    await expect(packagesStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('verify names a local package apt did not install', async () => {
    const config = configWith();
    writeBase(config);
    const ctx = ctxFor(config);
    scripted(ctx);
    await packagesStep.run(ctx);
    const status = path.join(work, 'layers/packages/upper/var/lib/dpkg/status');
    fs.writeFileSync(status, fs.readFileSync(status, 'utf8').replace('Package: tool\n', 'Package: other\n'));
    await expect(packagesStep.verify(ctx)).rejects.toThrow('these packages are not installed: tool');
  });

  it('without packages.local: no scan, no source entry, no bind', async () => {
    const config = configWith(null);
    writeBase(config);
    const ctx = ctxFor(config);
    scripted(ctx);
    await packagesStep.run(ctx);
    expect(ctx.runner.calls.map((c) => c.argv[0])).toEqual(['unshare', 'unshare']);
    expect(ctx.runner.calls.some((c) => c.argv.includes('--bind-ro') && c.argv.includes(repo()))).toBe(false);
    expect(fs.existsSync(path.join(work, 'layers/packages/upper', LOCAL_SOURCE_FILE))).toBe(false);
    expect(fs.existsSync(repo())).toBe(false);
  });

  async function failure(ctx: TestStepContext): Promise<StepError> {
    try {
      await packagesStep.run(ctx);
    } catch (error) {
      expect(error).toBeInstanceOf(StepError);
      return error as StepError;
    }
    throw new Error('expected a StepError');
  }

  it('a .deb for another architecture, or one dpkg-scanpackages could not read: the step fails naming it, nothing half written', async () => {
    const config = configWith();
    writeBase(config);
    let ctx = ctxFor(config);
    scripted(
      ctx,
      stanza('hello-local', '1.0', 'hello-local_1.0_all.deb') +
        '\n' +
        stanza('tool', '2.1', 'tool_2.1_amd64.deb', 'arm64'),
    );
    let e = await failure(ctx);
    expect(e.message).toContain('local package tool_2.1_amd64.deb (in debs) is for arm64; the image is amd64');
    expect(fs.existsSync(repo())).toBe(false);
    expect(fs.existsSync(`${repo()}.tmp`)).toBe(false);
    ctx = ctxFor(config);
    scripted(ctx, stanza('hello-local', '1.0', 'hello-local_1.0_all.deb'));
    e = await failure(ctx);
    expect(e.message).toContain(
      'local package tool_2.1_amd64.deb (in debs) is not in the index dpkg-scanpackages wrote',
    );
    expect(e.hint).toContain('dpkg-deb --info debs/tool_2.1_amd64.deb');
    expect(fs.existsSync(repo())).toBe(false);
    // no apt call ran, and the source entry was not written
    expect(ctx.runner.calls.map((c) => c.argv[0])).toEqual(['dpkg-scanpackages']);
    expect(fs.existsSync(path.join(work, 'layers/packages/upper', LOCAL_SOURCE_FILE))).toBe(false);
  });

  it('refuses a .deb that changed after the build fingerprinted it, and keeps the repository of before', async () => {
    const config = configWith();
    writeBase(config);
    let ctx = ctxFor(config);
    scripted(ctx);
    await packagesStep.run(ctx);
    const config2 = configWith();
    fingerprintSteps(resolveSteps(config2), config2, project, { sourceDateEpoch: null });
    fs.writeFileSync(path.join(debs, 'tool_2.1_amd64.deb'), debBytes('tool 2.1, swapped'));
    ctx = ctxFor(config2);
    scripted(ctx);
    const e = await failure(ctx);
    expect(e.message).toMatch(/^local package tool_2.1_amd64.deb \(in debs\) changed after the build fingerprinted it/);
    expect(fs.readFileSync(path.join(repo(), 'tool_2.1_amd64.deb'))).toEqual(debBytes('tool 2.1'));
    expect(fs.existsSync(`${repo()}.tmp`)).toBe(false);
  });

  it('the desktop step binds the repository too when the packages step built it', async () => {
    const config = profileConfig('ailinux', (c) => {
      c.packages.local = 'debs';
    });
    const ctx = ctxFor(config, 'desktop');
    fs.mkdirSync(repo(), { recursive: true });
    fs.writeFileSync(path.join(repo(), 'Packages'), INDEX);
    writeTree(layerRoot(config, work, 'bootstrap'), { 'var/lib/dpkg/status': '' });
    // the packages step's source entry: without it (a repository left in the cache) no bind
    ctx.runner.on((argv) => argv.includes('policy'), {
      stdout: [...config.packages.desktop, ...config.packages.apps].map((n) => `${n}:\n  Candidate: 1.0\n`).join(''),
    });
    await desktopStep.run(ctx);
    expect(ctx.runner.calls.some((c) => c.argv.includes(repo()))).toBe(false);
    writeTree(layerRoot(config, work, 'packages'), { [LOCAL_SOURCE_FILE]: `${LOCAL_SOURCE_LINE}\n` });
    ctx.runner.calls.length = 0;
    ctx.runner.on((argv) => argv.includes('policy'), {
      effect: () => undefined,
      stdout: [...config.packages.desktop, ...config.packages.apps].map((n) => `${n}:\n  Candidate: 1.0\n`).join(''),
    });
    await desktopStep.run(ctx);
    // apt-cache policy reads the lists only: no bind there
    expect(ctx.runner.calls[0]!.argv).not.toContain(repo());
    const install = ctx.runner.calls.find((c) => c.argv.includes('install'))!;
    expect(install).toBeDefined();
    const at = install.argv.indexOf(repo());
    expect(install.argv.slice(at - 1, at + 2)).toEqual([
      '--bind-ro',
      repo(),
      `${work}/mnt/desktop${LOCAL_REPO_IN_IMAGE}`,
    ]);
  });
});

describe('chroot-cleanup leaves no trace of the repository', () => {
  it('removes the source entry, its lists and the mount point; verify fails while one is left', async () => {
    const config = configWith();
    writeBase(config);
    writeTree(layerRoot(config, work, 'packages'), {
      [LOCAL_SOURCE_FILE]: `${LOCAL_SOURCE_LINE}\n`,
      'var/lib/apt/lists/_var_lib_ailinux-local-packages_._Packages': 'x',
    });
    fs.mkdirSync(path.join(layerRoot(config, work, 'packages'), LOCAL_REPO_IN_IMAGE.slice(1)), { recursive: true });
    const ctx = ctxFor(config, 'chroot-cleanup');
    const commands = cleanupCommands(config, ctx.layers);
    expect(commands.slice(1, 4)).toEqual([
      ['rm', '-f', '/etc/apt/sources.list.d/ailinux-local-packages.list'],
      ['find', '/var/lib/apt/lists', '-maxdepth', '1', '-name', '_var_lib_ailinux-local-packages_*', '-delete'],
      ['rm', '-rf', '--one-file-system', '/var/lib/ailinux-local-packages'],
    ]);
    expect(LOCAL_LISTS_GLOB).toBe('_var_lib_ailinux-local-packages_*');
    await expect(chrootCleanupStep.verify(ctx)).rejects.toThrow(
      "/etc/apt/sources.list.d/ailinux-local-packages.list (packages.local's repository) is still in the rootfs",
    );
    // without the repository, none of these commands
    const plain = configWith(null);
    fs.rmSync(path.join(work, 'layers', 'packages'), { recursive: true });
    const none = cleanupCommands(plain, ctxFor(plain, 'chroot-cleanup').layers);
    expect(none.some((c) => c.join(' ').includes('ailinux-local'))).toBe(false);
  });
});
