/**
 * End to end: a real minimal build from the Debian mirror, booted under qemu (BIOS and UEFI) to
 * the login prompt of our own host name; a second build of the same config in another work dir,
 * whose ISO must be byte-identical (diffoscope shows where not); then a build interrupted during
 * the packages step and resumed, which must not rerun bootstrap. Every build runs under the same
 * SOURCE_DATE_EPOCH. Prints the figures the closing notes quote.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { readMountinfo, mountsUnder } from '../../src/runtime/mountinfo.js';
import { REPO, runCli, startCli } from '../helpers/cli.js';
import { realSample, sampleShape } from '../helpers/real-sample.js';

const base = process.env['AILINUX_E2E_DIR'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-e2e-'));
const work = path.join(base, 'work');
const iso = path.join(work, 'output', 'ailinux-minimal-amd64.iso');
const figures: string[] = [];
/** One date for every build here: what makes two builds of the same config byte-identical (docs/architecture.md). */
const EPOCH = '1733500000';
// AILINUX_LAYER_CACHE=off: every build runs every step (the .debs stay shared), so the second work dir's identical ISO
// is a build from scratch, and the interrupted build is interrupted in a packages step that runs
const env: NodeJS.ProcessEnv = { ...process.env, SOURCE_DATE_EPOCH: EPOCH, AILINUX_LAYER_CACHE: 'off' };
/** The sha256 of the first build's ISO, which the second build's and the resumed ISO step's must equal. */
let firstSha256 = '';

function sha256Of(file: string): string {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (let n = fs.readSync(fd, buffer); n > 0; n = fs.readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Where two ISOs differ: cmp's first byte, then diffoscope's first lines (a Debian package: diffoscope-minimal). */
function differences(a: string, b: string): string {
  const cmp = spawnSync('cmp', [a, b], { encoding: 'utf8' });
  const lines = [`cmp: ${(cmp.stdout + cmp.stderr).trim()}`];
  const diffoscope = spawnSync(
    'diffoscope',
    ['--no-progress', '--text', '-', '--max-text-report-size', '400000', a, b],
    {
      encoding: 'utf8',
      timeout: 900_000,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (diffoscope.error)
    lines.push(`diffoscope could not run (${diffoscope.error.message}): apt-get install diffoscope-minimal`);
  else
    lines.push('diffoscope, the first 200 lines:', ...diffoscope.stdout.split('\n').slice(0, 200), diffoscope.stderr);
  return lines.join('\n');
}

interface StatusJson {
  outcome: string;
  steps: Array<{ id: string; status: string; durationMs: number | null; attempts: number }>;
}

async function status(): Promise<StatusJson> {
  const r = await runCli(['status', '--json', '-w', work]);
  return JSON.parse(r.stdout) as StatusJson;
}

function readState(): {
  current: string | null;
  runId: string;
  ledger: Record<string, { status: string; runId: string | null; attempts: number; startedAt: string | null }>;
} | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(work, 'state', 'state.json'), 'utf8'));
  } catch {
    return null;
  }
}

