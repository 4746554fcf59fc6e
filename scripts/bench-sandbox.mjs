#!/usr/bin/env node
// The start-up cost of the read-only host (docs/safety.md), printed as figures: how long it takes to make this
// machine's mounts read-only in a private namespace, against an empty namespace, and what the launcher adds.
// Needs root and a built tree (npm run build). Usage: node scripts/bench-sandbox.mjs [runs]   (default 15)
// Every namespace is private and thrown away with its process; nothing is mounted in the host's namespace.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 15);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('usage: node scripts/bench-sandbox.mjs [runs]   (runs: a whole number, at least 1)');
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('bench-sandbox: needs root (it makes private mount namespaces); run it as root');
  process.exit(2);
}
const { planReadOnly } = await import(path.join(repo, 'dist/src/runtime/sandbox.js'));
const { readMountinfo } = await import(path.join(repo, 'dist/src/runtime/mountinfo.js'));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-bench-sandbox-'));
const hostNs = fs.readlinkSync('/proc/self/ns/mnt');
const plan = planReadOnly(readMountinfo(), [fs.realpathSync(work)]);
const sandboxArgs = [
  path.join(repo, 'libexec/ailinux-sandbox'),
  '--bind',
  fs.realpathSync(work),
  ...plan.flatMap((m) => ['--ro', m.target, m.options]),
];

function timeMs(file, args, env = process.env) {
  const start = process.hrtime.bigint();
  execFileSync(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const unshare = ['--mount', '--propagation', 'private', '--'];
const cases = {
  'empty namespace (unshare + true)': () => timeMs('unshare', [...unshare, 'true']),
  'read-only host (unshare + ailinux-sandbox)': () =>
    timeMs('unshare', [...unshare, ...sandboxArgs], { ...process.env, AILINUX_SANDBOX_FROM: hostNs }),
  'node bin/ailinux.js --version': () => timeMs('node', [path.join(repo, 'bin/ailinux.js'), '--version']),
  'bin/ailinux --version (the launcher)': () => timeMs(path.join(repo, 'bin/ailinux'), ['--version']),
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
try {
  // interleaved, so a load change during the run reaches every case alike
  for (let i = 0; i < runs; i++) {
    for (const [name, run] of Object.entries(cases)) results[name].push(run());
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

const load = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
console.log(
  `sandbox start-up, ${runs} runs each, ${plan.length} mounts made read-only, ${os.cpus().length} CPUs, load ${load}`,
);
for (const [name, times] of Object.entries(results)) {
  const fmt = (x) => `${x.toFixed(1)} ms`;
  console.log(
    `  ${name.padEnd(46)} median ${fmt(median(times))}, min ${fmt(Math.min(...times))}, max ${fmt(Math.max(...times))}`,
  );
}
const cost =
  median(results['read-only host (unshare + ailinux-sandbox)']) - median(results['empty namespace (unshare + true)']);
const launcher =
  median(results['bin/ailinux --version (the launcher)']) - median(results['node bin/ailinux.js --version']);
console.log(`  making the host read-only costs ${cost.toFixed(1)} ms over an empty namespace (median difference)`);
console.log(`  the launcher (sh, then exec node) adds ${launcher.toFixed(1)} ms (median difference)`);
