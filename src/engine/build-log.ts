/**
 * Logs: one NDJSON file per work dir (logs/build.ndjson) through pino with a synchronous
 * destination, so no line is lost when the process ends early; and one readable log per step.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { quoteArgv, type RunOptions, type RunResult, type Runner } from '../runtime/runner.js';
import type { StepLog } from '../steps/types.js';

/** `onWriteError`: a line that could not be written (a full disk) goes there instead of throwing at the caller. */
export function openBuildLogger(file: string, runId: string, onWriteError?: (error: Error) => void): Logger {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const destination = pino.destination({ dest: file, sync: true, mkdir: true });
  if (onWriteError) destination.on('error', onWriteError);
  return pino({ base: { runId }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

export function stepLogPath(stepLogsDir: string, stepId: string): string {
  return path.join(stepLogsDir, `${stepId}.log`);
}

export interface OpenStepLog extends StepLog {
  readonly file: string;
  /** The last output lines, for the terminal view. */
  readonly lastLine: string;
  close(): void;
}

export function openStepLog(
  stepLogsDir: string,
  stepId: string,
  logger: Logger,
  onLine?: (line: string) => void,
  onWriteError?: (error: unknown) => void,
): OpenStepLog {
  fs.mkdirSync(stepLogsDir, { recursive: true });
  const file = stepLogPath(stepLogsDir, stepId);
  const fd = fs.openSync(file, 'a');
  let lastLine = '';
  let open = true;
  const write = (text: string) => {
    if (!open) return;
    try {
      fs.writeSync(fd, `${text}\n`);
    } catch (error) {
      // a command's output line arrives in a stream handler, where a throw would crash the build
      if (!onWriteError) throw error;
      onWriteError(error);
    }
  };
  return {
    file,
    get lastLine() {
      return lastLine;
    },
    info(message) {
      write(`[${new Date().toISOString()}] ${message}`);
      logger.info({ step: stepId }, message);
    },
    line(stream, text) {
      write(stream === 'stderr' ? `! ${text}` : `  ${text}`);
      lastLine = text;
      onLine?.(text);
    },
    close() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

/** A runner that writes each command and its outcome to the step's log before and after running it. */
export function loggingRunner(inner: Runner, log: StepLog, logger: Logger, stepId: string): Runner {
  return {
    async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
      log.info(`$ ${quoteArgv(argv)}`);
      logger.info({ step: stepId, argv }, 'command started');
      const started = performance.now();
      try {
        const result = await inner.run(argv, { onLine: log.line, ...options });
        const ms = Math.round(performance.now() - started);
        log.info(`exit 0 after ${(ms / 1000).toFixed(1)} s`);
        logger.info({ step: stepId, argv, ms, exitCode: 0 }, 'command finished');
        return result;
      } catch (error) {
        const ms = Math.round(performance.now() - started);
        const failure = (error as { failure?: { exitCode: number | null; signal: string | null } }).failure;
        log.info(`failed after ${(ms / 1000).toFixed(1)} s: ${(error as Error).message}`);
        logger.warn(
          { step: stepId, argv, ms, exitCode: failure?.exitCode ?? null, signal: failure?.signal ?? null },
          'command failed',
        );
        throw error;
      }
    },
    drain: () => inner.drain(),
    signalAll: (signal) => inner.signalAll(signal),
  };
}
