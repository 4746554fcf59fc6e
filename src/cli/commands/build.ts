/** ailinux build / resume: run the machine, map its outcome to an exit code, print what to do next. */
import fs from 'node:fs';
import path from 'node:path';
import type { BuildDeps, BuildRequest, BuildResult } from '../../engine/build.js';
import { BuildRun } from '../../engine/build-run.js';
import { diskFullReason, isDiskFull } from '../../engine/disk-full.js';
import { formatDuration, type ProgressView } from '../../engine/progress.js';
import { stepLogPath } from '../../engine/build-log.js';
import { DiskFullError, UsageError } from '../../errors.js';
import { ExecaRunner } from '../../runtime/execa-runner.js';
import { type WorkPaths, workPaths } from '../../runtime/paths.js';
import { enterWorkDirSandbox, requireSandbox } from '../../runtime/sandbox.js';
import { terminalText } from '../../runtime/terminal-text.js';
import { withDiscoveredConfig } from '../config-discovery.js';
import { EXIT, exitCodeForSignal } from '../exit-codes.js';
import { renderHintCommand, renderHintText, type UserFlags } from '../hint.js';
import type { CliIO } from '../io.js';
import type { ProgressTimers } from '../progress-timers.js';
import { createProgressView, type ProgressMode } from '../progress-view.js';

export interface BuildCommandOptions {
  config?: string;
  profile?: string;
  workDir: string;
  fresh?: boolean;
  /** Keep the layers without reading the archive's Release files (docs/cli.md). */
  offline?: boolean;
  quiet?: boolean;
  progress?: ProgressMode;
}

/** Starts the build behind the command: the real one in its sandbox, or a test's with fake tools. */
export type StartBuild = (request: BuildRequest, deps: BuildDeps) => BuildRun;

/** What tests replace: how the build starts, and the progress view's clock and timers. */
export interface BuildCommandSeams {
  startBuild?: StartBuild;
  timers?: ProgressTimers;
}

/** Each handled once, here; SIGHUP (a dropped ssh session) stops cleanly and resumably, like SIGTERM. */
const HANDLED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

