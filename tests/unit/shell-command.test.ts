/**
 * ailinux shell (issue 10, point 8) with the fake runner: which step's rootfs it enters and what it refuses, the argv
 * and mount sequence of the session (the sealed layers read-only under a throwaway upper, in mount and pid namespaces
 * of its own), the exit status passed on, --keep (the session's upper saved as an overlay), the lock held for the
 * whole session, and a signal ending the session with its throwaway dir gone.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { StateStore } from '../../state/store.js';
import { chooseShellTarget, runShellCommand, type ShellSeams } from '../../src/cli/commands/shell.js';
import type { CliIO } from '../../src/cli/io.js';
import { writeMark } from '../../src/engine/work-dir-mark.js';
import { acquireLock } from '../../src/runtime/lock.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import { nsRunPath } from '../../src/runtime/package-root.js';
import { workPaths } from '../../src/runtime/paths.js';
import { type Ledger, emptyLedgerEntry, type StepStatus } from '../../src/types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-shell-unit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ORDER = ['bootstrap', 'configure', 'packages', 'identity', 'chroot-cleanup', 'squashfs', 'iso'];
let dirs = 0;

/** A marked work dir whose ledger has these statuses (pending for the rest), with the layer dirs of the done steps. */
function workDir(statuses: Record<string, StepStatus>): string {
  const dir = path.join(tmp, `w${++dirs}`);
  fs.mkdirSync(dir, { recursive: true });
  writeMark(dir);
  const paths = workPaths(dir);
  const now = new Date().toISOString();
  const ledger: Ledger = Object.fromEntries(
    ORDER.map((id) => [id, { ...emptyLedgerEntry(id), runId: 'r-1', status: statuses[id] ?? 'pending' }]),
  );
  const state: StateFile = {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'failed',
    createdAt: now,
    updatedAt: now,
    order: ORDER,
    ledger,
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'r-1', command: 'build', startedAt: now, endedAt: now, outcome: 'failed' }],
  };
  StateStore.open(paths.stateFile).save(state);
  for (const [id, status] of Object.entries(statuses)) {
    if (status !== 'done' || id === 'squashfs' || id === 'iso') continue;
    const layer = path.join(paths.layersDir, id, id === 'bootstrap' ? 'root' : 'upper');
    fs.mkdirSync(path.join(layer, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(layer, 'etc', `from-${id}`), `${id}\n`);
  }
  return dir;
}

const done = (...ids: string[]) => Object.fromEntries(ids.map((id) => [id, 'done' as StepStatus]));

function io(cwd = tmp): CliIO & { err: string[] } {
  const err: string[] = [];
  return {
    err,
    stdout: { write: () => true },
    stderr: { write: (t: string) => err.push(t) },
    env: { TERM: 'xterm-test' },
    cwd,
    uid: 0,
    commandLine: 'ailinux shell',
    argv: ['shell'],
  };
}

/** The seams of a unit run: the fake runner, a sandbox that only records, no terminal, signals from an emitter. */
function seams(runner: FakeRunner, extra: Partial<ShellSeams> = {}) {
  const sandboxes: Array<readonly string[]> = [];
  const signals = new EventEmitter();
  const s: ShellSeams = {
    runner,
    enterSandbox: async (writable) => {
      sandboxes.push(writable);
    },
    stdinIsTTY: false,
    signals: {
      on: (sig, h) => signals.on(sig, h),
      off: (sig, h) => signals.off(sig, h),
    },
    ...extra,
  };
  return { seams: s, sandboxes, signals };
}

/** requireSandbox's check: this process is in another namespace than the one bin/ailinux left. */
const inSandbox = { AILINUX_SANDBOX_FROM: 'mnt:[1]' };
function ioIn(cwd = tmp) {
  const i = io(cwd);
  i.env = { ...i.env, ...inSandbox };
  return i;
}

/** The argument after a flag of ailinux-ns-run's argv. */
function mountOptions(argv: readonly string[]): string {
  const at = argv.indexOf('overlay');
  return argv[at + 3]!;
}

