/**
 * preflight (phase 1): the host checks, with a scripted probe (root, disk, files, HTTP) and fake
 * tools on a PATH of our own, so the outcome does not depend on what this host has installed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { fingerprintMaterial, fingerprintSteps } from '../../src/engine/fingerprint.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { UBUNTU_ARCHIVE_KEYRING } from '../../src/steps/archive-keyring.js';
import { bootstrapStep } from '../../src/steps/bootstrap.js';
import { createPreflightStep, DISK_MARGIN_MB, peakDiskNeedMb, type HostProbe } from '../../src/steps/preflight.js';
import { preflightStep, resolveSteps } from '../../src/steps/registry.js';
import { hostRequirements } from '../../src/steps/host-requirements.js';

const hostTools = (c: BuildConfig) => hostRequirements(resolveSteps(c), c).tools.map(({ steps: _, ...t }) => t);
const hostFiles = (c: BuildConfig) => hostRequirements(resolveSteps(c), c).files.map(({ steps: _, ...f }) => f);
import {
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  type TestStepContext,
} from '../helpers/step-context.js';

let workDir: string;
let binDir: string;

beforeEach(() => {
  workDir = makeWorkDir('ailinux-preflight-');
  binDir = path.join(workDir, 'fake-bin');
  fs.mkdirSync(binDir);
});
afterEach(() => removeWorkDir(workDir));

/** Fake executables on our own PATH; each prints a version line through the FakeRunner. */
const VERSIONS: Record<string, string> = {
  unshare: 'unshare from util-linux 2.38.1',
  mount: 'mount from util-linux 2.38.1',
  umount: 'umount from util-linux 2.38.1',
  debootstrap: 'debootstrap 1.0.128+nmu2+deb12u2',
  chroot: 'chroot (GNU coreutils) 9.1',
  mksquashfs: 'mksquashfs version 4.5.1 (2022/03/17)',
  'dpkg-query': 'Debian dpkg-query package management program version 1.21.22 (amd64).',
  'grub-mkimage': 'grub-mkimage (GRUB) 2.06-13+deb12u2',
  'mkfs.vfat': 'mkfs.fat 4.2 (2021-01-31)',
  mmd: 'mmd (GNU mtools) 4.0.32',
  mcopy: 'mcopy (GNU mtools) 4.0.32',
  xorriso: 'xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.',
  'qemu-system-x86_64': 'QEMU emulator version 7.2.22',
  gpg: 'gpg (GnuPG) 2.2.40',
  'dpkg-deb': "Debian 'dpkg-deb' package archive backend version 1.21.22 (amd64).",
  'rsvg-convert': 'rsvg-convert version 2.54.7',
};

function installTools(names: readonly string[]): FakeRunner {
  const runner = new FakeRunner();
  for (const name of names) {
    const file = path.join(binDir, name);
    fs.writeFileSync(file, '#!/bin/false\n', { mode: 0o755 });
    runner.on([file], { stdout: `${VERSIONS[name]}\n` });
  }
  return runner;
}

interface ProbeScript {
  root?: boolean;
  freeMb?: number;
  files?: readonly string[];
  http?: Record<string, number | Error>;
  proxy?: string | null;
}

function probe(s: ProbeScript, fetched: string[] = []): HostProbe {
  const files = new Set(s.files ?? []);
  return {
    envPath: () => binDir,
    isRoot: () => s.root ?? true,
    freeDiskMb: () => s.freeMb ?? 100_000,
    // only what the script lists, and files the test made in its work dir: never the host's own
    fileExists: (f) => files.has(f) || (f.startsWith(workDir) && fs.existsSync(f)),
    fetchStatus: async (url) => {
      fetched.push(url);
      const answer = s.http?.[url] ?? 200;
      if (answer instanceof Error) throw answer;
      return answer;
    },
    proxy: () => s.proxy ?? null,
  };
}

