#!/usr/bin/env node
// The cold start of `ailinux status` and `ailinux plan` against a bare `node -e 0`, measured in the same run
// (issue 11, point 7; docs/performance.md). A benchmark that prints figures, not a timed test.
// Needs a built tree (npm run build). Usage: node scripts/bench-startup.mjs [runs] [--json]   (default 21 runs)
// It makes a throwaway work dir holding a finished minimal build's state (every step done, with expected times),
// so status reads and checks a real state file and plan fingerprints every step against it; nothing else is written.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const json = args.includes('--json');
const runsArg = args.find((a) => a !== '--json');
const runs = Number(runsArg ?? 21);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('usage: node scripts/bench-startup.mjs [runs] [--json]   (runs: a whole number, at least 1)');
  process.exit(2);
}
const cli = path.join(repo, 'bin/ailinux.js');
if (!fs.existsSync(path.join(repo, 'dist/src/cli/main.js'))) {
  console.error('bench-startup: dist/ is missing; run npm run build first');
  process.exit(2);
}

const { StateStore } = await import(path.join(repo, 'dist/state/store.js'));
const { STATE_SCHEMA_VERSION } = await import(path.join(repo, 'dist/state/schema.js'));
const { emptyLedgerEntry } = await import(path.join(repo, 'dist/src/types.js'));
const { durationsFile, recordDuration, thisHost } = await import(path.join(repo, 'dist/state/durations.js'));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-bench-startup-'));

/** A finished minimal build's state, as plan and status read it: its order from plan itself, every step done. */
function makeWorkDir() {
  const planned = JSON.parse(
    execFileSync(process.execPath, [cli, 'plan', '-p', 'minimal', '-w', work, '--json'], { encoding: 'utf8' }),
  );
  const now = new Date().toISOString();
  const order = planned.steps.map((s) => s.id);
  const ledger = Object.fromEntries(
    planned.steps.map((s, i) => [
      s.id,
      {
        ...emptyLedgerEntry(s.id),
        status: 'done',
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
    configSource: { profile: 'minimal', configFile: null },
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

function timeMs(argv) {
  const start = process.hrtime.bigint();
  execFileSync(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const cases = {
  'node -e 0': ['-e', '0'],
  'ailinux --version': [cli, '--version'],
  'ailinux status -w <dir>': [cli, 'status', '-w', work],
  'ailinux plan -w <dir>': [cli, 'plan', '-w', work],
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
const loadBefore = os.loadavg()[0];
try {
  makeWorkDir();
  // one warm-up of each (the page cache), then interleaved, so a load change reaches every case alike
  for (const argv of Object.values(cases)) timeMs(argv);
  for (let i = 0; i < runs; i++) for (const [name, argv] of Object.entries(cases)) results[name].push(timeMs(argv));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
const loadAfter = os.loadavg()[0];

const base = median(results['node -e 0']);
const rows = Object.entries(results).map(([name, times]) => ({
  name,
  medianMs: Number(median(times).toFixed(1)),
  minMs: Number(Math.min(...times).toFixed(1)),
  maxMs: Number(Math.max(...times).toFixed(1)),
  timesNode: Number((median(times) / base).toFixed(2)),
}));
const machine = { cpus: os.cpus().length, node: process.version, load1Before: loadBefore, load1After: loadAfter };
if (json) {
  console.log(JSON.stringify({ runs, machine, rows }, null, 2));
} else {
  console.log(
    `cold start, ${runs} interleaved runs each, ${machine.cpus} CPUs, node ${machine.node}, load ${loadBefore.toFixed(2)} -> ${loadAfter.toFixed(2)}`,
  );
  const fmt = (x) => `${x.toFixed(1)} ms`.padStart(9);
  for (const r of rows)
    console.log(
      `  ${r.name.padEnd(26)} median ${fmt(r.medianMs)}  min ${fmt(r.minMs)}  max ${fmt(r.maxMs)}  ${r.timesNode.toFixed(2)}× node -e 0`,
    );
  console.log('  target (docs/performance.md): status ≤ 2× node -e 0');
}
