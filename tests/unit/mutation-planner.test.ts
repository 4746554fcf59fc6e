/**
 * The planner on hand-made fingerprints and ledgers: each reason a step runs or is skipped, word for
 * word, since `plan`, `build` and `status` print them. Written against the survivors of
 * `npm run mutation` (docs/testing.md). A `pending` entry is left to the planner's own tests.
 */
import { describe, expect, it } from 'vitest';
import type { StepFingerprint } from '../../src/engine/fingerprint.js';
import { describeChanges, planBuild } from '../../src/engine/planner.js';
import {
  emptyLedgerEntry,
  type Artifact,
  type FingerprintMaterial,
  type Ledger,
  type LedgerEntry,
} from '../../src/types.js';

function material(over: Partial<FingerprintMaterial> = {}): FingerprintMaterial {
  return { stepVersion: 1, config: {}, files: {}, previous: null, ...over };
}

/** Three steps a, b, c chained by their fingerprints fa, fb, fc. */
function chain(changes: Partial<Record<'a' | 'b' | 'c', Partial<FingerprintMaterial>>> = {}): StepFingerprint[] {
  let previous: string | null = null;
  return (['a', 'b', 'c'] as const).map((id) => {
    const m = material({ previous, ...changes[id] });
    const fp = `f${id}${changes[id] ? "'" : ''}`;
    previous = fp;
    return { id, fingerprint: fp, material: m };
  });
}

function done(f: StepFingerprint, over: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    ...emptyLedgerEntry(f.id),
    status: 'done',
    fingerprint: f.fingerprint,
    material: f.material,
    attempts: 1,
    endedAt: '2026-01-01T00:00:00.000Z',
    artifacts: [{ path: `layers/${f.id}`, kind: 'dir' }],
    ...over,
  };
}

function ledgerOf(fps: readonly StepFingerprint[]): Ledger {
  return Object.fromEntries(fps.map((f) => [f.id, done(f)]));
}

const present = () => true;

