/**
 * 7. The cold start of `ailinux status` and `ailinux plan` against a bare `node -e 0`, measured in the same run
 * (was scripts/bench-startup.mjs). A throwaway work dir holds a finished minimal build's state (every step done, five
 * recorded durations per step), so status reads and checks a real state file and plan fingerprints every step
 * against it. plan reads its suites' Release files from the loopback archive, so the figure holds no network time
 * and does not move when the archive publishes.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { STATE_SCHEMA_VERSION } from '../../state/schema.js';
import { durationsFile, recordDuration, thisHost } from '../../state/durations.js';
import { StateStore } from '../../state/store.js';
import { emptyLedgerEntry } from '../../src/types.js';
import { loopbackArchiveConfig, startLoopbackArchive } from '../../tests/helpers/loopback-archive.js';
import { ratio, summarize } from './stats.js';
import { type BenchContext, CLI, type MeasureOutput, writeConfig } from './run.js';

/** Spawn to exit, output thrown away, ms. */
function timeRun(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`node ${argv.join(' ')} exited ${code}`));
      else resolve(ms);
    });
  });
}

/** A finished minimal build's state, as plan and status read it: its order and fingerprints from plan itself. */
async function makeWorkDir(work: string, config: string): Promise<void> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'plan', '-c', config, '-w', work, '--json'], {
    maxBuffer: 16 << 20,
  });
  const planned = JSON.parse(stdout) as { steps: Array<{ id: string; fingerprint: string }> };
  const now = new Date().toISOString();
  const order = planned.steps.map((s) => s.id);
  const ledger = Object.fromEntries(
    planned.steps.map((s, i) => [
      s.id,
      {
        ...emptyLedgerEntry(s.id),
        status: 'done' as const,
        fingerprint: s.fingerprint,
        attempts: 1,
        startedAt: now,
        endedAt: now,
        durationMs: 1000 * (i + 1),
        runId: 'bench',
      },
    ]),
  );
  StateStore.open(path.join(work, 'state', 'state.json')).save({
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: 'bench',
    workId: 'bench',
    runId: 'bench',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: config },
    config: null,
    outcome: 'succeeded',
    createdAt: now,
    updatedAt: now,
    order,
    ledger,
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'bench', command: 'build', startedAt: now, endedAt: now, outcome: 'succeeded' }],
  });
  for (const id of order)
    for (let i = 0; i < 5; i++)
      recordDuration(durationsFile(path.join(work, 'state')), id, {
        ms: 10_000 + i * 1000,
        at: now,
        profile: 'minimal',
        host: thisHost(),
        runId: `bench-${i}`,
        fingerprint: null,
      });
}

export async function startup(ctx: BenchContext): Promise<MeasureOutput> {
  const archive = await startLoopbackArchive();
  try {
    archive.publish('bookworm', 'Sat, 11 Jul 2026 10:16:37 UTC');
    archive.publish('bookworm-updates', 'Sun, 01 Nov 2026 09:00:00 UTC');
    const config = writeConfig(ctx, 'startup-loopback', loopbackArchiveConfig(archive.base));
    const work = path.join(ctx.root, 'startup-work');
    fs.mkdirSync(work);
    await makeWorkDir(work, config);
    const cases: Record<string, string[]> = {
      'node -e 0': ['-e', '0'],
      'ailinux --version': [CLI, '--version'],
      'ailinux status -w <dir>': [CLI, 'status', '-w', work],
      'ailinux plan -c <loopback> -w <dir>': [CLI, 'plan', '-c', config, '-w', work],
    };
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    // one warm-up of each (the page cache), then interleaved, so a load change reaches every case alike
    for (const argv of Object.values(cases)) await timeRun(argv);
    for (let i = 0; i < ctx.args.runs; i++)
      for (const [name, argv] of Object.entries(cases)) times[name]!.push(await timeRun(argv));
    const base = summarize(times['node -e 0']!).medianMs;
    return {
      rows: Object.entries(times).map(([name, ms]) => {
        const s = summarize(ms);
        return {
          case: name,
          ms: s.medianMs,
          ...(name === 'node -e 0' ? {} : { ratio: { to: 'node -e 0', value: ratio(s.medianMs, base) } }),
          detail: { ...s },
        };
      }),
      notes: [
        `medians of ${ctx.args.runs} interleaved runs after one warm-up each; target: status ≤ 2× node -e 0.`,
        'plan reads two Release files from the loopback archive (127.0.0.1), not from deb.debian.org.',
      ],
    };
  } finally {
    await archive.close();
  }
}
