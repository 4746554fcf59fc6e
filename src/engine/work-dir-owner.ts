/**
 * Whose directory the work dir is. ailinux builds, resumes and cleans only in a directory it marked, or a new or
 * empty one that it then marks. A work dir from before the mark is adopted when it holds a valid state and nothing
 * but ailinux's own entries; anything else is the user's, and refused (docs/safety.md § An owned work dir).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readStateReadOnly } from '../../state/store.js';
import { DiskFullError, UsageError } from '../errors.js';
import { acquireLock, type LockHandle } from '../runtime/lock.js';
import { readMountinfo } from '../runtime/mountinfo.js';
import { WORK_DIR_ENTRIES, WORK_DIR_MARKER, workPaths } from '../runtime/paths.js';
import { removeEmptyDir } from '../runtime/remove-work-entries.js';
import { isDiskFull } from './disk-full.js';
import { MARK_TEMP, readMark, type WorkDirMark, writeMark } from './work-dir-mark.js';

export type WorkDirOwnership =
  | { kind: 'missing' }
  | { kind: 'empty' }
  | { kind: 'marked'; mark: WorkDirMark }
  | { kind: 'adoptable' }
  | { kind: 'foreign'; reason: string; entries: string[]; hint: string };

/** What ailinux itself keeps in state/: the state, the lock, the fingerprint key, the step durations, the no-op digest, backups, and their temp files. */
const STATE_DIR_FILE =
  /^(state\.json|lock|lock\.owner|fingerprint\.key|durations\.json|noop-digest\.json)$|^state\.json\.bad-[\w-]+$|^\.(state\.json|lock|fingerprint\.key|durations\.json)\.[\w.-]+$|^noop-digest\.json\.\d+\.tmp$/;
const SHOWN_ENTRIES = 5;
const NEW_DIR_HINT =
  'use an empty or new directory, e.g. --work-dir ./ailinux-build (ailinux creates it and marks it as its own)';

const OWN = new Set<string>([...WORK_DIR_ENTRIES, WORK_DIR_MARKER]);

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** Whether something is mounted at dir itself (a dedicated disk or a tmpfs as the work dir). */
export function isMountPoint(dir: string): boolean {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    return false;
  }
  return readMountinfo().some((m) => m.mountPoint === real);
}

/** Own entries that are symlinks or not directories: ailinux would write through them, so it refuses. */
function misshapenEntries(workDir: string, names: readonly string[]): string[] {
  const found: string[] = [];
  for (const name of names) {
    if (!(WORK_DIR_ENTRIES as readonly string[]).includes(name)) continue;
    const st = fs.lstatSync(path.join(workDir, name));
    if (st.isSymbolicLink()) found.push(`${name} (a symlink to ${fs.readlinkSync(path.join(workDir, name))})`);
    else if (!st.isDirectory()) found.push(`${name} (not a directory)`);
  }
  return found;
}

/** Why an unmarked directory of only own-named entries is not adopted, or null when it may be. */
function adoptionProblem(workDir: string): { reason: string; entries: string[] } | null {
  const stateDir = workPaths(workDir).stateDir;
  let names: string[];
  try {
    names = fs.readdirSync(stateDir);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
    names = [];
  }
  const foreign = names.filter((n) => !STATE_DIR_FILE.test(n)).map((n) => `state/${n}`);
  if (foreign.length) return { reason: 'it holds files ailinux did not make', entries: foreign };
  if (!names.includes('state.json'))
    return {
      reason: `it has no ${WORK_DIR_MARKER} mark and no state/state.json, so nothing shows that ailinux made it`,
      entries: [],
    };
  try {
    readStateReadOnly(workPaths(workDir).stateFile);
  } catch (error) {
    return {
      reason: `it has no ${WORK_DIR_MARKER} mark, and its state/state.json is not a valid ailinux state (${(error as Error).message})`,
      entries: [],
    };
  }
  return null;
}

/** The lock's own files (the lock, its owner record, their temp files), and nothing else, in state/. */
const LOCK_FILE = /^(lock|lock\.owner)$|^\.lock\.[\w.-]+$/;

/**
 * Whether all the directory holds is state/ with at most the lock in it: what clean --all leaves for a moment while
 * it removes the work dir (the mark goes before the lock, state/ after it). It is treated as empty.
 */
function onlyLockLeft(workDir: string, names: readonly string[]): boolean {
  if (names.length !== 1 || names[0] !== 'state') return false;
  return fs.readdirSync(workPaths(workDir).stateDir).every((n) => LOCK_FILE.test(n));
}

/** Looks at the work dir and says whose it is; reads only. workDir is an absolute path that checkWorkDir passed. */
export function inspectWorkDir(workDir: string): WorkDirOwnership {
  try {
    if (!fs.statSync(workDir).isDirectory())
      throw new UsageError(`the work dir ${workDir} is not a directory`, { hint: NEW_DIR_HINT });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { kind: 'missing' };
    throw error;
  }
  const mark = readMark(workDir);
  const names = fs.readdirSync(workDir).sort();
  const misshapen = misshapenEntries(workDir, names);
  if (misshapen.length)
    return {
      kind: 'foreign',
      reason: 'ailinux never writes or removes through these entries',
      entries: misshapen,
      hint: 'remove or rename them (ailinux makes these names as plain directories), then retry',
    };
  if (mark) return { kind: 'marked', mark };
  // a dedicated disk comes with lost+found at its root; it is left alone
  const atMountRoot = names.includes('lost+found') && isMountPoint(workDir);
  const others = names.filter((n) => !OWN.has(n) && !MARK_TEMP.test(n) && !(atMountRoot && n === 'lost+found'));
  if (others.length)
    return { kind: 'foreign', reason: 'it holds files ailinux did not make', entries: others, hint: NEW_DIR_HINT };
  if (!names.some((n) => OWN.has(n)) || onlyLockLeft(workDir, names)) return { kind: 'empty' };
  const problem = adoptionProblem(workDir);
  return problem ? { kind: 'foreign', ...problem, hint: NEW_DIR_HINT } : { kind: 'adoptable' };
}

