/**
 * Notices changes to a work dir's state file, event log and step logs: fs.watch on the
 * directories that exist (fast), and a polling fallback that compares sizes and mtimes (always
 * on, slow) and attaches the watchers once a directory appears. Reads only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { lockOwnerFile } from '../runtime/lock.js';
import type { WorkPaths } from '../runtime/paths.js';

export interface WorkDirWatcher {
  close(): void;
  /** Whether fs.watch is in use for at least one directory (false: polling only). */
  readonly watching: boolean;
}

function statKey(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return '-';
  }
}

/** Sizes and mtimes of everything the page is drawn from. */
export function workDirSignature(paths: WorkPaths): string {
  const parts = [statKey(paths.stateFile), statKey(lockOwnerFile(paths.lockFile)), statKey(paths.buildLog)];
  try {
    for (const name of fs.readdirSync(paths.stepLogsDir).sort())
      parts.push(`${name}=${statKey(path.join(paths.stepLogsDir, name))}`);
  } catch {
    // no step logs yet
  }
  return parts.join('|');
}

export function watchWorkDir(
  paths: WorkPaths,
  onChange: () => void,
  options: { pollMs?: number; useFsWatch?: boolean } = {},
): WorkDirWatcher {
  const dirs = [paths.workDir, paths.stateDir, paths.logsDir, paths.stepLogsDir];
  const watchers = new Map<string, fs.FSWatcher>();
  const useFsWatch = options.useFsWatch !== false;
  let closed = false;
  let last = workDirSignature(paths);

  const attach = () => {
    if (!useFsWatch) return;
    for (const dir of dirs) {
      if (watchers.has(dir) || !fs.existsSync(dir)) continue;
      try {
        const w = fs.watch(dir, { persistent: false }, () => {
          if (!closed) onChange();
        });
        w.on('error', () => {
          // the directory went away (clean --all): polling carries on and re-attaches
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // no inotify (or out of watches): polling alone
      }
    }
  };
  attach();

  const timer = setInterval(() => {
    attach();
    const now = workDirSignature(paths);
    if (now !== last) {
      last = now;
      onChange();
    }
  }, options.pollMs ?? 1000);
  timer.unref();

  return {
    get watching() {
      return watchers.size > 0;
    },
    close() {
      closed = true;
      clearInterval(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