describe('planBuild: why a step runs', () => {
  it('runs a step that has no ledger entry, and the steps after it as an earlier step runs again', () => {
    const fps = chain();
    const ledger = ledgerOf(fps);
    delete ledger['b'];
    const plan = planBuild(fps, ledger, present);
    expect(plan.map((p) => [p.id, p.action, p.reasons, p.undoFirst])).toEqual([
      ['a', 'skip', ['inputs unchanged since its last run (2026-01-01T00:00:00.000Z)'], false],
      ['b', 'run', ['it has never run in this work dir'], false],
      ['c', 'run', ['an earlier step (b) runs again'], false],
    ]);
  });

  it('names the first step that reruns, not the latest', () => {
    const fps = chain();
    const ledger = ledgerOf(fps);
    delete ledger['a'];
    delete ledger['b'];
    const plan = planBuild(fps, ledger, present);
    expect(plan[2]!.reasons).toEqual(['an earlier step (a) runs again']);
  });

  it('keeps a step that has reasons of its own to those reasons, not the earlier step', () => {
    const fps = chain();
    const plan = planBuild(fps, ledgerOf(fps), (a) => a.path === 'layers/b');
    expect(plan[0]!.reasons).toEqual(['its output layers/a is missing or was changed']);
    expect(plan[1]!.reasons).toEqual(['an earlier step (a) runs again']);
    expect(plan[2]!.reasons).toEqual(['its output layers/c is missing or was changed']);
  });

  it('lists every missing output of a step', () => {
    const fps = chain();
    const ledger = ledgerOf(fps);
    const two: Artifact[] = [
      { path: 'iso/one', kind: 'file', size: 1 },
      { path: 'iso/two', kind: 'file', size: 2 },
    ];
    ledger['a'] = done(fps[0]!, { artifacts: two });
    expect(planBuild(fps, ledger, () => false)[0]!.reasons).toEqual([
      'its output iso/one is missing or was changed',
      'its output iso/two is missing or was changed',
    ]);
  });

  it('reuses a skipped step like a done one, and says so without a time when none was recorded', () => {
    const fps = chain();
    const ledger = ledgerOf(fps);
    ledger['a'] = done(fps[0]!, { status: 'skipped', endedAt: null });
    const plan = planBuild(fps, ledger, present);
    expect(plan[0]).toMatchObject({
      action: 'skip',
      reasons: ['inputs unchanged since its last run'],
      undoFirst: false,
    });
    expect(plan[0]!.fingerprint).toBe('fa');
    expect(plan[0]!.material).toBe(fps[0]!.material);
  });

  it('reruns a done step that recorded no fingerprint or no material', () => {
    const fps = chain();
    for (const over of [{ fingerprint: null }, { material: null }]) {
      const ledger = ledgerOf(fps);
      ledger['a'] = done(fps[0]!, over);
      expect(planBuild(fps, ledger, present)[0]!.reasons).toEqual(['it has not completed in this work dir']);
    }
  });

  it('says the fingerprint changed when the material reads the same but the hash does not', () => {
    const fps = chain();
    const ledger = ledgerOf(fps);
    ledger['a'] = done(fps[0]!, { fingerprint: 'from-an-older-release' });
    const plan = planBuild(fps, ledger, present);
    expect(plan[0]!.reasons).toEqual(['its fingerprint changed']);
    expect(plan[1]!.reasons).toEqual(['an earlier step (a) runs again']);
  });

  it('reports the chain change of a step whose predecessor changed without rerunning, once', () => {
    // b's recorded material points at another predecessor: a step before it was added, removed or reordered
    const fps = chain();
    const ledger = ledgerOf(fps);
    ledger['b'] = done(fps[1]!, { fingerprint: 'old-b', material: material({ previous: 'removed-step' }) });
    const plan = planBuild(fps, ledger, present);
    expect(plan[0]!.action).toBe('skip');
    expect(plan[1]!.reasons).toEqual(['the steps before it changed (one was added, removed or reordered)']);
    expect(plan[2]!.reasons).toEqual(['an earlier step (b) runs again']);
  });

  it('a step whose predecessor changed and that changed itself gives its own reason, not the chain', () => {
    const fps = chain({ b: { config: { hostname: 'new' } } });
    const ledger = ledgerOf(chain());
    ledger['b'] = done(fps[1]!, { fingerprint: 'old-b', material: material({ previous: 'removed-step' }) });
    expect(planBuild(fps, ledger, present)[1]!.reasons).toEqual(['config field hostname changed (unset -> "new")']);
  });

  it('reuses a step whose fingerprint matches, whatever its recorded material says: the hash decides, the material explains', () => {
    const fps = chain();
    const ledger = ledgerOf(fps);
    ledger['a'] = done(fps[0]!, { material: material({ stepVersion: 0, config: { recordedBy: 'an older release' } }) });
    expect(planBuild(fps, ledger, present)[0]!.action).toBe('skip');
  });

  it('names a failed step with its error, or without one when none was kept, and undoes it first', () => {
    const fps = chain();
    const ledger = ledgerOf(fps);
    ledger['a'] = done(fps[0]!, {
      status: 'failed',
      error: { message: 'apt-get exited with 100', code: 'STEP', transient: false },
    });
    ledger['b'] = done(fps[1]!, { status: 'failed', error: null });
    const plan = planBuild(fps, ledger, present);
    expect(plan[0]).toMatchObject({
      action: 'run',
      reasons: ['it failed last time: apt-get exited with 100'],
      undoFirst: true,
    });
    expect(plan[1]).toMatchObject({ action: 'run', reasons: ['it failed last time'], undoFirst: true });
    expect(plan[2]).toMatchObject({ action: 'run', reasons: ['an earlier step (a) runs again'], undoFirst: false });
  });

  it('undoes first every step a stopped build left in flight, and no step that finished', () => {
    const fps = chain();
    for (const status of ['running', 'verifying', 'retrying', 'recovering', 'interrupted'] as const) {
      const ledger = ledgerOf(fps);
      ledger['b'] = done(fps[1]!, { status });
      const plan = planBuild(fps, ledger, present);
      expect(plan[1], status).toMatchObject({
        action: 'run',
        reasons: [`it was ${status} when the last build stopped; its partial work is undone first`],
        undoFirst: true,
      });
      expect(plan[2]!.undoFirst).toBe(false);
    }
  });

  it('does not undo a finished step that reruns for a changed input', () => {
    const changed = chain({ a: { config: { hostname: 'new' } } });
    const plan = planBuild(changed, ledgerOf(chain()), present);
    expect(plan[0]).toMatchObject({ action: 'run', undoFirst: false });
    expect(plan[0]!.reasons).toEqual(['config field hostname changed (unset -> "new")']);
  });
});

