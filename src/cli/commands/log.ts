/** ailinux log [STEP]: a step's readable log, or the build's event log. Reads only. */
import fs from 'node:fs';
import { didYouMean } from '../../config/nearest-name.js';
import { stepLogPath } from '../../engine/build-log.js';
import { UsageError } from '../../errors.js';
import { workPaths } from '../../runtime/paths.js';
import { allSteps, stepById } from '../../steps/registry.js';
import { terminalText } from '../../runtime/terminal-text.js';
import type { CliIO } from '../io.js';

export function runLogCommand(step: string | undefined, options: { workDir: string }, io: CliIO): number {
  const paths = workPaths(options.workDir);
  if (step) {
    if (!/^[a-z][a-z0-9-]*$/.test(step))
      throw new UsageError(`"${step}" is not a step id`, {
        hint: '`ailinux status` lists the step ids',
        hintArgv: ['ailinux', 'status'],
      });
    const file = stepLogPath(paths.stepLogsDir, step);
    if (!fs.existsSync(file)) {
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
    io.stdout.write(terminalText(fs.readFileSync(file, 'utf8')));
    return 0;
  }
  if (!fs.existsSync(paths.buildLog))
    throw new UsageError(`no build log in ${paths.workDir}`, { hint: 'build first', hintArgv: ['ailinux', 'build'] });
  for (const line of fs.readFileSync(paths.buildLog, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as { time?: string; level?: number; msg?: string; step?: string };
      const level = (e.level ?? 30) >= 50 ? 'ERROR' : (e.level ?? 30) >= 40 ? 'WARN ' : 'INFO ';
      io.stdout.write(terminalText(`${e.time ?? ''} ${level} ${e.step ? `[${e.step}] ` : ''}${e.msg ?? ''}\n`));
    } catch {
      io.stdout.write(terminalText(`${line}\n`));
    }
  }
  return 0;
}