/** The UsageError (exit 2) for a directory that is not ailinux's, naming the first few entries it found. */
export function foreignWorkDirError(workDir: string, ownership: WorkDirOwnership & { kind: 'foreign' }): UsageError {
  const { entries } = ownership;
  const shown = entries.slice(0, SHOWN_ENTRIES).join(', ');
  const more = entries.length > SHOWN_ENTRIES ? ` and ${entries.length - SHOWN_ENTRIES} more` : '';
  return new UsageError(
    `refusing to use ${workDir} as the work dir: ${ownership.reason}${entries.length ? `: ${shown}${more}` : ''}`,
    { hint: ownership.hint },
  );
}

/** Throws for a directory that is not ailinux's; reads only. */
export function assertWorkDirUsable(workDir: string, ownership: WorkDirOwnership): void {
  if (ownership.kind === 'foreign') throw foreignWorkDirError(workDir, ownership);
}

/**
 * Makes the work dir ailinux's: creates and marks a new one, marks an empty one, adopts (marks, with a notice) one
 * from before the mark. Returns the mark. The ownership must come from inspectWorkDir on the same directory.
 */
export function claimWorkDir(
  workDir: string,
  ownership: WorkDirOwnership,
  notice: (message: string) => void,
): WorkDirMark {
  switch (ownership.kind) {
    case 'marked':
      return ownership.mark;
    case 'foreign':
      throw foreignWorkDirError(workDir, ownership);
    case 'missing': {
      const made = fs.mkdirSync(workDir, { recursive: true });
      try {
        return markOrSayFull(workDir);
      } catch (error) {
        // the directories just made, empty as they are, go too: a failed claim leaves nothing behind
        if (made !== undefined) removeMadeDirs(workDir, made);
        throw error;
      }
    }
    case 'empty':
      return markOrSayFull(workDir);
    case 'adoptable': {
      const mark = markOrSayFull(workDir);
      notice(
        `adopted ${workDir}, a work dir from before ailinux marked its work dirs: it holds a valid state and only ailinux's own entries (marked with ${WORK_DIR_MARKER})`,
      );
      return mark;
    }
  }
}

export interface ClaimedWorkDir {
  mark: WorkDirMark;
  lock: LockHandle;
}

export interface ClaimAndLockOptions {
  lockFile: string;
  /** The command line, for the lock's owner record. */
  command: string;
  warn: (message: string) => void;
  notice: (message: string) => void;
  /** Hold the lock without its owner record on a full disk (clean). */
  ownerOptional?: boolean;
  /** Run once, between the first claim and the lock (build enters its sandbox there). */
  beforeLock?: () => Promise<void>;
}

/** How often a claim starts over because the mark went before the lock was taken. */
const CLAIM_ATTEMPTS = 4;

/**
 * Claims the work dir and takes its lock, then checks, holding it, that the work dir still carries the mark it was
 * claimed with: clean --all removes the mark under the lock, so a command that claimed the work dir just before
 * would otherwise build in a directory that is no longer marked. When the mark went (or another replaced it), what
 * this call made (the lock file, an empty state/) goes again under the lock, and the claim starts over.
 */
export async function claimAndLockWorkDir(
  workDir: string,
  ownership: WorkDirOwnership,
  options: ClaimAndLockOptions,
): Promise<ClaimedWorkDir> {
  const stateDir = path.dirname(options.lockFile);
  let current = ownership;
  for (let attempt = 1; ; attempt++) {
    const mark = claimWorkDir(workDir, current, options.notice);
    if (attempt === 1) await options.beforeLock?.();
    fs.mkdirSync(stateDir, { recursive: true });
    const lock = acquireLock(options.lockFile, options.command, options.warn, {
      ownerOptional: options.ownerOptional === true,
    });
    let now: WorkDirMark | null;
    try {
      now = readMark(workDir);
    } catch (error) {
      lock.release();
      throw error;
    }
    if (now?.id === mark.id) return { mark, lock };
    lock.releaseRemovingFile();
    removeEmptyDir(stateDir);
    if (attempt >= CLAIM_ATTEMPTS)
      throw new UsageError(`the mark of ${workDir} was removed ${attempt} times while this command started`, {
        hint: 'another ailinux clean --all is removing this work dir: run the command again once it has ended',
      });
    current = inspectWorkDir(workDir);
  }
}

/** writeMark, with a full disk said as what it is: a DiskFullError (exit 75), the temp mark removed. */
function markOrSayFull(workDir: string): WorkDirMark {
  try {
    return writeMark(workDir);
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    throw new DiskFullError(`marking the work dir ${workDir} (${WORK_DIR_MARKER})`, {
      cause: error,
      hint: `free some space where ${workDir} lies, then run the command again`,
    });
  }
}

/** rmdir from dir up to top (the first directory mkdir made), each only while empty. */
function removeMadeDirs(dir: string, top: string): void {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
    if (d === top || path.dirname(d) === d) return;
  }
}
