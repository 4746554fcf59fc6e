/**
 * The archive check of one build, resume or plan: every suite the steps install from (StepDef.archiveSuites), each
 * read once, before any step runs, so every fingerprint of the run sees the same archive. --offline reads nothing:
 * the steps keep what their last run recorded (fingerprint.ts, ArchiveInputs).
 */
import type { BuildConfig } from '../config/schema.js';
import {
  type ArchiveReader,
  type ArchiveSuite,
  defaultArchiveReader,
  type ReleaseInfo,
  suiteKey,
} from '../runtime/archive-release.js';
import { mergeSuites } from '../steps/archive-suites.js';
import type { StepDef } from '../steps/types.js';
import type { FingerprintMaterial } from '../types.js';
import type { ArchiveInputs } from './fingerprint.js';

/** What a run knows of the archive: the Release files it read, or that it was told not to look (--offline). */
export type ArchiveCheck = { mode: 'checked'; releases: ReleaseInfo[] } | { mode: 'offline' };

/** The suites of the steps, each once, in the order the steps name them, with the components of all of them. */
export function suitesOf(steps: readonly StepDef[], config: BuildConfig): ArchiveSuite[] {
  return mergeSuites(steps.flatMap((step) => step.archiveSuites?.(config) ?? []));
}

/** Reads each suite's Release once (through apt.proxy), or nothing when offline. Throws ArchiveUnreachableError. */
export async function checkArchive(
  steps: readonly StepDef[],
  config: BuildConfig,
  options: { offline: boolean; reader?: ArchiveReader | undefined },
): Promise<ArchiveCheck> {
  if (options.offline) return { mode: 'offline' };
  const suites = suitesOf(steps, config);
  if (suites.length === 0) return { mode: 'checked', releases: [] };
  const reader = options.reader ?? defaultArchiveReader();
  return { mode: 'checked', releases: await reader.read(suites, { proxy: config.apt.proxy }) };
}

/** The check as fingerprint input; offline, each step's entries come from `stored` (its ledger material). */
export function archiveInputs(
  check: ArchiveCheck,
  stored: (stepId: string) => FingerprintMaterial | null | undefined,
): ArchiveInputs {
  if (check.mode === 'offline') return { mode: 'offline', stored };
  return { mode: 'checked', releases: new Map(check.releases.map((r) => [suiteKey(r), r])) };
}

/** One line for plan and the build log: `archive: read 3 Release files: bookworm of 2026-…, …` or the offline note. */
export function describeArchiveCheck(check: ArchiveCheck): string | null {
  if (check.mode === 'offline')
    return 'archive: not checked (--offline): each package step keeps the archive state its last run recorded, so its layer is kept';
  if (check.releases.length === 0) return null;
  const list = check.releases.map((r) => `${r.suite} of ${r.date ?? 'unknown date'}`).join(', ');
  return `archive: read ${check.releases.length} Release file(s): ${list}`;
}
