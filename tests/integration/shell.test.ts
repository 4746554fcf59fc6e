/**
 * ailinux shell (issue 10, point 8) through the real CLI (bin/ailinux, as root, in its sandbox) with the real
 * unshare, overlayfs, ailinux-ns-run and chroot: a build with the fake tools makes the layers, then the test puts a
 * host sh, cat, rm, sleep and setsid (with their libraries) and /dev/null into the bootstrap layer, the small rootfs a chroot needs. A session with
 * --keep writes /etc/marker and removes /etc/os-release: the kept overlay has etc/marker, the deletion is reported,
 * and no layer changed (every path, mode and content hash the same). A session holds the lock: a build meanwhile is
 * refused with exit 3, and SIGTERM ends the session with 143, its processes (one in a session of its own included) and its
 * throwaway layer gone. Bad input exits 2. Needs root; skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolsEnv, runCli, startCli } from '../helpers/cli.js';
import { allProcesses, hostMountinfo, mountPointsUnder, prepareBuildTest } from '../helpers/host.js';
import { isRoot } from '../helpers/root.js';

let tmp = '';
let mountinfoBefore = '';
let project = '';
let config = '';
let work = '';
/** Marks the session's processes (kept through the chroot's clean environment), to find any left. */
const MARK = `AILINUX_SHELL_TEST=${process.pid}-${Date.now()}`;

const buildEnv = () => fakeToolsEnv(tmp, { SOURCE_DATE_EPOCH: '1700000000', FAKE_TOOL_DELAY: '0.02' });
/** The real chroot: the fake tools off PATH, and the mark kept through the chroot's env -i. */
function shellEnv(): NodeJS.ProcessEnv {
  const env = buildEnv();
  env['PATH'] = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const [name, value] = MARK.split('=') as [string, string];
  env[name] = value;
  env['AILINUX_CHROOT_ENV_KEEP'] = name;
  return env;
}
const shell = (args: string[]) => runCli(['shell', '-w', work, ...args], { env: shellEnv(), cwd: project });