const NOBLE = 'http://archive.ubuntu.com/ubuntu/dists/noble/Release';
const NOBLE_SECURITY = 'http://security.ubuntu.com/ubuntu/dists/noble-security/Release';
const GRUB_FILES = [
  '/usr/lib/grub/i386-pc/moddep.lst',
  '/usr/lib/grub/x86_64-efi/moddep.lst',
  '/usr/lib/grub/i386-pc/boot_hybrid.img',
  '/usr/share/debootstrap/scripts/gutsy',
  // the graphical GRUB menu's font
  '/usr/share/grub/unicode.pf2',
  // the verify step's UEFI boot (the product is boot-checked)
  '/usr/share/ovmf/OVMF.fd',
];

function keyring(content = 'ubuntu keyring\n'): { path: string; sha256: string } {
  const file = path.join(workDir, 'ubuntu-archive-keyring.gpg');
  fs.writeFileSync(file, content);
  return { path: file, sha256: crypto.createHash('sha256').update(content).digest('hex') };
}

function ctxWith(config: BuildConfig, runner: FakeRunner): TestStepContext {
  return stepContext({ config, workDir, stepId: 'preflight', runner });
}

const ALL_TOOLS = [
  'unshare',
  'mount',
  'umount',
  'setpriv',
  'debootstrap',
  'chroot',
  'mksquashfs',
  'dpkg-query',
  'grub-mkimage',
  'mkfs.vfat',
  'mmd',
  'mcopy',
  'xorriso',
  // the built-in art (branding and the GRUB menu's background)
  'rsvg-convert',
  // the verify step's boot (the product is boot-checked)
  'qemu-system-x86_64',
];

