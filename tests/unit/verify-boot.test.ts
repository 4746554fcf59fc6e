/**
 * The boot test's control flow with a scripted qemu (a Runner that writes the serial log over
 * time): the marker ends qemu by its signal, a timeout names itself and the last serial lines, an
 * early exit says so, a missing qemu or OVMF says what to install, and a caller's abort propagates.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandError } from '../../src/errors.js';
import { quoteArgv, type RunOptions, type RunResult, type Runner } from '../../src/runtime/runner.js';
import { bootTest } from '../../src/verify/boot.js';

interface Script {
  /** [ms after start, text appended to the serial log] */
  writes: [number, string][];
  /** Exit by itself after this many ms with this code (never, when absent). */
  exitAfterMs?: number;
  exitCode?: number;
  stderr?: string;
}

/** Plays a qemu: appends to the -serial file: log on schedule, ends when aborted (as the real runner does) or by itself. */
class ScriptedQemu implements Runner {
  readonly calls: string[][] = [];
  abortedAtMs: number | null = null;
  /** The serial log as it was when the abort came. */
  logAtAbort: string | null = null;
  constructor(private readonly script: Script) {}

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv]);
    const log = argv[argv.indexOf('-serial') + 1]!.slice('file:'.length);
    const started = Date.now();
    const fail = (fields: { exitCode: number | null; signal: string | null; cancelled: boolean }, stderr = '') =>
      new CommandError(
        { argv: [...argv], ...fields, stderrTail: stderr, rerun: quoteArgv(argv), timedOut: false },
        false,
      );
    return new Promise((resolve, reject) => {
      const timers = this.script.writes.map(([ms, text]) => setTimeout(() => fs.appendFileSync(log, text), ms));
      const finish = () => timers.forEach(clearTimeout);
      options.signal?.addEventListener('abort', () => {
        this.abortedAtMs = Date.now() - started;
        this.logAtAbort = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
        finish();
        reject(fail({ exitCode: null, signal: 'SIGTERM', cancelled: true }));
      });
      if (this.script.exitAfterMs !== undefined) {
        setTimeout(() => {
          finish();
          const code = this.script.exitCode ?? 0;
          if (code === 0) resolve({ exitCode: 0, stdout: '', stderr: '', durationMs: Date.now() - started });
          else reject(fail({ exitCode: code, signal: null, cancelled: false }, this.script.stderr));
        }, this.script.exitAfterMs);
      }
    });
  }
  async drain(): Promise<void> {}
  signalAll(): void {}
}

const THIS_FILE = fileURLToPath(import.meta.url);
let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-boot-unit-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = () => ({
  iso: '/isos/x.iso',
  firmware: 'bios' as const,
  memoryMb: 512,
  logFile: path.join(dir, 'serial.log'),
  marker: 'x login:',
  pollMs: 20,
});

describe('bootTest', () => {
  it('stops qemu as soon as the marker appears, and reports when', async () => {
    const runner = new ScriptedQemu({
      writes: [
        [30, 'GNU GRUB\n'],
        [120, 'Debian GNU/Linux 12 x ttyS0\n\nx login: '],
      ],
    });
    // a timeout far past the test's own: the run can only pass by ending qemu on the marker
    const r = await bootTest({ ...base(), runner, timeoutMs: 120_000 });
    expect(r).toMatchObject({
      ok: true,
      outcome: 'marker',
      exitCode: null,
      lastLines: ['GNU GRUB', 'Debian GNU/Linux 12 x ttyS0', 'x login:'],
    });
    expect(r.markerMs).toBeGreaterThanOrEqual(100);
    expect(runner.logAtAbort, 'qemu was ended once the marker was there').toMatch(/x login: $/);
    expect(r.detail).toMatch(/^"x login:" on the serial console after \d+\.\d s \(BIOS, qemu without KVM\)$/);
    expect(runner.calls).toHaveLength(1);
  });

  it('a marker printed just before qemu powers off still counts', async () => {
    const runner = new ScriptedQemu({ writes: [[10, 'x login: ']], exitAfterMs: 10 });
    const r = await bootTest({ ...base(), runner, timeoutMs: 60_000, pollMs: 500 });
    expect(r).toMatchObject({ ok: true, outcome: 'marker', exitCode: 0 });
  });

  it('times out with the timeout and the last serial lines in the message, and ends qemu', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `boot line ${i}`).join('\r\n');
    const runner = new ScriptedQemu({ writes: [[20, `\x1b[2J${lines}\r\n`]] });
    const r = await bootTest({ ...base(), runner, timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(r.outcome).toBe('timeout');
    expect(runner.abortedAtMs).toBeGreaterThanOrEqual(290);
    expect(r.detail).toBe(
      `no "x login:" on the serial console within the 0.3 s timeout (BIOS); last serial lines:\n${Array.from({ length: 12 }, (_, i) => `boot line ${i + 8}`).join('\n')}`,
    );
  });

  it('says so when the console stayed silent', async () => {
    const r = await bootTest({ ...base(), runner: new ScriptedQemu({ writes: [] }), timeoutMs: 100 });
    expect(r.detail).toBe(
      'no "x login:" on the serial console within the 0.1 s timeout (BIOS); the serial console printed nothing',
    );
  });

  it("qemu that exits before the marker: code, qemu's own words, the console", async () => {
    const runner = new ScriptedQemu({
      writes: [[5, 'Kernel panic - not syncing: VFS\n']],
      exitAfterMs: 50,
      exitCode: 1,
      stderr: 'qemu-system-x86_64: -drive file=/isos/x.iso: Could not open',
    });
    const r = await bootTest({ ...base(), runner, timeoutMs: 60_000, firmware: 'uefi', ovmf: THIS_FILE });
    expect(r).toMatchObject({ ok: false, outcome: 'exited', exitCode: 1 });
    expect(r.detail).toMatch(
      /^qemu exited with code 1 after \d+\.\d s without printing "x login:" \(UEFI\); qemu said: qemu-system-x86_64: -drive file=\/isos\/x.iso: Could not open; last serial lines:\nKernel panic - not syncing: VFS$/,
    );
    expect(runner.calls[0]!.slice(-2)).toEqual(['-bios', THIS_FILE]);
  });

  it('names the package when qemu or OVMF is missing', async () => {
    const noQemu = new ScriptedQemu({ writes: [], exitAfterMs: 1, exitCode: 127 });
    expect((await bootTest({ ...base(), runner: noQemu, timeoutMs: 1000 })).detail).toBe(
      'qemu-system-x86_64 is not installed: apt-get install qemu-system-x86',
    );
    const runner = new ScriptedQemu({ writes: [] });
    const r = await bootTest({
      ...base(),
      runner,
      timeoutMs: 1000,
      firmware: 'uefi',
      ovmf: path.join(dir, 'no-OVMF.fd'),
    });
    expect(r).toMatchObject({
      ok: false,
      outcome: 'not-run',
      detail: `${path.join(dir, 'no-OVMF.fd')} is missing: apt-get install ovmf`,
    });
    expect(runner.calls).toEqual([]);
  });

  it("the caller's abort ends qemu and rejects with the cancellation", async () => {
    const runner = new ScriptedQemu({ writes: [[5, 'booting\n']] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 80);
    const error = await bootTest({ ...base(), runner, timeoutMs: 120_000, signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).failure.cancelled).toBe(true);
    expect(runner.abortedAtMs, 'qemu was ended by the abort').not.toBeNull();
  });
});
