/**
 * Issue 9, finding 1, the read side: the squashfs step reads the kernel, the initrd and the package database out of
 * the rootfs layers, and an absolute symlink there names a path of the rootfs, never of the host. The step runs for
 * real (the view namespace, dpkg-query, du, mksquashfs) over a tiny layered tree; each absolute link points at a
 * decoy in a temp dir of its own (never a host path like /etc). Before the fix, `cp --dereference` in the view
 * copied the decoy kernel into the ISO tree and dpkg-query listed the decoy's packages in filesystem.manifest.
 * Needs root; skipped otherwise.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.js';
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

const SECRET = 'DECOY-SECRET-5e1f';
const STATUS = (pkg: string) =>
  `Package: ${pkg}\nStatus: install ok installed\nMaintainer: Nobody <nobody@example.org>\n` +
  `Architecture: amd64\nVersion: 1.0\nDescription: ${pkg}\n\n`;

let workDir = '';
let decoyDir = '';
let ctx: StepContext;
const base = () => layerTreeDir(workDir, 'bootstrap');
const packages = () => layerTreeDir(workDir, 'packages');
const live = () => path.join(workDir, 'iso', 'live');

beforeEach(() => {
  if (skipUnlessRoot()) return;
  workDir = makeWorkDir('ailinux-squashfs-links-');
  decoyDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-squashfs-decoy-')));
  writeTree(decoyDir, {
    kernel: `MZ ${SECRET} kernel\n`,
    initrd: `${SECRET} initrd\n`,
    'dpkg/status': STATUS(`decoy-${SECRET.toLowerCase()}`),
  });
  const config = profileConfig('minimal');
  // every layer below squashfs exists, as after a build: the view's overlay needs each lower dir
  const steps = layerSteps(config);
  for (const step of steps.slice(
    0,
    steps.findIndex((s) => s.id === 'squashfs'),
  )) {
    const own = ownLayer(workPaths(workDir).layersDir, step);
    if (own) fs.mkdirSync(own.upper, { recursive: true });
  }
  writeTree(base(), { 'var/lib/dpkg/status': STATUS('base-files'), 'etc/os-release': 'ID=debian\n' });
  writeTree(packages(), {
    'boot/vmlinuz-6.1.0-13-amd64': 'MZ the layer kernel\n',
    'boot/initrd.img-6.1.0-13-amd64': 'the layer initrd\n',
  });
  fs.symlinkSync('boot/initrd.img-6.1.0-13-amd64', path.join(packages(), 'initrd.img'));
  ctx = { ...stepContext({ config, workDir, stepId: 'squashfs' }), runner: new ExecaRunner() };
});

afterEach(() => {
  if (workDir) removeWorkDir(workDir);
  if (decoyDir) fs.rmSync(decoyDir, { recursive: true, force: true });
  workDir = '';
  decoyDir = '';
});

/** Runs the step; what it threw, or null when it finished. */
async function runStep(): Promise<unknown> {
  return squashfsStep.run(ctx).then(
    () => null,
    (error: unknown) => error,
  );
}

/** The step refused with a StepError whose message holds text; checked after the decoy check, which comes first. */
function expectRefused(outcome: unknown, text: string): void {
  expect(outcome).toBeInstanceOf(StepError);
  expect((outcome as StepError).message).toContain(text);
}

/** No file the step wrote into the ISO tree holds a decoy byte. */
function expectNoDecoyInIsoTree(): void {
  const dir = live();
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    expect(fs.readFileSync(path.join(dir, f)).includes(SECRET), `${f} holds the decoy`).toBe(false);
    expect(fs.readFileSync(path.join(dir, f), 'latin1').toLowerCase()).not.toContain(SECRET.toLowerCase());
  }
}