describe.skipIf(skipUnlessRoot())('minimal profile, built for real and booted', () => {
  const mountsBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8');

  beforeAll(() => {
    console.log(`e2e work dir: ${work}`);
  });

  afterAll(() => {
    console.log(`\n=== e2e figures ===\n${figures.join('\n')}\n`);
  });

  it('builds the minimal ISO from the Debian mirror', async () => {
    const r = await runCli(['build', '--profile', 'minimal', '-w', work], { env });
    expect(r.code, r.stderr).toBe(0);
    figures.push(`full minimal build: ${(r.ms / 1000).toFixed(1)} s`);
    for (const s of (await status()).steps) figures.push(`  ${s.id}: ${((s.durationMs ?? 0) / 1000).toFixed(1)} s`);
    expect(fs.statSync(iso).size).toBeGreaterThan(50 * 1024 * 1024);
    figures.push(`  ISO size: ${(fs.statSync(iso).size / 1048576).toFixed(1)} MiB`);
    firstSha256 = sha256Of(iso);
    expect(mountsUnder(work, readMountinfo())).toEqual([]);
  });

  it('a second build of the same config in another work dir gives a byte-identical ISO', async () => {
    const other = path.join(base, 'work-again');
    const otherIso = path.join(other, 'output', path.basename(iso));
    const r = await runCli(['build', '--profile', 'minimal', '-w', other], { env });
    expect(r.code, r.stderr).toBe(0);
    figures.push(`second minimal build, another work dir: ${(r.ms / 1000).toFixed(1)} s`);
    const again = sha256Of(otherIso);
    figures.push(
      `reproducible: sha256 ${firstSha256} and ${again}: ${again === firstSha256 ? 'identical' : 'DIFFERENT'}`,
    );
    if (again !== firstSha256) console.log(`\n=== the two ISOs differ ===\n${differences(iso, otherIso)}\n`);
    expect(again, 'the ISOs of two builds of the same inputs differ; diffoscope printed where').toBe(firstSha256);
    expect(mountsUnder(other, readMountinfo())).toEqual([]);
    fs.rmSync(other, { recursive: true, force: true });
  });

  it('ailinux verify passes on it, booting BIOS and UEFI (OVMF) to the login prompt of the configured host name', async () => {
    const r = await runCli([
      'verify',
      '--boot',
      '--uefi',
      '--marker',
      'ailinux-minimal login:',
      '--timeout',
      '300',
      iso,
    ]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    for (const m of r.stdout.matchAll(/^.*boot \((BIOS|UEFI)\).*$/gim)) figures.push(`verify: ${m[0].trim()}`);
    figures.push(`ailinux verify --boot --uefi: ${(r.ms / 1000).toFixed(1)} s`);
    // docs/verify.md quotes one real run of this command: the same lines, run-to-run figures aside
    const doc = sampleShape(realSample(path.join(REPO, 'docs', 'verify.md'), 'verify-boot'));
    expect(
      sampleShape(r.stdout),
      `docs/verify.md's sample has drifted; paste this run's output there:\n${r.stdout}`,
    ).toEqual(doc);
  });

  it('a no-op build on the finished, unchanged work dir skips every step', async () => {
    const r = await runCli(['build', '--profile', 'minimal', '-w', work], { env });
    expect(r.code, r.stderr).toBe(0);
    const s = await status();
    expect(s.steps.every((x) => x.status === 'skipped')).toBe(true);
    figures.push(`no-op build on a finished work dir: ${(r.ms / 1000).toFixed(2)} s (whole CLI process)`);
  });

  it('resumes after a failure in the ISO step without redoing the rest', async () => {
    // A failing xorriso first on PATH makes the ISO step fail; resume runs with the real one.
    const fakeBin = path.join(base, 'failing-bin');
    fs.mkdirSync(fakeBin, { recursive: true });
    fs.writeFileSync(
      path.join(fakeBin, 'xorriso'),
      '#!/bin/sh\necho "xorriso : FAILURE : simulated by the e2e test" >&2\nexit 5\n',
      { mode: 0o755 },
    );
    fs.rmSync(iso);
    const failed = await runCli(['build', '--profile', 'minimal', '-w', work], {
      env: { ...env, PATH: `${fakeBin}:${process.env['PATH']}` },
    });
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stderr).toContain('build failed at step iso');
    expect(failed.stderr).toContain('ailinux resume');
    const resumed = await runCli(['resume', '-w', work], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const s = await status();
    const byId = Object.fromEntries(s.steps.map((x) => [x.id, x.status]));
    for (const id of ['bootstrap', 'configure', 'packages', 'identity', 'chroot-cleanup', 'squashfs', 'bootloaders'])
      expect(byId[id]).toBe('skipped');
    for (const id of ['iso', 'checksums', 'verify', 'report']) expect(byId[id]).toBe('done');
    // the ISO step made again from the same tree writes the same bytes
    expect(sha256Of(iso)).toBe(firstSha256);
    figures.push(`resume after a failure in the ISO step: ${(resumed.ms / 1000).toFixed(2)} s`);
  });

  it('a second build interrupted during packages resumes without rerunning bootstrap', async () => {
    const run = startCli(['build', '--fresh', '--profile', 'minimal', '-w', work], { env });
    const deadline = Date.now() + 600_000;
    let state = readState();
    while (Date.now() < deadline) {
      state = readState();
      if (state?.current === 'packages' && state.ledger['packages']?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(state?.current).toBe('packages');
    const interruptedRun = state!.runId;
    const bootstrapBefore = state!.ledger['bootstrap']!;
    expect(bootstrapBefore.status).toBe('done');
    await new Promise((r) => setTimeout(r, 3000));
    run.child.kill('SIGINT');
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    const after = readState()!;
    expect(after.ledger['packages']!.status).toBe('interrupted');
    expect(mountsUnder(work, readMountinfo())).toEqual([]);

    const resumed = await runCli(['resume', '-w', work], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const final = readState()!;
    expect(final.ledger['bootstrap']!.status).toBe('skipped');
    expect(final.ledger['bootstrap']!.runId).toBe(interruptedRun);
    expect(final.ledger['bootstrap']!.startedAt).toBe(bootstrapBefore.startedAt);
    expect(final.ledger['packages']!.status).toBe('done');
    expect(final.ledger['packages']!.runId).not.toBe(interruptedRun);
    const bootstrapLog = fs.readFileSync(path.join(work, 'logs', 'steps', 'bootstrap.log'), 'utf8');
    expect(bootstrapLog.split('\n').filter((l) => l.includes(`(run ${final.runId})`))).toEqual([]);
    figures.push(`resume after SIGINT during packages: ${(resumed.ms / 1000).toFixed(1)} s`);
  });

  it('leaves the host mount table as it found it', () => {
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mountsBefore);
  });
});
