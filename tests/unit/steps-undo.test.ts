/**
 * Undo removes exactly what its step made: a layer step its own layer dir (sibling layers, caches,
 * the medium and outputs survive), squashfs the live dir, checksums and report their own files.
 * Each undo is idempotent and never follows a symlink out of what it removes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapStep } from '../../src/steps/bootstrap.js';
import { checksumsStep } from '../../src/steps/checksums.js';
import { chrootCleanupStep } from '../../src/steps/chroot-cleanup.js';
import { configureStep } from '../../src/steps/configure.js';
import { identityStep } from '../../src/steps/identity.js';
import { packagesStep } from '../../src/steps/packages.js';
import { reportStep } from '../../src/steps/report.js';
import { squashfsStep } from '../../src/steps/squashfs.js';
import type { StepDef } from '../../src/steps/types.js';
import {
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type ProfileName,
} from '../helpers/step-context.js';

const PROFILES: readonly ProfileName[] = ['minimal', 'ailinux'];
const LAYER_STEPS: readonly StepDef[] = [bootstrapStep, configureStep, packagesStep, identityStep, chrootCleanupStep];

let workDir: string;
/** A directory beside the work dir: nothing in it may ever be touched. */
let outside: string;

beforeEach(() => {
  workDir = makeWorkDir('ailinux-undo-');
  outside = makeWorkDir('ailinux-undo-outside-');
  writeTree(outside, { 'precious.txt': 'keep me\n', 'dir/inner.txt': 'keep me too\n' });
});

afterEach(() => {
  removeWorkDir(workDir);
  removeWorkDir(outside);
});

/** Everything a build of the profile leaves in the work dir, as plain files. */
function populate(profile: ProfileName): string[] {
  const config = profileConfig(profile);
  const live = profile === 'ailinux' ? 'casper' : 'live';
  const iso = config.iso.outputName;
  const files: Record<string, string> = {
    'layers/bootstrap/root/etc/os-release': 'ID=x\n',
    'layers/bootstrap/root/usr/bin/dpkg': '',
    'layers/configure/upper/etc/apt/sources.list': 'deb x\n',
    'layers/configure/work/work/.keep': '',
    'layers/packages/upper/var/lib/dpkg/status': 'Package: zstd\n',
    'layers/packages/work/work/.keep': '',
    'layers/identity/upper/etc/hostname': 'h\n',
    'layers/identity/work/work/.keep': '',
    'layers/chroot-cleanup/upper/etc/machine-id': '',
    'layers/chroot-cleanup/work/work/.keep': '',
    'mnt/packages/.keep': '',
    'cache/apt-archives/zstd_1.5_amd64.deb': 'deb',
    'cache/apt-archives/partial/.keep': '',
    'cache/debootstrap/base-files_12_amd64.deb': 'deb',
    'state/state.json': '{}\n',
    'logs/build.ndjson': '{}\n',
    [`iso/${live}/filesystem.squashfs`]: 'hsqs',
    [`iso/${live}/vmlinuz`]: 'k',
    [`iso/${live}/initrd.img`]: 'i',
    [`iso/${live}/filesystem.manifest`]: 'zstd\t1\n',
    'iso/boot/grub/grub.cfg': 'menuentry\n',
    'iso/EFI/BOOT/BOOTX64.EFI': 'efi',
    'iso/.disk/info': 'info\n',
    [`output/${iso}.iso`]: 'CD001',
    [`output/${iso}.iso.sha256`]: 'sum\n',
    [`output/${iso}.iso.md5`]: 'sum\n',
    [`output/${iso}.report.json`]: '{}\n',
    [`output/${iso}.report.txt`]: 'report\n',
  };
  writeTree(workDir, files);
  return Object.keys(files);
}

function present(rels: readonly string[]): string[] {
  return rels.filter((rel) => fs.existsSync(path.join(workDir, rel)));
}

function assertOutsideIntact(): void {
  expect(fs.readFileSync(path.join(outside, 'precious.txt'), 'utf8')).toBe('keep me\n');
  expect(fs.readFileSync(path.join(outside, 'dir/inner.txt'), 'utf8')).toBe('keep me too\n');
}