describe('describeChanges', () => {
  it('names each input file that is new, gone, missing on disk or changed, in path order', () => {
    const before = material({ files: { 'b.png': 'h1', 'c.png': 'h2', 'd.png': 'h3', 'e.png': 'h4' } });
    const after = material({ files: { 'a.png': 'h0', 'c.png': 'missing', 'd.png': 'h3x', 'e.png': 'h4' } });
    expect(describeChanges(before, after)).toEqual([
      'input file a.png is new',
      'input file b.png is no longer used',
      'input file c.png is missing',
      'input file d.png changed',
    ]);
  });

  it('names list changes by what was added and removed, and a reorder as such', () => {
    const d = (a: unknown, b: unknown) =>
      describeChanges(material({ config: { 'packages.extra': a } }), material({ config: { 'packages.extra': b } }));
    expect(d(['vim', 'htop'], ['htop', 'curl'])).toEqual([
      'config field packages.extra changed (added curl; removed vim)',
    ]);
    expect(d(['vim'], [])).toEqual(['config field packages.extra changed (removed vim)']);
    expect(d(['vim', 'htop'], ['htop', 'vim'])).toEqual(['config field packages.extra changed (reordered)']);
    expect(d([1, 2], [2, 3])).toEqual(['config field packages.extra changed ([1,2] -> [2,3])']);
    expect(d(['a'], 'a')).toEqual(['config field packages.extra changed (["a"] -> "a")']);
    expect(d(['a', 'b'], ['c', 'd', 'a'])).toEqual(['config field packages.extra changed (added c, d; removed b)']);
    expect(d(['a', 'b', 'c'], ['c'])).toEqual(['config field packages.extra changed (removed a, b)']);
    // a list that is not all text is shown whole
    expect(d(['a', 1], ['a', 2])).toEqual(['config field packages.extra changed (["a",1] -> ["a",2])']);
  });

  it('names the changed leaves of an object field, in key order', () => {
    const before = material({ config: { liveUser: { name: 'live', shell: '/bin/bash', groups: ['a'] } } });
    const after = material({ config: { liveUser: { name: 'demo', shell: '/bin/bash', groups: ['a', 'b'], uid: 5 } } });
    expect(describeChanges(before, after)).toEqual([
      'config field liveUser.groups changed (added b); config field liveUser.name changed ("live" -> "demo"); config field liveUser.uid changed (unset -> 5)',
    ]);
  });

  it('shows a section that appears or goes away whole', () => {
    const d = (a: unknown, b: unknown) =>
      describeChanges(material({ config: { helper: a } }), material({ config: { helper: b } }));
    expect(d(null, { name: 'h' })).toEqual(['config field helper changed (null -> {"name":"h"})']);
    expect(d({ name: 'h' }, null)).toEqual(['config field helper changed ({"name":"h"} -> null)']);
    expect(d('x', { name: 'h' })).toEqual(['config field helper changed ("x" -> {"name":"h"})']);
  });

  it('shortens a long value to 60 characters, and says environment for an environment input', () => {
    const long = 'x'.repeat(70);
    expect(
      describeChanges(material({ config: { name: long } }), material({ config: { name: 'y'.repeat(58) } })),
    ).toEqual([`config field name changed ("${'x'.repeat(56)}... -> "${'y'.repeat(58)}")`]);
    expect(
      describeChanges(
        material({ config: { 'env.SOURCE_DATE_EPOCH': 1 } }),
        material({ config: { 'env.SOURCE_DATE_EPOCH': null } }),
      ),
    ).toEqual(['environment SOURCE_DATE_EPOCH changed (1 -> null)']);
  });

  it('lists the version change first, then the fields in order, then the files', () => {
    const before = material({ stepVersion: 1, config: { b: 1, a: 1 }, files: { f: 'h' } });
    const after = material({ stepVersion: 3, config: { b: 2, a: 2 }, files: { f: 'h2' } });
    expect(describeChanges(before, after)).toEqual([
      "the step's implementation changed (version 1 -> 3)",
      'config field a changed (1 -> 2)',
      'config field b changed (1 -> 2)',
      'input file f changed',
    ]);
  });

  it('finds nothing between equal materials, whatever the key order', () => {
    const a = material({ config: { x: { p: 1, q: [1, 2] } }, files: { f: 'h' } });
    const b = material({ config: { x: { q: [1, 2], p: 1 } }, files: { f: 'h' } });
    expect(describeChanges(a, b)).toEqual([]);
  });
});
