/**
 * 10. The start-up cost of the read-only host (docs/safety.md; was scripts/bench-sandbox.mjs): how long making this
 * machine's mounts read-only in a private namespace takes, against an empty namespace, and what the launcher adds.
 * Every namespace is private and thrown away with its process; nothing is mounted in the bench's own namespace.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readMountinfo } from '../../src/runtime/mountinfo.js';
import { planReadOnly } from '../../src/runtime/sandbox.js';
import { ratio, summarize } from './stats.js';
import { type BenchContext, CLI, type MeasureOutput, REPO, SkipMeasure } from './run.js';

function timeRun(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { env, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${file} ${args.join(' ')} exited ${code}`));
      else resolve(ms);
    });
  });
}

export async function sandboxStartup(ctx: BenchContext): Promise<MeasureOutput> {
  if (process.getuid?.() !== 0) throw new SkipMeasure('needs root (it makes private mount namespaces)');
  const work = path.join(ctx.root, 'sandbox-startup');
  fs.mkdirSync(work);
  const real = fs.realpathSync(work);
  const plan = planReadOnly(readMountinfo(), [real]);
  const sandboxArgs = [
    path.join(REPO, 'libexec/ailinux-sandbox'),
    '--bind',
    real,
    ...plan.flatMap((m) => ['--ro', m.target, m.options]),
  ];
  const unshare = ['--mount', '--propagation', 'private', '--'];
  const ns = fs.readlinkSync('/proc/self/ns/mnt');
  const cases: Record<string, () => Promise<number>> = {
    'empty namespace (unshare + true)': () => timeRun('unshare', [...unshare, 'true']),
    'read-only host (unshare + ailinux-sandbox)': () =>
      timeRun('unshare', [...unshare, ...sandboxArgs], { ...process.env, AILINUX_SANDBOX_FROM: ns }),
    'node bin/ailinux.js --version': () => timeRun(process.execPath, [CLI, '--version']),
    'bin/ailinux --version (the launcher)': () => timeRun(path.join(REPO, 'bin/ailinux'), ['--version']),
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  // interleaved, so a load change during the run reaches every case alike
  for (let i = 0; i < ctx.args.runs; i++)
    for (const [name, run] of Object.entries(cases)) times[name]!.push(await run());
  const med = (k: string) => summarize(times[k]!).medianMs;
  const empty = med('empty namespace (unshare + true)');
  const node = med('node bin/ailinux.js --version');
  return {
    rows: Object.keys(cases).map((name) => {
      const s = summarize(times[name]!);
      const to = name.startsWith('read-only')
        ? 'empty namespace (unshare + true)'
        : name.startsWith('bin/')
          ? 'node bin/ailinux.js --version'
          : null;
      return {
        case: name,
        ms: s.medianMs,
        ...(to
          ? { ratio: { to, value: ratio(s.medianMs, to === 'node bin/ailinux.js --version' ? node : empty) } }
          : {}),
        detail: { ...s },
      };
    }),
    notes: [
      `${plan.length} mounts made read-only; medians of ${ctx.args.runs} interleaved runs. Under npm run bench this runs inside the bench's own sandbox, whose mounts are read-only already.`,
      `making the host read-only costs ${(med('read-only host (unshare + ailinux-sandbox)') - empty).toFixed(1)} ms over an empty namespace; the launcher (sh, then exec node) adds ${(med('bin/ailinux --version (the launcher)') - node).toFixed(1)} ms (median differences).`,
    ],
  };
}
