/**
 * Issue 11, point 1: squashfs.layers. The squashfs step runs for real (dpkg-query, du, python3, mksquashfs) over a
 * tiny layered tree whose upper layers hold a real overlayfs whiteout (a 0/0 character device made with mknod) and
 * an opaque directory (trusted.overlay.opaque), as a build's overlay mounts leave them. Then:
 * - each non-empty layer has its image, live/filesystem.module lists them bottom first, and the images stacked as
 *   overlayfs lower layers (as live-boot mounts them) show the merged rootfs: the deleted file is gone, the opaque
 *   directory hides what the layer below had in it;
 * - what an upper layer hides is not stored below it (the .debs chroot-cleanup deleted stay out of the base image);
 * - overlayfs's bookkeeping xattrs (origin: a lower file's handle) do not reach an image;
 * - a second run keeps every image whose layer and key are unchanged;
 * - the installer's filesystem.squashfs (a merged image, written beside the layers when the image has Calamares,
 *   and the only image when squashfs.layers is off) unpacks to a target with no whiteout file and no deleted file.
 * Needs root (mknod, trusted xattrs, the overlay mount); skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import { ownLayer } from '../../src/runtime/layers.js';
import { workPaths } from '../../src/runtime/paths.js';
import { squashfsStep } from '../../src/steps/squashfs.js';
import type { StepContext } from '../../src/steps/types.js';
import { skipUnlessRoot } from '../helpers/root.js';
import {
  layerSteps,
  layerTreeDir,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
} from '../helpers/step-context.js';

const STATUS = 'Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n';

let workDir = '';
const layer = (id: string) => layerTreeDir(workDir, id);
const live = () => path.join(workDir, 'iso', 'live');

function contextFor(layers: boolean): StepContext {
  const config = profileConfig('minimal', (c: BuildConfig) => {
    c.squashfs.layers = layers;
  });
  return {
    ...stepContext({ config, workDir, stepId: 'squashfs', sourceDateEpoch: 1700000000 }),
    runner: new ExecaRunner(),
  };
}

function setXattr(p: string, name: string, value: string): void {
  execFileSync('python3', [
    '-c',
    'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)',
    p,
    name,
    value,
  ]);
}

function xattrsOf(p: string): string[] {
  const out = execFileSync(
    'python3',
    ['-c', 'import os,sys; print("\\n".join(os.listxattr(sys.argv[1], follow_symlinks=False)))', p],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean);
}

/** Every path in an unpacked tree, with d, f, l or c (a character device: rdev major,minor). */
function treeOf(root: string): string[] {
  const out = execFileSync('find', [root, '-mindepth', '1', '-printf', '%P %y\\n'], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).sort();
}

function unsquash(image: string, into: string): string {
  execFileSync('unsquashfs', ['-no-progress', '-d', into, image], { stdio: 'ignore' });
  return into;
}

