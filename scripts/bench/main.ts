/**
 * npm run bench: the benchmark of issue 11 ("What it must show"). Prints a table and writes bench/results.json with
 * the machine it ran on. A benchmark, not a timed test: nothing fails on a slow figure; a measure fails only when
 * what it times did not happen (a build that failed, a no-op that ran steps). See `--help` and docs/performance.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeTree } from '../../src/runtime/safe-remove.js';
import { ailinuxProfileColdWarm, extraPackageAilinux, hostnameAilinux } from './ailinux-profile.js';
import { archiveUpdate } from './archive-update.js';
import { BenchUsageError, MEASURES, type MeasureId, parseBenchArgs, USAGE } from './args.js';
import { hostnameMinimal, minimalVsLiveBuild, noOp, resumeIso } from './minimal.js';
import { machine, type MeasureResult, renderTable } from './results.js';
import { type BenchContext, MeasureFailed, type MeasureOutput, REPO, SkipMeasure } from './run.js';
import { sandboxStartup } from './sandbox-startup.js';
import { startup } from './startup.js';
import { stateWrite } from './state-write.js';

const RUN: Record<MeasureId, (ctx: BenchContext) => Promise<MeasureOutput>> = {
  'minimal-vs-live-build': minimalVsLiveBuild,
  'no-op': noOp,
  'resume-iso': resumeIso,
  'hostname-minimal': hostnameMinimal,
  'ailinux-profile': ailinuxProfileColdWarm,
  'hostname-ailinux': hostnameAilinux,
  'extra-package': extraPackageAilinux,
  startup,
  'state-write': stateWrite,
  'archive-update': archiveUpdate,
  'sandbox-startup': sandboxStartup,
};

/** Root in a private mount namespace other than the one scripts/sandboxed-test.sh started from. */
function inSandbox(): boolean {
  const from = process.env['AILINUX_SANDBOX_FROM'];
  return process.getuid?.() === 0 && !!from && fs.readlinkSync('/proc/self/ns/mnt') !== from;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: ReturnType<typeof parseBenchArgs>;
  try {
    args = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.list) {
    for (const m of MEASURES) console.log(`${m.id.padEnd(22)} ${m.n.padStart(3)}. ${m.title}`);
    return 0;
  }
  if (!fs.existsSync(path.join(REPO, 'dist/src/cli/main.js'))) {
    console.error('bench: dist/ is missing; run it as npm run bench, which builds it first');
    return 2;
  }
  const out = path.resolve(REPO, args.out);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-bench-'));
  const ctx: BenchContext = {
    args,
    root,
    sandboxed: inSandbox(),
    shared: {},
    log: (message) => console.error(`bench ${new Date().toISOString().slice(11, 19)} ${message}`),
  };
  const host = machine(REPO);
  ctx.log(
    `${args.quick ? 'quick run' : 'run'}: ${args.measures.join(', ')}; temp dir ${root}${ctx.sandboxed ? ' (in the read-only sandbox)' : ' (not in the sandbox: real builds are skipped)'}`,
  );
  const results: MeasureResult[] = [];
  for (const id of args.measures) {
    const m = MEASURES.find((x) => x.id === id)!;
    const startedAt = new Date().toISOString();
    const start = performance.now();
    ctx.log(`${m.n}. ${m.title}`);
    const base = { id, n: m.n, title: m.title, startedAt };
    try {
      const r = await RUN[id](ctx);
      results.push({ ...base, status: 'measured', ...r, wallMs: performance.now() - start });
    } catch (error) {
      const skipped = error instanceof SkipMeasure;
      if (!skipped) ctx.log(`${m.n}. failed: ${(error as Error).stack ?? error}`);
      results.push({
        ...base,
        status: skipped ? 'skipped' : 'failed',
        reason: (error as Error).message.split('\n')[0]!,
        rows: error instanceof MeasureFailed ? error.rows : [],
        notes: skipped ? [] : [(error as Error).message],
        wallMs: performance.now() - start,
      });
    }
  }
  host.load1After = os.loadavg()[0]!;
  const failed = results.filter((r) => r.status === 'failed');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    `${JSON.stringify({ quick: args.quick, measures: args.measures, machine: host, results }, null, 2)}\n`,
  );
  const gib = (host.memoryBytes / 2 ** 30).toFixed(1);
  console.log(
    `\n${host.cpus} × ${host.cpuModel}, ${gib} GiB, ${host.kernel}, node ${host.node}, at ${host.gitCommit?.slice(0, 7) ?? '?'}${host.gitDirty ? ' (with changes)' : ''}, ${host.date}, load ${host.load1Before.toFixed(2)} -> ${host.load1After.toFixed(2)}\n`,
  );
  console.log(renderTable(results));
  console.log(`\nresults: ${path.relative(process.cwd(), out) || out}`);
  if (failed.length) {
    console.log(`kept for inspection: ${root} (logs/ holds each command's output)`);
    return 1;
  }
  await removeTree(root, { within: path.dirname(root) });
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
