/**
 * The archive state a build's image came from, for its report: each suite the package steps installed from, with
 * the Release file they last ran against (its date and sha256), as their ledger material recorded it. A rebuild from
 * the same archive state, or the snapshot service at that date (distribution.snapshot), gets the same packages.
 */
import { parseArchiveEntry } from '../runtime/archive-release.js';
import type { Ledger } from '../types.js';

export interface ReportArchiveSuite {
  uri: string;
  suite: string;
  /** InRelease or Release. */
  file: string;
  sha256: string | null;
  /** The Release file's Date:, ISO 8601; null when it had none. */
  date: string | null;
  /** The steps whose last run installed from it, in build order. */
  steps: string[];
}

/**
 * The suites of the steps' recorded material, each once, in the order the steps first name them. A suite that two
 * steps recorded at different Release files (one step kept from an older run with --offline) is listed once per
 * Release file.
 */
export function archiveState(ledger: Ledger, order: readonly string[]): ReportArchiveSuite[] {
  const out = new Map<string, ReportArchiveSuite>();
  for (const id of order) {
    const files = ledger[id]?.material?.files ?? {};
    for (const [key, value] of Object.entries(files)) {
      const entry = parseArchiveEntry(key, value);
      if (!entry) continue;
      const k = `${entry.uri} ${entry.suite} ${entry.sha256 ?? value}`;
      const seen = out.get(k);
      if (seen) seen.steps.push(id);
      else out.set(k, { ...entry, steps: [id] });
    }
  }
  return [...out.values()];
}

/** The text report's lines: `  bookworm-updates  Release of 2026-12-07T08:15:02Z  InRelease sha256:ab12…  (packages)`. */
export function renderArchiveLines(suites: readonly ReportArchiveSuite[]): string[] {
  if (suites.length === 0) return [];
  const width = Math.max(...suites.map((s) => s.suite.length));
  return [
    `archive state (${suites.length} suite(s), as the package steps last ran):`,
    ...suites.map(
      (s) =>
        `  ${s.suite.padEnd(width)}  Release of ${s.date ?? 'unknown date'}  ${s.file} sha256:${s.sha256?.slice(0, 16) ?? '?'}…  ${s.uri}  (${s.steps.join(', ')})`,
    ),
  ];
}
