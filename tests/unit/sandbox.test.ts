/** The read-only host's pure parts: which mounts become read-only with which flags, and how EROFS is told. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderError } from '../../src/cli/render-error.js';
import { CommandError, UnsafeOperationError } from '../../src/errors.js';
import { parseMountinfo } from '../../src/runtime/mountinfo.js';
import { packageRoot } from '../../src/runtime/package-root.js';
import { explainReadOnly, readOnlyPathIn } from '../../src/runtime/read-only-error.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { inSandboxNamespace, planReadOnly, requireSandbox } from '../../src/runtime/sandbox.js';
import { addSandboxFinding, checkSandbox, type SandboxCheck } from '../../src/runtime/sandbox-check.js';

const MOUNTINFO = `21 26 0:20 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
23 26 0:6 / /dev rw,nosuid,relatime - devtmpfs devtmpfs rw,size=12334808k,mode=755
24 23 0:22 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw
29 24 0:26 / /dev/shm rw,noatime - tmpfs tmpfs rw
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
27 26 0:24 / /mnt/my\\040disk ro,nosuid,nodev,relatime,nosymfollow - tmpfs t ro
40 26 0:40 / /srv/work rw,relatime - tmpfs work rw
41 40 0:41 / /srv/work/mnt/packages/proc rw,relatime - proc proc rw
42 26 0:42 / /srv/workshop rw,relatime - tmpfs shop rw
`;

describe('planReadOnly', () => {
  const plan = planReadOnly(parseMountinfo(MOUNTINFO), ['/srv/work']);

  it('remounts every mount point outside the writable dirs once, parents before children', () => {
    expect(plan.map((m) => m.target)).toEqual(['/proc', '/dev', '/dev/shm', '/', '/mnt/my disk', '/srv/workshop']);
  });

  it('keeps each mount flag a bind remount would drop, and the topmost of two stacked mounts decides', () => {
    expect(Object.fromEntries(plan.map((m) => [m.target, m.options]))).toEqual({
      '/proc': 'ro,nosuid,nodev,noexec,relatime',
      '/dev': 'ro,nosuid,relatime',
      // the tmpfs stacked last on /dev/shm is the one a path reaches
      '/dev/shm': 'ro,noatime',
      '/': 'ro,relatime',
      '/mnt/my disk': 'ro,nosuid,nodev,relatime,nosymfollow',
      // no atime flag in mountinfo is strictatime, which a bind remount would turn into relatime
      '/srv/workshop': 'ro,relatime',
    });
    expect(planReadOnly(parseMountinfo('30 1 0:3 / /x rw - tmpfs t rw\n'), [])).toEqual([
      { target: '/x', options: 'ro,strictatime' },
    ]);
  });

  it('leaves the work dir and every mount below it as they are, but not a sibling that shares its prefix', () => {
    expect(plan.some((m) => m.target.startsWith('/srv/work/') || m.target === '/srv/work')).toBe(false);
    expect(plan.some((m) => m.target === '/srv/workshop')).toBe(true);
  });
});

describe('the sandbox namespace check', () => {
  it('is in a sandbox only in another namespace than the one bin/ailinux recorded', () => {
    expect(inSandboxNamespace({})).toBe(false);
    expect(inSandboxNamespace({ AILINUX_SANDBOX_FROM: '' })).toBe(false);
    // still in the namespace it came from: not a sandbox
    expect(inSandboxNamespace({ AILINUX_SANDBOX_FROM: fs.readlinkSync('/proc/self/ns/mnt') })).toBe(false);
    expect(inSandboxNamespace({ AILINUX_SANDBOX_FROM: 'mnt:[1]' })).toBe(true);
  });

  it('refuses a writing command outside it, naming bin/ailinux', () => {
    expect(() => requireSandbox('build', {})).toThrow(
      /ailinux build runs only in its sandbox .*private mount namespace/,
    );
    try {
      requireSandbox('clean', {});
    } catch (error) {
      expect((error as { hint: string }).hint).toMatch(/bin\/ailinux\), not with node bin\/ailinux\.js/);
      expect((error as { hintArgv: string[] }).hintArgv).toEqual([path.join(packageRoot(), 'bin', 'ailinux'), 'clean']);
    }
    // the user's own arguments follow bin/ailinux, quoted for the shell
    const error = (() => {
      try {
        requireSandbox('build', {}, ['build', '-c', 'my config.yaml', '-w', '/x']);
      } catch (e) {
        return e;
      }
    })();
    expect(renderError(error, { workDir: '/x', config: 'my config.yaml' })).toContain(
      `  run: ${path.join(packageRoot(), 'bin', 'ailinux')} build -c 'my config.yaml' -w /x`,
    );
  });
});

describe('EROFS, told', () => {
  it('finds the path a tool says was read-only, the last one before the message on its line', () => {
    expect(readOnlyPathIn("rm: cannot remove '/srv/x/victim.txt': Read-only file system")).toBe('/srv/x/victim.txt');
    expect(readOnlyPathIn('/srv/x: 5: cannot create /srv/x/victim.txt: Read-only file system')).toBe(
      '/srv/x/victim.txt',
    );
    expect(readOnlyPathIn('touch: cannot touch ‘/etc/motd’: Read-only file system')).toBe('/etc/motd');
    expect(readOnlyPathIn('E: Could not open lock file - open (30: Read-only file system)')).toBeNull();
    expect(readOnlyPathIn('mount: /: permission denied.')).toBeNull();
  });

  it('a node EROFS becomes an unsafe-operation error naming the path and the work dir', () => {
    const erofs = Object.assign(new Error("EROFS: read-only file system, open '/etc/shadow'"), {
      code: 'EROFS',
      path: '/etc/shadow',
      syscall: 'open',
    });
    const told = explainReadOnly(erofs, '/srv/work');
    expect(told).toBeInstanceOf(UnsafeOperationError);
    expect((told as Error).message).toBe(
      '/etc/shadow is on the read-only host; ailinux only writes inside its work dir (/srv/work)',
    );
    expect((told as Error).cause).toBe(erofs);
  });

  it('a command that failed on a read-only path keeps its failure and gets a fix naming the path', () => {
    const failure = {
      argv: ['apt-get', 'install', 'x'],
      exitCode: 1,
      signal: null,
      stderrTail: "dpkg: error: cannot write '/var/lib/dpkg/x': Read-only file system",
      rerun: 'apt-get install x',
      timedOut: false,
      cancelled: false,
    };
    const told = explainReadOnly(new CommandError(failure, false), '/srv/work') as CommandError;
    expect(told).toBeInstanceOf(CommandError);
    expect(told.failure).toEqual(failure);
    expect(told.hint).toMatch(/^\/var\/lib\/dpkg\/x is on the read-only host; ailinux only writes inside its work dir/);
  });

  it('leaves every other error as it was', () => {
    const other = Object.assign(new Error('nope'), { code: 'ENOENT', path: '/x' });
    expect(explainReadOnly(other)).toBe(other);
    const failure = new CommandError(
      {
        argv: ['false'],
        exitCode: 1,
        signal: null,
        stderrTail: 'no',
        rerun: 'false',
        timedOut: false,
        cancelled: false,
      },
      false,
    );
    expect(explainReadOnly(failure)).toBe(failure);
  });
});

describe("doctor's sandbox check", () => {
  const paths = { workDir: '/srv/work', tmpDir: '/srv/work/tmp' };
  const findings = (check: SandboxCheck, root: boolean) => {
    const out: string[] = [];
    addSandboxFinding(check, root, (level, topic, message, fix) => out.push(`${level} ${topic}: ${message} | ${fix}`));
    return out;
  };

  it('as root, tries a throwaway namespace and says what a build may write', async () => {
    const runner = new FakeRunner();
    const check = await checkSandbox(paths, runner, true);
    expect(runner.calls.map((c) => c.argv)).toEqual([['unshare', '--mount', '--propagation', 'private', '--', 'true']]);
    expect(check).toEqual({ namespace: true, writable: ['/srv/work'], tmpDir: '/srv/work/tmp', problem: null });
    expect(findings(check, true)).toEqual([
      'ok sandbox: build, resume and clean see the host read-only; writable: /srv/work (TMPDIR /srv/work/tmp); unshare works here | undefined',
    ]);
  });

  it('as root, a host where unshare fails blocks a build, with its error; not as root it is not tried', async () => {
    const runner = new FakeRunner().on('unshare', {
      exitCode: 1,
      stderr: 'unshare: unshare failed: Operation not permitted',
    });
    const check = await checkSandbox(paths, runner, true);
    expect(check.namespace).toBe(false);
    expect(findings(check, true)).toEqual([
      'block sandbox: unshare --mount fails here: unshare: unshare failed: Operation not permitted; build, resume and clean run only in a private mount namespace where the host is read-only | run on a host or in a container that allows mount namespaces (CAP_SYS_ADMIN)',
    ]);
    const asUser = new FakeRunner();
    const unchecked = await checkSandbox(paths, asUser, false);
    expect(asUser.calls).toEqual([]);
    expect(findings(unchecked, false)[0]).toMatch(/^ok sandbox: .*; unshare not tried \(needs root\)/);
  });
});
