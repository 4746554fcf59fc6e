/** Checks a work dir before anything is written: never /, a system directory or a home directory itself. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';

const SYSTEM_DIRS = [
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
  '/usr/local',
  '/var/lib',
  '/var/tmp',
];

/** Resolves symlinks of the longest existing prefix, so a link to / or /etc is seen for what it is. */
export function resolveThroughLinks(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** No work dir may lie in these trees at any depth: the system's own files live there. */
const SYSTEM_TREES = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/proc',
  '/run',
  '/sbin',
  '/sys',
  '/usr',
];

function insideSystemTree(p: string): string | null {
  return SYSTEM_TREES.find((tree) => p === tree || p.startsWith(`${tree}/`)) ?? null;
}

function homeDirs(): Set<string> {
  const homes = new Set<string>([os.homedir()]);
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const home = line.split(':')[5];
      if (home && home !== '/' && home !== '/nonexistent') homes.add(path.resolve(home));
    }
  } catch {
    // no passwd file: the current user's home is still checked
  }
  return homes;
}

/** The nearest existing path at or above p, followed through symlinks; null when even / cannot be read. */
function nearestExisting(p: string): { path: string; stats: fs.Stats } | null {
  for (let cur = p; ; cur = path.dirname(cur)) {
    try {
      return { path: cur, stats: fs.statSync(cur) };
    } catch {
      if (path.dirname(cur) === cur) return null;
    }
  }
}

export function checkWorkDir(workDir: string): string {
  const fix = 'pick a dedicated directory such as ./ailinux-build with --work-dir';
  // an empty path would resolve to the current directory, beside the user's own files
  if (workDir.trim() === '') throw new UsageError('the work dir is empty (--work-dir "")', { hint: fix });
  const abs = path.resolve(workDir);
  const real = resolveThroughLinks(abs);
  for (const p of new Set([abs, real])) {
    if (SYSTEM_DIRS.includes(p)) {
      throw new UsageError(
        `refusing to use ${abs}${p !== abs ? ` (it resolves to ${p})` : ''} as the work dir: it is a system directory`,
        { hint: fix },
      );
    }
    const tree = insideSystemTree(p);
    if (tree) {
      throw new UsageError(
        `refusing to use ${abs}${p !== abs ? ` (it resolves to ${p})` : ''} as the work dir: it is in a system directory (${tree}), where the system's own files are`,
        { hint: fix },
      );
    }
    if (homeDirs().has(p)) {
      throw new UsageError(
        `refusing to use ${abs}${p !== abs ? ` (it resolves to ${p})` : ''} as the work dir: it is a home directory`,
        { hint: `${fix}, for example ${path.join(p, 'ailinux-build')}` },
      );
    }
  }
  const existing = nearestExisting(abs);
  if (existing && !existing.stats.isDirectory()) {
    throw new UsageError(
      existing.path === abs
        ? `the work dir ${abs} is not a directory`
        : `the work dir ${abs} cannot be made: ${existing.path} is not a directory`,
      { hint: fix },
    );
  }
  if (/[,:\\\n\0]/.test(real)) {
    throw new UsageError(
      `the work dir path ${real} contains , : \\ or a newline, which overlayfs mount options cannot carry`,
      { hint: fix },
    );
  }
  return abs;
}