describe('layer steps: undo removes the step own layer dir only, and is idempotent', () => {
  for (const profile of PROFILES) {
    for (const step of LAYER_STEPS) {
      it(`${profile}: ${step.id}`, async () => {
        const all = populate(profile);
        const own = `layers/${step.id}/`;
        // Symlinks inside the layer, as a rootfs has them: to a sibling layer, outside the work dir, and absolute.
        const ownDir = path.join(workDir, 'layers', step.id);
        const linkDir = path.join(ownDir, step.layer === 'base' ? 'root' : 'upper');
        fs.mkdirSync(linkDir, { recursive: true });
        const sibling = step.id === 'packages' ? 'configure' : 'packages';
        fs.symlinkSync(path.join(workDir, 'layers', sibling), path.join(linkDir, 'to-sibling'));
        fs.symlinkSync(path.join(outside, 'dir'), path.join(linkDir, 'to-outside'));
        // An absolute link like a rootfs's /etc/alternatives ones, aimed at a decoy: a test must never
        // point a removal at a real host path, or a regression in removeTree would delete it.
        fs.mkdirSync(path.join(outside, 'abs-decoy'), { recursive: true });
        fs.writeFileSync(path.join(outside, 'abs-decoy', 'keep'), 'keep');
        fs.symlinkSync(path.join(outside, 'abs-decoy'), path.join(linkDir, 'to-absolute'));

        const ctx = stepContext({ config: profileConfig(profile), workDir, stepId: step.id });
        expect(ctx.layers.own?.dir).toBe(ownDir);
        await step.undo(ctx);

        expect(fs.existsSync(ownDir)).toBe(false);
        expect(present(all)).toEqual(all.filter((rel) => !rel.startsWith(own)));
        expect(fs.readdirSync(path.join(workDir, 'layers')).sort()).toEqual(
          ['bootstrap', 'chroot-cleanup', 'configure', 'identity', 'packages'].filter((id) => id !== step.id),
        );
        assertOutsideIntact();
        expect(fs.readFileSync(path.join(outside, 'abs-decoy', 'keep'), 'utf8')).toBe('keep');

        // Again: nothing left to remove, nothing else touched.
        await expect(step.undo(ctx)).resolves.toBeUndefined();
        expect(present(all)).toEqual(all.filter((rel) => !rel.startsWith(own)));
        expect(ctx.runner.calls).toEqual([]);
      });
    }
  }

  it('undo of a step that never ran (no layer dir, no layers dir at all) is a no-op', async () => {
    for (const step of LAYER_STEPS) {
      const ctx = stepContext({ config: profileConfig('minimal'), workDir, stepId: step.id });
      await expect(step.undo(ctx)).resolves.toBeUndefined();
    }
    expect(fs.readdirSync(workDir)).toEqual([]);
  });

  it('undo after a real run removes what run created in the layer, not the shared deb cache', async () => {
    const config = profileConfig('ailinux');
    populate('ailinux');
    fs.rmSync(path.join(workDir, 'layers/packages'), { recursive: true });
    const ctx = stepContext({ config, workDir, stepId: 'packages' });
    await packagesStep.run(ctx);
    expect(fs.existsSync(path.join(workDir, 'layers/packages/upper'))).toBe(true);
    expect(fs.existsSync(path.join(workDir, 'layers/packages/work'))).toBe(true);
    await packagesStep.undo(ctx);
    expect(fs.existsSync(path.join(workDir, 'layers/packages'))).toBe(false);
    expect(fs.readFileSync(path.join(workDir, 'cache/apt-archives/zstd_1.5_amd64.deb'), 'utf8')).toBe('deb');
    expect(fs.existsSync(path.join(workDir, 'cache/apt-archives/partial'))).toBe(true);
    expect(fs.existsSync(path.join(workDir, 'layers/configure/upper/etc/apt/sources.list'))).toBe(true);
  });
});

describe('medium and output steps: undo removes only their own outputs', () => {
  for (const profile of PROFILES) {
    const live = profile === 'ailinux' ? 'casper' : 'live';
    const iso = profileConfig(profile).iso.outputName;

    it(`${profile}: squashfs removes iso/${live} and nothing else`, async () => {
      const all = populate(profile);
      // The other family's live dir is not this profile's output.
      writeTree(workDir, { [`iso/${live === 'live' ? 'casper' : 'live'}/keep`]: 'x' });
      fs.symlinkSync(path.join(outside, 'dir'), path.join(workDir, `iso/${live}/to-outside`));
      const ctx = stepContext({ config: profileConfig(profile), workDir, stepId: 'squashfs' });
      await squashfsStep.undo(ctx);
      expect(fs.existsSync(path.join(workDir, 'iso', live))).toBe(false);
      expect(present(all)).toEqual(all.filter((rel) => !rel.startsWith(`iso/${live}/`)));
      expect(fs.existsSync(path.join(workDir, `iso/${live === 'live' ? 'casper' : 'live'}/keep`))).toBe(true);
      assertOutsideIntact();
      await expect(squashfsStep.undo(ctx)).resolves.toBeUndefined();
      expect(present(all)).toEqual(all.filter((rel) => !rel.startsWith(`iso/${live}/`)));
    });

    it(`${profile}: checksums removes ${iso}.iso.sha256 and .md5 only`, async () => {
      const all = populate(profile);
      const mine = [`output/${iso}.iso.sha256`, `output/${iso}.iso.md5`];
      const ctx = stepContext({ config: profileConfig(profile), workDir, stepId: 'checksums' });
      await checksumsStep.undo(ctx);
      expect(present(all)).toEqual(all.filter((rel) => !mine.includes(rel)));
      await expect(checksumsStep.undo(ctx)).resolves.toBeUndefined();
      expect(present(all)).toEqual(all.filter((rel) => !mine.includes(rel)));
    });

    it(`${profile}: report removes ${iso}.report.json and .txt only`, async () => {
      const all = populate(profile);
      const mine = [`output/${iso}.report.json`, `output/${iso}.report.txt`];
      const ctx = stepContext({ config: profileConfig(profile), workDir, stepId: 'report' });
      await reportStep.undo(ctx);
      expect(present(all)).toEqual(all.filter((rel) => !mine.includes(rel)));
      await expect(reportStep.undo(ctx)).resolves.toBeUndefined();
      expect(present(all)).toEqual(all.filter((rel) => !mine.includes(rel)));
    });
  }

  it('checksums undo removes a symlinked checksum file as a link, not its target', async () => {
    populate('minimal');
    const iso = profileConfig('minimal').iso.outputName;
    const sha = path.join(workDir, `output/${iso}.iso.sha256`);
    fs.rmSync(sha);
    fs.symlinkSync(path.join(workDir, 'cache/apt-archives/zstd_1.5_amd64.deb'), sha);
    const ctx = stepContext({ config: profileConfig('minimal'), workDir, stepId: 'checksums' });
    await checksumsStep.undo(ctx);
    expect(fs.existsSync(sha)).toBe(false);
    expect(fs.readFileSync(path.join(workDir, 'cache/apt-archives/zstd_1.5_amd64.deb'), 'utf8')).toBe('deb');
  });
});
