/**
 * overlays (issue 10, point 1): the copy rules, the placement in the steps, the fingerprint and the plan's reasons.
 * The copy writes into a layer of a temp work dir as root: run it through scripts/sandboxed-test.sh.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { ConfigError, StepError } from '../../src/errors.js';
import { checkInputTrees, fingerprintSteps } from '../../src/engine/fingerprint.js';
import { InputHashCache } from '../../src/engine/input-hash-cache.js';
import { describeChanges, planBuild } from '../../src/engine/planner.js';
import { overlayEarlyStep, overlayLateStep, scanOverlays } from '../../src/steps/overlays.js';
import { expandSteps, resolveSteps } from '../../src/steps/registry.js';
import {
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  type TestStepContext,
} from '../helpers/step-context.js';
import { doneLedger } from '../helpers/ledger.js';

const asRoot = process.getuid?.() === 0;
const sha = (data: string) => crypto.createHash('sha256').update(data).digest('hex');

let work: string;
let project: string;
let overlay: string;
let baseRoot: string;
let decoy: string;

function mkfile(root: string, rel: string, content: string, mode: number): void {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
}

function configWith(early: string[], late: string[] = [], profile: 'minimal' | 'ailinux' = 'minimal'): BuildConfig {
  return profileConfig(profile, (c) => {
    c.overlays = { early, late };
    c.steps = expandSteps(c);
  });
}

function ctxFor(config: BuildConfig, stepId = 'overlay-early'): TestStepContext {
  const ctx = stepContext({ config, workDir: work, stepId });
  ctx.baseDir = project;
  return ctx;
}

const upper = (step = 'overlay-early') => path.join(work, 'layers', step, 'upper');

beforeEach(() => {
  work = makeWorkDir('ailinux-overlays-');
  project = path.join(work, 'project');
  overlay = path.join(project, 'overlay');
  decoy = path.join(work, 'decoy');
  fs.mkdirSync(decoy);
  fs.writeFileSync(path.join(decoy, 'victim'), 'host file\n');
  // the rootfs below: what bootstrap made, with a merged /usr and two links that lead out to the host's files
  baseRoot = path.join(work, 'layers', 'bootstrap', 'root');
  fs.mkdirSync(path.join(baseRoot, 'etc'), { recursive: true, mode: 0o755 });
  fs.chmodSync(path.join(baseRoot, 'etc'), 0o755);
  fs.mkdirSync(path.join(baseRoot, 'usr', 'lib'), { recursive: true });
  fs.mkdirSync(path.join(baseRoot, 'var'), { recursive: true });
  fs.symlinkSync('usr/lib', path.join(baseRoot, 'lib'));
  fs.symlinkSync(path.join(decoy, 'victim'), path.join(baseRoot, 'etc', 'redirect'));
  fs.symlinkSync(decoy, path.join(baseRoot, 'var', 'spool'));
  // the user's overlay
  mkfile(overlay, 'etc/motd', 'hello\n', 0o644);
  fs.chmodSync(path.join(overlay, 'etc'), 0o775);
  mkfile(overlay, 'etc/redirect', 'mine\n', 0o644);
  mkfile(overlay, 'usr/local/bin/dropped', '#!/bin/sh\n', 0o4755);
  mkfile(overlay, 'usr/local/bin/kept', '#!/bin/sh\n', 0o2755);
  mkfile(overlay, 'srv/app/data', 'd\n', 0o640);
  fs.chmodSync(path.join(overlay, 'srv/app'), 0o750);
  mkfile(overlay, 'lib/overlay-lib.so', 'lib\n', 0o644);
  mkfile(overlay, 'var/spool/x', 'spooled\n', 0o644);
  fs.mkdirSync(path.join(overlay, 'var/empty'), { recursive: true });
  fs.chmodSync(path.join(overlay, 'var/empty'), 0o700);
  fs.symlinkSync('/etc/motd', path.join(overlay, 'etc/alt'));
  fs.symlinkSync(path.join(decoy, 'victim'), path.join(overlay, 'etc/to-host'));
  fs.symlinkSync('dropped', path.join(overlay, 'usr/local/bin/rel'));
  fs.writeFileSync(
    path.join(overlay, '.ailinux-overlay.yaml'),
    [
      'paths:',
      '  usr/local/bin/kept: { keepSetid: true }',
      '  srv/app: { owner: "1000:1000" }',
      '  srv/app/data: { owner: "1000:50" }',
      '',
    ].join('\n'),
  );
});
afterEach(() => removeWorkDir(work));

describe('where the overlay steps go', () => {
  it('join a profile that does not list them when their field has a directory: early after bootstrap, late after the last package step', () => {
    const none = profileConfig('minimal');
    expect(expandSteps(none)).toEqual(none.steps);
    const minimal = profileConfig('minimal', (c) => {
      c.overlays = { early: ['a'], late: ['b'] };
    });
    expect(
      resolveSteps(minimal)
        .map((s) => s.id)
        .slice(0, 6),
    ).toEqual(['bootstrap', 'overlay-early', 'configure', 'packages', 'overlay-late', 'identity']);
    const ailinux = profileConfig('ailinux', (c) => {
      c.overlays = { early: [], late: ['b'] };
    });
    const ids = expandSteps(ailinux);
    expect(ids).not.toContain('overlay-early');
    expect(ids.slice(ids.indexOf('branding'), ids.indexOf('branding') + 3)).toEqual([
      'branding',
      'overlay-late',
      'identity',
    ]);
  });

  it('a list that names one keeps it where it stands', () => {
    const config = profileConfig('minimal', (c) => {
      c.overlays = { early: ['a'], late: [] };
      c.steps = ['bootstrap', 'configure', 'overlay-early', 'packages', ...c.steps.slice(3)];
    });
    expect(expandSteps(config).slice(0, 4)).toEqual(['bootstrap', 'configure', 'overlay-early', 'packages']);
  });

  it('without a base step the early overlay is refused by name, before anything is written', () => {
    const config = profileConfig('minimal', (c) => {
      c.overlays = { early: ['a'], late: [] };
      c.steps = ['squashfs'];
    });
    expect(() => resolveSteps(config)).toThrow(/overlay-early" changes the rootfs, but no step before it creates one/);
  });
});

describe.skipIf(!asRoot)('copying an overlay into the layer (as root, in a temp work dir)', () => {
  it('keeps modes, symlinks and empty directories; owners root:root or the manifest; setid only where kept', async () => {
    const config = configWith(['overlay']);
    const ctx = ctxFor(config);
    await overlayEarlyStep.run(ctx);
    const up = upper();
    const st = (rel: string) => fs.lstatSync(path.join(up, rel));
    expect(fs.readFileSync(path.join(up, 'etc/motd'), 'utf8')).toBe('hello\n');
    expect(st('etc/motd').mode & 0o7777).toBe(0o644);
    expect([st('etc/motd').uid, st('etc/motd').gid]).toEqual([0, 0]);
    // a directory the rootfs has keeps its own mode (0755), not the overlay's 0775
    expect(st('etc').mode & 0o7777).toBe(0o755);
    // setuid dropped with a line in the log; setgid kept where the manifest says so
    expect(st('usr/local/bin/dropped').mode & 0o7777).toBe(0o755);
    expect(ctx.infos.some((l) => /usr\/local\/bin\/dropped: its setuid bit dropped/.test(l))).toBe(true);
    expect(st('usr/local/bin/kept').mode & 0o7777).toBe(0o2755);
    // owners from the manifest
    expect([st('srv/app').uid, st('srv/app').gid, st('srv/app').mode & 0o7777]).toEqual([1000, 1000, 0o750]);
    expect([st('srv/app/data').uid, st('srv/app/data').gid, st('srv/app/data').mode & 0o7777]).toEqual([
      1000, 50, 0o640,
    ]);
    // an empty directory with its mode
    expect(st('var/empty').isDirectory()).toBe(true);
    expect(st('var/empty').mode & 0o7777).toBe(0o700);
    expect(fs.readdirSync(path.join(up, 'var/empty'))).toEqual([]);
    // symlinks are links, their text unchanged, never followed
    expect(fs.readlinkSync(path.join(up, 'etc/alt'))).toBe('/etc/motd');
    expect(fs.readlinkSync(path.join(up, 'etc/to-host'))).toBe(path.join(decoy, 'victim'));
    expect(fs.readlinkSync(path.join(up, 'usr/local/bin/rel'))).toBe('dropped');
    // the manifest is not copied
    expect(fs.existsSync(path.join(up, '.ailinux-overlay.yaml'))).toBe(false);
    // lib -> usr/lib in the rootfs is entered, not replaced
    expect(fs.readFileSync(path.join(up, 'usr/lib/overlay-lib.so'), 'utf8')).toBe('lib\n');
    expect(fs.existsSync(path.join(up, 'lib'))).toBe(false);
    expect(ctx.infos.at(-1)).toMatch(/copied 7 files, 10 directories and 3 symlinks from overlays.early \(overlay\)/);
    await overlayEarlyStep.verify(ctx);
  });

  it('never writes through a symlink of the rootfs: the host files the links lead to are untouched', async () => {
    const ctx = ctxFor(configWith(['overlay']));
    await overlayEarlyStep.run(ctx);
    expect(fs.readFileSync(path.join(decoy, 'victim'), 'utf8')).toBe('host file\n');
    expect(fs.readdirSync(decoy)).toEqual(['victim']);
    // etc/redirect: the link replaced by the file in the own layer
    expect(fs.lstatSync(path.join(upper(), 'etc/redirect')).isFile()).toBe(true);
    // var/spool -> <decoy>: resolved inside the rootfs, so x lands under <decoy> within the layer
    expect(fs.readFileSync(path.join(upper(), decoy.slice(1), 'x'), 'utf8')).toBe('spooled\n');
    // and the base layer is as it was
    expect(fs.readlinkSync(path.join(baseRoot, 'etc/redirect'))).toBe(path.join(decoy, 'victim'));
  });

  it('refuses a file where the rootfs has a directory', async () => {
    mkfile(path.join(project, 'bad'), 'usr/lib', 'not a dir\n', 0o644);
    const ctx = ctxFor(configWith(['bad']));
    await expect(overlayEarlyStep.run(ctx)).rejects.toThrow(
      /overlay file usr\/lib.*usr\/lib is a directory in the rootfs/,
    );
  });

  it('the walk before a build (checkInputTrees) refuses a bad overlay, and leaves nothing for the copy to trust', async () => {
    const config = configWith(['overlay']);
    const steps = resolveSteps(config);
    expect(() => checkInputTrees(steps, config, project)).not.toThrow();
    const ctx = ctxFor(config);
    // had the dry walk's entries (no hashes) been kept, the copy would refuse every file as changed
    await overlayEarlyStep.run(ctx);
    expect(fs.readFileSync(path.join(upper(), 'etc/motd'), 'utf8')).toBe('hello\n');
    fs.mkdirSync(path.join(project, 'gone'));
    execFileSync('mkfifo', [path.join(project, 'gone', 'pipe')]);
    const bad = configWith(['gone']);
    expect(() => checkInputTrees(resolveSteps(bad), bad, project)).toThrow(/is a device, FIFO or socket/);
  });

  it('refuses a file that changed after the build fingerprinted it', async () => {
    const config = configWith(['overlay']);
    const steps = resolveSteps(config);
    fingerprintSteps(steps, config, project, { sourceDateEpoch: null });
    fs.writeFileSync(path.join(overlay, 'etc/motd'), 'swapped\n');
    const ctx = ctxFor(config);
    const run = overlayEarlyStep.run(ctx);
    await expect(run).rejects.toThrow(StepError);
    await expect(run).rejects.toThrow(/overlay file etc\/motd \(in overlay\) changed after the build fingerprinted it/);
  });

  it('late overlays go in their own layer, over the early ones; a later directory of a point wins', async () => {
    mkfile(path.join(project, 'late1'), 'etc/motd', 'late one\n', 0o644);
    mkfile(path.join(project, 'late2'), 'etc/motd', 'late two\n', 0o600);
    const config = configWith(['overlay'], ['late1', 'late2']);
    await overlayEarlyStep.run(ctxFor(config));
    const late = ctxFor(config, 'overlay-late');
    expect(late.layers.below[0]).toContain('packages');
    await overlayLateStep.run(late);
    expect(fs.readFileSync(path.join(upper('overlay-late'), 'etc/motd'), 'utf8')).toBe('late two\n');
    expect(fs.lstatSync(path.join(upper('overlay-late'), 'etc/motd')).mode & 0o777).toBe(0o600);
  });
});

describe('reading an overlay (host side)', () => {
  const hash = (handle: number) => new InputHashCache({ file: null }).hashHandle(handle, 'x');

  it('a missing directory, one reached through a symlink, a FIFO and a wrong manifest are config errors', () => {
    expect(() => scanOverlays(configWith(['nope']), project, 'early', hash)).toThrow(
      /overlays.early.0: the overlay directory nope does not exist/,
    );
    fs.symlinkSync(overlay, path.join(project, 'linked'));
    expect(() => scanOverlays(configWith(['linked']), project, 'early', hash)).toThrow(ConfigError);
    fs.writeFileSync(path.join(overlay, '.ailinux-overlay.yaml'), 'paths:\n  etc/nothing: { owner: "0:0" }\n');
    expect(() => scanOverlays(configWith(['overlay']), project, 'early', hash)).toThrow(
      /names etc\/nothing, which overlay does not have/,
    );
    fs.writeFileSync(path.join(overlay, '.ailinux-overlay.yaml'), 'paths:\n  etc/motd: { owner: "root:root" }\n');
    expect(() => scanOverlays(configWith(['overlay']), project, 'early', hash)).toThrow(/numeric "uid:gid"/);
    fs.rmSync(path.join(overlay, '.ailinux-overlay.yaml'));
    fs.mkdirSync(path.join(project, 'fifo'));
    const fifo = path.join(project, 'fifo', 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect(() => scanOverlays(configWith(['fifo']), project, 'early', hash)).toThrow(/is a device, FIFO or socket/);
  });

  it('a path that is a directory in one overlay and a file in another is refused', () => {
    mkfile(path.join(project, 'other'), 'srv', 'file\n', 0o644);
    expect(() => scanOverlays(configWith(['overlay', 'other']), project, 'early', hash)).toThrow(
      /srv is a dir in overlay but a file in other/,
    );
  });
});

describe('the fingerprint and the plan', () => {
  function fingerprints(config: BuildConfig, cache?: InputHashCache) {
    return fingerprintSteps(resolveSteps(config), config, project, {
      sourceDateEpoch: null,
      ...(cache ? { hashCache: cache } : {}),
    });
  }
  const materialOf = (config: BuildConfig, id = 'overlay-early') => fingerprints(config).find((f) => f.id === id)!;

  it('covers every path, its kind, mode, owner, link text and content hash', () => {
    const { material } = materialOf(configWith(['overlay']));
    expect(material.config).toEqual({ 'overlays.early': ['overlay'] });
    expect(material.files['overlay:etc/motd']).toBe(`file 0644 0:0 sha256:${sha('hello\n')}`);
    expect(material.files['overlay:usr/local/bin/dropped']).toBe(`file 0755 0:0 sha256:${sha('#!/bin/sh\n')}`);
    expect(material.files['overlay:usr/local/bin/kept']).toBe(`file 2755 0:0 sha256:${sha('#!/bin/sh\n')}`);
    expect(material.files['overlay:srv/app']).toBe('dir 0750 1000:1000 named');
    expect(material.files['overlay:var/empty']).toBe('dir 0700 0:0');
    expect(material.files['overlay:etc/alt']).toBe('symlink 0:0 -> /etc/motd');
    expect(material.files['overlay:.ailinux-overlay.yaml']).toBeUndefined();
  });

  it('hashes each file once per build through the cache, and not at all in the next build when nothing changed', () => {
    const config = configWith(['overlay']);
    const later = () => BigInt(Date.now()) * 1_000_000n + 10_000_000_000n;
    const cacheDir = path.join(work, 'cache');
    const first = InputHashCache.forWorkDir(cacheDir, later);
    fingerprints(config, first);
    expect(first.stats.reads).toBe(7);
    first.save();
    const second = InputHashCache.forWorkDir(cacheDir, later);
    const again = fingerprints(config, second);
    expect(second.stats).toEqual({ reads: 0, hits: 7 });
    expect(again.find((f) => f.id === 'overlay-early')!.material.files['overlay:etc/motd']).toContain(sha('hello\n'));
  });

  it('plan says which overlay file changed, was added or removed, and reruns from that step', () => {
    const config = configWith(['overlay']);
    const before = fingerprints(config);
    fs.writeFileSync(path.join(overlay, 'etc/motd'), 'HELLO\n');
    mkfile(overlay, 'etc/issue', 'new\n', 0o644);
    fs.rmSync(path.join(overlay, 'var/empty'), { recursive: true });
    fs.chmodSync(path.join(overlay, 'srv/app/data'), 0o600);
    fs.rmSync(path.join(overlay, 'etc/alt'));
    fs.symlinkSync('/etc/issue', path.join(overlay, 'etc/alt'));
    const after = fingerprints(config);
    const plan = planBuild(after, doneLedger(before), () => true);
    const byId = Object.fromEntries(plan.map((p) => [p.id, p]));
    expect(byId['bootstrap']!.action).toBe('skip');
    expect(byId['overlay-early']!.action).toBe('run');
    expect(byId['overlay-early']!.reasons).toEqual([
      'overlay symlink etc/alt changed (target /etc/motd -> /etc/issue)',
      'overlay file etc/issue added',
      'overlay file etc/motd changed',
      'overlay file srv/app/data changed (mode 0640 -> 0600)',
      'overlay directory var/empty removed',
    ]);
    expect(byId['configure']!.reasons).toEqual(['an earlier step (overlay-early) runs again']);
    expect(plan.every((p) => p.id === 'bootstrap' || p.action === 'run')).toBe(true);
  });

  it('a change to the late overlay leaves the package steps alone', () => {
    mkfile(path.join(project, 'late'), 'etc/motd', 'late\n', 0o644);
    const config = configWith(['overlay'], ['late']);
    const before = fingerprints(config);
    fs.writeFileSync(path.join(project, 'late', 'etc/motd'), 'LATE\n');
    const plan = planBuild(fingerprints(config), doneLedger(before), () => true);
    const runs = plan.filter((p) => p.action === 'run').map((p) => p.id);
    expect(runs[0]).toBe('overlay-late');
    expect(runs).not.toContain('packages');
    expect(plan.find((p) => p.id === 'overlay-late')!.reasons).toEqual(['overlay file etc/motd changed']);
  });

  it('describes owner and kind changes', () => {
    const a = { stepVersion: 1, config: {}, previous: null };
    expect(
      describeChanges(
        { ...a, files: { 'overlay:x': 'file 0644 0:0 sha256:aa' } },
        { ...a, files: { 'overlay:x': 'file 0644 1000:1000 sha256:aa' } },
      ),
    ).toEqual(['overlay file x changed (owner 0:0 -> 1000:1000)']);
    expect(
      describeChanges(
        { ...a, files: { 'overlay:x': 'file 0644 0:0 sha256:aa' } },
        { ...a, files: { 'overlay:x': 'symlink 0:0 -> y' } },
      ),
    ).toEqual(['overlay x changed (file -> symlink)']);
  });
});
