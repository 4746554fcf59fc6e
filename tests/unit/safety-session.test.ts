/**
 * Session awareness (src/runtime/session.ts) and the host check (src/runtime/host-check.ts):
 * session kinds from the environment, our ancestor chain from /proc, the invariant recorder,
 * and service health read with `systemctl show` only, never an action on a service.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { minimalProfile } from '../../src/config/profiles/minimal.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { hostRequirements } from '../../src/steps/host-requirements.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import {
  checkServices,
  checkTools,
  findOnPath,
  parseServiceShow,
  pickVersion,
  SESSION_CRITICAL_UNITS,
} from '../../src/runtime/host-check.js';
import { ancestorPids } from '../../src/runtime/process-groups.js';
import { ancestorChain, detectSession, endedSteps, SafetyRecorder } from '../../src/runtime/session.js';
import { readProcStat } from '../../src/runtime/proc-stat.js';
import { emptyLedgerEntry, type Ledger, type LedgerEntry } from '../../src/types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-safety-session-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('session detection', () => {
  it('ssh wins, from SSH_CONNECTION, SSH_TTY or SSH_CLIENT, even with a forwarded display', () => {
    const s = detectSession({ SSH_CONNECTION: '10.0.0.2 5122 10.0.0.1 22', DISPLAY: 'localhost:10.0' }, '/dev/pts/3');
    expect(s.kind).toBe('ssh');
    expect(s.evidence).toEqual(['SSH_CONNECTION']);
    expect(s.tty).toBe('/dev/pts/3');
    expect(s.note).toMatch(/SIGHUP.*exit 129/);
    expect(detectSession({ SSH_TTY: '/dev/pts/1' }, null).kind).toBe('ssh');
    expect(detectSession({ SSH_CLIENT: '10.0.0.2 5122 22' }, null).kind).toBe('ssh');
  });

  it('graphical from XDG_SESSION_TYPE, DISPLAY or WAYLAND_DISPLAY', () => {
    expect(detectSession({ XDG_SESSION_TYPE: 'wayland' }, null)).toMatchObject({
      kind: 'graphical',
      evidence: ['XDG_SESSION_TYPE'],
    });
    expect(detectSession({ DISPLAY: ':0' }, '/dev/pts/0').kind).toBe('graphical');
    expect(detectSession({ WAYLAND_DISPLAY: 'wayland-0' }, null).kind).toBe('graphical');
    // a tty session type is not graphical
    expect(detectSession({ XDG_SESSION_TYPE: 'tty' }, '/dev/tty2').kind).toBe('console');
  });

  it('console with a controlling terminal, none without', () => {
    expect(detectSession({}, '/dev/tty1')).toMatchObject({ kind: 'console', tty: '/dev/tty1' });
    expect(detectSession({ SSH_CONNECTION: '', DISPLAY: '' }, null)).toMatchObject({ kind: 'none', tty: null });
  });
});

describe('ancestors', () => {
  it('reads pid, comm and start ticks from /proc, parent first, up to pid 1', () => {
    const chain = ancestorChain();
    expect(chain[0]!.pid).toBe(process.ppid);
    expect(chain[chain.length - 1]!.pid).toBe(1);
    expect(chain.map((a) => a.pid)).toEqual(ancestorPids());
    for (const a of chain) {
      expect(a.comm.length).toBeGreaterThan(0);
      expect(a.startTicks).toBeGreaterThanOrEqual(0);
    }
    expect(readProcStat('self')!.pid).toBe(process.pid);
  });

  it('parses a comm that holds spaces and parentheses', async () => {
    const odd = path.join(tmp, 'a b) (c');
    fs.copyFileSync('/bin/sleep', odd);
    fs.chmodSync(odd, 0o755);
    const child = spawn(odd, ['300'], { stdio: 'ignore' });
    await once(child, 'spawn'); // exec'd: its comm is the copied file's name
    try {
      const info = readProcStat(child.pid!);
      expect(info).toMatchObject({ pid: child.pid, ppid: process.pid, comm: 'a b) (c' });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a gone process reads as null', () => {
    expect(readProcStat(2 ** 22 + 17)).toBeNull();
  });
});

function entry(id: string, status: LedgerEntry['status'], attempts = 1): LedgerEntry {
  return { ...emptyLedgerEntry(id), status, attempts };
}

describe('the invariant recorder', () => {
  it('names each step that ended (or ended again after a retry) between two ledgers', () => {
    const before: Ledger = {
      a: entry('a', 'done'),
      b: entry('b', 'running'),
      c: entry('c', 'pending', 0),
      d: entry('d', 'failed', 1),
    };
    const after: Ledger = {
      a: entry('a', 'done'),
      b: entry('b', 'done'),
      c: entry('c', 'skipped', 0),
      d: entry('d', 'failed', 2),
    };
    expect(endedSteps(before, after)).toEqual(['b', 'c', 'd']);
    expect(endedSteps(after, after)).toEqual([]);
  });

  it('records the session, the ancestors and a check per call, carrying earlier runs forward', () => {
    const first = new SafetyRecorder('run-1');
    const start = first.check(null, 'start');
    expect(start).toMatchObject({
      runId: 'run-1',
      step: null,
      phase: 'start',
      allOurs: true,
      ancestorsAlive: true,
      refused: 0,
    });
    expect(first.record.ancestors.map((a) => a.pid)).toEqual(ancestorPids());
    expect(first.record.session.kind).toMatch(/^(ssh|graphical|console|none)$/);
    first.check('bootstrap', 'step');
    const second = new SafetyRecorder('run-2', first.record);
    second.check(null, 'start');
    expect(second.record.checks.map((c) => `${c.runId}:${c.step ?? '-'}`)).toEqual([
      'run-1:-',
      'run-1:bootstrap',
      'run-2:-',
    ]);
  });

  it('sees an ancestor that died', () => {
    const recorder = new SafetyRecorder('run-x');
    const ancestors = recorder.record.ancestors;
    // pretend our parent had another start time: it is then "not alive" as recorded
    (recorder as unknown as { ancestors: Array<{ pid: number; startTicks: number }> }).ancestors[0]!.startTicks += 1;
    expect(recorder.check(null, 'start').ancestorsAlive).toBe(false);
    expect(ancestors.length).toBeGreaterThan(0);
  });
});

const config = validateConfig(structuredClone(minimalProfile));
const requiredTools = (c: BuildConfig) => hostRequirements(resolveSteps(c), c).tools;
const requiredFiles = (c: BuildConfig) => hostRequirements(resolveSteps(c), c).files.map((f) => f.path);

describe('host check', () => {
  it('lists the tools a profile runs, and the GRUB module dirs', () => {
    expect(requiredTools(config).map((t) => t.name)).toEqual([
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
      // the minimal profile's verify step boots the ISO
      'qemu-system-x86_64',
    ]);
    const biosOnly = {
      ...config,
      iso: { ...config.iso, uefi: false },
      bootstrap: { ...config.bootstrap, tool: 'mmdebstrap' as const },
    };
    const names = requiredTools(biosOnly).map((t) => t.name);
    expect(names).toContain('mmdebstrap');
    expect(names).not.toContain('debootstrap');
    expect(names).not.toContain('mcopy');
    expect(requiredFiles(biosOnly).filter((f) => f.startsWith('/usr/lib/grub/'))).toEqual([
      '/usr/lib/grub/i386-pc/moddep.lst',
      '/usr/lib/grub/i386-pc/boot_hybrid.img',
    ]);
  });

  it('finds tools on PATH (then the sbin dirs) and reads their versions, or says they are missing', async () => {
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'frobtool'), '#!/bin/sh\necho "frobtool 1.2.3"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(bin, 'noexec'), 'x', { mode: 0o644 });
    expect(findOnPath('frobtool', `relative:${bin}`)).toBe(path.join(bin, 'frobtool'));
    expect(findOnPath('noexec', bin)).toBeNull();
    expect(findOnPath('no-such-tool-anywhere', bin)).toBeNull();
    const runner = new FakeRunner().on(path.join(bin, 'frobtool'), { stdout: 'frobtool 1.2.3\n' });
    const checks = await checkTools(
      [
        { name: 'frobtool', pkg: 'frob', why: 'test', versionArgs: ['--version'] },
        { name: 'no-such-tool-anywhere', pkg: 'none', why: 'test', versionArgs: ['--version'] },
      ],
      runner,
      bin,
    );
    expect(checks.map((c) => [c.name, c.path, c.onPath, c.version])).toEqual([
      ['frobtool', path.join(bin, 'frobtool'), true, 'frobtool 1.2.3'],
      ['no-such-tool-anywhere', null, false, null],
    ]);
    expect(runner.lines).toEqual([`${path.join(bin, 'frobtool')} --version`]);
    expect(pickVersion('Usage: x\nmkfs.fat 4.2 (2021-01-31)\n')).toBe('mkfs.fat 4.2 (2021-01-31)');
  });

  it('reads services only with `systemctl show`, and warns about installed units that are not active', async () => {
    const show = SESSION_CRITICAL_UNITS.map(
      (u, i) =>
        `Id=${u}\nLoadState=${i === 2 ? 'not-found' : 'loaded'}\nActiveState=${i === 0 ? 'failed' : i === 2 ? 'inactive' : 'active'}\nSubState=${i === 0 ? 'failed' : 'running'}`,
    ).join('\n\n');
    const runner = new FakeRunner().on('systemctl', { stdout: `${show}\n` });
    const report = await checkServices(runner, 'systemd');
    expect(report.checked).toBe(true);
    expect(runner.calls).toHaveLength(1);
    const argv = runner.calls[0]!.argv;
    expect(argv.slice(0, 2)).toEqual(['systemctl', 'show']);
    for (const verb of ['start', 'stop', 'restart', 'reload', 'enable', 'disable', 'mask', 'kill', 'isolate'])
      expect(argv).not.toContain(verb);
    expect(report.units.filter((u) => !u.healthy).map((u) => `${u.unit} ${u.activeState}`)).toEqual([
      `${SESSION_CRITICAL_UNITS[0]} failed`,
    ]);
    // the not-installed display manager is no concern
    expect(report.units[2]).toMatchObject({ loadState: 'not-found', healthy: true });
  });

  it('does not query services at all when systemd is not PID 1', async () => {
    const runner = new FakeRunner();
    const report = await checkServices(runner, 'process_api');
    expect(report).toMatchObject({ checked: false, units: [] });
    expect(report.note).toMatch(/PID 1 is process_api, not systemd/);
    expect(runner.calls).toEqual([]);
  });

  it('parses systemctl show blocks per unit, unknown when a block is missing', () => {
    expect(parseServiceShow('Id=a\nLoadState=loaded\nActiveState=active\nSubState=running\n', ['a', 'b'])).toEqual([
      { unit: 'a', loadState: 'loaded', activeState: 'active', subState: 'running', healthy: true },
      { unit: 'b', loadState: 'unknown', activeState: 'unknown', subState: 'unknown', healthy: true },
    ]);
  });
});