export async function runBuildCommand(
  command: 'build' | 'resume',
  options: BuildCommandOptions,
  io: CliIO,
  seams: BuildCommandSeams = {},
): Promise<number> {
  if (io.uid !== 0) {
    throw new UsageError(
      `ailinux ${command} needs root: it runs debootstrap and chroot, and mounts inside a private namespace`,
      {
        hint: 'run it as root, with the same arguments; status, plan, log, doctor, inspect, verify and schema work without root',
        // the user's own command line under sudo; without it (a test's io), the command with their -C, -w and -c
        hintArgv: ['sudo', 'ailinux', ...(io.argv ?? [command])],
      },
    );
  }
  const startBuild = seams.startBuild ?? sandboxedBuild(command, io);
  const quiet = options.quiet === true;
  // fix lines carry the user's own -C, --work-dir and --config, so a pasted command acts on this build
  const flags = io.hintFlags ?? {};
  const view = withUserFlags(
    createProgressView(io.stderr, {
      mode: options.progress ?? 'auto',
      quiet,
      env: io.env,
      ...(seams.timers ? { timers: seams.timers } : {}),
    }),
    flags,
  );
  // a build with neither --config nor --profile takes ./ailinux.config.yaml (.yml, .json) over the default profile;
  // resume keeps the config its build recorded (a notice: --quiet drops it)
  const say = (line: string) => (view.notice ? view.notice(line) : view.message(line));
  const chosen = command === 'build' ? withDiscoveredConfig(options, io, say) : options;
  const request: BuildRequest = {
    command,
    workDir: options.workDir,
    configFile: chosen.config ?? null,
    profile: chosen.profile ?? null,
    fresh: options.fresh === true,
    offline: options.offline === true,
    commandLine: io.commandLine,
    userFlags: flags,
  };
  const warn = (m: string) => view.message(`warning: ${m}`);
  const session = startBuild(request, { view, warn, env: io.env });
  const handlers = HANDLED_SIGNALS.map((signal) => {
    const handler = () => session.interrupt(signal);
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  try {
    const started = Date.now();
    const result = await runOrPause(command, session, options, io);
    if (typeof result === 'number') return result;
    const { paths } = result;
    const resume = renderHintCommand(['ailinux', 'resume'], flags);
    if (result.outcome === 'succeeded') {
      if (!quiet) io.stderr.write(`build succeeded in ${formatDuration(Date.now() - started)}\n`);
      // the result, not chatter: even --quiet prints it, so `iso=$(ailinux build ...)` works
      const iso = isoPath(result);
      if (iso) io.stdout.write(`${iso}\n`);
      return EXIT.ok;
    }
    if (result.outcome === 'paused') {
      io.stderr.write(
        `build paused: ${terminalText(renderHintText(result.pauseReason ?? 'not enough resources', flags))}\nthe state is saved; once there is room, continue with: ${resume}\n`,
      );
      return EXIT.paused;
    }
    if (result.outcome === 'interrupted') {
      io.stderr.write(
        `build interrupted by ${result.signal ?? 'a signal'}; the state is saved. Continue with: ${resume}\n`,
      );
      return exitCodeForSignal(result.signal);
    }
    const step = result.failedStep ?? '?';
    const entry = result.state.ledger[step];
    const e = entry?.error;
    const lines = [
      `build failed at step ${step}${entry && entry.attempts > 1 ? ` after ${entry.attempts} attempts` : ''}: ${renderHintText(e?.message ?? 'unknown error', flags)}`,
    ];
    if (e?.command) lines.push(`  command: ${e.command}`);
    if (e?.exitCode !== undefined && e.exitCode !== null) lines.push(`  exit code: ${e.exitCode}`);
    if (e?.signal) lines.push(`  signal: ${e.signal}`);
    if (e?.stderrTail) lines.push('  stderr (last lines):', ...e.stderrTail.split('\n').map((l) => `    ${l}`));
    if (e?.hint) lines.push(`  fix: ${renderHintText(e.hint, flags)}`);
    if (e?.hintArgv) lines.push(`  run: ${renderHintCommand(e.hintArgv, flags)}`);
    lines.push(`  log: ${stepLogPath(paths.stepLogsDir, step)}`);
    lines.push(`  after fixing the cause, continue with: ${resume}`);
    // the message, command and stderr came from the failed command: no escape sequence reaches the terminal
    io.stderr.write(terminalText(`${lines.join('\n')}\n`));
    return EXIT.buildFailed;
  } finally {
    for (const off of handlers) off();
    view.close();
  }
}

/** The view with the commands in the engine's messages and notices (`ailinux plan`, say) given the user's flags. */
function withUserFlags(view: ProgressView, flags: UserFlags): ProgressView {
  const { notice } = view;
  return {
    ...view,
    message: (text) => view.message(renderHintText(text, flags)),
    ...(notice ? { notice: (text: string) => notice(renderHintText(text, flags)) } : {}),
  };
}

/** The real build: only in the sandbox bin/ailinux made, which it makes read-only but for the work dir. */
function sandboxedBuild(command: 'build' | 'resume', io: CliIO): StartBuild {
  requireSandbox(command, io.env, io.argv);
  return (request, deps) =>
    new BuildRun(request, {
      ...deps,
      enterSandbox: (paths: WorkPaths, alsoWritable: readonly string[]) =>
        enterWorkDirSandbox(paths, new ExecaRunner(), deps.warn, io.env, alsoWritable),
      sharedDebCache: true,
    });
}

/** The ISO a successful build made, from the ledger in step order (the iso step's in the built-in profiles). */
function isoPath(result: BuildResult): string | null {
  for (const id of result.state.order) {
    const iso = result.state.ledger[id]?.artifacts.find((a) => a.path.endsWith('.iso'));
    if (iso) return path.join(result.paths.workDir, iso.path);
  }
  return null;
}

/**
 * The build, or exit 75 when the disk filled before its machine ran (the lock, the first state write, --fresh's
 * removal): nothing of the build ran, and the last good state is what is on disk.
 */
async function runOrPause(
  command: 'build' | 'resume',
  session: BuildRun,
  options: BuildCommandOptions,
  io: CliIO,
): Promise<BuildResult | number> {
  try {
    return await session.run();
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    const workDir = path.resolve(io.cwd, options.workDir);
    // before the first state write (the mark, the lock's owner) there is nothing to resume: the build runs again
    const started = fs.existsSync(workPaths(workDir).stateFile);
    const flags = io.hintFlags ?? {};
    const resume = renderHintCommand(['ailinux', 'resume'], flags);
    const where = error instanceof DiskFullError ? error.where : 'starting the build';
    // before the first state write, the next command is the one that was run: the user's own line, or its kind
    const again = io.argv ? renderHintCommand(['ailinux', ...io.argv]) : renderHintCommand(['ailinux', command], flags);
    io.stderr.write(
      `build paused: ${terminalText(diskFullReason(where, workDir))}\n${started ? `the last good state is kept; once there is room, continue with: ${resume}` : `the build did not start, so there is nothing to resume; once there is room, run it again: ${terminalText(again)}`}\n`,
    );
    return EXIT.paused;
  }
}
