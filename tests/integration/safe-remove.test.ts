/**
 * removeTree on real trees: whiteouts, root-owned and unreadable entries, symlinks out of the tree,
 * and refusals. Mount scenarios run in tests/fixtures/remove-under-mount.mjs inside a private
 * mount namespace, so no mount is ever made on the host. Needs root; skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { UnsafeOperationError } from '../../src/errors.js';
import { packageRoot } from '../../src/runtime/package-root.js';
import { assertNoMountsUnder, removeTree } from '../../src/runtime/safe-remove.js';
import { parseMountinfo } from '../../src/runtime/mountinfo.js';

const HOST_MNTNS = fs.readlinkSync('/proc/self/ns/mnt');
const FIXTURE = path.join(packageRoot(), 'tests/fixtures/remove-under-mount.mjs');
const MOUNTED_HINT = 'ailinux never unmounts what it did not mount; unmount it yourself or reboot, then retry';

let tmp = '';
let within = '';
let outside = '';

function mknod(file: string, major: number, minor: number): void {
  const r = spawnSync('mknod', [file, 'c', String(major), String(minor)], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

function write(file: string, content = 'x', mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
}

const realFs = { unlinkSync: fs.unlinkSync, rmdirSync: fs.rmdirSync, rmSync: fs.rmSync, chmodSync: fs.chmodSync };

/**
 * Deletions are let through only inside our own tmp dir, so even a broken removeTree (one that
 * followed a symlink, say) cannot touch anything else. Test trees never link to host paths either.
 */
function confineDeletes(root: string): void {
  const realRoot = fs.realpathSync(root);
  const check = (what: string, p: fs.PathLike): void => {
    const abs = path.resolve(String(p));
    const parent = fs.realpathSync(path.dirname(abs));
    if (parent !== realRoot && !parent.startsWith(`${realRoot}/`))
      throw new Error(`guard: removeTree tried to ${what} ${abs}`);
  };
  vi.spyOn(fs, 'unlinkSync').mockImplementation((p) => (check('unlink', p), realFs.unlinkSync(p)));
  vi.spyOn(fs, 'rmdirSync').mockImplementation((p, o) => (check('rmdir', p), realFs.rmdirSync(p, o)));
  vi.spyOn(fs, 'rmSync').mockImplementation((p, o) => (check('rm', p), realFs.rmSync(p, o)));
  vi.spyOn(fs, 'chmodSync').mockImplementation((p, m) => (check('chmod', p), realFs.chmodSync(p, m)));
}

/** Any deletion attempt fails loudly: a refusal test can then never delete anything, even when broken. */
function guardDeletes(): void {
  const boom = (what: string) => (p: fs.PathLike) => {
    throw new Error(`guard: removeTree tried to ${what} ${String(p)}`);
  };
  vi.spyOn(fs, 'unlinkSync').mockImplementation(boom('unlink'));
  vi.spyOn(fs, 'rmdirSync').mockImplementation(boom('rmdir'));
  vi.spyOn(fs, 'rmSync').mockImplementation(boom('rm'));
  vi.spyOn(fs, 'chmodSync').mockImplementation(boom('chmod'));
}

async function expectRefused(target: string, opts: { within: string }, message: RegExp): Promise<UnsafeOperationError> {
  guardDeletes();
  const error = await removeTree(target, opts).then(
    () => null,
    (e: unknown) => e,
  );
  vi.restoreAllMocks();
  expect(error).toBeInstanceOf(UnsafeOperationError);
  const unsafe = error as UnsafeOperationError;
  expect(unsafe.code).toBe('UNSAFE');
  expect(unsafe.message).toMatch(message);
  return unsafe;
}

interface FixtureResult {
  scenario: string;
  tmp: string;
  mountPoint: string;
  code: string | null;
  message: string | null;
  hint: string | null;
  precious: boolean;
  untouched?: boolean;
  outsidePrecious?: boolean;
  subExistedAtMount?: boolean;
  fixtureError?: string;
  umountError?: string;
  cleanupError?: string;
}

