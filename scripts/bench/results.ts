/** What a measure reports, the table printed from it, and the machine it ran on (bench/results.json). */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** One line of a measure: a case and its figure, with the figure it is compared to. */
export interface Row {
  case: string;
  /** The figure, a duration in ms (the median when there are several runs); null when it was not measured. */
  ms: number | null;
  /** ms / the named row's ms of the same measure, when that comparison means something. */
  ratio?: { to: string; value: number | null };
  /** More figures: min, max, p99, runs, sizes, per-step times. */
  detail?: Record<string, unknown>;
  note?: string;
}

export interface MeasureResult {
  id: string;
  n: string;
  title: string;
  status: 'measured' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  reason?: string;
  rows: Row[];
  /** What the figures mean and what bounds them (what "warm" means for each tool today, etc.). */
  notes: string[];
  startedAt: string;
  wallMs: number;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  date: string;
  gitCommit: string | null;
  /** Whether the checkout had changes not in that commit. */
  gitDirty: boolean | null;
  load1Before: number;
  load1After?: number;
}

export function machine(repo: string, now = new Date()): Machine {
  const cpus = os.cpus();
  const git = (args: string[]) => {
    try {
      return execFileSync('git', ['-C', repo, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return null;
    }
  };
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    date: now.toISOString(),
    gitCommit: git(['rev-parse', 'HEAD']),
    gitDirty: status === null ? null : status !== '',
    load1Before: os.loadavg()[0]!,
  };
}

/** A duration for the table: ms below 10 s, seconds to 0.1 above. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 10_000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The table: one line per row, under a heading line per measure; skipped and failed measures say why. */
export function renderTable(results: readonly MeasureResult[]): string {
  const lines: string[][] = [];
  for (const m of results) {
    lines.push([`${m.n}. ${m.title}`, '', '', '']);
    if (m.status !== 'measured') {
      lines.push([`  ${m.status}: ${m.reason ?? ''}`, '', '', '']);
      if (m.status === 'skipped' || m.rows.length === 0) continue;
    }
    for (const r of m.rows) {
      const ratio = r.ratio
        ? r.ratio.value === null
          ? `- × ${r.ratio.to}`
          : `${r.ratio.value.toFixed(2)}× ${r.ratio.to}`
        : '';
      lines.push([`  ${r.case}`, formatMs(r.ms), ratio, r.note ?? '']);
    }
  }
  const widths = [0, 1, 2].map((c) =>
    Math.max(...lines.filter((l) => l[1] !== '' || l[2] !== '' || l[3] !== '').map((l) => l[c]!.length), 0),
  );
  return lines
    .map((l) => {
      if (l[1] === '' && l[2] === '' && l[3] === '') return l[0]!;
      return [l[0]!.padEnd(widths[0]!), l[1]!.padStart(widths[1]!), l[2]!.padEnd(widths[2]!), l[3]!]
        .join('  ')
        .trimEnd();
    })
    .join('\n');
}