/** The images stacked as live-boot stacks them (the last listed on top), read-only, listed through the mount. */
function stackedTree(images: readonly string[], scratch: string): string[] {
  const lowers = images.map((img, i) => unsquash(path.join(live(), img), path.join(scratch, `l${i}`)));
  const mnt = path.join(scratch, 'merged');
  fs.mkdirSync(mnt);
  const script = 'mount -t overlay overlay -o "lowerdir=$1" "$2" && find "$2" -mindepth 1 -printf "%P %y\\n"';
  const out = execFileSync(
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', [...lowers].reverse().join(':'), mnt],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean).sort();
}

beforeEach(() => {
  if (skipUnlessRoot()) return;
  workDir = makeWorkDir('ailinux-squashfs-layers-');
  const config = profileConfig('minimal');
  const steps = layerSteps(config);
  for (const step of steps.slice(
    0,
    steps.findIndex((s) => s.id === 'squashfs'),
  )) {
    const own = ownLayer(workPaths(workDir).layersDir, step);
    if (own) fs.mkdirSync(own.upper, { recursive: true });
  }
  writeTree(layer('bootstrap'), {
    'var/lib/dpkg/status': STATUS,
    'etc/os-release': 'ID=debian\n',
    'etc/gone.conf': 'deleted by chroot-cleanup\n',
    'var/cache/apt/archives/bash_5.2_amd64.deb': 'a deb debootstrap left\n',
    'var/log/dpkg.log': 'build-time log\n',
    'opt/old/kept-below': 'hidden by the opaque dir above\n',
  });
  writeTree(layer('packages'), {
    'boot/vmlinuz-6.1.0-13-amd64': 'MZ the layer kernel\n',
    'boot/initrd.img-6.1.0-13-amd64': 'the layer initrd\n',
    'opt/old/new-above': 'in the opaque dir\n',
  });
  fs.symlinkSync('boot/vmlinuz-6.1.0-13-amd64', path.join(layer('packages'), 'vmlinuz'));
  fs.symlinkSync('boot/initrd.img-6.1.0-13-amd64', path.join(layer('packages'), 'initrd.img'));
  setXattr(path.join(layer('packages'), 'opt/old'), 'trusted.overlay.opaque', 'y');
  // chroot-cleanup's layer as overlayfs leaves it: whiteouts for what it deleted, a copy-up for what it truncated
  const cleanup = layer('chroot-cleanup');
  writeTree(cleanup, { 'var/log/dpkg.log': '' });
  setXattr(path.join(cleanup, 'var/log/dpkg.log'), 'trusted.overlay.origin', 'not-reproducible-handle');
  for (const rel of ['etc/gone.conf', 'var/cache/apt/archives/bash_5.2_amd64.deb']) {
    fs.mkdirSync(path.dirname(path.join(cleanup, rel)), { recursive: true });
    execFileSync('mknod', [path.join(cleanup, rel), 'c', '0', '0']);
  }
});

afterEach(() => {
  if (workDir) removeWorkDir(workDir);
  workDir = '';
});

describe.skipIf(skipUnlessRoot())('squashfs.layers: one image per layer, stacked like live-boot', () => {
  it('stacks to the merged rootfs, stores each file once, and keeps an unchanged layer image', async () => {
    const ctx = contextFor(true);
    await squashfsStep.run(ctx);
    await squashfsStep.verify(ctx);
    const module = fs.readFileSync(path.join(live(), 'filesystem.module'), 'utf8').split('\n').filter(Boolean);
    // empty layers (overlay-early, configure, identity here) get no image
    expect(module).toEqual([
      expect.stringMatching(/^\d\d-bootstrap\.squashfs$/),
      expect.stringMatching(/^\d\d-packages\.squashfs$/),
      expect.stringMatching(/^\d\d-chroot-cleanup\.squashfs$/),
    ]);
    // no merged image: the minimal image has no installer
    expect(fs.existsSync(path.join(live(), 'filesystem.squashfs'))).toBe(false);

    const scratch = fs.mkdtempSync(path.join(workDir, 'scratch-'));
    const merged = stackedTree(module, scratch);
    expect(merged).toContain('etc/os-release f');
    expect(merged).toContain('opt/old/new-above f');
    expect(merged).toContain('var/log/dpkg.log f');
    for (const gone of ['etc/gone.conf', 'var/cache/apt/archives/bash_5.2_amd64.deb', 'opt/old/kept-below'])
      expect(
        merged.filter((l) => l.startsWith(`${gone} `)),
        gone,
      ).toEqual([]);
    expect(merged.filter((l) => l.endsWith(' c'))).toEqual([]);

    // the cleanup image carries the whiteouts; the base image no longer holds what they hide
    const top = treeOf(path.join(scratch, 'l2'));
    expect(top).toContain('etc/gone.conf c');
    const bottom = treeOf(path.join(scratch, 'l0'));
    expect(bottom).toContain('etc/os-release f');
    expect(bottom).not.toContain('etc/gone.conf f');
    expect(bottom).not.toContain('var/cache/apt/archives/bash_5.2_amd64.deb f');
    expect(bottom).not.toContain('var/log/dpkg.log f');
    // the opaque mark made the trip; overlayfs's origin handle did not
    expect(xattrsOf(path.join(scratch, 'l1', 'opt/old'))).toContain('trusted.overlay.opaque');
    expect(xattrsOf(path.join(scratch, 'l2', 'var/log/dpkg.log'))).toEqual([]);

    // a second run packs nothing again: each image is the same file (inode) as before
    const inodes = module.map((m) => fs.statSync(path.join(live(), m)).ino);
    const lines: string[] = [];
    const again = { ...ctx, log: { ...ctx.log, info: (m: string) => lines.push(m) } };
    await squashfsStep.run(again);
    expect(module.map((m) => fs.statSync(path.join(live(), m)).ino)).toEqual(inodes);
    expect(lines.filter((l) => l.includes('its image is kept'))).toHaveLength(3);
  });

  it('writes the merged filesystem.squashfs beside the layers for Calamares, without whiteouts or deleted files', async () => {
    writeTree(layer('packages'), { 'usr/bin/calamares': '#!/bin/sh\n' });
    const ctx = contextFor(true);
    await squashfsStep.run(ctx);
    await squashfsStep.verify(ctx);
    const target = unsquash(path.join(live(), 'filesystem.squashfs'), path.join(workDir, 'target'));
    const tree = treeOf(target);
    expect(tree).toContain('usr/bin/calamares f');
    expect(tree.filter((l) => l.startsWith('etc/gone.conf ') || l.startsWith('opt/old/kept-below '))).toEqual([]);
    expect(tree.filter((l) => l.endsWith(' c'))).toEqual([]);
  });

  it('squashfs.layers off: one merged image, which unpacks without whiteouts or deleted files', async () => {
    const ctx = contextFor(false);
    await squashfsStep.run(ctx);
    expect(fs.existsSync(path.join(live(), 'filesystem.module'))).toBe(false);
    const target = unsquash(path.join(live(), 'filesystem.squashfs'), path.join(workDir, 'target'));
    const tree = treeOf(target);
    expect(tree).toContain('opt/old/new-above f');
    expect(
      tree.filter((l) => /^(etc\/gone\.conf|opt\/old\/kept-below|var\/cache\/apt\/archives\/bash)/.test(l)),
    ).toEqual([]);
    expect(tree.filter((l) => l.endsWith(' c'))).toEqual([]);
  });
});