describe('chooseShellTarget', () => {
  it('defaults to the last done step with a layer, and lists its layers topmost first', () => {
    const dir = workDir(done('bootstrap', 'configure', 'packages', 'identity', 'chroot-cleanup', 'squashfs'));
    const { layersDir, stateFile } = workPaths(dir);
    const state = StateStore.open(stateFile).load()!;
    const target = chooseShellTarget(state, layersDir, undefined);
    expect(target.step).toBe('chroot-cleanup');
    expect(target.sealed).toEqual([
      path.join(layersDir, 'chroot-cleanup/upper'),
      path.join(layersDir, 'identity/upper'),
      path.join(layersDir, 'packages/upper'),
      path.join(layersDir, 'configure/upper'),
      path.join(layersDir, 'bootstrap/root'),
    ]);
    expect(chooseShellTarget(state, layersDir, 'configure').sealed).toEqual([
      path.join(layersDir, 'configure/upper'),
      path.join(layersDir, 'bootstrap/root'),
    ]);
  });

  it('stops the default before the first layer step that is not done (a failed build)', () => {
    const dir = workDir({ ...done('bootstrap', 'configure'), packages: 'failed' });
    const { layersDir, stateFile } = workPaths(dir);
    const state = StateStore.open(stateFile).load()!;
    expect(chooseShellTarget(state, layersDir, undefined).step).toBe('configure');
    expect(() => chooseShellTarget(state, layersDir, 'packages')).toThrow(
      /step packages has no layer yet: it is failed/,
    );
    expect(() => chooseShellTarget(state, layersDir, 'identity')).toThrow(
      /step identity has no layer yet: step packages before it is failed/,
    );
  });

  it('refuses an unknown step with the nearest name, and a step without a layer', () => {
    const dir = workDir(done('bootstrap', 'configure', 'packages', 'identity', 'chroot-cleanup', 'squashfs'));
    const { layersDir, stateFile } = workPaths(dir);
    const state = StateStore.open(stateFile).load()!;
    expect(() => chooseShellTarget(state, layersDir, 'identiy')).toThrow(
      /this build has no step "identiy"; did you mean "identity"\?/,
    );
    expect(() => chooseShellTarget(state, layersDir, 'squashfs')).toThrow(
      /step squashfs has no rootfs layer: it changes no file of the rootfs \(the rootfs it sees is the one after chroot-cleanup\)/,
    );
  });

  it('refuses a build with no layer yet, and a done layer missing from disk', () => {
    const none = workDir({});
    expect(() =>
      chooseShellTarget(StateStore.open(workPaths(none).stateFile).load()!, workPaths(none).layersDir, undefined),
    ).toThrow(/has no rootfs layer yet: bootstrap has not run/);
    const gone = workDir(done('bootstrap', 'configure'));
    fs.rmSync(path.join(workPaths(gone).layersDir, 'configure'), { recursive: true });
    expect(() =>
      chooseShellTarget(StateStore.open(workPaths(gone).stateFile).load()!, workPaths(gone).layersDir, undefined),
    ).toThrow(/the layer of step configure is missing/);
  });
});

