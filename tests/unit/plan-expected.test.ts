/**
 * `ailinux plan` prices what would rerun from earlier runs' durations (issue 11, point 6): each step that runs
 * with its expected time, the total, the steps without history, and a plain "no history yet" when there is none.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderCost, rerunCost, runPlanCommand } from '../../src/cli/commands/plan.js';
import type { CliIO } from '../../src/cli/io.js';
import type { DurationSample } from '../../state/durations.js';
import type { PlanEntry } from '../../src/engine/planner.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-plan-expected-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function plan(workDir: string, json = false): Promise<string> {
  let out = '';
  const io: CliIO = {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: () => true },
    env: { SOURCE_DATE_EPOCH: '' },
    cwd: tmp,
    uid: 1000,
    commandLine: 'ailinux plan',
  };
  expect(await runPlanCommand({ workDir, profile: 'minimal', json }, io)).toBe(0);
  return out;
}

function seed(workDir: string, steps: Record<string, number[]>, over: Partial<DurationSample> = {}): void {
  fs.mkdirSync(path.join(workDir, 'state'), { recursive: true });
  const sample = (ms: number, i: number): DurationSample => ({
    ms,
    at: '2026-12-07T10:00:00.000Z',
    profile: 'minimal',
    host: os.hostname(),
    runId: `r${i}`,
    fingerprint: null,
    ...over,
  });
  const data = { version: 1, steps: Object.fromEntries(Object.entries(steps).map(([id, l]) => [id, l.map(sample)])) };
  fs.writeFileSync(path.join(workDir, 'state', 'durations.json'), JSON.stringify(data));
}

describe('plan with expected times', () => {
  it('says when there is no history', async () => {
    const out = await plan(path.join(tmp, 'none'));
    expect(out).not.toMatch(/~\d/);
    expect(out).toContain(
      'expected: no history yet (no earlier run of these steps for profile minimal on this host; each run that finishes a step records it)\n11 step(s) to run, 0 to skip\n',
    );
  });

  it('gives each step that runs its median, the total, and names the steps without history', async () => {
    const work = path.join(tmp, 'some');
    seed(work, { bootstrap: [20_000, 30_000, 25_000], packages: [80_000], squashfs: [10_000, 14_000] });
    const out = await plan(work);
    expect(out).toMatch(/^run {3}bootstrap {8}\[2 bootstrap\] Bootstrap the base system {2}~0:25$/m);
    expect(out).toMatch(/^run {3}packages .*Install the live system and the kernel {2}~1:20$/m);
    expect(out).toMatch(/^run {3}squashfs .* {2}~0:12$/m);
    expect(out).toMatch(/^run {3}configure .*Configure apt, locale and services policy$/m);
    expect(out).toContain(
      'expected: ~1:57 for what runs (median of earlier runs for profile minimal on this host); no history for configure, identity, chroot-cleanup, bootloaders, iso, checksums, verify, report\n',
    );
    const json = JSON.parse(await plan(work, true));
    expect(json.expected).toEqual({
      totalMs: 117_000,
      withoutHistory: [
        'configure',
        'identity',
        'chroot-cleanup',
        'bootloaders',
        'iso',
        'checksums',
        'verify',
        'report',
      ],
    });
    expect(json.steps.find((s: { id: string }) => s.id === 'bootstrap').expectedMs).toBe(25_000);
    expect(json.steps.find((s: { id: string }) => s.id === 'iso').expectedMs).toBeNull();
  });

  it("another host's or another profile's runs do not count", async () => {
    const work = path.join(tmp, 'elsewhere');
    seed(work, { bootstrap: [20_000] }, { host: `not-${os.hostname()}` });
    expect(await plan(work)).toContain('expected: no history yet');
    seed(work, { bootstrap: [20_000] }, { profile: 'ailinux' });
    expect(await plan(work)).toContain('expected: no history yet');
  });
});

describe('rerunCost', () => {
  const entry = (id: string, action: 'run' | 'skip'): Pick<PlanEntry, 'id' | 'action'> => ({ id, action });

  it('sums only what runs: a skipped step costs nothing even with history', () => {
    const cost = rerunCost([entry('a', 'skip'), entry('b', 'run'), entry('c', 'run')], { a: 60_000, b: 140_000 });
    expect(cost).toEqual({ totalMs: 140_000, missing: ['c'] });
    expect(renderCost(cost, 'ailinux')).toBe(
      'expected: ~2:20 for what runs (median of earlier runs for profile ailinux on this host); no history for c',
    );
  });
});
