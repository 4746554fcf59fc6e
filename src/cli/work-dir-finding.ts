/**
 * doctor's word on whose the work dir is: the same inspectWorkDir and refusal that build, resume and clean use
 * (src/engine/work-dir-owner.ts), said as a finding with what to do. Reads only.
 */
import type { StateFile } from '../../state/schema.js';
import { foreignWorkDirError, inspectWorkDir, type WorkDirOwnership } from '../engine/work-dir-owner.js';
import { AilinuxError } from '../errors.js';
import type { Finding } from '../runtime/host-check.js';
import { WORK_DIR_MARKER } from '../runtime/paths.js';

/** What doctor --json says of the work dir's owner. */
export type OwnershipView =
  | { kind: 'missing' | 'empty' | 'adoptable' }
  | { kind: 'marked'; markId: string; createdAt: string; stateMarkId: string | null }
  | { kind: 'refused'; reason: string; entries: string[] }
  | { kind: 'unknown'; why: string };

export interface OwnershipFinding {
  view: OwnershipView;
  finding: Omit<Finding, 'topic'>;
}

/** Whose workDir (checked by checkWorkDir) is, and what a build would do with it; state is the one read, if any. */
export function workDirOwnershipFinding(workDir: string, state: StateFile | null): OwnershipFinding {
  let ownership: WorkDirOwnership;
  try {
    ownership = inspectWorkDir(workDir);
  } catch (error) {
    // a work dir this user may not read: doctor runs without root, build as root may well read it
    if (!(error instanceof AilinuxError))
      return {
        view: { kind: 'unknown', why: (error as Error).message },
        finding: { level: 'warn', message: `cannot tell whose ${workDir} is: ${(error as Error).message}` },
      };
    // a mark that is no mark, or a work dir that is no directory: build refuses it the same way (exit 2)
    return {
      view: { kind: 'refused', reason: error.message, entries: [] },
      finding: { level: 'block', message: error.message, ...(error.hint ? { fix: error.hint } : {}) },
    };
  }
  switch (ownership.kind) {
    case 'missing':
      return {
        view: { kind: 'missing' },
        finding: {
          level: 'ok',
          message: `${workDir} does not exist yet: build creates it and marks it as ailinux's (${WORK_DIR_MARKER})`,
        },
      };
    case 'empty':
      return {
        view: { kind: 'empty' },
        finding: { level: 'ok', message: `${workDir} is empty: build marks it as ailinux's (${WORK_DIR_MARKER})` },
      };
    case 'marked': {
      const stateMarkId = state?.workDirMark?.id ?? null;
      const recorded =
        state === null
          ? ''
          : stateMarkId === ownership.mark.id
            ? '; its state records the same mark'
            : stateMarkId === null
              ? '; its state is from before the mark and records none (the next build records it)'
              : `; its state records another mark (${stateMarkId}), the one the work dir had when it was built (the next build records this one)`;
      return {
        view: { kind: 'marked', markId: ownership.mark.id, createdAt: ownership.mark.createdAt, stateMarkId },
        finding: {
          level: 'ok',
          message: `${workDir} is ailinux's: marked ${ownership.mark.createdAt} by ailinux ${ownership.mark.version} (${WORK_DIR_MARKER}, id ${ownership.mark.id})${recorded}`,
        },
      };
    }
    case 'adoptable':
      return {
        view: { kind: 'adoptable' },
        finding: {
          level: 'ok',
          message: `${workDir} has no ${WORK_DIR_MARKER} mark, but a valid state and only ailinux's own entries: a work dir from before the mark, which the next build, resume or clean adopts (marks as ailinux's)`,
        },
      };
    case 'foreign': {
      const refusal = foreignWorkDirError(workDir, ownership);
      return {
        view: { kind: 'refused', reason: ownership.reason, entries: ownership.entries },
        finding: {
          level: 'block',
          message: `${refusal.message} (build, resume and clean refuse it, exit 2)`,
          ...(refusal.hint ? { fix: refusal.hint } : {}),
        },
      };
    }
  }
}
