/**
 * `ailinux log -f`: a log followed as tail -f does, until what writes it ends: a step's log until the step is done,
 * skipped or failed (its state says so) or the build stops (its lock is free); the event log until the build
 * stops. Exits with what ended: the step's or the build's result. Ctrl-C (SIGINT) ends it with 130 and SIGTERM with
 * 143, the build going on. Reads only.
 *
 * Watching is fs.watch on the log's directory (inotify here) to print new lines at once, with a poll every
 * POLL_MS as well, which alone suffices where fs.watch reports nothing (a network file system) and is what checks
 * the state and the lock. A library (chokidar) would add a dependency tree for what these few lines do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { readStateReadOnly } from '../../state/store.js';
import type { StateFile } from '../../state/schema.js';
import { isLockHeld, lockState } from '../runtime/lock.js';
import type { WorkPaths } from '../runtime/paths.js';
import { EXIT } from './exit-codes.js';
import type { CliIO } from './io.js';

export const POLL_MS = 250;

/** How following ended: the exit code, and a line for stderr. */
export interface FollowEnd {
  readonly code: number;
  readonly note: string;
}

export interface FollowTarget {
  readonly file: string;
  /** Whole lines of the file as they are printed. */
  readonly render: (lines: string) => string;
  /** How it ended, or null while it goes on; asked after each read. */
  readonly ended: () => FollowEnd | null;
}

/** The process signals follow listens to; process itself outside tests. */
export interface SignalSource {
  once(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  off(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
}

/** Whether a build holds the work dir's lock. A lock held from another host counts as held: it cannot be checked. */
export function buildRunning(paths: WorkPaths): boolean {
  const held = isLockHeld(paths.lockFile);
  if (held !== null) return held;
  const found = lockState(paths.lockFile, 0);
  return found.kind === 'held' || found.kind === 'foreign';
}

/** The state, or null when there is none or it cannot be read just now (the next poll reads it again). */
export function stateNow(paths: WorkPaths): StateFile | null {
  try {
    return readStateReadOnly(paths.stateFile);
  } catch {
    return null;
  }
}

const SIGNAL_EXIT: Readonly<Record<string, number>> = {
  SIGHUP: EXIT.sighup,
  SIGINT: EXIT.sigint,
  SIGQUIT: EXIT.sigquit,
  SIGTERM: EXIT.sigterm,
};

/** The exit code and words for a build that has stopped, as its own run exited. */
export function buildResult(state: StateFile | null): FollowEnd {
  switch (state?.outcome) {
    case 'succeeded':
      return { code: EXIT.ok, note: 'the build succeeded' };
    case 'failed':
      return { code: EXIT.buildFailed, note: 'the build failed' };
    case 'paused':
      return { code: EXIT.paused, note: `the build paused${state.pauseReason ? `: ${state.pauseReason}` : ''}` };
    case 'interrupted': {
      const signal = state.interruptSignal ?? 'a signal';
      return { code: SIGNAL_EXIT[signal] ?? EXIT.buildFailed, note: `the build was interrupted by ${signal}` };
    }
    default:
      // its lock is free but its state says it runs: it was killed (SIGKILL) or crashed
      return { code: EXIT.buildFailed, note: 'the build stopped without recording an outcome (killed or crashed)' };
  }
}

/** How following a step's log ended, from the state and the lock; null while the step may still write. */
export function stepEnded(paths: WorkPaths, step: string): FollowEnd | null {
  const entry = stateNow(paths)?.ledger[step];
  if (entry?.status === 'done' || entry?.status === 'skipped')
    return { code: EXIT.ok, note: `step ${step} ${entry.status}` };
  if (entry?.status === 'failed')
    return {
      code: EXIT.buildFailed,
      note: `step ${step} failed${entry.error ? `: ${entry.error.message.split('\n')[0]}` : ''}`,
    };
  if (buildRunning(paths)) return null;
  // read again: the build may have ended the step between the read above and the lock's release
  const state = stateNow(paths);
  const last = state?.ledger[step];
  if (last?.status === 'done' || last?.status === 'skipped')
    return { code: EXIT.ok, note: `step ${step} ${last.status}` };
  if (last?.status === 'failed') return { code: EXIT.buildFailed, note: `step ${step} failed` };
  const stopped = buildResult(state);
  return {
    code: stopped.code === EXIT.ok ? EXIT.buildFailed : stopped.code,
    note: `step ${step} did not end: ${stopped.note}; ailinux resume continues it`,
  };
}

/** Follows target.file until target.ended() says how it ended; resolves to the exit code. */
export function followLog(
  target: FollowTarget,
  io: CliIO,
  signals: SignalSource = process,
  pollMs: number = POLL_MS,
): Promise<number> {
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.alloc(64 * 1024);
  let offset = 0;
  let partial = '';
  let identity: string | null = null;

  /** Prints what was added since the last read, whole lines only; a file replaced or cut short is read anew. */
  const readNew = (): void => {
    let fd: number;
    try {
      fd = fs.openSync(target.file, 'r');
    } catch {
      return;
    }
    try {
      const stat = fs.fstatSync(fd);
      const id = `${stat.dev}:${stat.ino}`;
      if (id !== identity || stat.size < offset) {
        identity = id;
        offset = 0;
        partial = '';
      }
      for (;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, offset);
        if (n === 0) break;
        offset += n;
        partial += decoder.write(buffer.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
    const end = partial.lastIndexOf('\n');
    if (end < 0) return;
    io.stdout.write(target.render(partial.slice(0, end + 1)));
    partial = partial.slice(end + 1);
  };

  return new Promise((resolve) => {
    let watcher: fs.FSWatcher | null = null;
    let timer: NodeJS.Timeout | null = null;
    let done = false;
    const finish = (end: FollowEnd, tail: boolean): void => {
      if (done) return;
      done = true;
      if (timer) clearInterval(timer);
      watcher?.close();
      signals.off('SIGINT', onInt);
      signals.off('SIGTERM', onTerm);
      if (tail) {
        readNew();
        // a last line without its newline (a killed build's) is printed too
        if (partial) io.stdout.write(target.render(`${partial}\n`));
      }
      io.stderr.write(`ailinux: ${end.note}\n`);
      resolve(end.code);
    };
    const onInt = () => finish({ code: EXIT.sigint, note: 'stopped following (Ctrl-C); the build goes on' }, false);
    const onTerm = () => finish({ code: EXIT.sigterm, note: 'stopped following (SIGTERM); the build goes on' }, false);
    signals.once('SIGINT', onInt);
    signals.once('SIGTERM', onTerm);
    /** Watches the directory, not the file: the file may not exist yet, and a rerun step's log replaces it. */
    const watch = (): void => {
      try {
        watcher = fs.watch(path.dirname(target.file), () => {
          if (!done) readNew();
        });
        watcher.on('error', () => watcher?.close());
      } catch {
        // no directory yet (no step has run), or no inotify: the poll reads on, and tries again
        watcher = null;
      }
    };
    const tick = (): void => {
      if (done) return;
      if (watcher === null) watch();
      readNew();
      const end = target.ended();
      if (end) finish(end, true);
    };
    timer = setInterval(tick, pollMs);
    tick();
  });
}
