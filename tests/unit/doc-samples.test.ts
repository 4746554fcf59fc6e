/**
 * The doc samples' machinery (issue 13, point 6): what scripts/doc-samples.ts does to a CLI run's output so that a
 * rerun gives the same text, how it rewrites the marked regions, and that the docs mark every sample it makes and no
 * other. The samples themselves are made and compared by tests/integration/doc-samples.test.ts (root: real builds).
 */
import { describe, expect, it } from 'vitest';
import {
  REPO,
  SAMPLE_NAMES,
  SHOWN_DIR,
  SHOWN_REPO,
  docsWithSamples,
  lineDiff,
  markedSamples,
  normaliseLiveLines,
  normaliseSample,
  redrawTimelines,
  rewriteSamples,
} from '../../scripts/doc-samples.js';

const TMP = '/tmp/ailinux-doc-samples-Ab12Cd';

describe('normaliseLiveLines', () => {
  it("sets a terminal live line's clock, with or without an expected time, and leaves the other lines", () => {
    const screen = [
      '✔ bootstrap        done            22.4 s',
      '▶ [3/10] packages  0:05 / ~1:20  Reading package lists... 1:30',
      '▶ [4/10] identity  12:07  Setting up 0:02',
      '▶ [5/10] squashfs  1:02:03 / ~1:10:00  done at 0:03',
    ].join('\n');
    expect(normaliseLiveLines(screen).split('\n')).toEqual([
      '✔ bootstrap        done            22.4 s',
      '▶ [3/10] packages  0:01 / ~0:01  Reading package lists... 1:30',
      '▶ [4/10] identity  0:01  Setting up 0:02',
      '▶ [5/10] squashfs  0:01 / ~0:01  done at 0:03',
    ]);
  });
});

describe('normaliseSample', () => {
  it('shows the temp dir and the checkout as fixed paths', () => {
    expect(normaliseSample(`${TMP}/ok/output/x.iso ${REPO}/libexec/ailinux-ns-run`, TMP)).toBe(
      `${SHOWN_DIR}/ok/output/x.iso ${SHOWN_REPO}/libexec/ailinux-ns-run`,
    );
  });

  it('makes every duration 1.0 s and keeps a column as wide as it was', () => {
    const rows = ['✔ bootstrap        done            22.4 s', '✔ packages         done        1 min 10 s'];
    expect(normaliseSample(rows.join('\n'), TMP).split('\n')).toEqual([
      '✔ bootstrap        done             1.0 s',
      '✔ packages         done             1.0 s',
    ]);
    expect(normaliseSample('build succeeded in 1 min 39 s', TMP)).toBe('build succeeded in 1.0 s');
  });

  it("rounds a heartbeat's elapsed time down to the 30 s it fired at", () => {
    const beats = [
      '· packages         running         30.4 s  Reading',
      '· packages         running      1 min 1 s  Reading',
    ];
    expect(normaliseSample(beats.join('\n'), TMP).split('\n')).toEqual([
      '· packages         running         30.0 s  Reading',
      '· packages         running      1 min 0 s  Reading',
    ]);
  });

  it('fixes dates, run ids, pids, the host name and the host figures', () => {
    const text = [
      'updated:  2026-11-29T12:37:51.689Z (run 20261129T123647-d51914)',
      'host:     load 3.95 3.04 3.79 on 2 CPUs · memory 20.7 GiB available of 23.5 GiB · disk 69.2 GiB free in /w · build pid 19978 74.3 MiB resident',
      'but /w has 77478 MiB free; expected ~1:34',
      '[2026-12-07 13:26:37.589] INFO: [packages] command finished {"ms":17543,"exitCode":0}',
    ].join('\n');
    expect(normaliseSample(text, TMP).split('\n')).toEqual([
      'updated:  2026-12-01T12:00:00.000Z (run 20261201T120000-d0c5a1)',
      'host:     load 0.50 0.40 0.30 on 2 CPUs · memory 6.0 GiB available of 8.0 GiB · disk 40.0 GiB free in /w · build pid 4242 80.0 MiB resident',
      'but /w has 40960 MiB free; expected ~0:01',
      '[2026-12-01 12:00:00.000] INFO: [packages] command finished {"ms":1000,"exitCode":0}',
    ]);
  });
});

describe('redrawTimelines', () => {
  it('gives each step that ran the same width, keeping its verify, backoff and undo marks, and leaves the rest empty', () => {
    const text = [
      'timeline (1 min 4 s; # run, = verify, ~ backoff, x undo):',
      '  bootstrap      [=·········]',
      '  configure      [·######~#x]',
      '  packages       [··········]',
      '',
    ].join('\n');
    expect(redrawTimelines(text).split('\n')).toEqual([
      'timeline (1 min 4 s; # run, = verify, ~ backoff, x undo):',
      '  bootstrap      [####=·····]',
      '  configure      [·····###~x]',
      '  packages       [··········]',
      '',
    ]);
  });

  it('leaves text without a timeline alone', () => {
    expect(redrawTimelines('a [###]\nb')).toBe('a [###]\nb');
  });
});

describe('rewriteSamples', () => {
  const doc = [
    'before',
    '<!-- sample:one -->',
    '```',
    'old',
    '```',
    '<!-- /sample -->',
    '- item:',
    '',
    '  <!-- sample:two -->',
    '  ```',
    '  old',
    '  ```',
    '  <!-- /sample -->',
    'after',
  ].join('\n');
  const samples = new Map([
    ['one', '$ ailinux status\nnew\n'],
    ['two', 'a\n\nb'],
  ]);

  it('replaces each marked block, keeping the indent of a list item', () => {
    const out = rewriteSamples(doc, samples);
    expect(out).toContain('<!-- sample:one -->\n```\n$ ailinux status\nnew\n```\n<!-- /sample -->');
    expect(out).toContain('  <!-- sample:two -->\n  ```\n  a\n\n  b\n  ```\n  <!-- /sample -->');
    expect(rewriteSamples(out, samples)).toBe(out);
    expect(markedSamples(doc)).toEqual(['one', 'two']);
  });

  it('refuses a marked sample it does not make, naming the doc', () => {
    expect(() => rewriteSamples(doc, new Map([['one', 'x']]), 'docs/x.md')).toThrow(
      'docs/x.md has a sample two that scripts/doc-samples.ts does not make',
    );
  });

  it('diffs line by line', () => {
    expect(lineDiff('a\nb\nc', 'a\nB\nc')).toBe('+2: B\n-2: b');
    // a line put in shows as that line, not as every line after it
    expect(lineDiff('a\nb\nc\nd', 'a\nx\nb\nc\nd')).toBe('+2: x');
    expect(lineDiff('a\nb\nc', 'a\nc')).toBe('-2: b');
  });
});

describe('the docs', () => {
  it('mark every sample the script makes, and no other; each at most once in a doc', () => {
    const docs = [...docsWithSamples().values()];
    const marked = docs.flatMap((text) => markedSamples(text));
    expect([...new Set(marked)].sort()).toEqual([...SAMPLE_NAMES].sort());
    // troubleshooting.md and inspect.md show some of cli.md's samples again, each where its case is explained
    for (const text of docs) expect(new Set(markedSamples(text)).size).toBe(markedSamples(text).length);
  });
});
