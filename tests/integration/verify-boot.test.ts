/**
 * `ailinux verify --boot` on the tiny busybox ISO (made by the real steps): qemu reaches the marker
 * from inside the squashfs on BIOS and UEFI; a marker that never comes times out with exit 1, the
 * timeout and the last serial lines; Ctrl-C ends qemu; the build's verify step boots it too.
 * Every qemu is ended by its own process group: none may outlive its test.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipTestWithout } from '../helpers/root.js';
import { verifyResultFile, verifyStep } from '../../src/steps/verify.js';
import { consoleLines } from '../../src/verify/boot.js';
import type { VerifyReport } from '../../src/verify/types.js';
import { runCli, runCliAsNobody, startCli } from '../helpers/cli.js';
import {
  OVMF,
  SQUASHFS_MARKER,
  buildTinyIso,
  makeInitramfs,
  onPath,
  tinyLiveSetup,
  type TinyIso,
} from '../helpers/tiny-live.js';

const canDropRoot = process.getuid?.() === 0 && onPath('setpriv');
let skipReason: string | null = !onPath('qemu-system-x86_64')
  ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)'
  : null;
let tmp = '';
let tiny: TinyIso;
const nonce = crypto.randomBytes(6).toString('hex');
const marker = `${SQUASHFS_MARKER} ${nonce}`;
const figures: string[] = [];

/** qemu processes whose command line names this ISO (read from /proc; nothing is signalled). */
function qemusOf(iso: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (cmdline.startsWith('qemu-system') && cmdline.includes(iso)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The CLI as nobody when we are root (verify --boot needs no root), else as ourselves. */
function runVerify(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  if (!canDropRoot) return runCli(['verify', ...args]);
  return runCliAsNobody(['verify', ...args]);
}

function row(stdout: string, name: string): { status: string; lines: string[] } {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${name} `));
  expect(at, stdout).toBeGreaterThanOrEqual(0);
  const [status = '', ...detail] = lines[at]!.slice(name.length)
    .trim()
    .split(/\s{2,}/);
  const more = [];
  for (let i = at + 1; i < lines.length && lines[i]!.startsWith(' '); i++) more.push(lines[i]!.trim());
  return { status, lines: [detail.join('  '), ...more] };
}

beforeAll(async () => {
  if (skipReason) return;
  const setup = tinyLiveSetup('ailinux-verify-boot-test-');
  if ('skip' in setup) {
    skipReason = setup.skip;
    return;
  }
  tmp = setup.tmp;
  const { parts } = setup;
  const t = performance.now();
  tiny = await buildTinyIso({
    workDir: path.join(tmp, 'work'),
    parts,
    initrd: makeInitramfs(parts.busybox, parts.modules, nonce),
  });
  figures.push(
    `tiny ISO build: ${((performance.now() - t) / 1000).toFixed(1)} s, ${(fs.statSync(tiny.iso).size / 1048576).toFixed(1)} MiB`,
  );
});

afterAll(() => {
  if (figures.length > 0) console.log(`verify-boot figures:\n  ${figures.join('\n  ')}`);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ailinux verify --boot on the tiny busybox ISO', () => {
  // qemu without KVM on a loaded machine: a boot can take minutes, so the timeouts are wide (two boots, one after the other)
  it('reaches the marker from inside the squashfs on BIOS and on UEFI (exit 0)', { timeout: 600_000 }, async (t) => {
    skipTestWithout(t, skipReason);
    skipTestWithout(t, fs.existsSync(OVMF) ? null : `${OVMF} is missing (apt-get install ovmf)`);
    const r = await runVerify([
      '--boot',
      '--uefi',
      '--marker',
      marker,
      '--timeout',
      '240',
      '--memory',
      '512',
      tiny.iso,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const name of ['boot BIOS (qemu)', 'boot UEFI (qemu)']) {
      const { status, lines } = row(r.stdout, name);
      expect(status, lines.join('\n')).toBe('ok');
      expect(lines[0]).toMatch(
        new RegExp(`^"${marker}" on the serial console after \\d+\\.\\d s \\((BIOS|UEFI), qemu without KVM\\)$`),
      );
      figures.push(`${name}: ${/after (\S+ s)/.exec(lines[0]!)![1]}`);
    }
    figures.push(
      `verify --boot --uefi, whole CLI run${canDropRoot ? ' as nobody' : ''}: ${(r.ms / 1000).toFixed(1)} s`,
    );
    expect(qemusOf(tiny.iso)).toEqual([]);
  });

  it('a marker that never appears times out: exit 1, the timeout and the last serial lines, the log kept', async (t) => {
    skipTestWithout(t, skipReason);
    const never = `NEVER-PRINTED-${nonce}`;
    // shorter than the tiny system's boot to its own poweroff (12 s idle, 17 s beside other tests), so the timeout ends it
    const r = await runVerify(['--boot', '--marker', never, '--timeout', '6', tiny.iso]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const { status, lines } = row(r.stdout, 'boot BIOS (qemu)');
    expect(status).toBe('FAIL');
    const head = `no "${never}" on the serial console within the 6.0 s timeout (BIOS)`;
    const serial = lines.filter((l) => l.startsWith('| '));
    const logLine = lines.find((l) => l.startsWith('full serial log: '));
    expect(logLine).toBeDefined();
    const logFile = logLine!.slice('full serial log: '.length);
    // What the console printed within the timeout depends on how loaded the machine is (TCG: GRUB after 3 s idle,
    // maybe nothing within 20 s beside stress-ng), so the lines shown are checked against the log, whatever it holds.
    if (lines[0] === `${head}; the serial console printed nothing`) {
      expect(serial).toEqual([]);
    } else {
      expect(lines[0]).toBe(`${head}; last serial lines:`);
      expect(serial.length, lines.join('\n')).toBeGreaterThan(0);
      // the lines shown are the console's own, in order (the log may have grown a little since)
      const logged = consoleLines(fs.readFileSync(logFile, 'latin1'));
      const shown = serial.map((l) => l.slice(2).replace(/…$/, ''));
      const at = logged.findIndex((_, k) => shown.every((l, m) => logged[k + m]?.startsWith(l)));
      expect(at, `${shown.join('\n')}\n--- log:\n${logged.join('\n')}`).toBeGreaterThanOrEqual(0);
    }
    expect(r.stdout).toMatch(/^FAIL: 1 of 10 checks failed \(boot BIOS \(qemu\)\) in /m);
    figures.push(
      `timeout case (6 s timeout), whole CLI run: ${(r.ms / 1000).toFixed(1)} s; last serial line: ${serial.at(-1)}`,
    );
    fs.rmSync(path.dirname(logFile), { recursive: true, force: true });
    expect(qemusOf(tiny.iso)).toEqual([]);
  });

  it('Ctrl-C during the boot ends qemu and exits 130', async (t) => {
    skipTestWithout(t, skipReason);
    const run = startCli(['verify', '--boot', '--marker', `NEVER-${nonce}`, '--timeout', '60', tiny.iso]);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && qemusOf(tiny.iso).length === 0) await new Promise((r) => setTimeout(r, 100));
    expect(qemusOf(tiny.iso).length, run.output()).toBe(1);
    await new Promise((r) => setTimeout(r, 1000));
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.code, done.stderr).toBe(130);
    expect(done.stderr).toContain('verify interrupted by SIGINT; qemu and xorriso were ended');
    expect(qemusOf(tiny.iso)).toEqual([]);
  });
});

describe('verifyStep with verify.boot', () => {
  it("boots the ISO on BIOS to the marker through the build's runner and records it", async (t) => {
    skipTestWithout(t, skipReason);
    // GRUB's own line is the marker here: it proves the step's qemu path in seconds; the squashfs marker is proven above
    const grubMarker = "Booting `minimal live'";
    const ctx = {
      ...tiny.ctx,
      config: {
        ...tiny.config,
        verify: {
          ...tiny.config.verify,
          boot: true,
          bios: true,
          uefi: false,
          marker: grubMarker,
          timeoutSec: 240,
          memoryMb: 512,
        },
      },
    };
    const t0 = performance.now();
    await verifyStep.run(ctx);
    figures.push(
      `verifyStep with a BIOS boot to GRUB's "Booting" line: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    await verifyStep.verify(ctx);
    const report = JSON.parse(fs.readFileSync(verifyResultFile(ctx.config, ctx.paths), 'utf8')) as VerifyReport;
    expect(report.boots.map((b) => [b.firmware, b.outcome])).toEqual([['bios', 'marker']]);
    expect(fs.readFileSync(path.join(ctx.paths.logsDir, 'verify', 'serial-bios.log'), 'latin1')).toContain(grubMarker);
    expect(qemusOf(tiny.iso)).toEqual([]);
  });
});
