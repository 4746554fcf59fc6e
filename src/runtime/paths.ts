/** The layout of a work dir. Every path the build writes lives under one of these. */
import path from 'node:path';

export interface WorkPaths {
  workDir: string;
  /** The mark that says ailinux made this directory (work-dir-mark.ts). */
  markerFile: string;
  stateDir: string;
  stateFile: string;
  lockFile: string;
  logsDir: string;
  stepLogsDir: string;
  buildLog: string;
  layersDir: string;
  mntDir: string;
  isoDir: string;
  outputDir: string;
  cacheDir: string;
  debCache: string;
  aptArchives: string;
  tmpDir: string;
}

/** The file at the top of a work dir that marks it as ailinux's. */
export const WORK_DIR_MARKER = '.ailinux-work-dir';

/** The top-level entries ailinux makes in a work dir; `clean` and `--fresh` never remove anything else. */
export const WORK_DIR_ENTRIES = ['state', 'logs', 'layers', 'mnt', 'iso', 'output', 'cache', 'tmp'] as const;
export type WorkDirEntry = (typeof WORK_DIR_ENTRIES)[number];

export function workPaths(workDir: string): WorkPaths {
  const w = path.resolve(workDir);
  return {
    workDir: w,
    markerFile: path.join(w, WORK_DIR_MARKER),
    stateDir: path.join(w, 'state'),
    stateFile: path.join(w, 'state', 'state.json'),
    lockFile: path.join(w, 'state', 'lock'),
    logsDir: path.join(w, 'logs'),
    stepLogsDir: path.join(w, 'logs', 'steps'),
    buildLog: path.join(w, 'logs', 'build.ndjson'),
    layersDir: path.join(w, 'layers'),
    mntDir: path.join(w, 'mnt'),
    isoDir: path.join(w, 'iso'),
    outputDir: path.join(w, 'output'),
    cacheDir: path.join(w, 'cache'),
    debCache: path.join(w, 'cache', 'debootstrap'),
    aptArchives: path.join(w, 'cache', 'apt-archives'),
    tmpDir: path.join(w, 'tmp'),
  };
}

export const DEFAULT_WORK_DIR = 'ailinux-build';
