/** The pieces of `npm run bench` (scripts/bench) that are plain code: its arguments, its arithmetic, its table, live-build's config. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { minimalProfile } from '../../src/config/profiles/minimal.js';
import { extraPackage } from '../../scripts/bench/ailinux-profile.js';
import { BenchUsageError, MEASURES, parseBenchArgs, QUICK } from '../../scripts/bench/args.js';
import { lbConfigArgs, lbPackageList } from '../../scripts/bench/live-build.js';
import { formatMs, type MeasureResult, renderTable } from '../../scripts/bench/results.js';
import { ailinuxWarmMeaning, cacheSizes } from '../../scripts/bench/run.js';
import { median, percentile, ratio, summarize } from '../../scripts/bench/stats.js';

const ALL = MEASURES.map((m) => m.id);

describe('bench arguments', () => {
  it('no flag: every measure, in the order of a full run, with the full run counts', () => {
    const a = parseBenchArgs([]);
    expect(a.measures).toEqual(ALL);
    expect(a).toMatchObject({ quick: false, runs: 21, writes: 1000, out: 'bench/results.json' });
  });

  it('--quick: the CI subset, without live-build or the ailinux profile, and fewer runs', () => {
    const a = parseBenchArgs(['--quick']);
    expect(a.measures).toEqual(ALL.filter((id) => QUICK.includes(id)));
    expect(a.measures).not.toContain('minimal-vs-live-build');
    expect(a.measures.filter((id) => /ailinux|extra/.test(id))).toEqual([]);
    expect(a).toMatchObject({ quick: true, runs: 11, writes: 300 });
  });

  it('--only picks measures in run order, whatever order they are given in; both spellings of a value', () => {
    expect(parseBenchArgs(['--only', 'startup,minimal-vs-live-build']).measures).toEqual([
      'minimal-vs-live-build',
      'startup',
    ]);
    expect(parseBenchArgs(['--only=ailinux-profile', '--runs=3', '--out', 'x.json'])).toMatchObject({
      measures: ['ailinux-profile'],
      runs: 3,
      out: 'x.json',
    });
  });

  it('refuses what it does not know, naming it', () => {
    const bad = (argv: string[], message: RegExp) => {
      expect(() => parseBenchArgs(argv)).toThrow(BenchUsageError);
      expect(() => parseBenchArgs(argv)).toThrow(message);
    };
    bad(['--only', 'startup,nope'], /unknown measure 'nope'; the measures are: minimal-vs-live-build, /);
    bad(['--quick', '--only', 'startup'], /give one of them/);
    bad(['--runs', '0'], /--runs takes a whole number of at least 1, got '0'/);
    bad(['--writes', '2.5'], /--writes takes a whole number/);
    bad(['--runs'], /--runs needs a value/);
    bad(['--only', '--quick'], /--only needs a value/);
    bad(['--fast'], /unknown argument '--fast'/);
  });
});

describe('bench arithmetic', () => {
  it('median of odd and even counts, unsorted input left as it was', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no figures/);
  });

  it('percentile by nearest rank', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    const thousand = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(thousand, 99)).toBe(990);
    // fewer than 100 values: p99 is the largest
    expect(percentile([1, 2, 3, 40], 99)).toBe(40);
    expect(percentile([7], 50)).toBe(7);
    expect(() => percentile([1], 0)).toThrow(/not in/);
  });

  it('ratio to two decimals; nothing to compare is null, not a number', () => {
    expect(ratio(70, 196)).toBe(0.36);
    expect(ratio(359, 84)).toBe(4.27);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(null, 5)).toBeNull();
    expect(ratio(5, undefined)).toBeNull();
  });

  it('summarize rounds to 0.1 ms', () => {
    expect(summarize([1.04, 3.06, 2.01])).toEqual({ runs: 3, medianMs: 2, minMs: 1, maxMs: 3.1 });
  });
});

describe('bench table', () => {
  const result = (over: Partial<MeasureResult>): MeasureResult => ({
    id: 'x',
    n: '1',
    title: 'a measure',
    status: 'measured',
    rows: [],
    notes: [],
    startedAt: '',
    wallMs: 0,
    ...over,
  });

  it('formats ms below 10 s and seconds above', () => {
    expect(formatMs(84.04)).toBe('84.0 ms');
    expect(formatMs(9999.9)).toBe('9999.9 ms');
    expect(formatMs(196_000)).toBe('196.0 s');
    expect(formatMs(null)).toBe('-');
  });

  it('one heading per measure, aligned figures and ratios, and why a measure did not run', () => {
    const text = renderTable([
      result({
        rows: [
          { case: 'ailinux warm, no boot check', ms: 70_000, ratio: { to: 'live-build warm', value: 0.36 } },
          { case: 'live-build warm', ms: 196_000 },
          { case: 'not compared', ms: 5, ratio: { to: 'nothing', value: null } },
        ],
      }),
      result({ n: '7', title: 'skipped one', status: 'skipped', reason: 'live-build is not installed' }),
      result({ n: '8', title: 'failed one', status: 'failed', reason: 'exit 1' }),
    ]);
    expect(text.split('\n')).toEqual([
      '1. a measure',
      '  ailinux warm, no boot check   70.0 s  0.36× live-build warm',
      '  live-build warm              196.0 s',
      '  not compared                  5.0 ms  - × nothing',
      '7. skipped one',
      '  skipped: live-build is not installed',
      '8. failed one',
      '  failed: exit 1',
    ]);
  });
});

describe("live-build's config for the minimal profile", () => {
  it('the same suite, archive areas, mirror, variant, recommends and squashfs compression', () => {
    const args = lbConfigArgs(minimalProfile);
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(args[0]).toBe('config');
    expect(value('--distribution')).toBe('bookworm');
    expect(value('--architectures')).toBe('amd64');
    expect(value('--archive-areas')).toBe('main');
    expect(value('--mirror-bootstrap')).toBe('http://deb.debian.org/debian');
    expect(value('--mirror-chroot-security')).toBe('http://deb.debian.org/debian-security');
    expect(value('--debootstrap-options')).toBe('--variant=minbase');
    expect(value('--apt-recommends')).toBe('false');
    expect(value('--chroot-squashfs-compression-type')).toBe('zstd');
    expect(value('--chroot-squashfs-compression-level')).toBe('3');
    expect(value('--firmware-chroot')).toBe('false');
  });

  it("follows the profile: another suite and compression show in lb config's arguments", () => {
    const other = {
      ...minimalProfile,
      distribution: { ...minimalProfile.distribution!, suite: 'trixie' },
      squashfs: { compression: 'xz' as const, level: 6, exclude: [] },
    };
    const args = lbConfigArgs(other);
    expect(args[args.indexOf('--distribution') + 1]).toBe('trixie');
    expect(args[args.indexOf('--chroot-squashfs-compression-type') + 1]).toBe('xz');
    expect(args[args.indexOf('--chroot-squashfs-compression-level') + 1]).toBe('6');
  });

  it("the package list is minimal's live and extra packages, and no live-config", () => {
    expect(lbPackageList(minimalProfile)).toBe('live-boot\nsystemd-sysv\nzstd\n');
  });

  it('the added package is one no list of the profile holds', () => {
    expect(extraPackage(['vim'])).toBe('tree');
    expect(extraPackage(['tree', 'ncdu'])).toBe('pv');
    expect(() => extraPackage(['tree', 'ncdu', 'pv', 'sl'])).toThrow(/already/);
  });
});

describe('what "warm" meant for ailinux in a run', () => {
  const built = (fill: { shared: number; own: number }) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-bench-unit-'));
    const cacheDir = path.join(root, 'debcache');
    const work = path.join(root, 'work');
    fs.mkdirSync(path.join(cacheDir, 'debs'), { recursive: true });
    fs.mkdirSync(path.join(work, 'cache', 'apt-archives'), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, 'debs', 'a.deb'), Buffer.alloc(fill.shared));
    fs.writeFileSync(path.join(work, 'cache', 'apt-archives', 'b.deb'), Buffer.alloc(fill.own));
    return { root, b: { work, config: '', cacheDir, ms: 0, steps: {} } };
  };

  it('the shared cache when the cold build filled it, else the copy of the work dir caches', () => {
    const filled = built({ shared: 3 << 20, own: 1 << 20 });
    const empty = built({ shared: 0, own: 2 << 20 });
    try {
      expect(cacheSizes(filled.b)).toEqual({ sharedCacheBytes: 3 << 20, workDirCacheBytes: 1 << 20 });
      expect(ailinuxWarmMeaning(filled.b)).toMatch(
        /^warm, ailinux: a new work dir and the shared deb cache .* \(3\.0 MiB\)/,
      );
      expect(ailinuxWarmMeaning(empty.b)).toMatch(/ailinux has no shared cache in this tree .* \(2\.0 MiB of \.debs\)/);
    } finally {
      fs.rmSync(filled.root, { recursive: true, force: true });
      fs.rmSync(empty.root, { recursive: true, force: true });
    }
  });
});
