import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandError } from '../../src/errors.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import type { SpawnedGroup } from '../../src/runtime/process-groups.js';
import { NETWORK_TRANSIENT_PATTERNS } from '../../src/runtime/runner.js';
import { isRunning, StartedProcesses, waitFor } from '../helpers/processes.js';

let tmp: string;
/** Processes this file started, with their start ticks so a reused pid is never signalled. */
const started = new StartedProcesses();
const remember = (pid: number): number => started.remember(pid);
const readPidFile = (file: string): Promise<number> => started.readPidFile(file);

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-runner-'));
});

afterEach(() => {
  started.killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function startSentinel(): ChildProcess {
  const child = spawn('sleep', ['300'], { argv0: 'ailinux-test-sentinel', stdio: 'ignore' });
  return started.child(child);
}

async function rejection(promise: Promise<unknown>): Promise<CommandError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the command to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CommandError);
  return error as CommandError;
}

describe('ExecaRunner', () => {
  it('streams stdout and stderr lines in order, the last one even without a newline', async () => {
    const lines: string[] = [];
    const result = await new ExecaRunner().run(['sh', '-c', 'echo one; echo two >&2; echo three; printf four'], {
      onLine: (stream, line) => lines.push(`${stream}:${line}`),
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('one\nthree\nfour');
    expect(result.stderr).toBe('two\n');
    expect(lines.filter((l) => l.startsWith('stdout:'))).toEqual(['stdout:one', 'stdout:three', 'stdout:four']);
    expect(lines).toContain('stderr:two');
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('delivers a line while the command is still running', async () => {
    // the command prints its second line only once the first has reached us (we answer with a file), and gives up
    // after 60 s: a runner that held lines back until the exit would see "not told" instead
    const go = path.join(tmp, 'go');
    const script = `echo first; i=0; while [ ! -e ${go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; \
[ -e ${go} ] && echo second || echo "not told"`;
    const lines: string[] = [];
    await new ExecaRunner().run(['sh', '-c', script], {
      onLine: (_s, line) => {
        lines.push(line);
        if (line === 'first') fs.writeFileSync(go, '');
      },
    });
    expect(lines).toEqual(['first', 'second']);
  });

  it('keeps stdout out of the result when asked, yet still streams it', async () => {
    const lines: string[] = [];
    const result = await new ExecaRunner().run(['sh', '-c', 'echo a; echo b'], {
      captureStdout: false,
      onLine: (_s, line) => lines.push(line),
    });
    expect(result.stdout).toBe('');
    expect(lines).toEqual(['a', 'b']);
  });

  it('rejects a non-zero exit with exit code, stderr tail and a rerun line', async () => {
    const script = 'for i in $(seq 1 30); do echo "err $i" >&2; done; echo out; exit 3';
    const error = await rejection(new ExecaRunner().run(['sh', '-c', script]));
    expect(error.failure.exitCode).toBe(3);
    expect(error.failure.signal).toBeNull();
    expect(error.failure.argv).toEqual(['sh', '-c', script]);
    const tail = error.failure.stderrTail.split('\n');
    expect(tail).toHaveLength(20);
    expect(tail[0]).toBe('err 11');
    expect(tail[19]).toBe('err 30');
    expect(error.failure.rerun).toBe(`sh -c '${script}'`);
    expect(error.failure.timedOut).toBe(false);
    expect(error.failure.cancelled).toBe(false);
    expect(error.transient).toBe(false);
    expect(error.message).toContain('exited with code 3');
  });

  it('reports a missing program as exit code 127', async () => {
    const error = await rejection(new ExecaRunner().run(['ailinux-no-such-program-xyz', '--help']));
    expect(error.failure.exitCode).toBe(127);
    expect(error.failure.stderrTail).toBe('ailinux-no-such-program-xyz: command not found on PATH');
    expect(error.failure.rerun).toBe('ailinux-no-such-program-xyz --help');
  });

  it('reports a program that is not executable as exit code 126', async () => {
    const script = path.join(tmp, 'not-executable');
    fs.writeFileSync(script, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const error = await rejection(new ExecaRunner().run([script]));
    expect(error.failure.exitCode).toBe(126);
    expect(error.failure.stderrTail).toBe(`${script}: permission denied`);
  });

  it('marks a failure transient when its output matches a transient pattern', async () => {
    const argv = ['sh', '-c', 'echo "E: Temporary failure resolving deb.debian.org" >&2; exit 100'];
    const runner = new ExecaRunner();
    const transient = await rejection(runner.run(argv, { transientPatterns: NETWORK_TRANSIENT_PATTERNS }));
    expect(transient.transient).toBe(true);
    expect(transient.failure.exitCode).toBe(100);
    const plain = await rejection(runner.run(argv));
    expect(plain.transient).toBe(false);
    const other = await rejection(
      runner.run(['sh', '-c', 'echo "E: disk full" >&2; exit 100'], { transientPatterns: NETWORK_TRANSIENT_PATTERNS }),
    );
    expect(other.transient).toBe(false);
  });

  it('writes input to stdin', async () => {
    const result = await new ExecaRunner().run(['cat'], { input: 'hello\nworld\n' });
    expect(result.stdout).toBe('hello\nworld\n');
  });

  it('passes the base env, the call env and the host mount namespace', async () => {
    const runner = new ExecaRunner({ baseEnv: { AILX_A: 'base-a', AILX_B: 'base-b' } });
    const result = await runner.run(
      ['sh', '-c', 'printf "%s|%s|%s|%s" "$AILX_A" "$AILX_B" "$AILINUX_HOST_MNTNS" "$PATH"'],
      {
        env: { AILX_B: 'call-b' },
      },
    );
    expect(result.stdout).toBe(`base-a|call-b|${fs.readlinkSync('/proc/self/ns/mnt')}|${process.env.PATH}`);
  });

  it('runs in the given cwd', async () => {
    const result = await new ExecaRunner().run(['pwd'], { cwd: tmp });
    expect(result.stdout.trim()).toBe(fs.realpathSync(tmp));
  });

  it('puts each command in its own process group and reports spawn and exit', async () => {
    const spawned: SpawnedGroup[] = [];
    const exited: number[] = [];
    const runner = new ExecaRunner({ onSpawn: (g) => spawned.push(g), onExit: (p) => exited.push(p) });
    const result = await runner.run(['sh', '-c', 'echo $$; cut -d" " -f5 /proc/$$/stat; cut -d" " -f22 /proc/$$/stat']);
    const [pid, pgid, ticks] = result.stdout.trim().split('\n').map(Number);
    expect(spawned).toHaveLength(1);
    expect(spawned[0]!.pgid).toBe(pid);
    expect(pgid).toBe(pid);
    expect(spawned[0]!.startTicks).toBe(ticks);
    expect(spawned[0]!.argv[0]).toBe('sh');
    expect(Number.isNaN(Date.parse(spawned[0]!.startedAt))).toBe(false);
    expect(exited).toEqual([pid]);
  });

  // the test's own timeout, far below the 300 s sleep, is what fails a run that waits for the group to end by itself
  it('kills the whole group on timeout', { timeout: 60_000 }, async () => {
    const pidFile = path.join(tmp, 'grandchild');
    const t0 = Date.now();
    // long enough for a loaded machine to start the shell and its grandchild before the timeout
    const error = await rejection(
      new ExecaRunner({ graceMs: 1000 }).run(['sh', '-c', `sleep 300 & echo $! > ${pidFile}; wait`], {
        timeoutMs: 5000,
      }),
    );
    console.log(`runner timeout of 5 s: the run ended after ${Date.now() - t0} ms`);
    expect(error.failure.timedOut).toBe(true);
    expect(error.failure.cancelled).toBe(false);
    expect(error.message).toContain('timed out');
    const grandchild = await readPidFile(pidFile);
    expect(await waitFor(() => !isRunning(grandchild), 30_000)).toBe(true);
  });

  it('abort kills the whole group, grandchild included, and nothing else', async () => {
    const sentinel = startSentinel();
    const pidFile = path.join(tmp, 'grandchild');
    const controller = new AbortController();
    const spawned: SpawnedGroup[] = [];
    const runner = new ExecaRunner({ graceMs: 2000, onSpawn: (g) => spawned.push(g) });
    const running = runner.run(['sh', '-c', `sleep 300 & echo $! > ${pidFile}; wait`], { signal: controller.signal });
    const grandchild = await readPidFile(pidFile);
    expect(isRunning(grandchild)).toBe(true);
    controller.abort();
    const error = await rejection(running);
    expect(error.failure.cancelled).toBe(true);
    expect(error.failure.signal).toBe('SIGTERM');
    expect(error.transient).toBe(false);
    expect(await waitFor(() => !isRunning(grandchild), 30_000)).toBe(true);
    expect(isRunning(spawned[0]!.pgid)).toBe(false);
    expect(isRunning(sentinel.pid!)).toBe(true);
    expect(sentinel.exitCode).toBeNull();
  });

  it('rejects at once, spawning nothing, when already aborted', async () => {
    const spawned: SpawnedGroup[] = [];
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(
      new ExecaRunner({ onSpawn: (g) => spawned.push(g) }).run(['true'], { signal: controller.signal }),
    );
    expect(error.failure.cancelled).toBe(true);
    expect(spawned).toEqual([]);
  });

  it('escalates to SIGKILL when the group ignores SIGTERM for the grace period', { timeout: 60_000 }, async () => {
    const controller = new AbortController();
    const runner = new ExecaRunner({ graceMs: 300 });
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const running = runner.run(['sh', '-c', 'trap "" TERM; echo ready; sleep 300'], {
      signal: controller.signal,
      onLine: (_s, line) => line === 'ready' && ready(),
    });
    await isReady;
    const t0 = Date.now();
    controller.abort();
    const error = await rejection(running);
    const elapsed = Date.now() - t0;
    expect(error.failure.signal).toBe('SIGKILL');
    expect(error.failure.cancelled).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    console.log(`SIGKILL after a 300 ms grace period: the run ended ${elapsed} ms after the abort`);
  });

  it('sends SIGTERM to every member of the group at once, not just the leader', async () => {
    const pidFile = path.join(tmp, 'grandchild');
    const ready = path.join(tmp, 'grandchild-ready');
    const gotTerm = path.join(tmp, 'grandchild-got-term');
    const controller = new AbortController();
    // the leader outlives TERM with a no-op handler; its child notes the TERM in a file (a KILL leaves none) and ends
    const child = `trap "echo TERM > ${gotTerm}; exit 0" TERM; : > ${ready}; while :; do sleep 0.1; done`;
    const script = `trap ":" TERM; sh -c '${child}' & echo $! > ${pidFile}; while :; do sleep 0.1; done`;
    let settled = false;
    const running = new ExecaRunner({ graceMs: 1500 }).run(['sh', '-c', script], { signal: controller.signal });
    void running.catch(() => undefined).finally(() => (settled = true));
    const grandchild = await readPidFile(pidFile);
    expect(await waitFor(() => fs.existsSync(ready), 30_000), 'the grandchild has set its TERM trap').toBe(true);
    const t0 = Date.now();
    controller.abort();
    expect(await waitFor(() => fs.existsSync(gotTerm) && !isRunning(grandchild), 30_000)).toBe(true);
    const error = await rejection(running);
    expect(error.failure.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
  });

  it('reaps grandchildren a successful command leaves behind', async () => {
    const runner = new ExecaRunner({ graceMs: 1000 });
    // one leftover holds our stdout pipe open, the other does not
    // the timeout only stops a regression from hanging here: the leftover holding stdout would keep the run open
    const result = await runner.run(['sh', '-c', 'sleep 300 & echo $!; sleep 300 >/dev/null 2>&1 & echo $!'], {
      timeoutMs: 60_000,
    });
    const pids = result.stdout.trim().split('\n').map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) remember(pid);
    for (const pid of pids) expect(await waitFor(() => !isRunning(pid), 30_000)).toBe(true);
  });

  it('drain waits for every running command; signalAll reaches them', async () => {
    const runner = new ExecaRunner({ graceMs: 300 });
    await runner.drain();
    let settled = false;
    const quick = runner.run(['sleep', '0.3']).then(() => (settled = true));
    await runner.drain();
    expect(settled).toBe(true);
    await quick;

    const spawned: SpawnedGroup[] = [];
    const signalled = new ExecaRunner({ onSpawn: (g) => spawned.push(g) });
    const long = signalled.run(['sleep', '300']);
    expect(spawned).toHaveLength(1);
    signalled.signalAll('SIGTERM');
    const error = await rejection(long);
    expect(error.failure.signal).toBe('SIGTERM');
    expect(error.failure.cancelled).toBe(false);
    await signalled.drain();
    expect(() => signalled.signalAll('SIGTERM')).not.toThrow();
  });
});