describe.skipIf(skipUnlessRoot())('squashfs: absolute links in the layers resolve inside the rootfs', () => {
  it('an absolute /vmlinuz link copies the file at that path in the rootfs, not the host file at it', async () => {
    // the same absolute path exists on the host (the decoy) and in the rootfs: the rootfs's must win
    fs.symlinkSync(path.join(decoyDir, 'kernel'), path.join(packages(), 'vmlinuz'));
    writeTree(path.join(packages(), decoyDir), { kernel: 'MZ the kernel at that path in the rootfs\n' });
    await squashfsStep.run(ctx);
    expect(fs.readFileSync(path.join(live(), 'vmlinuz'), 'utf8')).toBe('MZ the kernel at that path in the rootfs\n');
    expect(fs.readFileSync(path.join(live(), 'initrd.img'), 'utf8')).toBe('the layer initrd\n');
    expect(fs.readFileSync(path.join(live(), 'filesystem.manifest'), 'utf8')).toBe('base-files\t1.0\n');
    expectNoDecoyInIsoTree();
  });

  it('an absolute /vmlinuz link that leads nowhere inside the rootfs is refused, naming the link', async () => {
    fs.symlinkSync(path.join(decoyDir, 'kernel'), path.join(packages(), 'vmlinuz'));
    const outcome = await runStep();
    expectNoDecoyInIsoTree();
    expectRefused(
      outcome,
      `the rootfs's /vmlinuz is a symlink to ${decoyDir}/kernel, which leads to no regular file inside the rootfs`,
    );
  });

  it('an absolute /initrd.img link to a host file is refused too', async () => {
    fs.symlinkSync('boot/vmlinuz-6.1.0-13-amd64', path.join(packages(), 'vmlinuz'));
    fs.rmSync(path.join(packages(), 'initrd.img'));
    fs.symlinkSync(path.join(decoyDir, 'initrd'), path.join(packages(), 'initrd.img'));
    const outcome = await runStep();
    expectNoDecoyInIsoTree();
    expectRefused(outcome, `the rootfs's /initrd.img is a symlink to ${decoyDir}/initrd`);
  });

  it('an absolute var/lib/dpkg link is refused before dpkg-query reads the host side of it', async () => {
    fs.symlinkSync('boot/vmlinuz-6.1.0-13-amd64', path.join(packages(), 'vmlinuz'));
    fs.rmSync(path.join(base(), 'var/lib/dpkg'), { recursive: true });
    fs.symlinkSync(path.join(decoyDir, 'dpkg'), path.join(base(), 'var/lib/dpkg'));
    const outcome = await runStep();
    expectNoDecoyInIsoTree();
    expectRefused(outcome, `the rootfs's /var/lib/dpkg is a symlink (to ${decoyDir}/dpkg), not a directory`);
  });

  it('a journal entry in var/lib/dpkg/updates linked to a host file is refused (dpkg-query reads it as status)', async () => {
    fs.symlinkSync('boot/vmlinuz-6.1.0-13-amd64', path.join(packages(), 'vmlinuz'));
    fs.mkdirSync(path.join(base(), 'var/lib/dpkg/updates'));
    // in the packages layer, over the base's real updates dir: the merged view lists it
    writeTree(packages(), { 'var/lib/dpkg/updates/0002': STATUS('base-files') });
    fs.symlinkSync(path.join(decoyDir, 'dpkg/status'), path.join(packages(), 'var/lib/dpkg/updates/0001'));
    const outcome = await runStep();
    expectNoDecoyInIsoTree();
    expectRefused(
      outcome,
      `the rootfs's /var/lib/dpkg/updates/0001 is a symlink (to ${decoyDir}/dpkg/status), not a regular file`,
    );
  });

  it('an absolute var/lib/dpkg/status link is refused as well', async () => {
    fs.symlinkSync('boot/vmlinuz-6.1.0-13-amd64', path.join(packages(), 'vmlinuz'));
    fs.rmSync(path.join(base(), 'var/lib/dpkg/status'));
    fs.symlinkSync(path.join(decoyDir, 'dpkg/status'), path.join(base(), 'var/lib/dpkg/status'));
    const outcome = await runStep();
    expectNoDecoyInIsoTree();
    expectRefused(
      outcome,
      `the rootfs's /var/lib/dpkg/status is a symlink (to ${decoyDir}/dpkg/status), not a regular file`,
    );
  });
});