describe('preflight', () => {
  it('is the first step of the ailinux profile, has no layer and no config inputs', () => {
    const config = profileConfig('ailinux');
    expect(config.steps[0]).toBe('preflight');
    expect(preflightStep.layer).toBe('none');
    expect(preflightStep.configFields).toEqual([]);
    expect(preflightStep.phase).toBe(1);
  });

  it('ailinux on a ready host: every tool asked for its version, files and archives checked, no problem', async () => {
    const key = keyring();
    const config = profileConfig('ailinux', (c) => (c.distribution.keyring = key));
    const runner = installTools(ALL_TOOLS);
    const fetched: string[] = [];
    const step = createPreflightStep({
      probe: probe({ files: GRUB_FILES }, fetched),
      steps: (c) => resolveSteps(c).filter((s) => s.id !== 'preflight'),
    });
    const ctx = ctxWith(config, runner);
    await expect(step.run(ctx)).resolves.toEqual([]);
    // secureBoot is on, so UEFI needs no GRUB core, but BIOS still does
    expect(runner.calls.map((c) => c.argv)).toEqual([
      [`${binDir}/unshare`, '--version'],
      [`${binDir}/mount`, '--version'],
      [`${binDir}/umount`, '--version'],
      [`${binDir}/setpriv`, '--version'],
      [`${binDir}/debootstrap`, '--version'],
      [`${binDir}/chroot`, '--version'],
      [`${binDir}/rsvg-convert`, '--version'],
      [`${binDir}/mksquashfs`, '-version'],
      [`${binDir}/dpkg-query`, '--version'],
      [`${binDir}/grub-mkimage`, '--version'],
      [`${binDir}/mkfs.vfat`, '--help'],
      [`${binDir}/mmd`, '--version'],
      [`${binDir}/mcopy`, '--version'],
      [`${binDir}/xorriso`, '-version'],
      // the verify step boots the product
      [`${binDir}/qemu-system-x86_64`, '--version'],
    ]);
    expect(fetched.sort()).toEqual([NOBLE, NOBLE_SECURITY]);
    expect(ctx.infos).toContain(`tool xorriso: ${VERSIONS['xorriso']} (${binDir}/xorriso)`);
    expect(ctx.infos).toContain(`tool debootstrap: ${VERSIONS['debootstrap']} (${binDir}/debootstrap)`);
    expect(ctx.infos).toContain(`archive ${NOBLE}: HTTP 200`);
    expect(ctx.infos.at(-1)).toBe('the host is ready');
  });

  it.skipIf(fs.existsSync(UBUNTU_ARCHIVE_KEYRING))(
    "the profile's Ubuntu keyring missing on a Debian host is no problem: the bootstrap step fetches it, with gpg and dpkg-deb",
    async () => {
      const config = profileConfig('ailinux');
      expect(config.distribution.keyring).toEqual({ path: UBUNTU_ARCHIVE_KEYRING });
      expect(hostTools(config).filter((t) => t.name === 'gpg' || t.name === 'dpkg-deb')).toEqual([
        expect.objectContaining({ name: 'gpg', pkg: 'gpg' }),
        expect.objectContaining({ name: 'dpkg-deb', pkg: 'dpkg' }),
      ]);
      const step = createPreflightStep({
        probe: probe({ files: GRUB_FILES }),
        steps: (c) => resolveSteps(c).filter((s) => s.id !== 'preflight'),
      });
      const ctx = ctxWith(config, installTools(ALL_TOOLS));
      const error = (await step.run(ctx).catch((e: unknown) => e)) as StepError;
      // gpg is not on the test's PATH: that, and nothing about the keyring, is the problem
      expect(error.message).toContain('gpg is not installed (needed for checks the fetched Ubuntu archive keyring');
      expect(error.message).toContain('[fix: apt-get install gpg]');
      expect(error.message).toContain('dpkg-deb is not installed');
      expect(error.message).not.toContain('distribution.keyring');
      expect(ctx.infos).toContain(
        `archive keyring: not on this host: the bootstrap step fetches ubuntu-keyring from http://archive.ubuntu.com/ubuntu (noble) and checks it against the 2012 and 2018 Ubuntu archive keys, into ${path.join(workDir, 'cache', 'keyrings', 'ubuntu-archive-keyring.gpg')}`,
      );
      const ready = ctxWith(config, installTools([...ALL_TOOLS, 'gpg', 'dpkg-deb']));
      await expect(step.run(ready)).resolves.toEqual([]);
    },
  );

  it('reports every problem at once, each with its fix, and one apt-get line for the missing packages', async () => {
    const config = profileConfig('ailinux', (c) => {
      c.distribution.keyring = { path: path.join(workDir, 'nope', 'ubuntu-archive-keyring.gpg') };
      c.iso.isolinux = true;
    });
    // no mksquashfs and no xorriso on this PATH (and they live in /usr/bin, which it does not search)
    const runner = installTools(ALL_TOOLS.filter((t) => t !== 'mksquashfs' && t !== 'xorriso'));
    const offline = Object.assign(new TypeError('fetch failed'), {
      cause: new Error('getaddrinfo ENOTFOUND archive.ubuntu.com'),
    });
    const step = createPreflightStep({
      probe: probe({
        root: false,
        freeMb: 2000,
        files: GRUB_FILES.filter((f) => !f.includes('i386-pc')),
        http: { [NOBLE]: offline, [NOBLE_SECURITY]: 404 },
      }),
      steps: (c) => resolveSteps(c).filter((s) => s.id !== 'preflight'),
    });
    const ctx = ctxWith(config, runner);
    const files = hostFiles(config);
    // in the order the steps first need them: bootstrap, bootloaders (the graphical menu's font first), iso
    expect(files.map((f) => f.path)).toEqual([
      '/usr/share/debootstrap/scripts/gutsy',
      '/usr/share/grub/unicode.pf2',
      '/usr/lib/ISOLINUX/isolinux.bin',
      '/usr/lib/syslinux/modules/bios/ldlinux.c32',
      '/usr/lib/syslinux/modules/bios/libcom32.c32',
      '/usr/lib/syslinux/modules/bios/libutil.c32',
      '/usr/lib/syslinux/modules/bios/menu.c32',
      '/usr/lib/ISOLINUX/isohdpfx.bin',
      // the verify step's UEFI boot
      '/usr/share/ovmf/OVMF.fd',
    ]);
    let error: StepError | null = null;
    try {
      await step.run(ctx);
    } catch (e) {
      error = e as StepError;
    }
    expect(error).toBeInstanceOf(StepError);
    const need = peakDiskNeedMb(
      config,
      resolveSteps(config).filter((s) => s.id !== 'preflight'),
    ).totalMb;
    const m = error!.message;
    expect(m).toMatch(/^the host is not ready for this build \(\d+ problems\): /);
    expect(m).toContain('not running as root [fix: run the build as root (`sudo ailinux resume`)');
    expect(m).toContain(
      'mksquashfs is not installed (needed for the live filesystem (squashfs step)) [fix: apt-get install squashfs-tools]',
    );
    expect(m).toContain(
      'xorriso is not installed (needed for the ISO image (iso step)) [fix: apt-get install xorriso]',
    );
    expect(m).toContain(
      `distribution.keyring: ${path.join(workDir, 'nope', 'ubuntu-archive-keyring.gpg')} does not exist [fix: fix distribution.keyring.path, or set it to /usr/share/keyrings/ubuntu-archive-keyring.gpg with no sha256: ailinux then fetches ubuntu-keyring from the archive when the host lacks it`,
    );
    expect(m).toContain(
      `only 2000 MiB free in ${workDir}, the build needs about ${need} MiB [fix: free ${need - 2000} MiB there, or use a --work-dir on a bigger disk]`,
    );
    expect(m).toContain(
      `distribution.mirror: cannot reach ${NOBLE} (getaddrinfo ENOTFOUND archive.ubuntu.com) [fix: check the network (and a proxy: http_proxy), or set distribution.mirror to a mirror you can reach]`,
    );
    expect(m).toContain(`distribution.sources.1.uri: ${NOBLE_SECURITY} answered HTTP 404`);
    expect(error!.hint).toBe(
      'apt-get install squashfs-tools xorriso isolinux syslinux-common; then run the build again',
    );
    expect(m).toContain(
      '/usr/lib/ISOLINUX/isolinux.bin is missing (ISOLINUX boot loader (iso.isolinux)) [fix: apt-get install isolinux]',
    );
    // each problem is also a line of its own in the step log
    expect(ctx.infos.filter((l) => l.startsWith('problem: ')).length).toBe(Number(/\((\d+) problems\)/.exec(m)![1]));
  });

  it('a pinned keyring with another sha256 is a problem, before 40 minutes of building', async () => {
    const key = keyring('the real one\n');
    const config = profileConfig(
      'ailinux',
      (c) => (c.distribution.keyring = { path: key.path, sha256: 'a'.repeat(64) }),
    );
    const step = createPreflightStep({ probe: probe({ files: GRUB_FILES }), steps: () => [] });
    await expect(step.run(ctxWith(config, installTools(ALL_TOOLS)))).rejects.toThrow(
      `distribution.keyring: ${key.path} has sha256 ${key.sha256}, but the config pins ${'a'.repeat(64)} [fix: use the pinned file, or update the sha256 if you trust this one]`,
    );
  });

  it('asks only for what the config uses: ISOLINUX + Secure Boot need no GRUB core; a verify boot needs qemu and OVMF', () => {
    const plain = profileConfig('ailinux');
    expect(hostTools(plain).map((t) => t.name)).toContain('grub-mkimage');
    const both = profileConfig('ailinux', (c) => ((c.iso.isolinux = true), (c.iso.secureBoot = true)));
    expect(hostTools(both).map((t) => t.name)).not.toContain('grub-mkimage');
    expect(
      hostFiles(both)
        .map((f) => f.path)
        .filter((p) => p.startsWith('/usr/lib/grub/')),
    ).toEqual([]);
    // the product boots its ISO in the verify step, and once more for the installer check: qemu is needed while
    // either is on, and left out when both are off
    expect(hostTools(plain).map((t) => t.name)).toContain('qemu-system-x86_64');
    const installerOnly = profileConfig('ailinux', (c) => (c.verify.boot = false));
    expect(installerOnly.verify.installerCheck).toBe(true);
    expect(hostTools(installerOnly).map((t) => t.name)).toContain('qemu-system-x86_64');
    const noBoot = profileConfig('ailinux', (c) => {
      c.verify = { ...c.verify, boot: false, installerCheck: false };
    });
    expect(hostTools(noBoot).map((t) => t.name)).not.toContain('qemu-system-x86_64');
    const boot = profileConfig('minimal', (c) => {
      c.verify = { ...c.verify, boot: true, uefi: true };
    });
    expect(hostTools(boot).find((t) => t.name === 'qemu-system-x86_64')).toEqual({
      name: 'qemu-system-x86_64',
      pkg: 'qemu-system-x86',
      why: 'the boot test of the verify step',
      versionArgs: ['--version'],
    });
    expect(hostFiles(boot)).toContainEqual({
      path: '/usr/share/ovmf/OVMF.fd',
      pkg: 'ovmf',
      why: 'UEFI firmware for the boot test',
    });
  });

  it("peak disk need: the steps' estimates add up (every layer is kept), plus margin and floor", () => {
    const config = profileConfig('ailinux');
    const steps = resolveSteps(config).filter((s) => s.id !== 'preflight');
    const need = peakDiskNeedMb(config, steps);
    const sum = steps.reduce((a, s) => a + (s.diskEstimateMb?.(config) ?? 0), 0);
    expect(need.totalMb).toBe(sum + DISK_MARGIN_MB + config.resources.minFreeDiskMb);
    expect(need.perStep.map(([id]) => id)).toEqual([
      'bootstrap',
      'packages',
      'desktop',
      'installer',
      'squashfs',
      'iso',
    ]);
    // a KDE build needs far more than a console one
    const minimal = profileConfig('minimal');
    expect(peakDiskNeedMb(minimal, resolveSteps(minimal)).totalMb).toBeLessThan(need.totalMb / 2);
  });

  it("a file:// mirror is checked on disk; behind a proxy the HTTP check is left to the build's tools", async () => {
    const key = keyring();
    const mirror = path.join(workDir, 'mirror');
    const config = profileConfig('ailinux', (c) => {
      c.distribution.keyring = key;
      c.distribution.mirror = `file://${mirror}`;
      c.steps = ['preflight', 'bootstrap'];
    });
    const step = createPreflightStep({ probe: probe({ files: GRUB_FILES }), steps: () => [bootstrapStep] });
    await expect(step.run(ctxWith(config, installTools(ALL_TOOLS)))).rejects.toThrow(
      `distribution.mirror: file://${mirror}/dists/noble/Release does not exist`,
    );
    fs.mkdirSync(`${mirror}/dists/noble`, { recursive: true });
    fs.writeFileSync(`${mirror}/dists/noble/Release`, 'Suite: noble\n');
    await expect(step.run(ctxWith(config, installTools(ALL_TOOLS)))).resolves.toEqual([]);

    const fetched: string[] = [];
    const proxied = createPreflightStep({
      probe: probe({ files: GRUB_FILES, proxy: 'http://user:secret@proxy:3128' }, fetched),
      steps: () => [],
    });
    const ctx = ctxWith(
      profileConfig('ailinux', (c) => (c.distribution.keyring = key)),
      installTools(ALL_TOOLS),
    );
    await proxied.run(ctx);
    expect(fetched).toEqual([]);
    expect(ctx.infos).toContain(
      "mirror check left to the build's own tools: a proxy is configured (http://***@proxy:3128)",
    );
  });

  it('its fingerprint holds no config and no SOURCE_DATE_EPOCH: neither moves it (the epoch moves the steps after it)', () => {
    const a = profileConfig('ailinux');
    const b = profileConfig(
      'ailinux',
      (c) => ((c.distribution.mirror = 'http://mirror.example/ubuntu'), (c.iso.isolinux = true)),
    );
    const m1 = fingerprintMaterial(preflightStep, a, workDir, null, { sourceDateEpoch: null });
    const m2 = fingerprintMaterial(preflightStep, b, workDir, null, { sourceDateEpoch: 1700000000 });
    expect(m1).toEqual(m2);
    expect(m1.config).toEqual({});
    const steps = resolveSteps(a);
    const withEpoch = fingerprintSteps(steps, a, workDir, { sourceDateEpoch: 1700000000 });
    const without = fingerprintSteps(steps, a, workDir, { sourceDateEpoch: null });
    // preflight keeps its fingerprint; every step after it writes the image and takes the epoch, the layer steps too
    // (it reaches their chroot commands: docs/architecture.md#reproducible-builds)
    expect(withEpoch[0]!.id).toBe('preflight');
    expect(withEpoch[0]!.fingerprint).toBe(without[0]!.fingerprint);
    for (const [i, f] of withEpoch.entries()) {
      if (i === 0) continue;
      expect(f.fingerprint, f.id).not.toBe(without[i]!.fingerprint);
      expect(f.material.config['env.SOURCE_DATE_EPOCH'], f.id).toBe(1700000000);
    }
  });
});