describe('runShellCommand with the fake runner', () => {
  let runner: FakeRunner;
  beforeEach(() => {
    runner = new FakeRunner();
  });

  it('runs the command in the sealed layers under a throwaway upper, in its own mount and pid namespaces', async () => {
    const dir = workDir(done('bootstrap', 'configure', 'packages'));
    const paths = workPaths(dir);
    const { seams: s, sandboxes } = seams(runner);
    const code = await runShellCommand({ workDir: dir, command: ['sh', '-c', 'echo x > /etc/marker'] }, ioIn(), s);
    expect(code).toBe(0);
    expect(sandboxes).toEqual([[fs.realpathSync(dir)]]);
    expect(runner.calls).toHaveLength(1);
    const { argv, options } = runner.calls[0]!;
    const session = /upperdir=([^,]+)\/upper,/.exec(mountOptions(argv))![1]!;
    expect(path.dirname(session)).toBe(paths.tmpDir);
    const root = path.join(session, 'root');
    expect(argv).toEqual([
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--pid',
      '--kill-child',
      '--fork',
      '--',
      nsRunPath(),
      '--mount',
      'overlay',
      'overlay',
      root,
      `lowerdir=${paths.layersDir}/packages/upper:${paths.layersDir}/configure/upper:${paths.layersDir}/bootstrap/root,upperdir=${session}/upper,workdir=${session}/work`,
      '--mount',
      'proc',
      'proc',
      `${root}/proc`,
      '-',
      '--bind-ro',
      `${root}/proc/sys`,
      `${root}/proc/sys`,
      '--bind-ro-if-present',
      `${root}/proc/sysrq-trigger`,
      `${root}/proc/sysrq-trigger`,
      '--mount',
      'sysfs',
      'sysfs',
      `${root}/sys`,
      'ro',
      '--mount',
      'devpts',
      'devpts',
      `${root}/dev/pts`,
      'newinstance,ptmxmode=0666,mode=0620',
      '--bind',
      `${root}/dev/pts/ptmx`,
      `${root}/dev/ptmx`,
      '--',
      'chroot',
      root,
      'sh',
      '-c',
      'echo x > /etc/marker',
    ]);
    // the sealed layers are only lowerdirs: nothing the session writes can reach them
    expect(mountOptions(argv)).not.toMatch(/upperdir=[^,]*layers/);
    expect(options).toMatchObject({
      cleanEnv: true,
      stdio: 'inherit',
      env: {
        PATH: expect.stringContaining('/usr/sbin'),
        HOME: '/root',
        TERM: 'xterm-test',
        debian_chroot: 'ailinux:packages',
      },
    });
    // the throwaway dir is gone, the lock free again
    expect(fs.readdirSync(paths.tmpDir)).toEqual([]);
    acquireLock(paths.lockFile, 'test', () => {}).release();
  });

  it("passes the command's exit status on, and a named step's layers", async () => {
    const dir = workDir(done('bootstrap', 'configure', 'packages'));
    runner.on('chroot', { exitCode: 7 });
    const code = await runShellCommand(
      { workDir: dir, step: 'configure', command: ['false'] },
      ioIn(),
      seams(runner).seams,
    );
    expect(code).toBe(7);
    expect(mountOptions(runner.calls[0]!.argv)).toMatch(/^lowerdir=[^,]*\/configure\/upper:[^,]*\/bootstrap\/root,/);
  });

  it('starts an interactive shell on a terminal of its own (script) when stdin is a terminal and no command is given', async () => {
    const dir = workDir(done('bootstrap'));
    const i = ioIn();
    await runShellCommand({ workDir: dir }, i, seams(runner, { stdinIsTTY: true }).seams);
    const { argv, options } = runner.calls[0]!;
    expect(argv.slice(0, 4)).toEqual(['script', '--quiet', '--return', '--command']);
    expect(argv.at(-1)).toBe('/dev/null');
    expect(argv[4]).toMatch(/^exec 'unshare' '--mount' .* '--' 'chroot' '[^']+\/root' '\/bin\/sh'$/);
    expect(options).toMatchObject({ stdio: 'inherit', env: { SHELL: '/bin/sh' } });
    expect(i.err.join('')).toMatch(/the rootfs after bootstrap, on a throwaway layer \(changes are discarded\)/);
  });

  it('--keep saves the upper as an overlay, joins the writable set, and leaves the sealed layers as they were', async () => {
    const dir = workDir(done('bootstrap', 'configure'));
    const paths = workPaths(dir);
    const keep = path.join(tmp, `keep-${dirs}`);
    const listing = () => fs.readdirSync(paths.layersDir, { recursive: true }).map(String).sort().join('\n');
    const before = listing();
    // what the command would do in the chroot: write into the session's upper
    runner.on('chroot', {
      effect: (call: FakeCall) => {
        const upper = /upperdir=([^,]+),/.exec(mountOptions(call.argv))![1]!;
        fs.mkdirSync(path.join(upper, 'etc'));
        fs.writeFileSync(path.join(upper, 'etc', 'marker'), 'x\n', { mode: 0o640 });
        fs.chmodSync(path.join(upper, 'etc', 'marker'), 0o640);
        fs.symlinkSync('marker', path.join(upper, 'etc', 'marker-link'));
      },
    });
    const { seams: s, sandboxes } = seams(runner);
    const i = ioIn();
    expect(await runShellCommand({ workDir: dir, keep, command: ['true'] }, i, s)).toBe(0);
    expect(sandboxes).toEqual([[fs.realpathSync(dir), keep]]);
    expect(fs.readFileSync(path.join(keep, 'etc/marker'), 'utf8')).toBe('x\n');
    expect(fs.statSync(path.join(keep, 'etc/marker')).mode & 0o7777).toBe(0o640);
    expect(fs.readlinkSync(path.join(keep, 'etc/marker-link'))).toBe('marker');
    expect(fs.existsSync(path.join(keep, '.ailinux-overlay.yaml'))).toBe(false);
    expect(listing()).toBe(before);
    expect(i.err.join('')).toMatch(/--keep: 3 path\(s\) saved in .* as an overlay: etc, etc\/marker, etc\/marker-link/);
    expect(i.err.join('')).toMatch(/overlays: \{ late: \["keep-\d+"\] \}/);
  });

  it('refuses a --keep dir that is not empty, or inside the work dir, before it locks or runs anything', async () => {
    const dir = workDir(done('bootstrap'));
    const full = path.join(tmp, 'full-keep');
    fs.mkdirSync(full, { recursive: true });
    fs.writeFileSync(path.join(full, 'x'), '');
    await expect(
      runShellCommand({ workDir: dir, keep: full, command: ['true'] }, ioIn(), seams(runner).seams),
    ).rejects.toThrow(/--keep .*full-keep is not empty/);
    await expect(
      runShellCommand({ workDir: dir, keep: path.join(dir, 'kept'), command: ['true'] }, ioIn(), seams(runner).seams),
    ).rejects.toThrow(/is inside the work dir/);
    expect(runner.calls).toEqual([]);
  });

  it('refuses a work dir with no build, a user other than root, and runs nothing', async () => {
    const empty = path.join(tmp, 'empty-work');
    await expect(runShellCommand({ workDir: empty }, ioIn(), seams(runner).seams)).rejects.toThrow(
      /no build in .*empty-work: it does not exist/,
    );
    const user = { ...ioIn(), uid: 1000 };
    await expect(runShellCommand({ workDir: empty }, user, seams(runner).seams)).rejects.toThrow(/needs root/);
    expect(runner.calls).toEqual([]);
  });

  it('is refused with LOCKED while a build holds the lock', async () => {
    const dir = workDir(done('bootstrap'));
    const lock = acquireLock(workPaths(dir).lockFile, 'ailinux build', () => {});
    try {
      await expect(
        runShellCommand({ workDir: dir, command: ['true'] }, ioIn(), seams(runner).seams),
      ).rejects.toMatchObject({
        code: 'LOCKED',
      });
    } finally {
      lock.release();
    }
    expect(runner.calls).toEqual([]);
  });

  it('holds the lock for the whole session, and a signal ends it: exit 128+n, the throwaway dir gone', async () => {
    const dir = workDir(done('bootstrap'));
    const paths = workPaths(dir);
    runner.on('chroot', { delayMs: 60_000 });
    const { seams: s, signals } = seams(runner);
    const i = ioIn();
    const running = runShellCommand({ workDir: dir, command: ['sleep', '60'] }, i, s);
    await vi_waitFor(() => runner.calls.length === 1);
    expect(fs.readdirSync(paths.tmpDir)).toHaveLength(1);
    expect(() => acquireLock(paths.lockFile, 'ailinux build', () => {})).toThrow(/holds .*lock/);
    signals.emit('SIGTERM');
    expect(await running).toBe(143);
    expect(i.err.join('')).toMatch(/ailinux shell: SIGTERM; the session ended/);
    expect(fs.readdirSync(paths.tmpDir)).toEqual([]);
    expect(signals.listenerCount('SIGTERM')).toBe(0);
    acquireLock(paths.lockFile, 'test', () => {}).release();
  });
});

async function vi_waitFor(done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
