/**
 * What the host offers a build: the tools a profile needs (found on PATH, with versions), root,
 * free disk, and the health of session-critical services. Reads only: services are queried with
 * `systemctl show`, never started, stopped or restarted, and only when systemd is PID 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { CommandError } from '../errors.js';
import type { Runner } from './runner.js';
import { freeDiskBytes, toMb } from './resources.js';

export type FindingLevel = 'ok' | 'warn' | 'block';

/** One line of the doctor's verdict: blocks (a build would refuse or fail), warn, or ok. */
export interface Finding {
  level: FindingLevel;
  topic: string;
  message: string;
  fix?: string;
}

export interface ToolRequirement {
  name: string;
  /** Debian package that ships it. */
  pkg: string;
  why: string;
  /** Arguments that make it print its version (first line with a number is taken). */
  versionArgs: string[];
}

export interface ToolCheck extends ToolRequirement {
  path: string | null;
  /** Found on PATH itself (a build runs with this PATH), not only in the sbin dirs searched after it. */
  onPath: boolean;
  version: string | null;
}

/** Directories searched after PATH: root's PATH has them, a user's often does not. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Where name would be run from: the first executable file of that name on PATH (then the sbin dirs). */
export function findOnPath(name: string, envPath: string | undefined): string | null {
  return findTool(name, envPath).path;
}

function findTool(name: string, envPath: string | undefined): { path: string | null; onPath: boolean } {
  const pathDirs = (envPath ?? '').split(':').filter((d) => d.startsWith('/'));
  for (const dir of [...pathDirs, ...SBIN_DIRS]) {
    const file = path.join(dir, name);
    try {
      if (fs.statSync(file).isFile()) {
        fs.accessSync(file, fs.constants.X_OK);
        return { path: file, onPath: pathDirs.includes(dir) };
      }
    } catch {
      // not here
    }
  }
  return { path: null, onPath: false };
}

/** The first line of output that carries a version number. */
export function pickVersion(text: string): string | null {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /\d+\.\d+/.test(l));
  return line ? line.slice(0, 120) : null;
}

/** Finds each tool and asks it for its version (5 s at most each); a tool that will not say is still present. */
export async function checkTools(
  tools: readonly ToolRequirement[],
  runner: Runner,
  envPath: string | undefined,
): Promise<ToolCheck[]> {
  const checks: ToolCheck[] = [];
  for (const tool of tools) {
    const { path: found, onPath } = findTool(tool.name, envPath);
    let version: string | null = null;
    if (found) {
      try {
        const r = await runner.run([found, ...tool.versionArgs], { timeoutMs: 5000 });
        version = pickVersion(`${r.stdout}\n${r.stderr}`);
      } catch (error) {
        version = error instanceof CommandError ? pickVersion(error.failure.stderrTail) : null;
      }
    }
    checks.push({ ...tool, path: found, onPath, version });
  }
  return checks;
}

/** Session-critical units: if one of them is unhealthy, a user may lose their session for reasons that are not ours. */
export const SESSION_CRITICAL_UNITS = [
  'systemd-logind.service',
  'dbus.service',
  'display-manager.service',
  'NetworkManager.service',
  'ssh.service',
  'systemd-udevd.service',
  'polkit.service',
] as const;

export interface ServiceCheck {
  unit: string;
  loadState: string;
  activeState: string;
  subState: string;
  healthy: boolean;
}

export interface ServicesReport {
  checked: boolean;
  /** Why services were not checked, or what was checked. */
  note: string;
  units: ServiceCheck[];
}

/** The command name of PID 1, e.g. "systemd"; null when unreadable. */
export function pid1Name(): string | null {
  try {
    return fs.readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    return null;
  }
}

/** The argv of the one systemctl query the doctor makes: `show` reads properties and changes nothing. */
export function serviceQueryArgv(units: readonly string[]): string[] {
  return ['systemctl', 'show', '--no-pager', '--property=Id,LoadState,ActiveState,SubState', ...units];
}

/** Parses `systemctl show` output: blocks of KEY=value lines, one block per unit, in order. */
export function parseServiceShow(text: string, units: readonly string[]): ServiceCheck[] {
  const blocks = text
    .split(/\n\s*\n/)
    .map((b) => b.trim())
    .filter(Boolean);
  return units.map((unit, i) => {
    const props = Object.fromEntries(
      (blocks[i] ?? '').split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const loadState = props['LoadState'] ?? 'unknown';
    const activeState = props['ActiveState'] ?? 'unknown';
    const subState = props['SubState'] ?? 'unknown';
    // A unit that is not installed is no concern; one that is installed must be running.
    const healthy = loadState !== 'loaded' || activeState === 'active' || activeState === 'reloading';
    return { unit, loadState, activeState, subState, healthy };
  });
}

/** Reads the health of session-critical services when systemd is PID 1. Never starts, stops or restarts anything. */
export async function checkServices(runner: Runner, init: string | null = pid1Name()): Promise<ServicesReport> {
  if (init !== 'systemd') {
    return { checked: false, note: `PID 1 is ${init ?? 'unknown'}, not systemd: no services to check`, units: [] };
  }
  try {
    const r = await runner.run(serviceQueryArgv(SESSION_CRITICAL_UNITS), { timeoutMs: 10_000 });
    return {
      checked: true,
      note: 'read with systemctl show (nothing was started, stopped or restarted)',
      units: parseServiceShow(r.stdout, SESSION_CRITICAL_UNITS),
    };
  } catch (error) {
    return { checked: false, note: `systemctl show failed: ${(error as Error).message}`, units: [] };
  }
}

export interface DiskReport {
  /** The directory measured: the work dir, or its nearest existing parent. */
  measured: string;
  freeMb: number;
  floorMb: number;
  /** Estimate of the first step that needs space, plus the floor: below this a build pauses at once. */
  firstNeedMb: number;
  /** The largest step estimate plus the floor: below this a build may pause later. */
  peakNeedMb: number;
}

function nearestExisting(dir: string): string {
  let cur = path.resolve(dir);
  while (!fs.existsSync(cur) && path.dirname(cur) !== cur) cur = path.dirname(cur);
  return cur;
}

/** Free space where the work dir is (or will be), against the floor and the steps' estimates. */
export function checkDisk(workDir: string, config: BuildConfig, estimates: readonly number[]): DiskReport {
  const measured = nearestExisting(workDir);
  const floorMb = config.resources.minFreeDiskMb;
  const use = config.resources.checkEstimates;
  const first = use ? (estimates.find((e) => e > 0) ?? 0) : 0;
  const peak = use ? Math.max(0, ...estimates) : 0;
  return {
    measured,
    freeMb: toMb(freeDiskBytes(measured)),
    floorMb,
    firstNeedMb: first + floorMb,
    peakNeedMb: peak + floorMb,
  };
}