function runFixture(scenario: string): FixtureResult {
  const hostBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const r = spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', '--fork', '--', process.execPath, '--import', 'tsx', FIXTURE, scenario],
    { cwd: packageRoot(), env: { ...process.env, AILINUX_HOST_MNTNS: HOST_MNTNS }, encoding: 'utf8', timeout: 120_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as FixtureResult;
  expect(result.fixtureError).toBeUndefined();
  expect(result.umountError).toBeUndefined();
  expect(result.cleanupError).toBeUndefined();
  // the fixture cleaned up its own tmp dir, and the host saw none of its mounts
  expect(fs.existsSync(result.tmp)).toBe(false);
  expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toBe(hostBefore);
  return result;
}

describe.skipIf(skipUnlessRoot())('removeTree', () => {
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-rm-test-'));
    within = path.join(tmp, 'work');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(within);
    write(path.join(outside, 'precious.txt'), 'keep me\n');
    write(path.join(outside, 'dir/also-precious'), 'keep me too\n');
  });

  afterEach(() => {
    vi.restoreAllMocks();
    // tmp is ours, under os.tmpdir(), and nothing is ever mounted in it in this process's namespace
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('removes a layer tree with whiteouts, root-owned, unreadable and special files, never following symlinks', async () => {
    const layer = path.join(within, 'layers/packages');
    write(path.join(layer, 'upper/etc/apt/sources.list'), 'deb x\n');
    write(path.join(layer, 'upper/etc/shadow'), 'root:*:1::::::\n', 0o000);
    fs.chownSync(path.join(layer, 'upper/etc/shadow'), 0, 42);
    mknod(path.join(layer, 'upper/etc/deleted-file'), 0, 0); // overlayfs whiteout
    fs.mkdirSync(path.join(layer, 'work/work'), { recursive: true });
    mknod(path.join(layer, 'work/work/#e'), 0, 0); // what overlayfs leaves in its work dir
    fs.chmodSync(path.join(layer, 'work/work'), 0o000);
    const locked = path.join(layer, 'upper/root/locked');
    write(path.join(locked, 'inner'), 'x', 0o000);
    fs.chmodSync(locked, 0o000);
    expect(spawnSync('mkfifo', [path.join(layer, 'upper/run-fifo')]).status).toBe(0);
    fs.symlinkSync(path.join(outside, 'precious.txt'), path.join(layer, 'upper/etc/escape-file'));
    fs.symlinkSync(path.join(outside, 'dir'), path.join(layer, 'upper/usr-escape-dir'));
    fs.symlinkSync('usr/lib', path.join(layer, 'upper/lib'));

    confineDeletes(tmp);
    await removeTree(layer, { within });
    vi.restoreAllMocks();

    expect(fs.existsSync(layer)).toBe(false);
    expect(fs.existsSync(path.join(within, 'layers'))).toBe(true); // only the target goes
    expect(fs.readFileSync(path.join(outside, 'precious.txt'), 'utf8')).toBe('keep me\n');
    expect(fs.readFileSync(path.join(outside, 'dir/also-precious'), 'utf8')).toBe('keep me too\n');
  });

  it('removes a single file, unlinks (not follows) a symlink target, and ignores a missing target', async () => {
    confineDeletes(tmp);
    write(path.join(within, 'iso/file.img'));
    await removeTree(path.join(within, 'iso/file.img'), { within });
    expect(fs.existsSync(path.join(within, 'iso/file.img'))).toBe(false);

    write(path.join(within, 'real/keep'));
    fs.symlinkSync(path.join(within, 'real'), path.join(within, 'alias'));
    await removeTree(path.join(within, 'alias'), { within });
    expect(fs.existsSync(path.join(within, 'alias'))).toBe(false);
    expect(fs.existsSync(path.join(within, 'real/keep'))).toBe(true);

    await expect(removeTree(path.join(within, 'never-made'), { within })).resolves.toBeUndefined();
  });

  it('refuses targets outside the work dir and the work dir itself', async () => {
    await expectRefused(outside, { within }, /not strictly inside/);
    await expectRefused(path.join(within, '..', 'outside'), { within }, /not strictly inside/);
    await expectRefused(within, { within }, /not strictly inside/);
    await expectRefused(`${within}/.`, { within }, /not strictly inside/);
    // a sibling whose name merely starts with the work dir's name
    write(path.join(`${within}-sibling`, 'f'));
    await expectRefused(`${within}-sibling`, { within }, /not strictly inside/);
    expect(fs.existsSync(path.join(outside, 'precious.txt'))).toBe(true);
    expect(fs.existsSync(path.join(`${within}-sibling`, 'f'))).toBe(true);
  });

  it('refuses a symlink that escapes the work dir, as the target or as a parent', async () => {
    fs.symlinkSync(outside, path.join(within, 'link'));
    await expectRefused(path.join(within, 'link'), { within }, new RegExp(`resolves to ${outside}`));
    await expectRefused(path.join(within, 'link/dir'), { within }, /not strictly inside/);
    fs.symlinkSync(path.join(within, 'nowhere'), path.join(within, 'dangling'));
    await expectRefused(path.join(within, 'dangling'), { within }, /cannot be resolved/);
    expect(fs.lstatSync(path.join(within, 'link')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(outside, 'dir/also-precious'), 'utf8')).toBe('keep me too\n');
  });

  it('refuses /, host dirs and symlinks to them (run as nobody, so a bug could delete nothing)', () => {
    // TMPDIR for the unprivileged run (tsx cache, the fixture's own tmp dir), inside our tmp dir
    const sandboxTmp = path.join(tmp, 'nobody-tmp');
    fs.chmodSync(tmp, 0o711); // mkdtemp made it 0700: let nobody through to its own dir
    fs.mkdirSync(sandboxTmp);
    fs.chownSync(sandboxTmp, 65534, 65534);
    const r = spawnSync(
      'setpriv',
      [
        '--reuid',
        '65534',
        '--regid',
        '65534',
        '--clear-groups',
        '--',
        process.execPath,
        '--import',
        'tsx',
        FIXTURE,
        'refuse-unsafe',
      ],
      {
        cwd: packageRoot(),
        env: { ...process.env, TMPDIR: sandboxTmp, HOME: sandboxTmp },
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as FixtureResult & {
      cases: { target: string; within: string; code: string | null; message: string | null }[];
    };
    expect(result.fixtureError).toBeUndefined();
    expect(result.cleanupError).toBeUndefined();
    const w = path.join(result.tmp, 'work');
    expect(
      result.cases.map((c) => [
        c.target.replace(w, 'W'),
        c.within.replace(w, 'W'),
        c.code,
        c.message?.replace(/^.*?: /, ''),
      ]),
    ).toEqual([
      ['/', 'W', 'UNSAFE', 'it is the root directory'],
      ['/usr', 'W', 'UNSAFE', `it resolves to /usr, which is not strictly inside ${w}`],
      ['W/rootlink', 'W', 'UNSAFE', 'it resolves to the root directory'],
      ['W/usrlink', 'W', 'UNSAFE', `it resolves to /usr, which is not strictly inside ${w}`],
      ['W/usrlink/bin', 'W', 'UNSAFE', `it resolves to /usr/bin, which is not strictly inside ${w}`],
      [path.join(w, '../../..'), 'W', 'UNSAFE', expect.stringMatching(/not strictly inside|root directory/)],
      ['W', '/', 'UNSAFE', 'the directory it must lie in is the root directory'],
      ['W/rootlink', '/', 'UNSAFE', 'it resolves to the root directory'],
    ]);
    expect(fs.existsSync(result.tmp)).toBe(false);
  });

  it('refuses a tree with a mount below it, and deletes nothing', () => {
    const r = runFixture('mounted');
    expect(r.code).toBe('UNSAFE');
    expect(r.message).toContain(r.mountPoint);
    expect(r.hint).toBe(MOUNTED_HINT);
    expect(r.precious).toBe(true);
    expect(r.untouched).toBe(true);
  });

  it('refuses a target that is itself a mount point', () => {
    const r = runFixture('target-is-mount');
    expect(r.code).toBe('UNSAFE');
    expect(r.message).toContain(`${r.mountPoint} is still mounted`);
    expect(r.precious).toBe(true);
  });

  it('stops at a mount that appears during the walk: another device', () => {
    const r = runFixture('appears');
    expect(r.subExistedAtMount).toBe(true);
    expect(r.code).toBe('UNSAFE');
    expect(r.message).toMatch(/zz-sub is on another filesystem/);
    expect(r.hint).toBe(MOUNTED_HINT);
    expect(r.precious).toBe(true);
  });

  it('stops at a bind mount of the same filesystem that appears during the walk', () => {
    const r = runFixture('bind-appears');
    expect(r.subExistedAtMount).toBe(true);
    expect(r.code).toBe('UNSAFE');
    expect(r.message).toMatch(/zz-sub is still mounted/);
    expect(r.outsidePrecious).toBe(true);
  });

  it('the fixture itself refuses to mount outside a private namespace', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE, 'mounted'], {
      cwd: packageRoot(),
      env: { ...process.env, AILINUX_HOST_MNTNS: HOST_MNTNS },
      encoding: 'utf8',
    });
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/refusing to mount/);
  });
});

describe('assertNoMountsUnder', () => {
  const table = parseMountinfo(
    [
      '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
      '90 27 0:50 / /build/work/mnt/step rw - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c',
      '91 90 0:51 / /build/work/mnt/step/proc rw - proc proc rw',
    ].join('\n'),
  );

  it('names the deepest mount point and gives the hint', () => {
    let caught: unknown;
    try {
      assertNoMountsUnder('/build/work', table);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UnsafeOperationError);
    expect((caught as UnsafeOperationError).message).toMatch(/\/build\/work\/mnt\/step\/proc is still mounted/);
    expect((caught as UnsafeOperationError).hint).toBe(MOUNTED_HINT);
  });

  it('passes when nothing is mounted at or under the dir', () => {
    expect(() => assertNoMountsUnder('/build/work/layers', table)).not.toThrow();
    expect(() => assertNoMountsUnder('/build/work/mnt/step2', table)).not.toThrow();
  });
});
