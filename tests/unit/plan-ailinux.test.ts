/**
 * `ailinux plan --profile ailinux`, the real CLI (bin/ailinux.js on the compiled dist/, as users run
 * it; no root needed, nothing written): all twelve phases, each with its steps, in build order.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from '../helpers/cli.js';

const work = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-plan-')), 'work');
afterAll(() => fs.rmSync(path.dirname(work), { recursive: true, force: true }));

function plan(...args: string[]): string {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'steps', 'phases.js')))
    throw new Error('dist/ is missing or stale: run npm run build first');
  return execFileSync(process.execPath, [CLI, 'plan', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
  });
}

const EXPECTED: Array<[string, string]> = [
  ['preflight', '1 preflight'],
  ['bootstrap', '2 bootstrap'],
  ['configure', '3 base configuration'],
  ['packages', '4 kernel and live system'],
  ['desktop', '5 desktop'],
  ['installer', '6 installer'],
  ['branding', '7 AI helper and branding'],
  ['identity', '8 live user'],
  ['chroot-cleanup', '9 chroot cleanup'],
  ['squashfs', '10 SquashFS'],
  ['bootloaders', '11 bootloaders'],
  ['iso', '12 ISO, checksums and report'],
  ['checksums', '12 ISO, checksums and report'],
  ['verify', '12 ISO, checksums and report'],
  ['report', '12 ISO, checksums and report'],
];

describe('ailinux plan --profile ailinux', () => {
  it('lists all twelve phases with their steps, in order, every step to run in a new work dir', () => {
    const out = plan('--profile', 'ailinux', '-w', work);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe(`plan for profile ailinux in ${work}:`);
    const stepLines = lines.filter((l) => /^(run |skip) {2}\S/.test(l));
    expect(stepLines.map((l) => [l.slice(6, 23).trim(), /\[([^\]]+)\]/.exec(l)?.[1]])).toEqual(EXPECTED);
    expect(stepLines.every((l) => l.startsWith('run '))).toBe(true);
    expect(lines.at(-1)).toBe(`${EXPECTED.length} step(s) to run, 0 to skip`);
    const phases = new Set(EXPECTED.map(([, p]) => p.split(' ')[0]));
    for (let n = 1; n <= 12; n++) expect(phases.has(String(n)), `phase ${n}`).toBe(true);
    expect(out).toContain('run   preflight        [1 preflight] Check the host: tools, root, disk and archives\n');
    expect(fs.existsSync(work)).toBe(false);
  });

  it('--json gives each step its phase number and name', () => {
    const json = JSON.parse(plan('--profile', 'ailinux', '-w', work, '--json')) as {
      profile: string;
      steps: Array<{ id: string; phase: number; phaseName: string; action: string }>;
    };
    expect(json.profile).toBe('ailinux');
    expect(json.steps.map((s) => [s.id, `${s.phase} ${s.phaseName}`])).toEqual(EXPECTED);
  });

  it('the minimal profile uses the same steps code: a subset of the phases', () => {
    const out = plan('--profile', 'minimal', '-w', work);
    expect(out).toContain('run   bootstrap        [2 bootstrap] Bootstrap the base system\n');
    expect(out).not.toContain('[5 desktop]');
    expect(out).not.toContain('[1 preflight]');
  });
});
