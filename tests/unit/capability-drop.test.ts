/**
 * The capability drops of docs/safety.md: the setpriv argv, the wrapper's list kept equal to ours, and (as root) what a
 * command run through the real setpriv is left with.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CommandError, commandLabel } from '../../src/errors.js';
import { CHROOT_DROPPED_CAPS, HOST_CAPS, withoutCaps } from '../../src/runtime/capability-drop.js';
import { nsRunPath } from '../../src/runtime/package-root.js';
import { skipUnlessRoot } from '../helpers/root.js';

/** Capability numbers (linux/capability.h). */
const CAP = { chown: 0, sysModule: 16, sysPtrace: 19, sysAdmin: 21, sysBoot: 22, sysTime: 25, mknod: 27 } as const;

/** The CapBnd and CapEff masks of a command run through withoutCaps(caps). */
function capsUnder(caps: readonly string[]): { bnd: bigint; eff: bigint } {
  const argv = withoutCaps(caps, ['cat', '/proc/self/status']);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const mask = (name: string) => BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(r.stdout)![1]}`);
  return { bnd: mask('CapBnd'), eff: mask('CapEff') };
}

const has = (mask: bigint, cap: number) => ((mask >> BigInt(cap)) & 1n) === 1n;

describe('capability drops', () => {
  it('withoutCaps clears the bounding and inheritable sets through setpriv', () => {
    expect(withoutCaps(['sys_admin', 'sys_time'], ['debootstrap', '--foreign'])).toEqual([
      'setpriv',
      '--bounding-set',
      '-sys_admin,-sys_time',
      '--inh-caps',
      '-sys_admin,-sys_time',
      '--',
      'debootstrap',
      '--foreign',
    ]);
    expect(CHROOT_DROPPED_CAPS).toEqual(['sys_admin', 'sys_module', 'sys_boot', 'sys_time', 'sys_ptrace']);
  });

  it('a failure names the command setpriv runs, not setpriv, through any wrappers around it', () => {
    const wrapped = withoutCaps([...HOST_CAPS], ['debootstrap', '--foreign', 'noble', '/x']);
    expect(commandLabel(wrapped)).toBe('debootstrap');
    expect(
      commandLabel(['/usr/bin/unshare', '--mount', '--', ...withoutCaps(['sys_admin'], ['apt-get', 'install', 'x'])]),
    ).toBe('apt-get install');
    expect(commandLabel(['ailinux-ns-run', '/r', '--', 'chroot', '/r', 'useradd', 'live'])).toBe('useradd');
    // setpriv without its -- runs nothing we can name past it
    expect(commandLabel(['setpriv', '--dump'])).toBe('setpriv');
    const failure = {
      argv: wrapped,
      exitCode: 1,
      signal: null,
      stderrTail: '',
      rerun: '',
      timedOut: false,
      cancelled: false,
    };
    expect(new CommandError(failure, false).message).toBe('command debootstrap exited with code 1');
  });

  it('libexec/ailinux-ns-run drops exactly CHROOT_DROPPED_CAPS (the shell wrapper cannot import ours)', () => {
    const script = fs.readFileSync(nsRunPath(), 'utf8');
    const line = /^drop=(\S+)$/m.exec(script);
    expect(line?.[1]).toBe(CHROOT_DROPPED_CAPS.map((c) => `-${c}`).join(','));
  });

  it.skipIf(skipUnlessRoot())('the real setpriv leaves a root command without them, and with chown and mknod', () => {
    const chroot = capsUnder(CHROOT_DROPPED_CAPS);
    for (const mask of [chroot.bnd, chroot.eff]) {
      for (const cap of [CAP.sysAdmin, CAP.sysModule, CAP.sysBoot, CAP.sysTime, CAP.sysPtrace])
        expect(has(mask, cap)).toBe(false);
      for (const cap of [CAP.chown, CAP.mknod]) expect(has(mask, cap)).toBe(true);
    }
    // mmdebstrap keeps CAP_SYS_ADMIN (it mounts in its target), never the host-kernel powers
    const host = capsUnder(HOST_CAPS);
    expect(has(host.eff, CAP.sysAdmin)).toBe(true);
    for (const cap of [CAP.sysModule, CAP.sysBoot, CAP.sysTime, CAP.sysPtrace]) expect(has(host.bnd, cap)).toBe(false);
  });
});
