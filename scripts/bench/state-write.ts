/**
 * 8. The state write (state/store.ts): StateStore.save of a realistic state, many times over, p50 and p99. Each save
 * validates the state against its schema, writes it to a temp file, fsyncs it, renames it into place and fsyncs the
 * directory, as every step transition of a build does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StateStore } from '../../state/store.js';
import { minimalProfile } from '../../src/config/profiles/minimal.js';
import { fakeEnv } from './fake-build.js';
import { percentile, summarize } from './stats.js';
import { type BenchContext, ailinuxOk, type MeasureOutput, SkipMeasure, writeConfig } from './run.js';

/** The state file of the biggest build this run made; else a fake-tools build of minimal (its state is real). */
async function realisticState(ctx: BenchContext): Promise<{ file: string; from: string }> {
  for (const [name, built] of Object.entries({
    'the ailinux profile build': ctx.shared.ailinux,
    'the minimal build': ctx.shared.minimal,
  })) {
    if (built) return { file: path.join(built.work, 'state', 'state.json'), from: `${name} of this run` };
  }
  if (!ctx.sandboxed)
    throw new SkipMeasure("needs a build's state: run it through `npm run bench` (root, in the sandbox)");
  const work = path.join(ctx.root, 'state-write-work');
  // the fake tools make no ISO that verify would pass: every step of minimal but that one
  const config = writeConfig(ctx, 'state-write-minimal', {
    extends: 'minimal',
    retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
    steps: (minimalProfile.steps ?? []).filter((id) => id !== 'verify'),
  });
  await ailinuxOk(ctx, ['build', '-c', config, '-w', work], { env: fakeEnv(ctx), name: 'state-write-build' });
  return { file: path.join(work, 'state', 'state.json'), from: 'a minimal build with the fake host tools' };
}

export async function stateWrite(ctx: BenchContext): Promise<MeasureOutput> {
  const source = await realisticState(ctx);
  const state = StateStore.open(source.file).load();
  if (!state) throw new Error(`no state in ${source.file}`);
  const dir = path.join(ctx.root, 'state-write');
  fs.mkdirSync(dir, { recursive: true });
  const store = StateStore.open(path.join(dir, 'state.json'));
  const ids = Object.keys(state.ledger);
  const times: number[] = [];
  for (let i = 0; i < ctx.args.writes; i++) {
    // what a transition changes: one step's entry, the current step
    const id = ids[i % ids.length]!;
    const entry = state.ledger[id]!;
    entry.attempts = (entry.attempts % 5) + 1;
    state.current = id;
    const start = process.hrtime.bigint();
    store.save(state);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const bytes = fs.statSync(store.stateFile).size;
  const s = summarize(times);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    rows: [
      { case: 'p50', ms: round(percentile(times, 50)), detail: { writes: times.length, bytes } },
      { case: 'p99', ms: round(percentile(times, 99)) },
      { case: 'max', ms: s.maxMs },
    ],
    notes: [
      `${times.length} saves of a ${bytes}-byte state (from ${source.from}) into the bench's temp dir; each validates, writes, fsyncs and renames, so the disk's fsync bounds p99.`,
    ],
  };
}