/** Every path under the layers with its kind, mode, owner and content hash or link text. */
function layerListing(): string {
  const root = path.join(work, 'layers');
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      const what = st.isFile()
        ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')
        : st.isSymbolicLink()
          ? `-> ${fs.readlinkSync(p)}`
          : st.isDirectory()
            ? 'dir'
            : 'other';
      lines.push(`${path.relative(root, p)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return lines.join('\n');
}

/** Copies a host binary and the libraries ldd names into a rootfs, at the paths the loader looks for. */
function copyBinary(root: string, binary: string): void {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' });
  const files = [binary];
  for (const m of ldd.stdout.matchAll(/(\/\S+)\s+\(0x/g)) files.push(m[1]!);
  for (const file of files) {
    const dest = path.join(root, file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), dest);
    fs.chmodSync(dest, 0o755);
  }
}

const marked = () => allProcesses().filter((p) => p.environ.includes(MARK));

describe.skipIf(!isRoot)('ailinux shell', () => {
  beforeAll(async () => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-shell-it-'));
    project = path.join(tmp, 'project');
    work = path.join(tmp, 'work');
    config = path.join(project, 'ailinux.config.json');
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(
      config,
      JSON.stringify({
        extends: 'minimal',
        retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
        steps: ['bootstrap', 'configure', 'packages', 'identity', 'chroot-cleanup'],
      }),
    );
    const build = await runCli(['build', '-c', config, '-w', work], { env: buildEnv(), cwd: project });
    expect(build.code, build.output).toBe(0);
    const base = path.join(work, 'layers/bootstrap/root');
    for (const bin of ['/bin/sh', '/usr/bin/cat', '/usr/bin/rm', '/usr/bin/sleep', '/usr/bin/setsid'])
      copyBinary(base, bin);
    // sh gives a background command /dev/null as its stdin
    const mknod = spawnSync('mknod', ['-m', '666', path.join(base, 'dev/null'), 'c', '1', '3'], { encoding: 'utf8' });
    expect(mknod.status, mknod.stderr).toBe(0);
  }, 240_000);

  afterAll(() => {
    if (tmp) {
      expect(mountPointsUnder(tmp, hostMountinfo())).toEqual(mountPointsUnder(tmp, mountinfoBefore));
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('--keep saves what the session wrote as an overlay, reports the deletion, and no sealed layer changes', async () => {
    const before = layerListing();
    const kept = path.join(project, 'kept');
    const run = await shell([
      '--keep',
      'kept',
      '--',
      'sh',
      '-c',
      'echo x > /etc/marker && rm /etc/os-release && cat /etc/marker',
    ]);
    expect(run.code, run.output).toBe(0);
    expect(run.stdout).toBe('x\n');
    expect(fs.readFileSync(path.join(kept, 'etc/marker'), 'utf8')).toBe('x\n');
    expect(fs.readdirSync(kept).sort()).toEqual(['.ailinux-overlay.yaml', 'etc']);
    expect(fs.readdirSync(path.join(kept, 'etc'))).toEqual(['marker']);
    expect(run.stderr).toContain('--keep: the session deleted /etc/os-release; an overlay cannot delete');
    expect(fs.readFileSync(path.join(kept, '.ailinux-overlay.yaml'), 'utf8')).toContain('#   /etc/os-release');
    expect(run.stderr).toContain('overlays: { late: ["kept"] }');
    // the sealed layers, byte for byte; the marker is in none of them
    expect(layerListing()).toBe(before);
    expect(before).not.toContain('etc/marker');
    expect(fs.existsSync(path.join(work, 'layers/bootstrap/root/etc/os-release'))).toBe(true);
    expect(fs.readdirSync(path.join(work, 'tmp'))).toEqual([]);
    // a session without --keep leaves nothing: the next one does not see the marker
    const again = await shell(['--', 'sh', '-c', 'test ! -e /etc/marker && test -e /etc/os-release']);
    expect(again.code, again.output).toBe(0);
  });

  it("passes the command's status on, enters a named step, and refuses bad input with exit 2", async () => {
    const seven = await shell(['configure', '--', 'sh', '-c', 'exit 7']);
    expect(seven.code, seven.output).toBe(7);
    const typo = await shell(['identiy', '--', 'true']);
    expect(typo.code, typo.output).toBe(2);
    expect(typo.stderr).toContain('this build has no step "identiy"; did you mean "identity"?');
    fs.mkdirSync(path.join(project, 'full'), { recursive: true });
    fs.writeFileSync(path.join(project, 'full/x'), '');
    const full = await shell(['--keep', 'full', '--', 'true']);
    expect(full.code, full.output).toBe(2);
    expect(full.stderr).toMatch(/--keep full: .*full is not empty/);
    const none = await runCli(['shell', '-w', path.join(tmp, 'no-build'), '--', 'true'], { env: shellEnv() });
    expect(none.code, none.output).toBe(2);
    expect(none.stderr).toMatch(/no build in .*no-build: it does not exist/);
    expect(fs.existsSync(path.join(tmp, 'no-build'))).toBe(false);
  });

  it('holds the lock for the whole session (a build is refused with 3); SIGTERM ends it, every process gone', async () => {
    const session = startCli(['shell', '-w', work, '--', 'sh', '-c', 'setsid sleep 300 & sleep 301'], {
      env: shellEnv(),
      cwd: project,
      killAfterMs: 120_000,
    });
    // both sleeps run in the session, one in a session of its own: the lock is held and the namespace is up
    const deadline = Date.now() + 60_000;
    while (marked().filter((p) => p.argv[0] === 'sleep').length < 2) {
      if (Date.now() > deadline) throw new Error(`the session did not start: ${session.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const build = await runCli(['build', '-c', config, '-w', work], { env: buildEnv(), cwd: project });
    expect(build.code, build.output).toBe(3);
    expect(build.stderr).toContain('ailinux shell -w');
    process.kill(session.pid, 'SIGTERM');
    const ended = await session.done;
    expect(ended.code, ended.output).toBe(143);
    expect(ended.stderr).toContain('ailinux shell: SIGTERM; the session ended');
    // the setsid sleep was out of reach of the session's process group: the pid namespace ended it
    expect(marked()).toEqual([]);
    expect(fs.readdirSync(path.join(work, 'tmp'))).toEqual([]);
    const after = await runCli(['status', '-w', work], { env: buildEnv() });
    expect(after.stdout).not.toContain('running:');
  }, 180_000);
});
