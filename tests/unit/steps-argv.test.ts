/**
 * The exact argv every rootfs and medium step sends, for both built-in profiles, with the scripted
 * FakeRunner and a tmp work dir whose layers are plain directories. The runner's `effect` hook makes
 * the files the real tools would, so each step's verify() is exercised both ways.
 */
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { renderError } from '../../src/cli/render-error.js';
import { CommandError, StepError } from '../../src/errors.js';
import type { FakeRunner, FakeCall } from '../../src/runtime/fake-runner.js';
import { NETWORK_TRANSIENT_PATTERNS } from '../../src/runtime/runner.js';
import { bootstrapStep } from '../../src/steps/bootstrap.js';
import { checksumsStep } from '../../src/steps/checksums.js';
import { chrootCleanupStep } from '../../src/steps/chroot-cleanup.js';
import { configureStep } from '../../src/steps/configure.js';
import { identityStep } from '../../src/steps/identity.js';
import { packagesStep } from '../../src/steps/packages.js';
import { passwordSalt, sha512Crypt } from '../../src/steps/password-hash.js';
import { createReportStep, reportStep } from '../../src/steps/report.js';
import { squashfsStep } from '../../src/steps/squashfs.js';
import { emptyLedgerEntry, type Ledger, type LedgerEntry } from '../../src/types.js';
import {
  chrootEnvOf,
  chrootOptions,
  expectedChrootArgv,
  layerTreeDir,
  NS_RUN,
  layerRoot,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type ProfileName,
  type TestStepContext,
  expectedKernelMountArgv,
} from '../helpers/step-context.js';

const PROFILES: readonly ProfileName[] = ['minimal', 'ailinux'];

const PLAIN = (config: BuildConfig) => chrootOptions(config);
const NETWORK = (config: BuildConfig) => chrootOptions(config, { transientPatterns: NETWORK_TRANSIENT_PATTERNS });

const ISOLATE = ['unshare', '--mount', '--propagation', 'private', '--fork', '--'];
/** debootstrap's first stage runs without CAP_SYS_ADMIN and the host powers; mmdebstrap mounts, so keeps the first. */
const NO_ADMIN = [
  'setpriv',
  '--bounding-set',
  '-sys_admin,-sys_module,-sys_boot,-sys_time,-sys_ptrace',
  '--inh-caps',
  '-sys_admin,-sys_module,-sys_boot,-sys_time,-sys_ptrace',
  '--',
];
const NO_KERNEL = [
  'setpriv',
  '--bounding-set',
  '-sys_module,-sys_boot,-sys_time,-sys_ptrace',
  '--inh-caps',
  '-sys_module,-sys_boot,-sys_time,-sys_ptrace',
  '--',
];

let workDir: string;
/** Every runner a test used: afterEach checks each of their calls for shells and host binds. */
let runners: FakeRunner[];

beforeEach(() => {
  workDir = makeWorkDir();
  runners = [];
});

afterEach(() => {
  try {
    for (const runner of runners) assertSafeCalls(runner.calls, workDir);
  } finally {
    removeWorkDir(workDir);
  }
});

function ctxFor(
  config: BuildConfig,
  stepId: string,
  extra: { sourceDateEpoch?: number | null; cores?: number } = {},
): TestStepContext {
  const ctx = stepContext({ config, workDir, stepId, ...extra });
  runners.push(ctx.runner);
  return ctx;
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'busybox']);
const HOST_ONLY = ['/dev', '/run'];

/** No command goes through a shell, and no bind mount brings the host's /dev, /dev/pts or /run in. */
function assertSafeCalls(calls: readonly FakeCall[], work: string): void {
  for (const { argv } of calls) {
    // ailinux-ns-run's own options run from after its path up to its '--' (unshare has a --mount flag too).
    const ns = argv.indexOf(NS_RUN);
    const nsEnd = ns < 0 ? -1 : argv.indexOf('--', ns);
    argv.forEach((arg, i) => {
      const next = argv[i + 1];
      if (SHELLS.has(path.basename(arg))) {
        expect(next, `shell -c in ${argv.join(' ')}`).not.toBe('-c');
        if (path.basename(arg) === 'busybox') expect(SHELLS.has(next ?? '')).toBe(false);
      }
      expect(arg, `shell snippet in ${argv.join(' ')}`).not.toMatch(/\b(ba|da|z|k)?sh\s+-c\b/);
      if (arg === '--bind' || arg === '--bind-ro' || arg === '--bind-ro-if-present' || arg === '--rbind') {
        const source = next ?? '';
        for (const host of HOST_ONLY) {
          expect(source === host || source.startsWith(`${host}/`), `host ${source} bound in ${argv.join(' ')}`).toBe(
            false,
          );
        }
        // Every bind source is the build's own: the rootfs mount point or a cache in the work dir.
        expect(source.startsWith(`${work}/`), `bind of ${source} from outside the work dir`).toBe(true);
      }
      if (arg === '--mount' && i > ns && i < nsEnd) {
        // --mount TYPE SOURCE TARGET OPTIONS: only fresh kernel filesystems and the overlay, never a host path.
        expect(['overlay', 'proc', 'sysfs', 'devpts']).toContain(argv[i + 2]);
        expect(argv[i + 3]!.startsWith(`${work}/mnt/`)).toBe(true);
      }
    });
  }
}

/** The layer steps below stepId in the profile's order, topmost first (the ailinux profile has more of them). */
function lowerIds(profile: ProfileName, stepId: string): string[] {
  const config = profileConfig(profile);
  const ids = config.steps.slice(0, config.steps.indexOf(stepId)).filter((id) => !['preflight'].includes(id));
  return ids.reverse();
}

function layerDir(id: string): string {
  return layerTreeDir(workDir, id);
}

/** The full argv of a command run in an overlay step's chroot, spelled out independently of chrootArgv. */
function chrootCmd(step: string, lowerIds: readonly string[], command: readonly string[], apt = false): string[] {
  return expectedChrootArgv(workDir, step, lowerIds, command, apt);
}

/** A host command run over the sealed layers, read-only (layer: 'none' steps). */
function viewCmd(step: string, lowerIds: readonly string[], command: readonly string[]): string[] {
  return [
    ...ISOLATE,
    NS_RUN,
    '--mount',
    'overlay',
    'overlay',
    `${workDir}/mnt/${step}`,
    `lowerdir=${lowerIds.map(layerDir).join(':')}`,
    '--',
    ...command,
  ];
}

