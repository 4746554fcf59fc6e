import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { describeChanges, planBuild } from '../../src/engine/planner.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';

function doneLedger(fps: ReturnType<typeof fingerprintSteps>): Ledger {
  const ledger: Ledger = {};
  for (const f of fps) {
    ledger[f.id] = {
      ...emptyLedgerEntry(f.id),
      status: 'done',
      fingerprint: f.fingerprint,
      material: f.material,
      attempts: 1,
      endedAt: '2026-01-01T00:00:00.000Z',
      artifacts: [{ path: `x/${f.id}`, kind: 'dir' }],
    };
  }
  return ledger;
}

const base = loadConfig({ profile: 'minimal' });
const steps = resolveSteps(base.config);
const env = { sourceDateEpoch: null };

describe('planner', () => {
  it('skips every step of an unchanged, finished build and says why', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    const plan = planBuild(fps, doneLedger(fps), () => true);
    expect(plan.every((p) => p.action === 'skip')).toBe(true);
    expect(plan[0]!.reasons[0]).toMatch(/^inputs unchanged since its last run/);
  });

  it('names the changed config field, what was added, and reruns everything after it', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    const changed = { ...base.config, packages: { ...base.config.packages, extra: ['htop'] } };
    const plan = planBuild(fingerprintSteps(steps, changed, base.baseDir, env), doneLedger(fps), () => true);
    const byId = Object.fromEntries(plan.map((p) => [p.id, p]));
    expect(byId['bootstrap']!.action).toBe('skip');
    expect(byId['configure']!.action).toBe('skip');
    expect(byId['packages']!.reasons).toEqual(['config field packages.extra changed (added htop)']);
    expect(byId['identity']!.reasons).toEqual(['an earlier step (packages) runs again']);
    expect(plan.slice(2).every((p) => p.action === 'run')).toBe(true);
  });

  it('a host name change reruns identity and later steps, not the packages', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    const changed = { ...base.config, hostname: 'kiosk' };
    const plan = planBuild(fingerprintSteps(steps, changed, base.baseDir, env), doneLedger(fps), () => true);
    expect(plan.filter((p) => p.action === 'run').map((p) => p.id)).toEqual([
      'identity',
      'chroot-cleanup',
      'squashfs',
      'bootloaders',
      'iso',
      'checksums',
      'verify',
      'report',
    ]);
    expect(plan.find((p) => p.id === 'identity')!.reasons).toEqual([
      'config field hostname changed ("ailinux-minimal" -> "kiosk")',
    ]);
  });

  it('names an input file whose contents changed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-plan-'));
    const keyring = path.join(dir, 'keyring.gpg');
    fs.writeFileSync(keyring, 'one');
    const config = { ...base.config, distribution: { ...base.config.distribution, keyring: { path: keyring } } };
    const before = fingerprintSteps(steps, config, dir, env);
    fs.writeFileSync(keyring, 'two');
    const plan = planBuild(fingerprintSteps(steps, config, dir, env), doneLedger(before), () => true);
    expect(plan[0]!.reasons).toEqual([`input file ${keyring} changed`]);
    fs.rmSync(dir, { recursive: true });
  });

  it('runs a pending step even when its recorded fingerprint still matches (a pause before it started)', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    const ledger = doneLedger(fps);
    ledger['squashfs'] = { ...ledger['squashfs']!, status: 'pending' };
    const plan = planBuild(fps, ledger, () => true);
    expect(plan.find((p) => p.id === 'squashfs')).toMatchObject({
      action: 'run',
      reasons: ['it has not completed in this work dir'],
      undoFirst: false,
    });
    expect(plan.filter((p) => p.action === 'run').map((p) => p.id)).toEqual(
      steps.map((s) => s.id).slice(steps.findIndex((s) => s.id === 'squashfs')),
    );
  });

  it('reruns a step whose output is gone', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    const plan = planBuild(fps, doneLedger(fps), (a) => a.path !== 'x/iso');
    expect(plan.find((p) => p.id === 'iso')!.reasons).toEqual(['its output x/iso is missing or was changed']);
    expect(plan.filter((p) => p.action === 'run').map((p) => p.id)).toEqual(['iso', 'checksums', 'verify', 'report']);
  });

  it('undoes first a step that was running, interrupted or failed', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    // verifying too: a crash while the step checked its own output leaves that output suspect
    for (const status of ['running', 'verifying', 'retrying', 'interrupted', 'failed', 'recovering'] as const) {
      const ledger = doneLedger(fps);
      ledger['packages'] = { ...ledger['packages']!, status };
      const p = planBuild(fps, ledger, () => true).find((x) => x.id === 'packages')!;
      expect(p.action).toBe('run');
      expect(p.undoFirst).toBe(true);
      expect(p.reasons[0]).toMatch(
        status === 'failed' ? /failed last time/ : new RegExp(`was ${status} when the last build stopped`),
      );
    }
  });

  it('SOURCE_DATE_EPOCH is an input of every step that writes the image, the chroot steps too (it reaches their commands)', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    const plan = planBuild(
      fingerprintSteps(steps, base.config, base.baseDir, { sourceDateEpoch: 1700000000 }),
      doneLedger(fps),
      () => true,
    );
    for (const id of ['bootstrap', 'packages', 'squashfs'])
      expect(plan.find((p) => p.id === id)!.reasons, id).toEqual([
        'environment SOURCE_DATE_EPOCH changed (unset -> 1700000000)',
      ]);
  });

  it('describes a step version change', () => {
    const m = { stepVersion: 1, config: {}, files: {}, previous: null };
    expect(describeChanges(m, { ...m, stepVersion: 2 })).toEqual([
      "the step's implementation changed (version 1 -> 2)",
    ]);
  });
});

describe('planner: a changed step list', () => {
  it('reruns the steps after a removed step instead of shipping stale output', () => {
    const fps = fingerprintSteps(steps, base.config, base.baseDir, env);
    const without = steps.filter((s) => s.id !== 'identity');
    const plan = planBuild(fingerprintSteps(without, base.config, base.baseDir, env), doneLedger(fps), () => true);
    const byId = Object.fromEntries(plan.map((p) => [p.id, p]));
    expect(byId['packages']!.action).toBe('skip');
    expect(byId['chroot-cleanup']!.reasons).toEqual([
      'the steps before it changed (one was added, removed or reordered)',
    ]);
    expect(byId['squashfs']!.reasons).toEqual(['an earlier step (chroot-cleanup) runs again']);
  });
});
