/**
 * The read-only host (docs/safety.md). bin/ailinux starts build, resume and clean as root in a private mount
 * namespace (`exec unshare --mount --propagation private`, same pid); before they write anything, the CLI binds
 * the work dir onto itself and remounts every other mount there `bind,ro`. A wrong path, or a maintainer script
 * that escapes the chroot, then meets EROFS instead of the user's files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { isAtOrUnder, type MountEntry, readMountinfo } from './mountinfo.js';
import { packageRoot } from './package-root.js';
import type { Runner } from './runner.js';

/** Set by bin/ailinux to the mount namespace it left; a process in another namespace is in its sandbox. */
export const SANDBOX_FROM_ENV = 'AILINUX_SANDBOX_FROM';

/** The commands that write or mount, and so run only in the sandbox when run as root. */
export const SANDBOXED_COMMANDS = ['build', 'resume', 'clean', 'shell'] as const;

/** The per-mount flags a bind remount sets anew; each one the mount had is given again, or it would be lost. */
const KEPT_FLAGS = new Set(['nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime', 'relatime', 'nosymfollow']);

export interface ReadOnlyMount {
  target: string;
  /** The options for `mount -o remount,bind,<options>`: ro plus the flags the mount has now. */
  options: string;
}

export interface SandboxReport {
  /** The directories bound onto themselves, writable. */
  writable: string[];
  /** How many mounts were made read-only. */
  readOnly: number;
  /** Mounts that refused the remount and stay as they were, each with mount's message. */
  leftAlone: string[];
  /** TMPDIR for ailinux and the host tools it runs. */
  tmpDir: string;
}

/** Whether this process runs in a mount namespace bin/ailinux made for it (not the one it came from). */
export function inSandboxNamespace(env: NodeJS.ProcessEnv): boolean {
  const from = env[SANDBOX_FROM_ENV];
  if (!from) return false;
  try {
    return fs.readlinkSync('/proc/self/ns/mnt') !== from;
  } catch {
    return false;
  }
}

/**
 * A command that writes, run as root, must run in the sandbox: bin/ailinux.js alone cannot make one. `argv`: the
 * arguments the user gave after the command's name, so the fix repeats them after bin/ailinux.
 */
export function requireSandbox(
  command: (typeof SANDBOXED_COMMANDS)[number],
  env: NodeJS.ProcessEnv,
  argv: readonly string[] = [command],
): void {
  if (inSandboxNamespace(env)) return;
  const launcher = path.join(packageRoot(), 'bin', 'ailinux');
  throw new UsageError(
    `ailinux ${command} runs only in its sandbox (a private mount namespace where the host is read-only), and this process is not in one`,
    {
      hint: `start it with the ailinux command (${launcher}), not with node bin/ailinux.js: node cannot make the namespace itself`,
      hintArgv: [launcher, ...argv],
    },
  );
}

/** mountinfo's per-mount options as `mount -o remount,bind,…` needs them: ro, and every flag kept. */
function readOnlyOptions(perMount: string): string {
  const flags = perMount.split(',').filter((f) => KEPT_FLAGS.has(f));
  // no atime flag in mountinfo means strictatime; a bind remount would make it relatime otherwise
  if (!flags.some((f) => f === 'noatime' || f === 'relatime')) flags.push('strictatime');
  return ['ro', ...flags].join(',');
}

/**
 * The mounts to make read-only: every mount point outside the writable dirs, once (a remount by path reaches
 * the topmost mount there; one hidden beneath it is out of reach anyway). Writable dirs are real paths.
 */
export function planReadOnly(entries: readonly MountEntry[], writable: readonly string[]): ReadOnlyMount[] {
  const byTarget = new Map<string, ReadOnlyMount>();
  for (const entry of entries) {
    if (writable.some((dir) => isAtOrUnder(entry.mountPoint, dir))) continue;
    byTarget.delete(entry.mountPoint);
    byTarget.set(entry.mountPoint, { target: entry.mountPoint, options: readOnlyOptions(entry.options) });
  }
  // parents first: the order mountinfo lists them in, so a child is remounted after the mount it lies on
  return [...byTarget.values()];
}

/** The program that makes the mounts, shipped beside ailinux-ns-run. */
export function sandboxScriptPath(): string {
  return path.join(packageRoot(), 'libexec', 'ailinux-sandbox');
}

/**
 * Makes this namespace the read-only host: each writable dir (created if missing) bound onto itself, every
 * other mount remounted read-only, TMPDIR in the work dir. Only in a namespace bin/ailinux made (refused
 * otherwise, and the script refuses too): a read-only remount in the host's namespace would reach the machine.
 */
export async function enterSandbox(options: {
  writable: readonly string[];
  tmpDir: string;
  runner: Runner;
  env?: NodeJS.ProcessEnv;
}): Promise<SandboxReport> {
  const env = options.env ?? process.env;
  if (!inSandboxNamespace(env)) {
    throw new UsageError('refusing to make the host read-only outside the private namespace bin/ailinux makes');
  }
  const writable = options.writable.map((dir) => {
    fs.mkdirSync(dir, { recursive: true });
    return fs.realpathSync(dir);
  });
  const readOnly = planReadOnly(readMountinfo(), writable);
  const argv = [
    sandboxScriptPath(),
    ...writable.flatMap((dir) => ['--bind', dir]),
    ...readOnly.flatMap((m) => ['--ro', m.target, m.options]),
  ];
  const result = await options.runner.run(argv, { env: { [SANDBOX_FROM_ENV]: env[SANDBOX_FROM_ENV]! } });
  const leftAlone = result.stderr
    .split('\n')
    .filter((l) => l.startsWith('ailinux-sandbox: left as it was: '))
    .map((l) => l.slice('ailinux-sandbox: left as it was: '.length));
  fs.mkdirSync(options.tmpDir, { recursive: true });
  env['TMPDIR'] = options.tmpDir;
  return { writable, readOnly: readOnly.length - leftAlone.length, leftAlone, tmpDir: options.tmpDir };
}

/**
 * The sandbox of one work dir: it stays writable, with the shared deb cache's dir when a build uses one
 * (alsoWritable); TMPDIR is its tmp/.
 */
export async function enterWorkDirSandbox(
  paths: { workDir: string; tmpDir: string },
  runner: Runner,
  warn: (message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
  alsoWritable: readonly string[] = [],
): Promise<SandboxReport> {
  const report = await enterSandbox({ writable: [paths.workDir, ...alsoWritable], tmpDir: paths.tmpDir, runner, env });
  for (const left of report.leftAlone)
    warn(`the sandbox could not make a mount read-only, so it stays as it was: ${left}`);
  return report;
}
