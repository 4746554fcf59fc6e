/** The benchmark's arithmetic: medians, percentiles and ratios (scripts/bench; unit-tested in tests/unit/bench.test.ts). */

/** The median of a non-empty list: the middle value, or the mean of the two middle values. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no figures');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The p-th percentile (0 < p <= 100) by the nearest-rank method: the smallest value with at least p % of the values
 * at or below it. p99 of 1000 writes is the 990th smallest; of 50 writes, the largest.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new Error('percentile of no figures');
  if (!(p > 0 && p <= 100)) throw new Error(`percentile ${p} is not in (0, 100]`);
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.ceil((p / 100) * s.length) - 1]!;
}

/** a / b to two decimals; null when either is missing or b is not positive. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !(b > 0) || !Number.isFinite(a)) return null;
  return Math.round((a / b) * 100) / 100;
}

export interface Summary {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

/** Median, minimum and maximum of a list of durations, to 0.1 ms. */
export function summarize(ms: readonly number[]): Summary {
  const round = (x: number) => Math.round(x * 10) / 10;
  return { runs: ms.length, medianMs: round(median(ms)), minMs: round(Math.min(...ms)), maxMs: round(Math.max(...ms)) };
}
