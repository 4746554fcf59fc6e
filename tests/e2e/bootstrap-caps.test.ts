/**
 * The real bootstrap step, from the Debian mirror, with its capabilities dropped (issue 9, point 1): a build of the
 * minimal profile's bootstrap step alone, through bin/ailinux (so in the sandbox). debootstrap's first stage runs on
 * the host without CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_TIME and CAP_SYS_PTRACE (a wrapper first on PATH prints the
 * bounding set it got, then execs the real one); its second stage runs in the layer's chroot, where /proc/sys and
 * sysfs are read-only and CAP_SYS_ADMIN is gone. The base system must come out whole: dpkg, libc6 and base-files
 * installed, no /debootstrap left, /proc a directory. Needs root and the network.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { readMountinfo, mountsUnder } from '../../src/runtime/mountinfo.js';
import { runCli } from '../helpers/cli.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-e2e-bootstrap-'));
const work = path.join(base, 'work');
const root = path.join(work, 'layers', 'bootstrap', 'root');

/** Capability numbers (linux/capability.h). */
const CAP = { chown: 0, sysModule: 16, sysPtrace: 19, sysAdmin: 21, sysBoot: 22, sysTime: 25, mknod: 27 } as const;

function hasCap(mask: bigint, cap: number): boolean {
  return ((mask >> BigInt(cap)) & 1n) === 1n;
}

afterAll(() => {
  if (mountsUnder(work, readMountinfo()).length === 0) fs.rmSync(base, { recursive: true, force: true });
});

describe.skipIf(skipUnlessRoot())('the bootstrap step with real debootstrap', () => {
  it('bootstraps bookworm minbase, the first stage without CAP_SYS_ADMIN, the second in the chroot', async () => {
    const config = path.join(base, 'bootstrap-only.json');
    fs.writeFileSync(config, JSON.stringify({ extends: 'minimal', steps: ['bootstrap'] }));
    const bin = path.join(base, 'bin');
    fs.mkdirSync(bin);
    const real = ['/usr/sbin/debootstrap', '/sbin/debootstrap'].find((f) => fs.existsSync(f))!;
    fs.writeFileSync(
      path.join(bin, 'debootstrap'),
      `#!/bin/sh\necho "probe $(grep ^CapBnd: /proc/self/status)" >&2\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const started = Date.now();
    const r = await runCli(['build', '-c', config, '-w', work, '--progress', 'plain'], {
      env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` },
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    console.log(`bootstrap step alone, real debootstrap: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const log = fs
      .readdirSync(path.join(work, 'logs', 'steps'))
      .filter((f) => f.startsWith('bootstrap'))
      .map((f) => fs.readFileSync(path.join(work, 'logs', 'steps', f), 'utf8'))
      .join('\n');
    const bnd = /probe CapBnd:\s*([0-9a-f]+)/.exec(log);
    expect(bnd, log.slice(0, 2000)).not.toBeNull();
    const mask = BigInt(`0x${bnd![1]}`);
    for (const cap of [CAP.sysAdmin, CAP.sysModule, CAP.sysBoot, CAP.sysTime, CAP.sysPtrace])
      expect(hasCap(mask, cap)).toBe(false);
    // what the first stage does need: chown and mknod (device nodes in the target's /dev)
    for (const cap of [CAP.chown, CAP.mknod]) expect(hasCap(mask, cap)).toBe(true);
    // the second stage ran (only it prints this) and finished: it removes /debootstrap
    expect(log).toContain('I: Base system installed successfully.');
    expect(fs.existsSync(path.join(root, 'debootstrap'))).toBe(false);
    expect(fs.lstatSync(path.join(root, 'proc')).isDirectory()).toBe(true);

    const status = fs.readFileSync(path.join(root, 'var/lib/dpkg/status'), 'utf8');
    for (const pkg of ['base-files', 'dpkg', 'libc6', 'apt'])
      expect(status).toMatch(new RegExp(`^Package: ${pkg}\\n(?:.+\\n)*?Status: install ok installed$`, 'm'));
    expect(status).not.toMatch(/^Status: .* (half-configured|unpacked|half-installed)$/m);
    expect(mountsUnder(work, readMountinfo())).toEqual([]);
  });
});
