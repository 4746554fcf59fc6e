/**
 * ailinux log [STEP]: a step's readable log, or the build's event log through pino-pretty; with -f, followed until
 * the step ends or the build stops (src/cli/log-follow.ts). Reads only.
 */
import fs from 'node:fs';
import { didYouMean } from '../../config/nearest-name.js';
import { stepLogPath } from '../../engine/build-log.js';
import { UsageError } from '../../errors.js';
import { workPaths } from '../../runtime/paths.js';
import { allSteps, stepById } from '../../steps/registry.js';
import { terminalText } from '../../runtime/terminal-text.js';
import type { CliIO } from '../io.js';
import { buildResult, buildRunning, followLog, stateNow, stepEnded, type SignalSource } from '../log-follow.js';
import { eventLogPrinter } from '../log-pretty.js';

export interface LogCommandOptions {
  workDir: string;
  /** Follow the log until the step ends or the build stops. */
  follow?: boolean;
}

export async function runLogCommand(
  step: string | undefined,
  options: LogCommandOptions,
  io: CliIO,
  signals?: SignalSource,
): Promise<number> {
  const paths = workPaths(options.workDir);
  if (step) {
    if (!/^[a-z][a-z0-9-]*$/.test(step))
      throw new UsageError(`"${step}" is not a step id`, {
        hint: '`ailinux status` lists the step ids',
        hintArgv: ['ailinux', 'status'],
      });
    const file = stepLogPath(paths.stepLogsDir, step);
    // a step of the running build that has not started yet is waited for
    const waitable = options.follow === true && buildRunning(paths) && (stateNow(paths)?.order ?? []).includes(step);
    if (!fs.existsSync(file) && !waitable) {
      const have = fs.existsSync(paths.stepLogsDir)
        ? fs.readdirSync(paths.stepLogsDir).map((f) => f.replace(/\.log$/, ''))
        : [];
      const logsHint = have.length ? `logs exist for: ${have.join(', ')}` : 'no step has run yet';
      if (!stepById(step) && !have.includes(step)) {
        const known = [...new Set([...allSteps().map((s) => s.id), ...have])];
        throw new UsageError(`no step "${step}"${didYouMean(step, known)}`, {
          hint: `the steps are: ${known.join(', ')}`,
        });
      }
      throw new UsageError(`no log for step ${step} in ${paths.workDir}`, { hint: logsHint });
    }
    // a step log holds what its commands printed, escape sequences included
    if (options.follow) {
      if (!fs.existsSync(file)) io.stderr.write(`ailinux: waiting for step ${step} to start\n`);
      return followLog({ file, render: terminalText, ended: () => stepEnded(paths, step) }, io, signals);
    }
    io.stdout.write(terminalText(fs.readFileSync(file, 'utf8')));
    return 0;
  }
  if (!fs.existsSync(paths.buildLog))
    throw new UsageError(`no build log in ${paths.workDir}`, { hint: 'build first', hintArgv: ['ailinux', 'build'] });
  const print = eventLogPrinter(io.stdout, io.env);
  if (options.follow)
    return followLog(
      { file: paths.buildLog, render: print, ended: () => (buildRunning(paths) ? null : buildResult(stateNow(paths))) },
      io,
      signals,
    );
  io.stdout.write(print(fs.readFileSync(paths.buildLog, 'utf8')));
  return 0;
}
