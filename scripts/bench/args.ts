/** The command line of `npm run bench` (scripts/bench/main.ts). */

/** Every measure, in the order a full run takes them (issue 11, "What it must show"; 10 is the sandbox's start-up). */
export const MEASURES = [
  { id: 'minimal-vs-live-build', n: '1', title: 'minimal, cold and warm: ailinux against live-build' },
  { id: 'no-op', n: '3', title: 'a no-op build (minimal)' },
  { id: 'resume-iso', n: '2', title: 'resume after a failure injected in the ISO step (minimal)' },
  { id: 'hostname-minimal', n: '4a', title: 'a hostname change, minimal' },
  { id: 'ailinux-profile', n: '6', title: 'the ailinux profile, cold and warm, per step' },
  { id: 'hostname-ailinux', n: '4b', title: 'a hostname change, ailinux profile' },
  { id: 'extra-package', n: '5', title: 'one package added to packages.extra, ailinux profile' },
  { id: 'startup', n: '7', title: 'cold start of status and plan' },
  { id: 'state-write', n: '8', title: 'the state write' },
  { id: 'archive-update', n: '9', title: 'an archive update: plan plus rebuild' },
  { id: 'sandbox-startup', n: '10', title: 'the read-only host: sandbox start-up' },
] as const;
export type MeasureId = (typeof MEASURES)[number]['id'];

/** The subset that fits a CI run: one real minimal build (no live-build, no ailinux profile), the rest cheap. */
export const QUICK: readonly MeasureId[] = [
  'no-op',
  'resume-iso',
  'hostname-minimal',
  'startup',
  'state-write',
  'archive-update',
  'sandbox-startup',
];

export interface BenchArgs {
  quick: boolean;
  /** The measures to run, in MEASURES order. */
  measures: MeasureId[];
  /** Runs of each cold start (measure 7) and of each sandbox start-up (10). */
  runs: number;
  /** State writes timed (measure 8). */
  writes: number;
  /** Where the results go. */
  out: string;
  help: boolean;
  list: boolean;
}

export class BenchUsageError extends Error {}

export const USAGE = `usage: npm run bench -- [--quick | --only ID[,ID...]] [--runs N] [--writes N] [--out FILE] [--list]

  (no flag)     every measure; the ailinux profile's builds take an hour or more on 2 cores
  --quick       the subset for a CI run: ${QUICK.join(', ')}
  --only IDS    just these measures (comma-separated ids; --list shows them)
  --runs N      runs of each cold start and sandbox start-up (default 21, 11 with --quick)
  --writes N    state writes timed (default 1000, 300 with --quick)
  --out FILE    where the results go (default bench/results.json)
  --list        list the measures and exit

It prints a table and writes the results as JSON. Run it through npm run bench: that builds dist/ and runs it as
root in the read-only sandbox npm test uses (scripts/sandboxed-test.sh). live-build comes from
bash scripts/install-host-tools.sh --with-bench. docs/performance.md has the figures and what bounds them.`;

function whole(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || n < 1)
    throw new BenchUsageError(
      `${flag} takes a whole number of at least 1, got ${value === undefined ? 'nothing' : `'${value}'`}`,
    );
  return n;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let quick = false;
  let only: string[] | null = null;
  let runs: number | null = null;
  let writes: number | null = null;
  let out = 'bench/results.json';
  let help = false;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new BenchUsageError(`${flag} needs a value`);
      i++;
      return next;
    };
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--only':
        only = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        break;
      case '--runs':
        runs = whole('--runs', value());
        break;
      case '--writes':
        writes = whole('--writes', value());
        break;
      case '--out':
        out = value();
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--list':
        list = true;
        break;
      default:
        throw new BenchUsageError(`unknown argument '${arg}'`);
    }
  }
  if (quick && only) throw new BenchUsageError('--quick and --only choose the measures both: give one of them');
  const ids: readonly string[] = MEASURES.map((m) => m.id);
  if (only) {
    if (only.length === 0) throw new BenchUsageError('--only needs at least one measure id');
    const unknown = only.filter((id) => !ids.includes(id));
    if (unknown.length)
      throw new BenchUsageError(
        `unknown measure ${unknown.map((u) => `'${u}'`).join(', ')}; the measures are: ${ids.join(', ')}`,
      );
  }
  const chosen = only ?? (quick ? QUICK : ids);
  return {
    quick,
    measures: MEASURES.map((m) => m.id).filter((id) => chosen.includes(id)),
    runs: runs ?? (quick ? 11 : 21),
    writes: writes ?? (quick ? 300 : 1000),
    out,
    help,
    list,
  };
}