/** A plausible minimal base tree, as debootstrap would leave it. */
function writeBase(config: BuildConfig, extra: Record<string, string> = {}): string {
  const root = layerRoot(config, workDir, 'bootstrap');
  writeTree(root, {
    'etc/os-release': 'ID=test\n',
    'usr/bin/dpkg': '',
    'var/lib/dpkg/status': '',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
    'etc/group': 'root:x:0:\nadm:x:4:\naudio:x:29:\nvideo:x:44:\nsudo:x:27:\nusers:x:100:\n',
    'etc/apt/apt.conf.d/.keep': '',
    'usr/sbin/.keep': '',
    'tmp/.keep': '',
    'var/tmp/.keep': '',
    'var/log/dpkg.log': 'x\n',
    ...extra,
  });
  return root;
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o7777;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

// ---------------------------------------------------------------------------------------------

describe('chroot command shape', () => {
  it('wraps a chroot command as unshare -> ailinux-ns-run overlay/proc/sysfs/devpts/ptmx [-> apt archives] -> chroot', async () => {
    const config = profileConfig('minimal');
    writeBase(config);
    const ctx = ctxFor(config, 'configure');
    await configureStep.run(ctx);
    const mnt = `${workDir}/mnt/configure`;
    const argv = ctx.runner.calls[0]!.argv;
    expect(argv).toEqual([
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--fork',
      '--',
      NS_RUN,
      '--mount',
      'overlay',
      'overlay',
      mnt,
      `lowerdir=${workDir}/layers/bootstrap/root,upperdir=${workDir}/layers/configure/upper,workdir=${workDir}/layers/configure/work`,
      ...expectedKernelMountArgv(mnt),
      '--',
      'chroot',
      mnt,
      'ln',
      '-sf',
      '/usr/share/zoneinfo/Etc/UTC',
      '/etc/localtime',
    ]);
    // The ns-run helper is the real file the package ships.
    expect(fs.existsSync(NS_RUN)).toBe(true);
    // The apt variant adds exactly one bind, the shared deb cache, after the ptmx bind.
    const packages = ctxFor(config, 'packages');
    await packagesStep.run(packages);
    const apt = packages.runner.calls[0]!.argv;
    const sep = apt.lastIndexOf('--', apt.indexOf('chroot'));
    expect(apt.slice(sep - 6, sep)).toEqual([
      '--bind',
      `${workDir}/mnt/packages/dev/pts/ptmx`,
      `${workDir}/mnt/packages/dev/ptmx`,
      '--bind',
      `${workDir}/cache/apt-archives`,
      `${workDir}/mnt/packages/var/cache/apt/archives`,
    ]);
  });

  it('the safety check itself catches a shell and a host /dev bind', () => {
    expect(() => assertSafeCalls([{ argv: ['chroot', '/x', 'sh', '-c', 'echo hi'], options: {} }], workDir)).toThrow();
    expect(() => assertSafeCalls([{ argv: ['chroot', '/x', 'bash', '-c', 'true'], options: {} }], workDir)).toThrow();
    expect(() =>
      assertSafeCalls([{ argv: ['x', '--bind', '/dev', `${workDir}/mnt/a/dev`], options: {} }], workDir),
    ).toThrow();
    expect(() =>
      assertSafeCalls([{ argv: ['x', '--bind', '/dev/pts', `${workDir}/mnt/a/dev/pts`], options: {} }], workDir),
    ).toThrow();
    expect(() =>
      assertSafeCalls([{ argv: ['x', '--bind-ro', '/run/udev', `${workDir}/mnt/a/run/udev`], options: {} }], workDir),
    ).toThrow();
    expect(() =>
      assertSafeCalls([{ argv: ['useradd', '--shell', '/bin/bash', 'u'], options: {} }], workDir),
    ).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------

describe('bootstrap', () => {
  const target = () => `${workDir}/layers/bootstrap/root`;
  const debCache = () => `${workDir}/cache/debootstrap`;

  function keyringFile(content = 'fake keyring\n'): { file: string; sha256: string } {
    const file = path.join(workDir, 'keys', 'archive-keyring.gpg');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    return { file, sha256: crypto.createHash('sha256').update(content).digest('hex') };
  }

  /** debootstrap's second stage: in the base layer's chroot, bound on its mount point, with the kernel mounts. */
  function secondStage(): string[] {
    const mnt = `${workDir}/mnt/bootstrap`;
    return [
      ...ISOLATE,
      NS_RUN,
      '--bind',
      target(),
      mnt,
      ...expectedKernelMountArgv(mnt),
      '--',
      'chroot',
      mnt,
      '/debootstrap/debootstrap',
      '--second-stage',
    ];
  }

  /** The effect of a successful bootstrap: the files verify() looks for, in the target dir. */
  function bootstrapsInto(suite: string) {
    return {
      effect: (call: FakeCall) => {
        const dir = call.argv[call.argv.indexOf(suite) + 1]!;
        writeTree(dir, { 'var/lib/dpkg/status': '', 'usr/bin/dpkg': '', 'etc/os-release': 'ID=x\n' });
      },
    };
  }

  it('minimal: debootstrap minbase of bookworm into the base layer, with the deb cache, network-retryable', async () => {
    const config = profileConfig('minimal');
    const ctx = ctxFor(config, 'bootstrap');
    ctx.runner.on('debootstrap', bootstrapsInto('bookworm'));
    const artifacts = await bootstrapStep.run(ctx);
    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      [
        ...ISOLATE,
        ...NO_ADMIN,
        'debootstrap',
        '--foreign',
        '--variant=minbase',
        '--arch=amd64',
        '--components=main',
        `--cache-dir=${debCache()}`,
        'bookworm',
        target(),
        'http://deb.debian.org/debian',
      ],
      secondStage(),
    ]);
    expect(ctx.runner.calls[0]!.options).toEqual({ transientPatterns: NETWORK_TRANSIENT_PATTERNS });
    expect(ctx.runner.calls[0]!.options.transientPatterns).toBe(NETWORK_TRANSIENT_PATTERNS);
    // the second stage needs no network, and runs in the chroot's clean environment like every chroot command
    expect(ctx.runner.calls[1]!.options).toEqual({
      env: expect.objectContaining({
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: '/root',
        // the base layer never depends on the image's locale
        LANG: 'C.UTF-8',
        LC_ALL: 'C.UTF-8',
        DEBIAN_FRONTEND: 'noninteractive',
        // its dpkg runs skip the fsync before each unpacked file's rename, like every chroot command's
        DPKG_FORCE: 'security-mac,downgrade,unsafe-io',
      }),
      cleanEnv: true,
    });
    expect(artifacts).toEqual([{ path: 'layers/bootstrap', kind: 'dir' }]);
    expect(fs.statSync(debCache()).isDirectory()).toBe(true);
    await expect(bootstrapStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('under SOURCE_DATE_EPOCH the second stage gets it in its clean environment (the dates in the base layer shadow file)', async () => {
    const config = profileConfig('minimal');
    const ctx = ctxFor(config, 'bootstrap', { sourceDateEpoch: 1733500000 });
    ctx.runner.on('debootstrap', bootstrapsInto('bookworm'));
    await bootstrapStep.run(ctx);
    expect(ctx.runner.calls[1]!.argv.at(-1)).toBe('--second-stage');
    expect(ctx.runner.calls[1]!.options.env).toMatchObject({ SOURCE_DATE_EPOCH: '1733500000', LANG: 'C.UTF-8' });
    expect(ctx.runner.calls[1]!.options.cleanEnv).toBe(true);
  });

  it('ailinux: debootstrap of noble with the keyring and the gutsy script last', async () => {
    const key = keyringFile();
    const config = profileConfig('ailinux', (c) => {
      c.distribution.keyring = { path: key.file };
    });
    const ctx = ctxFor(config, 'bootstrap');
    ctx.runner.on('debootstrap', bootstrapsInto('noble'));
    await bootstrapStep.run(ctx);
    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      [
        ...ISOLATE,
        ...NO_ADMIN,
        'debootstrap',
        '--foreign',
        '--variant=minbase',
        '--arch=amd64',
        '--components=main,restricted,universe,multiverse',
        `--keyring=${key.file}`,
        `--cache-dir=${debCache()}`,
        'noble',
        target(),
        'http://archive.ubuntu.com/ubuntu',
        '/usr/share/debootstrap/scripts/gutsy',
      ],
      secondStage(),
    ]);
    await expect(bootstrapStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('the ailinux profile names the Ubuntu keyring and the gutsy script', () => {
    const config = profileConfig('ailinux');
    expect(config.distribution.keyring).toEqual({ path: '/usr/share/keyrings/ubuntu-archive-keyring.gpg' });
    expect(config.distribution.debootstrapScript).toBe('/usr/share/debootstrap/scripts/gutsy');
    expect(profileConfig('minimal').distribution.keyring).toBeUndefined();
  });

  it('debootstrap: --include, the default variant (no --variant) and buildd', async () => {
    const key = keyringFile();
    const config = profileConfig('ailinux', (c) => {
      c.distribution.keyring = { path: key.file, sha256: key.sha256 };
      c.bootstrap.include = ['ca-certificates', 'gnupg'];
      c.bootstrap.variant = 'default';
    });
    const ctx = ctxFor(config, 'bootstrap');
    await bootstrapStep.run(ctx);
    expect(ctx.runner.calls[0]!.argv).toEqual([
      ...ISOLATE,
      ...NO_ADMIN,
      'debootstrap',
      '--foreign',
      '--arch=amd64',
      '--components=main,restricted,universe,multiverse',
      '--include=ca-certificates,gnupg',
      `--keyring=${key.file}`,
      `--cache-dir=${debCache()}`,
      'noble',
      target(),
      'http://archive.ubuntu.com/ubuntu',
      '/usr/share/debootstrap/scripts/gutsy',
    ]);

    const buildd = ctxFor(
      profileConfig('minimal', (c) => (c.bootstrap.variant = 'buildd')),
      'bootstrap',
    );
    await bootstrapStep.run(buildd);
    expect(buildd.runner.calls[0]!.argv).toEqual([
      ...ISOLATE,
      ...NO_ADMIN,
      'debootstrap',
      '--foreign',
      '--variant=buildd',
      '--arch=amd64',
      '--components=main',
      `--cache-dir=${debCache()}`,
      'bookworm',
      target(),
      'http://deb.debian.org/debian',
    ]);
  });

  it('mmdebstrap, minimal: root mode, no cache dir, no script', async () => {
    const config = profileConfig('minimal', (c) => (c.bootstrap.tool = 'mmdebstrap'));
    const ctx = ctxFor(config, 'bootstrap');
    ctx.runner.on('mmdebstrap', bootstrapsInto('bookworm'));
    await bootstrapStep.run(ctx);
    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      [
        ...ISOLATE,
        ...NO_KERNEL,
        'mmdebstrap',
        '--mode=root',
        '--variant=minbase',
        '--architectures=amd64',
        '--components=main',
        'bookworm',
        target(),
        'http://deb.debian.org/debian',
      ],
    ]);
    expect(ctx.runner.calls[0]!.options).toEqual({ transientPatterns: NETWORK_TRANSIENT_PATTERNS });
    await expect(bootstrapStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('mmdebstrap, ailinux: --include and --keyring, the gutsy script is not passed, default variant is important', async () => {
    const key = keyringFile();
    const config = profileConfig('ailinux', (c) => {
      c.bootstrap.tool = 'mmdebstrap';
      c.bootstrap.include = ['ca-certificates'];
      c.distribution.keyring = { path: key.file, sha256: key.sha256 };
    });
    const ctx = ctxFor(config, 'bootstrap');
    await bootstrapStep.run(ctx);
    expect(ctx.runner.calls[0]!.argv).toEqual([
      ...ISOLATE,
      ...NO_KERNEL,
      'mmdebstrap',
      '--mode=root',
      '--variant=minbase',
      '--architectures=amd64',
      '--components=main,restricted,universe,multiverse',
      '--include=ca-certificates',
      `--keyring=${key.file}`,
      'noble',
      target(),
      'http://archive.ubuntu.com/ubuntu',
    ]);
    const dflt = ctxFor(
      profileConfig('minimal', (c) => ((c.bootstrap.tool = 'mmdebstrap'), (c.bootstrap.variant = 'default'))),
      'bootstrap',
    );
    await bootstrapStep.run(dflt);
    expect(dflt.runner.calls[0]!.argv).toContain('--variant=important');
  });

  it('a keyring whose sha256 differs from the pin is refused before anything runs', async () => {
    const key = keyringFile('the real one\n');
    const pinned = 'a'.repeat(64);
    const config = profileConfig('ailinux', (c) => (c.distribution.keyring = { path: key.file, sha256: pinned }));
    const ctx = ctxFor(config, 'bootstrap');
    const error = await rejection(bootstrapStep.run(ctx));
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).step).toBe('bootstrap');
    expect((error as StepError).message).toBe(
      `the keyring ${key.file} has sha256 ${key.sha256}, but the config pins ${pinned}`,
    );
    expect((error as StepError).hint).toMatch(/distribution\.keyring\.sha256/);
    expect(ctx.runner.calls).toEqual([]);
    expect(fs.existsSync(`${workDir}/layers/bootstrap`)).toBe(false);
  });

  it('a missing keyring is refused with a hint naming the fix (ubuntu: set distribution.keyring.path; debian: install the package)', async () => {
    const missing = path.join(workDir, 'nope', 'ubuntu-archive-keyring.gpg');
    const ubuntu = ctxFor(
      profileConfig('ailinux', (c) => (c.distribution.keyring = { path: missing })),
      'bootstrap',
    );
    const error = (await rejection(bootstrapStep.run(ubuntu))) as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.message).toBe(`the archive keyring ${missing} does not exist on this host`);
    expect(error.hint).toContain('ubuntu-archive-keyring.gpg');
    expect(error.hint).toContain('distribution.keyring.path');
    expect(ubuntu.runner.calls).toEqual([]);

    const debian = ctxFor(
      profileConfig('minimal', (c) => (c.distribution.keyring = { path: missing })),
      'bootstrap',
    );
    const derr = (await rejection(bootstrapStep.run(debian))) as StepError;
    expect(derr).toBeInstanceOf(StepError);
    expect(derr.hint).toContain('apt-get install debian-archive-keyring');
    expect(debian.runner.calls).toEqual([]);
  });

  it('verify names the first file the bootstrapped tree lacks', async () => {
    const config = profileConfig('minimal');
    const ctx = ctxFor(config, 'bootstrap');
    ctx.runner.on('debootstrap', {
      effect: (call) =>
        writeTree(call.argv[call.argv.indexOf('bookworm') + 1]!, { 'var/lib/dpkg/status': '', 'usr/bin/dpkg': '' }),
    });
    await bootstrapStep.run(ctx);
    await expect(bootstrapStep.verify(ctx)).rejects.toThrow(/^the bootstrapped tree has no \/etc\/os-release$/);
    const empty = ctxFor(profileConfig('minimal'), 'bootstrap');
    fs.rmSync(`${workDir}/layers/bootstrap`, { recursive: true });
    await bootstrapStep.run(empty);
    await expect(bootstrapStep.verify(empty)).rejects.toThrow('the bootstrapped tree has no /var/lib/dpkg/status');
    // its fix names the step log with the user's own work dir, as the CLI prints it (issue 13, point 2)
    const missing = await bootstrapStep.verify(empty).catch((e: unknown) => e);
    expect(renderError(missing, { workDir: '/x y', config: 'my.yaml' })).toContain(
      "  fix: see the step log\n  run: ailinux log bootstrap --work-dir '/x y'",
    );
  });

  it('verify resolves links inside the tree: an absolute link to a host file is no file of the tree', async () => {
    const decoyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-bootstrap-decoy-'));
    try {
      fs.writeFileSync(path.join(decoyDir, 'os-release'), 'ID=decoy\n');
      const ctx = ctxFor(profileConfig('minimal'), 'bootstrap');
      ctx.runner.on('debootstrap', {
        effect: (call) => {
          const root = call.argv[call.argv.indexOf('bookworm') + 1]!;
          writeTree(root, { 'var/lib/dpkg/status': '', 'usr/bin/dpkg': '', 'usr/lib/os-release': 'ID=debian\n' });
          fs.mkdirSync(path.join(root, 'etc'));
          fs.symlinkSync(path.join(decoyDir, 'os-release'), path.join(root, 'etc/os-release'));
        },
      });
      await bootstrapStep.run(ctx);
      await expect(bootstrapStep.verify(ctx)).rejects.toThrow(/^the bootstrapped tree has no \/etc\/os-release$/);
      // Debian's own link is relative and stays inside the tree
      fs.rmSync(`${layerDir('bootstrap')}/etc/os-release`);
      fs.symlinkSync('../usr/lib/os-release', `${layerDir('bootstrap')}/etc/os-release`);
      await expect(bootstrapStep.verify(ctx)).resolves.toBeUndefined();
    } finally {
      fs.rmSync(decoyDir, { recursive: true, force: true });
    }
  });

  it('a failed debootstrap with a network error is transient', async () => {
    const ctx = ctxFor(profileConfig('minimal'), 'bootstrap');
    ctx.runner.on('debootstrap', {
      exitCode: 1,
      stderr:
        "E: Failed getting release file http://deb.debian.org/debian/dists/bookworm/Release\nW: Couldn't download http://x\n",
    });
    const error = (await rejection(bootstrapStep.run(ctx))) as CommandError;
    expect(error).toBeInstanceOf(CommandError);
    expect(error.transient).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

const SOURCES: Record<ProfileName, string> = {
  minimal: [
    '# Written by ailinux from the profile; edit the config, not this file.',
    'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main',
    'deb http://deb.debian.org/debian-security bookworm-security main',
    '',
  ].join('\n'),
  ailinux: [
    '# Written by ailinux from the profile; edit the config, not this file.',
    'deb http://archive.ubuntu.com/ubuntu noble main restricted universe multiverse',
    'deb http://archive.ubuntu.com/ubuntu noble-updates main restricted universe multiverse',
    'deb http://archive.ubuntu.com/ubuntu noble-backports main restricted universe multiverse',
    'deb http://security.ubuntu.com/ubuntu noble-security main restricted universe multiverse',
    '',
  ].join('\n'),
};

describe('configure', () => {
  const upper = () => `${workDir}/layers/configure/upper`;
  const cmd = (command: string[], apt = false) => chrootCmd('configure', ['bootstrap'], command, apt);

  it('minimal: writes sources.list, policy-rc.d, locale files into its own layer; ln then apt-get update', async () => {
    const config = profileConfig('minimal');
    const base = writeBase(config);
    const ctx = ctxFor(config, 'configure');
    const artifacts = await configureStep.run(ctx);

    expect(fs.readFileSync(`${upper()}/etc/apt/sources.list`, 'utf8')).toBe(SOURCES.minimal);
    expect(mode(`${upper()}/etc/apt/sources.list`)).toBe(0o644);
    expect(fs.readFileSync(`${upper()}/usr/sbin/policy-rc.d`, 'utf8')).toBe(
      '#!/bin/sh\n# Written by ailinux for the build; removed by chroot-cleanup.\nexit 101\n',
    );
    expect(mode(`${upper()}/usr/sbin/policy-rc.d`)).toBe(0o755);
    expect(fs.readFileSync(`${upper()}/etc/default/locale`, 'utf8')).toBe('LANG=C.UTF-8\n');
    expect(fs.readFileSync(`${upper()}/etc/timezone`, 'utf8')).toBe('Etc/UTC\n');
    expect(fs.readFileSync(`${upper()}/etc/default/keyboard`, 'utf8')).toBe(
      'XKBMODEL="pc105"\nXKBLAYOUT="us"\nXKBVARIANT=""\nXKBOPTIONS=""\nBACKSPACE="guess"\n',
    );
    expect(fs.existsSync(`${upper()}/etc/locale.gen`)).toBe(false);
    // Nothing is written into the base layer below.
    expect(fs.existsSync(`${base}/etc/apt/sources.list`)).toBe(false);
    expect(fs.existsSync(`${base}/usr/sbin/policy-rc.d`)).toBe(false);

    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      cmd(['ln', '-sf', '/usr/share/zoneinfo/Etc/UTC', '/etc/localtime']),
      cmd(['apt-get', 'update']),
    ]);
    expect(ctx.runner.calls.map((c) => c.options)).toEqual([PLAIN(config), NETWORK(config)]);
    expect(ctx.runner.calls[1]!.options.transientPatterns).toBe(NETWORK_TRANSIENT_PATTERNS);
    expect(artifacts).toEqual([{ path: 'layers/configure', kind: 'dir' }]);
    await expect(configureStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('ailinux: also locale.gen, apt-get install locales (with the deb cache) and locale-gen, in order', async () => {
    const config = profileConfig('ailinux');
    writeBase(config);
    const ctx = ctxFor(config, 'configure');
    await configureStep.run(ctx);

    expect(fs.readFileSync(`${upper()}/etc/apt/sources.list`, 'utf8')).toBe(SOURCES.ailinux);
    expect(fs.readFileSync(`${upper()}/usr/sbin/policy-rc.d`, 'utf8')).toBe(
      '#!/bin/sh\n# Written by ailinux for the build; removed by chroot-cleanup.\nexit 101\n',
    );
    expect(mode(`${upper()}/usr/sbin/policy-rc.d`)).toBe(0o755);
    expect(fs.readFileSync(`${upper()}/etc/default/locale`, 'utf8')).toBe('LANG=en_US.UTF-8\n');
    expect(fs.readFileSync(`${upper()}/etc/locale.gen`, 'utf8')).toBe('en_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n');
    expect(mode(`${upper()}/etc/locale.gen`)).toBe(0o644);
    expect(fs.readFileSync(`${upper()}/etc/timezone`, 'utf8')).toBe('Europe/Berlin\n');
    expect(fs.readFileSync(`${upper()}/etc/default/keyboard`, 'utf8')).toContain('XKBLAYOUT="de"\n');

    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      cmd(['ln', '-sf', '/usr/share/zoneinfo/Europe/Berlin', '/etc/localtime']),
      cmd(['apt-get', 'update']),
      cmd(['apt-get', 'install', '-y', '--no-install-recommends', 'locales'], true),
      cmd(['locale-gen']),
    ]);
    expect(ctx.runner.calls.map((c) => c.options)).toEqual([
      PLAIN(config),
      NETWORK(config),
      NETWORK(config),
      PLAIN(config),
    ]);
    expect(fs.statSync(`${workDir}/cache/apt-archives/partial`).isDirectory()).toBe(true);
    await expect(configureStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('apt-get update failing on the network is transient; the same text from ln is not', async () => {
    const config = profileConfig('minimal');
    writeBase(config);
    const stderr =
      "Err:1 http://deb.debian.org/debian bookworm InRelease\n  Temporary failure resolving 'deb.debian.org'\n";
    const ctx = ctxFor(config, 'configure');
    ctx.runner.on((argv) => argv.at(-1) === 'update', { exitCode: 100, stderr });
    const error = (await rejection(configureStep.run(ctx))) as CommandError;
    expect(error).toBeInstanceOf(CommandError);
    expect(error.transient).toBe(true);
    expect(error.failure.argv).toEqual(cmd(['apt-get', 'update']));

    fs.rmSync(`${workDir}/layers/configure`, { recursive: true });
    const ln = ctxFor(config, 'configure');
    ln.runner.on('ln', { exitCode: 1, stderr });
    const lnError = (await rejection(configureStep.run(ln))) as CommandError;
    expect(lnError).toBeInstanceOf(CommandError);
    expect(lnError.transient).toBe(false);
  });

  it('verify fails when sources.list differs from the profile or policy-rc.d is missing', async () => {
    const config = profileConfig('ailinux');
    writeBase(config);
    const ctx = ctxFor(config, 'configure');
    await configureStep.run(ctx);
    fs.writeFileSync(`${upper()}/etc/apt/sources.list`, SOURCES.minimal);
    await expect(configureStep.verify(ctx)).rejects.toThrow(
      'etc/apt/sources.list in the rootfs is not the one the profile asks for',
    );
    fs.writeFileSync(`${upper()}/etc/apt/sources.list`, SOURCES.ailinux);
    await expect(configureStep.verify(ctx)).resolves.toBeUndefined();
    fs.rmSync(`${upper()}/usr/sbin/policy-rc.d`);
    await expect(configureStep.verify(ctx)).rejects.toThrow(
      'the rootfs has no /usr/sbin/policy-rc.d, so package scripts could start services',
    );
  });
});

// ---------------------------------------------------------------------------------------------

const USERLAND: Record<ProfileName, string[]> = {
  minimal: ['live-boot', 'systemd-sysv', 'zstd'],
  // the desktop and the installer have steps of their own now (steps-ailinux-desktop-installer.test.ts); firmware joins the live system
  ailinux: [
    'casper',
    'systemd-sysv',
    'systemd-resolved',
    'zstd',
    'initramfs-tools',
    'plymouth',
    'plymouth-theme-spinner',
    'network-manager',
    'sudo',
    'locales',
    'linux-firmware',
  ],
};
const KERNEL: Record<ProfileName, string[]> = { minimal: ['linux-image-amd64'], ailinux: ['linux-generic'] };

function dpkgStatus(packages: readonly string[], extra = ''): string {
  return packages.map((p) => `Package: ${p}\nStatus: install ok installed\nVersion: 1.0\n`).join('\n') + extra;
}

describe('packages', () => {
  const cmd = (command: string[]) => chrootCmd('packages', ['configure', 'bootstrap'], command, true);

  for (const profile of PROFILES) {
    it(`${profile}: userland first, then the kernel alone, both with the deb cache bound and network-retryable`, async () => {
      const config = profileConfig(profile);
      writeBase(config);
      const ctx = ctxFor(config, 'packages');
      ctx.runner.on(['unshare'], {
        effect: (call) => {
          // Each apt call adds its packages to the dpkg status in the step's own layer.
          const status = `${workDir}/layers/packages/upper/var/lib/dpkg/status`;
          const before = fs.existsSync(status) ? fs.readFileSync(status, 'utf8') : '';
          const names = call.argv.slice(call.argv.indexOf('install') + 3);
          writeTree(`${workDir}/layers/packages/upper`, {
            'var/lib/dpkg/status': (before ? `${before}\n` : '') + dpkgStatus(names),
          });
        },
      });
      const artifacts = await packagesStep.run(ctx);
      expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
        cmd(['apt-get', 'install', '-y', '--no-install-recommends', ...USERLAND[profile]]),
        cmd(['apt-get', 'install', '-y', '--no-install-recommends', ...KERNEL[profile]]),
      ]);
      expect(ctx.runner.calls.map((c) => c.options)).toEqual([NETWORK(config), NETWORK(config)]);
      expect(ctx.infos).toEqual([
        `installing ${USERLAND[profile].length} package(s): ${USERLAND[profile].join(' ')}`,
        `installing the kernel: ${KERNEL[profile].join(' ')}`,
      ]);
      expect(fs.statSync(`${workDir}/cache/apt-archives/partial`).isDirectory()).toBe(true);
      expect(artifacts).toEqual([{ path: 'layers/packages', kind: 'dir' }]);
      await expect(packagesStep.verify(ctx)).resolves.toBeUndefined();
    });
  }

  it('installRecommends switches to --install-recommends; extra packages join the userland call, deduplicated', async () => {
    const config = profileConfig('minimal', (c) => {
      c.packages.installRecommends = true;
      c.packages.extra = ['htop', 'zstd'];
    });
    writeBase(config);
    const ctx = ctxFor(config, 'packages');
    await packagesStep.run(ctx);
    expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
      cmd(['apt-get', 'install', '-y', '--install-recommends', 'live-boot', 'systemd-sysv', 'zstd', 'htop']),
      cmd(['apt-get', 'install', '-y', '--install-recommends', 'linux-image-amd64']),
    ]);
  });

  it('verify names each package the dpkg status lacks (or has only as config-files)', async () => {
    const config = profileConfig('ailinux');
    writeBase(config);
    const ctx = ctxFor(config, 'packages');
    await packagesStep.run(ctx);
    const all = [...USERLAND.ailinux, ...KERNEL.ailinux];
    const status = `${workDir}/layers/packages/upper/var/lib/dpkg/status`;
    writeTree(`${workDir}/layers/packages/upper`, {
      'var/lib/dpkg/status': dpkgStatus(
        all.filter((p) => p !== 'zstd' && p !== 'linux-generic'),
        '\nPackage: linux-generic\nStatus: deinstall ok config-files\nVersion: 1\n',
      ),
    });
    const error = (await rejection(packagesStep.verify(ctx))) as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.message).toBe('apt finished, but these packages are not installed: zstd, linux-generic');
    writeTree(`${workDir}/layers/packages/upper`, { 'var/lib/dpkg/status': dpkgStatus(all) });
    expect(fs.readFileSync(status, 'utf8')).toContain('Package: zstd\n');
    await expect(packagesStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('verify fails with nothing installed (the fake ran no effect)', async () => {
    const config = profileConfig('minimal');
    writeBase(config);
    const ctx = ctxFor(config, 'packages');
    await packagesStep.run(ctx);
    await expect(packagesStep.verify(ctx)).rejects.toThrow(
      'apt finished, but these packages are not installed: live-boot, systemd-sysv, zstd, linux-image-amd64',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('identity', () => {
  const upper = () => `${workDir}/layers/identity/upper`;
  const cmdFor = (profile: ProfileName) => (command: string[]) =>
    chrootCmd('identity', lowerIds(profile, 'identity'), command);
  const _cmd = cmdFor('minimal');
  const HOSTS = (name: string) =>
    `127.0.0.1\tlocalhost\n127.0.1.1\t${name}\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n`;

  /** useradd's effect: the user appended to the passwd the image already has, in the step's own layer. */
  function useraddWrites(user: string) {
    return {
      effect: () => {
        const base = fs.readFileSync(`${workDir}/layers/bootstrap/root/etc/passwd`, 'utf8');
        writeTree(upper(), { 'etc/passwd': `${base}${user}:x:1000:1000::/home/${user}:/bin/bash\n` });
      },
    };
  }

  const EXPECT = {
    minimal: {
      hostname: 'ailinux-minimal',
      useradd: ['useradd', '--create-home', '--shell', '/bin/bash', '--comment', 'Live user', '--', 'live'],
      // SHA-crypt of "live" under the salt derived from the host and user names (openssl passwd -6 -salt … live)
      input:
        'live:$6$Z1VLyOi0zLvdazZp$QRsTJVwVMtQ/qWk8KKNhPfrleWF9c9e3YIC0uEv9/KhgCvzfc3gwgC/OIKwO8bz.vIUeoVIsk8li3/0cDjmoj.\n',
      user: 'live',
      leftOut: [] as string[],
    },
    ailinux: {
      hostname: 'ailinux',
      // plugdev and netdev are not in the image's /etc/group, so they are left out.
      useradd: [
        'useradd',
        '--create-home',
        '--shell',
        '/bin/bash',
        '--comment',
        'AILinux live user',
        '--groups',
        'sudo,adm,audio,video',
        '--',
        'ailinux',
      ],
      input:
        'ailinux:$6$QYVYzOP8fWNjiLcn$rjyULMuwf8w5r3z/80v0XhOvmxFvmtdXmHAlifZed8fRrLKJ5cqkN46ZCN1KfIv5JdupVAF5Drivd4HtZ0PVL.\n',
      user: 'ailinux',
      leftOut: ['groups not present in the image, left out: plugdev, netdev'],
    },
  };

  for (const profile of PROFILES) {
    for (const withSudo of [true, false]) {
      it(`${profile}, sudo ${withSudo ? 'present' : 'absent'}: hostname, hosts, useradd, chpasswd on stdin${withSudo ? ', sudoers 0440' : ', no sudoers'}`, async () => {
        const config = profileConfig(profile);
        const e = EXPECT[profile];
        writeBase(config);
        if (withSudo) writeTree(`${workDir}/layers/packages/upper`, { 'usr/bin/sudo': '' });
        const ctx = ctxFor(config, 'identity');
        ctx.runner.on('useradd', useraddWrites(e.user));
        const artifacts = await identityStep.run(ctx);

        expect(fs.readFileSync(`${upper()}/etc/hostname`, 'utf8')).toBe(`${e.hostname}\n`);
        expect(mode(`${upper()}/etc/hostname`)).toBe(0o644);
        expect(fs.readFileSync(`${upper()}/etc/hosts`, 'utf8')).toBe(HOSTS(e.hostname));
        expect(ctx.runner.calls.map((c) => c.argv)).toEqual([
          cmdFor(profile)(e.useradd),
          cmdFor(profile)(['chpasswd', '--encrypted']),
        ]);
        expect(ctx.runner.calls.map((c) => c.options)).toEqual([
          PLAIN(config),
          chrootOptions(config, { input: e.input }),
        ]);
        expect(ctx.infos).toEqual(e.leftOut);
        // The password is only on stdin: no argv element carries the user:password pair.
        for (const call of ctx.runner.calls) expect(call.argv.some((a) => a.includes(e.input.trim()))).toBe(false);

        const sudoers = `${upper()}/etc/sudoers.d/ailinux-live`;
        if (withSudo) {
          expect(fs.readFileSync(sudoers, 'utf8')).toBe(
            `# Written by ailinux: the live user may administer the live system.\n${e.user} ALL=(ALL:ALL) NOPASSWD: ALL\n`,
          );
          expect(mode(sudoers)).toBe(0o440);
        } else {
          expect(fs.existsSync(`${upper()}/etc/sudoers.d`)).toBe(false);
        }
        expect(artifacts).toEqual([{ path: 'layers/identity', kind: 'dir' }]);
        await expect(identityStep.verify(ctx)).resolves.toBeUndefined();
      });
    }
  }

  it('a distinctive password never reaches argv, and stdin carries only its salted hash', async () => {
    const password = 'Pa55-w0rd;$(reboot)';
    const config = profileConfig('ailinux', (c) => (c.liveUser.password = password));
    writeBase(config);
    const ctx = ctxFor(config, 'identity');
    await identityStep.run(ctx);
    for (const call of ctx.runner.calls) expect(call.argv.some((a) => a.includes(password))).toBe(false);
    const chpasswd = ctx.runner.calls.find((c) => c.argv.at(-1) === '--encrypted')!;
    expect(chpasswd.options.input).toBe(`ailinux:${sha512Crypt(password, passwordSalt(config, null))}\n`);
    expect(chpasswd.options.input).not.toContain(password);
    expect(ctx.runner.calls.filter((c) => c.options.input !== undefined)).toHaveLength(1);
  });

  it('without /etc/group in the image no --groups is passed and every group is reported left out', async () => {
    const config = profileConfig('ailinux');
    writeBase(config);
    fs.rmSync(`${workDir}/layers/bootstrap/root/etc/group`);
    const ctx = ctxFor(config, 'identity');
    await identityStep.run(ctx);
    expect(ctx.runner.calls[0]!.argv).toEqual(
      cmdFor('ailinux')([
        'useradd',
        '--create-home',
        '--shell',
        '/bin/bash',
        '--comment',
        'AILinux live user',
        '--',
        'ailinux',
      ]),
    );
    expect(ctx.infos).toEqual(['groups not present in the image, left out: sudo, adm, audio, video, plugdev, netdev']);
  });

  it('verify fails when useradd left no passwd entry, or the host name is wrong', async () => {
    const config = profileConfig('minimal');
    writeBase(config);
    const ctx = ctxFor(config, 'identity');
    await identityStep.run(ctx);
    await expect(identityStep.verify(ctx)).rejects.toThrow(/^the live user live is not in \/etc\/passwd$/);
    useraddWrites('live').effect();
    await expect(identityStep.verify(ctx)).resolves.toBeUndefined();
    fs.writeFileSync(`${upper()}/etc/hostname`, 'other\n');
    await expect(identityStep.verify(ctx)).rejects.toThrow(
      '/etc/hostname in the rootfs does not hold the configured host name',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('chroot-cleanup', () => {
  const cmdFor = (profile: ProfileName) => (command: string[]) =>
    chrootCmd('chroot-cleanup', lowerIds(profile, 'chroot-cleanup'), command);
  const cmd = cmdFor('minimal');
  const ALL = [
    ['apt-get', 'clean'],
    ['rm', '-f', '/usr/sbin/policy-rc.d', '/var/lib/dbus/machine-id'],
    ['truncate', '-s', '0', '/etc/machine-id', '/etc/resolv.conf'],
    ['find', '/etc/ssh', '-maxdepth', '1', '-name', 'ssh_host_*', '-delete'],
    ['find', '/var/log', '-type', 'f', '-exec', 'truncate', '-s', '0', '{}', '+'],
    ['find', '/tmp', '/var/tmp', '-mindepth', '1', '-delete'],
    // caches that differ between two builds of the same inputs (the base has /var/lib/dpkg, no /var/cache/debconf)
    ['rm', '-f', '/var/cache/ldconfig/aux-cache'],
    ['find', '/var/lib/dpkg', '-maxdepth', '1', '-name', '*-old', '-type', 'f', '-delete'],
  ];
  // ailinux ships /etc/resolv.conf as systemd-resolved's symlink (distribution.resolvConf), not an empty file
  const ALL_BY_PROFILE: Record<ProfileName, string[][]> = {
    minimal: ALL,
    ailinux: [
      ['apt-get', 'clean'],
      ['rm', '-f', '/usr/sbin/policy-rc.d', '/var/lib/dbus/machine-id'],
      ['truncate', '-s', '0', '/etc/machine-id'],
      ['ln', '-sfn', '../run/systemd/resolve/stub-resolv.conf', '/etc/resolv.conf'],
      ...ALL.slice(3),
    ],
  };

  for (const profile of PROFILES) {
    it(`${profile}: the exact command list, none with the deb cache bound (apt-get clean must not empty it)`, async () => {
      const config = profileConfig(profile);
      writeBase(config, { 'etc/ssh/ssh_host_rsa_key': 'k' });
      writeTree(`${workDir}/layers/configure/upper`, { 'usr/sbin/policy-rc.d': 'exit 101\n' });
      const ctx = ctxFor(config, 'chroot-cleanup');
      const artifacts = await chrootCleanupStep.run(ctx);
      expect(ctx.runner.calls.map((c) => c.argv)).toEqual(ALL_BY_PROFILE[profile].map(cmdFor(profile)));
      // no INITRD=No here, which every step before it has on casper: its commands make the initramfs
      const options = chrootOptions(config, { env: chrootEnvOf(config, { buildsInitramfs: true }) });
      expect(ctx.runner.calls.map((c) => c.options)).toEqual(ALL_BY_PROFILE[profile].map(() => options));
      for (const call of ctx.runner.calls) {
        expect(call.argv).not.toContain(`${workDir}/cache/apt-archives`);
        expect(call.argv.some((a) => a.endsWith('/var/cache/apt/archives'))).toBe(false);
      }
      expect(artifacts).toEqual([{ path: 'layers/chroot-cleanup', kind: 'dir' }]);
    });
  }

  it('skips a find over a directory the image does not have', async () => {
    const config = profileConfig('minimal');
    writeBase(config); // no /etc/ssh
    const ctx = ctxFor(config, 'chroot-cleanup');
    await chrootCleanupStep.run(ctx);
    expect(ctx.runner.calls.map((c) => c.argv)).toEqual(ALL.filter((c) => c[1] !== '/etc/ssh').map(cmd));
  });

  it('verify fails while policy-rc.d is still visible in the merged rootfs', async () => {
    const config = profileConfig('minimal');
    writeBase(config);
    writeTree(`${workDir}/layers/configure/upper`, { 'usr/sbin/policy-rc.d': 'exit 101\n' });
    const ctx = ctxFor(config, 'chroot-cleanup');
    await chrootCleanupStep.run(ctx); // the fake rm deletes nothing
    await expect(chrootCleanupStep.verify(ctx)).rejects.toThrow(
      new StepError(
        'chroot-cleanup',
        'policy-rc.d is still in the rootfs; services would not start on the live system',
      ),
    );
  });

  it('verify passes when nothing below has policy-rc.d', async () => {
    const config = profileConfig('ailinux');
    writeBase(config);
    const ctx = ctxFor(config, 'chroot-cleanup');
    await chrootCleanupStep.run(ctx);
    await expect(chrootCleanupStep.verify(ctx)).resolves.toBeUndefined();
  });

  it.skipIf(skipUnlessRoot())(
    'verify passes once rm leaves an overlayfs whiteout over policy-rc.d (root: mknod)',
    async () => {
      const config = profileConfig('ailinux');
      writeBase(config);
      writeTree(`${workDir}/layers/configure/upper`, { 'usr/sbin/policy-rc.d': 'exit 101\n' });
      const ctx = ctxFor(config, 'chroot-cleanup');
      ctx.runner.on((argv) => argv.includes('/usr/sbin/policy-rc.d'), {
        effect: () => {
          // What overlayfs leaves in the upper dir for a deleted lower file: a 0:0 character device.
          const dir = `${workDir}/layers/chroot-cleanup/upper/usr/sbin`;
          fs.mkdirSync(dir, { recursive: true });
          execFileSync('mknod', [`${dir}/policy-rc.d`, 'c', '0', '0']);
        },
      });
      await chrootCleanupStep.run(ctx);
      await expect(chrootCleanupStep.verify(ctx)).resolves.toBeUndefined();
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('squashfs', () => {
  const LOWER = lowerIds('minimal', 'squashfs');
  const SHOWFORMAT = '--showformat=${Package}\t${Version}\n';
  const MANIFEST = 'base-files\t12.4+deb12u5\nzstd\t1.5.4+dfsg2-5\n';

  /** What the file behind a kernel link holds: each family's links lead to files of their own. */
  const behind = (link: string) => `MZ the file behind ${link}\n`;

  /**
   * Fakes: dpkg-query prints the manifest, mksquashfs writes its output. The rootfs has the package database, and
   * both families' kernel and initrd links (relative, as the postinst makes them) in the packages layer.
   */
  function scriptTools(runner: FakeRunner, squashMagic = 'hsqs'): void {
    writeTree(layerDir('bootstrap'), { 'var/lib/dpkg/status': 'Package: base-files\n' });
    for (const [link, target] of [
      ['vmlinuz', 'boot/vmlinuz-6.1.0-13-amd64'],
      ['initrd.img', 'boot/initrd.img-6.1.0-13-amd64'],
      ['boot/vmlinuz', 'vmlinuz-6.8.0-31-generic'],
      ['boot/initrd.img', 'initrd.img-6.8.0-31-generic'],
    ] as const) {
      writeTree(layerDir('packages'), { [path.posix.join(path.posix.dirname(link), target)]: behind(link) });
      fs.rmSync(`${layerDir('packages')}/${link}`, { force: true });
      fs.symlinkSync(target, `${layerDir('packages')}/${link}`);
    }
    runner.on('dpkg-query', { stdout: MANIFEST });
    // the root directory (one block) and one file
    runner.on('find', { stdout: `d\n2049:12 ${DU_BYTES - 4096}\n` });
    runner.on('mksquashfs', {
      effect: (call) => {
        const output = call.argv[call.argv.indexOf('mksquashfs') + 2]!;
        fs.writeFileSync(output, Buffer.concat([Buffer.from(squashMagic, 'latin1'), Buffer.alloc(60)]));
      },
    });
  }

  const DU_BYTES = 734003200;
  // ailinux keeps /boot in the squashfs (the installer copies the kernel from it): no -e boot, no --exclude
  const CASES = {
    minimal: {
      dir: 'live',
      kernel: 'vmlinuz',
      initrd: 'initrd.img',
      comp: ['-comp', 'zstd', '-Xcompression-level', '3'],
      exclude: ['-e', 'boot'],
      duExclude: ['(', '-path', 'MNT/boot', ')', '-prune', '-o'],
    },
    ailinux: {
      dir: 'casper',
      kernel: 'boot/vmlinuz',
      initrd: 'boot/initrd.img',
      comp: ['-comp', 'zstd', '-Xcompression-level', '15'],
      exclude: [],
      duExclude: [],
    },
  };

  for (const profile of PROFILES) {
    it(`${profile}: manifest, kernel and initrd from the family's links in the layers, mksquashfs into a .partial then renamed`, async () => {
      const config = profileConfig(profile);
      const c = CASES[profile];
      const ctx = ctxFor(config, 'squashfs', { cores: 4 });
      scriptTools(ctx.runner);
      const mnt = `${workDir}/mnt/squashfs`;
      const live = `${workDir}/iso/${c.dir}`;
      const artifacts = await squashfsStep.run(ctx);

      const lower = lowerIds(profile, 'squashfs');
      expect(ctx.runner.calls.map((x) => x.argv)).toEqual([
        viewCmd('squashfs', lower, ['dpkg-query', `--admindir=${mnt}/var/lib/dpkg`, '-W', SHOWFORMAT]),
        viewCmd('squashfs', lower, [
          'find',
          mnt,
          '-xdev',
          ...c.duExclude.map((e) => e.replace('MNT', mnt)),
          '(',
          '-type',
          'd',
          '-printf',
          'd\\n',
          '-o',
          '-printf',
          '%D:%i %s\\n',
          ')',
        ]),
        viewCmd('squashfs', lower, [
          'mksquashfs',
          mnt,
          `${live}/filesystem.squashfs.partial`,
          '-noappend',
          ...c.comp,
          '-processors',
          '4',
          ...c.exclude,
        ]),
      ]);
      expect(ctx.runner.calls.map((x) => x.options)).toEqual([{}, {}, {}]);
      expect(fs.readFileSync(`${live}/filesystem.size`, 'utf8')).toBe(`${DU_BYTES}\n`);
      expect(fs.readFileSync(`${live}/filesystem.manifest`, 'utf8')).toBe(MANIFEST);
      // copied out of the layers by the host, the links resolved inside the rootfs: no cp in the view
      expect(fs.readFileSync(`${live}/vmlinuz`, 'utf8')).toBe(behind(c.kernel));
      expect(fs.readFileSync(`${live}/initrd.img`, 'utf8')).toBe(behind(c.initrd));
      expect(fs.existsSync(`${live}/filesystem.squashfs.partial`)).toBe(false);
      expect(fs.readFileSync(`${live}/filesystem.squashfs`).subarray(0, 4).toString('latin1')).toBe('hsqs');
      expect(artifacts.map((a) => [a.path, a.kind, a.size])).toEqual([
        [`iso/${c.dir}/filesystem.squashfs`, 'file', 64],
        [`iso/${c.dir}/vmlinuz`, 'file', behind(c.kernel).length],
        [`iso/${c.dir}/initrd.img`, 'file', behind(c.initrd).length],
        [`iso/${c.dir}/filesystem.manifest`, 'file', MANIFEST.length],
        [`iso/${c.dir}/filesystem.size`, 'file', `${DU_BYTES}\n`.length],
      ]);
      expect(artifacts[3]!.sha256).toBe(crypto.createHash('sha256').update(MANIFEST).digest('hex'));
      await expect(squashfsStep.verify(ctx)).resolves.toBeUndefined();
    });
  }

  it('find walks the rootfs for filesystem.size while mksquashfs packs it', async () => {
    const ctx = ctxFor(profileConfig('minimal'), 'squashfs');
    let packed!: () => void;
    const packing = new Promise<void>((resolve) => {
      packed = resolve;
    });
    // find answers only once mksquashfs has run: were they run one after the other, the step would never end
    ctx.runner.on('find', { stdout: `d\n2049:12 ${DU_BYTES - 4096}\n`, effect: () => packing });
    ctx.runner.on('mksquashfs', {
      effect: (call) => {
        fs.writeFileSync(call.argv[call.argv.indexOf('mksquashfs') + 2]!, Buffer.from('hsqs'.padEnd(64, '\0')));
        packed();
      },
    });
    scriptTools(ctx.runner);
    await squashfsStep.run(ctx);
    expect(fs.readFileSync(`${workDir}/iso/live/filesystem.size`, 'utf8')).toBe(`${DU_BYTES}\n`);
  });

  it('xz: block size and BCJ filter, no level; SOURCE_DATE_EPOCH pins the times', async () => {
    const config = profileConfig('minimal', (c) => {
      c.squashfs.compression = 'xz';
      c.squashfs.exclude = ['boot', 'var/cache/apt'];
    });
    const ctx = ctxFor(config, 'squashfs', { sourceDateEpoch: 1700000000, cores: 1 });
    scriptTools(ctx.runner);
    await squashfsStep.run(ctx);
    const mnt = `${workDir}/mnt/squashfs`;
    expect(ctx.runner.calls[2]!.argv).toEqual(
      viewCmd('squashfs', LOWER, [
        // mksquashfs refuses -mkfs-time and -all-time while SOURCE_DATE_EPOCH is in its environment
        'env',
        '-u',
        'SOURCE_DATE_EPOCH',
        '--',
        'mksquashfs',
        mnt,
        `${workDir}/iso/live/filesystem.squashfs.partial`,
        '-noappend',
        '-comp',
        'xz',
        '-b',
        '1M',
        '-Xbcj',
        'x86',
        '-processors',
        '1',
        '-mkfs-time',
        '1700000000',
        '-all-time',
        '1700000000',
        '-e',
        'boot',
        '-e',
        'var/cache/apt',
      ]),
    );
  });

  it('zstd level 3 with SOURCE_DATE_EPOCH (minimal) and without a level', async () => {
    const ctx = ctxFor(profileConfig('minimal'), 'squashfs', { sourceDateEpoch: 0, cores: 0 });
    scriptTools(ctx.runner);
    await squashfsStep.run(ctx);
    const mnt = `${workDir}/mnt/squashfs`;
    expect(ctx.runner.calls[2]!.argv.slice(ctx.runner.calls[2]!.argv.indexOf('env'))).toEqual([
      'env',
      '-u',
      'SOURCE_DATE_EPOCH',
      '--',
      'mksquashfs',
      mnt,
      `${workDir}/iso/live/filesystem.squashfs.partial`,
      '-noappend',
      '-comp',
      'zstd',
      '-Xcompression-level',
      '3',
      '-processors',
      '1',
      '-mkfs-time',
      '0',
      '-all-time',
      '0',
      '-e',
      'boot',
    ]);

    const nolevel = ctxFor(
      profileConfig('minimal', (c) => (c.squashfs.level = undefined)),
      'squashfs',
      { cores: 2 },
    );
    scriptTools(nolevel.runner);
    await squashfsStep.run(nolevel);
    const argv = nolevel.runner.calls[2]!.argv;
    expect(argv.slice(argv.indexOf('-noappend'))).toEqual([
      '-noappend',
      '-comp',
      'zstd',
      '-processors',
      '2',
      '-e',
      'boot',
    ]);
  });

  it('a kernel link that is missing or leads nowhere in the rootfs, or a symlinked package database, is refused', async () => {
    const ctx = ctxFor(profileConfig('minimal'), 'squashfs');
    scriptTools(ctx.runner);
    fs.rmSync(`${layerDir('packages')}/vmlinuz`);
    await expect(squashfsStep.run(ctx)).rejects.toThrow(
      new StepError('squashfs', "the rootfs's /vmlinuz is missing; is a kernel in packages.kernel?"),
    );
    // ../ stops at the rootfs's root, as in a chroot: this names /boot/gone, which the rootfs lacks
    fs.symlinkSync('../../../boot/gone', `${layerDir('packages')}/vmlinuz`);
    await expect(squashfsStep.run(ctx)).rejects.toThrow(
      "the rootfs's /vmlinuz is a symlink to ../../../boot/gone, which leads to no regular file inside the rootfs",
    );
    // any symlink on the way to the database is refused, even one that stays inside the rootfs
    fs.renameSync(`${layerDir('bootstrap')}/var`, `${layerDir('bootstrap')}/srv-var`);
    fs.symlinkSync('srv-var', `${layerDir('bootstrap')}/var`);
    await expect(squashfsStep.run(ctx)).rejects.toThrow(
      "the rootfs's /var is a symlink (to srv-var), not a directory: dpkg-query would read it on the host's side",
    );
    expect(ctx.runner.calls.map((c) => c.argv.slice(c.argv.lastIndexOf('--') + 1)[0])).toEqual([
      'dpkg-query',
      'dpkg-query',
    ]);
  });

  it('verify fails on a bad magic, a missing image, and an empty kernel', async () => {
    const config = profileConfig('ailinux');
    const ctx = ctxFor(config, 'squashfs');
    const live = `${workDir}/iso/casper`;
    await expect(squashfsStep.verify(ctx)).rejects.toThrow(`${live}/filesystem.squashfs was not written`);

    scriptTools(ctx.runner, 'XXXX');
    await squashfsStep.run(ctx);
    await expect(squashfsStep.verify(ctx)).rejects.toThrow(
      `${live}/filesystem.squashfs is not a SquashFS image (bad magic)`,
    );

    const good = ctxFor(config, 'squashfs');
    scriptTools(good.runner);
    await squashfsStep.run(good);
    await expect(squashfsStep.verify(good)).resolves.toBeUndefined();
    fs.writeFileSync(`${live}/vmlinuz`, '');
    await expect(squashfsStep.verify(good)).rejects.toThrow(
      'the live medium has no vmlinuz; is a kernel in packages.kernel?',
    );
    fs.rmSync(`${live}/vmlinuz`);
    fs.writeFileSync(`${live}/vmlinuz`, 'k');
    fs.rmSync(`${live}/initrd.img`);
    await expect(squashfsStep.verify(good)).rejects.toThrow(
      'the live medium has no initrd.img; is a kernel in packages.kernel?',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('checksums', () => {
  for (const profile of PROFILES) {
    it(`${profile}: .sha256 and .md5 exactly as sha256sum and md5sum print them; no command runs`, async () => {
      const config = profileConfig(profile);
      const ctx = ctxFor(config, 'checksums');
      const name = `${config.iso.outputName}.iso`;
      const iso = `${workDir}/output/${name}`;
      fs.mkdirSync(path.dirname(iso), { recursive: true });
      const data = Buffer.concat([Buffer.from('CD001 fake iso\n'), crypto.randomBytes(70_000)]);
      fs.writeFileSync(iso, data);

      const artifacts = await checksumsStep.run(ctx);
      const sha = crypto.createHash('sha256').update(data).digest('hex');
      const md5 = crypto.createHash('md5').update(data).digest('hex');
      expect(fs.readFileSync(`${iso}.sha256`, 'utf8')).toBe(`${sha}  ${name}\n`);
      expect(fs.readFileSync(`${iso}.md5`, 'utf8')).toBe(`${md5}  ${name}\n`);
      // The host tools print the same, and accept the files with -c.
      const cwd = path.dirname(iso);
      expect(execFileSync('sha256sum', [name], { cwd, encoding: 'utf8' })).toBe(
        fs.readFileSync(`${iso}.sha256`, 'utf8'),
      );
      expect(execFileSync('md5sum', [name], { cwd, encoding: 'utf8' })).toBe(fs.readFileSync(`${iso}.md5`, 'utf8'));
      expect(execFileSync('sha256sum', ['-c', `${name}.sha256`], { cwd, encoding: 'utf8' })).toBe(`${name}: OK\n`);
      expect(execFileSync('md5sum', ['-c', `${name}.md5`], { cwd, encoding: 'utf8' })).toBe(`${name}: OK\n`);

      expect(ctx.runner.calls).toEqual([]);
      expect(artifacts.map((a) => [a.path, a.kind, a.size])).toEqual([
        [`output/${name}.sha256`, 'file', 64 + 2 + name.length + 1],
        [`output/${name}.md5`, 'file', 32 + 2 + name.length + 1],
      ]);
      await expect(checksumsStep.verify(ctx)).resolves.toBeUndefined();

      fs.appendFileSync(iso, 'tampered');
      await expect(checksumsStep.verify(ctx)).rejects.toThrow(
        new StepError('checksums', `${iso}.sha256 does not match ${iso}`),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('report', () => {
  function entry(id: string, patch: Partial<LedgerEntry>): LedgerEntry {
    return { ...emptyLedgerEntry(id), ...patch };
  }

  const ISO_SHA = 'c'.repeat(64);
  const MANIFEST = 'base-files\t12.4+deb12u5\nzstd\t1.5.4+dfsg2-5\n';

  it('minimal: JSON fields and the text rendering from a given ledger', async () => {
    const config = profileConfig('minimal');
    const ledger: Ledger = {
      bootstrap: entry('bootstrap', {
        status: 'done',
        attempts: 2,
        durationMs: 61234,
        fingerprint: 'fp-boot',
        artifacts: [{ path: 'layers/bootstrap', kind: 'dir' }],
      }),
      configure: entry('configure', { status: 'skipped', reason: 'unchanged', fingerprint: 'fp-conf' }),
      packages: entry('packages', { status: 'failed', attempts: 3, durationMs: 999 }),
      iso: entry('iso', {
        status: 'done',
        attempts: 1,
        durationMs: 12000,
        fingerprint: 'fp-iso',
        artifacts: [{ path: 'output/ailinux-minimal-amd64.iso', kind: 'file', size: 1234, sha256: ISO_SHA }],
      }),
    };
    writeTree(`${workDir}/iso/live`, { 'filesystem.manifest': MANIFEST });
    const ctx = ctxFor(config, 'report', { sourceDateEpoch: 1700000000 });
    const step = createReportStep({
      ledger: () => ledger,
      resourcePeaks: () => ({ bootstrap: { minDiskFreeMb: 51200, peakMemUsedMb: 812, peakLoad1: 1.5 } }),
      toolVersion: () => '1.2.3',
    });
    const artifacts = await step.run(ctx);
    const base = `${workDir}/output/ailinux-minimal-amd64.report`;

    const pending = (id: string) => ({
      id,
      status: 'pending',
      attempts: 0,
      durationMs: null,
      fingerprint: null,
      artifacts: [],
      reason: null,
      resources: null,
    });
    expect(JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'))).toEqual({
      tool: { name: 'ailinux', version: '1.2.3' },
      profile: 'minimal',
      generatedAt: '2023-11-14T22:13:20.000Z',
      iso: { path: 'output/ailinux-minimal-amd64.iso', size: 1234, sha256: ISO_SHA, volumeLabel: 'AILINUX_MINIMAL' },
      // no session record outside a build
      safety: null,
      // the ledger's steps have no fingerprint material, so no archive entries (tests/unit/archive-input.test.ts)
      archive: [],
      steps: [
        {
          id: 'bootstrap',
          status: 'done',
          attempts: 2,
          durationMs: 61234,
          fingerprint: 'fp-boot',
          artifacts: [{ path: 'layers/bootstrap', kind: 'dir' }],
          reason: null,
          resources: { minDiskFreeMb: 51200, peakMemUsedMb: 812, peakLoad1: 1.5 },
        },
        {
          id: 'configure',
          status: 'skipped',
          attempts: 0,
          durationMs: null,
          fingerprint: 'fp-conf',
          artifacts: [],
          reason: 'unchanged',
          resources: null,
        },
        {
          id: 'packages',
          status: 'failed',
          attempts: 3,
          durationMs: 999,
          fingerprint: null,
          artifacts: [],
          reason: null,
          resources: null,
        },
        pending('identity'),
        pending('chroot-cleanup'),
        pending('squashfs'),
        pending('bootloaders'),
        {
          id: 'iso',
          status: 'done',
          attempts: 1,
          durationMs: 12000,
          fingerprint: 'fp-iso',
          artifacts: [{ path: 'output/ailinux-minimal-amd64.iso', kind: 'file', size: 1234, sha256: ISO_SHA }],
          reason: null,
          resources: null,
        },
        pending('checksums'),
        pending('verify'),
        pending('report'),
      ],
      packages: [
        { name: 'base-files', version: '12.4+deb12u5' },
        { name: 'zstd', version: '1.5.4+dfsg2-5' },
      ],
    });
    expect(fs.readFileSync(`${base}.json`, 'utf8').endsWith('}\n')).toBe(true);

    expect(fs.readFileSync(`${base}.txt`, 'utf8')).toBe(
      [
        'AILinux build report (ailinux 1.2.3, profile minimal)',
        'generated: 2023-11-14T22:13:20.000Z',
        'iso: output/ailinux-minimal-amd64.iso (1234 bytes, label AILINUX_MINIMAL)',
        `sha256: ${ISO_SHA}`,
        '',
        'step              status    attempts  duration   peak mem  min free disk',
        'bootstrap         done      2         61.2 s     812 MiB   51200 MiB',
        'configure         skipped   0         -            (unchanged)',
        'packages          failed    3         1.0 s',
        'identity          pending   0         -',
        'chroot-cleanup    pending   0         -',
        'squashfs          pending   0         -',
        'bootloaders       pending   0         -',
        'iso               done      1         12.0 s',
        'checksums         pending   0         -',
        'verify            pending   0         -',
        'report            pending   0         -',
        '',
        'packages (2):',
        '  base-files 12.4+deb12u5',
        '  zstd 1.5.4+dfsg2-5',
        '',
      ].join('\n'),
    );
    expect(ctx.runner.calls).toEqual([]);
    expect(artifacts.map((a) => a.path)).toEqual([
      'output/ailinux-minimal-amd64.report.json',
      'output/ailinux-minimal-amd64.report.txt',
    ]);
    await expect(reportStep.verify(ctx)).resolves.toBeUndefined();
    fs.writeFileSync(`${base}.json`, '{"truncated": ');
    await expect(reportStep.verify(ctx)).rejects.toThrow(new StepError('report', `${base}.json is not valid JSON`));
  });

  it('ailinux: no ISO in the ledger and no SOURCE_DATE_EPOCH: unknown size and hash, generated now, casper manifest', async () => {
    const config = profileConfig('ailinux');
    writeTree(`${workDir}/iso/casper`, { 'filesystem.manifest': 'casper\t1.498\n' });
    writeTree(`${workDir}/iso/live`, { 'filesystem.manifest': 'wrong\t1\n' });
    const ctx = ctxFor(config, 'report');
    const before = Date.now();
    await createReportStep({ ledger: () => ({}), resourcePeaks: () => ({}), toolVersion: () => '0.1.0' }).run(ctx);
    const base = `${workDir}/output/ailinux-24.04-amd64.report`;
    const json = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
    expect(json.tool).toEqual({ name: 'ailinux', version: '0.1.0' });
    expect(json.profile).toBe('ailinux');
    expect(json.iso).toEqual({
      path: 'output/ailinux-24.04-amd64.iso',
      size: null,
      sha256: null,
      volumeLabel: 'AILINUX_2404',
    });
    expect(json.packages).toEqual([{ name: 'casper', version: '1.498' }]);
    expect(json.steps.map((s: { id: string }) => s.id)).toEqual(config.steps);
    const generated = Date.parse(json.generatedAt);
    expect(generated).toBeGreaterThanOrEqual(before - 1000);
    expect(generated).toBeLessThanOrEqual(Date.now() + 1000);
    const text = fs.readFileSync(`${base}.txt`, 'utf8').split('\n');
    expect(text.slice(0, 4)).toEqual([
      'AILinux build report (ailinux 0.1.0, profile ailinux)',
      `generated: ${json.generatedAt}`,
      'iso: output/ailinux-24.04-amd64.iso (? bytes, label AILINUX_2404)',
      'sha256: ?',
    ]);
    expect(text.slice(-4)).toEqual(['', 'packages (1):', '  casper 1.498', '']);
  });
});
