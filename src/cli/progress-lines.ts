/**
 * The view without a TTY (CI, `| tee`): a row when each step starts (with its expected time from earlier runs, when
 * there is one) and when it ends, and a heartbeat row every 30 s while it runs with its latest output line, so a
 * long step never looks like a hang. With `--progress=plain`
 * each output line is streamed too, prefixed with its step; a heartbeat then comes only after a silent interval.
 */
import { formatClock } from '../../state/durations.js';
import { formatDuration, type ProgressView } from '../engine/progress.js';
import { terminalLine, terminalText } from '../runtime/terminal-text.js';
import { type Colors, endRow, stepNumber, stepRow } from './progress-format.js';
import type { ProgressTimers } from './progress-timers.js';

export const HEARTBEAT_MS = 30_000;

interface Running {
  started: number;
  line: string;
  /** An output line was streamed since the last heartbeat, which shows the step is alive. */
  streamed: boolean;
  stop: () => void;
}

/** streamOutput (--progress=plain): every output line too, as `<step> | <line>`. */
export function createLinesView(
  stream: { write(text: string): unknown },
  colors: Colors,
  timers: ProgressTimers,
  streamOutput: boolean,
): ProgressView {
  let order: readonly string[] = [];
  let expected: Readonly<Record<string, number>> = {};
  /** `expected ~2:20`, or nothing for a step without history. */
  const expectedNote = (id: string): string => {
    const ms = expected[id];
    return ms === undefined ? '' : `expected ~${formatClock(ms)}`;
  };
  const running = new Map<string, Running>();
  const write = (text: string) => stream.write(`${text}\n`);
  const stop = (id: string) => {
    running.get(id)?.stop();
    running.delete(id);
  };
  const beat = (id: string) => {
    const step = running.get(id);
    if (!step) return;
    if (step.streamed) step.streamed = false;
    else
      write(
        stepRow(
          colors,
          'running',
          id,
          formatDuration(timers.now() - step.started),
          [expectedNote(id), step.line].filter(Boolean).join(' · '),
        ),
      );
  };

  return {
    stepsPlanned(ids, expectedMs) {
      order = [...ids];
      expected = { ...expectedMs };
    },
    stepStarted(id, attempt) {
      stop(id);
      const step: Running = { started: timers.now(), line: '', streamed: false, stop: () => undefined };
      running.set(id, step);
      step.stop = timers.every(HEARTBEAT_MS, () => beat(id));
      const n = stepNumber(order, id);
      const note = [attempt > 1 ? `attempt ${attempt}` : '', expectedNote(id)].filter(Boolean).join(', ');
      write(stepRow(colors, 'started', id, n ? `step ${n}` : '', note));
    },
    stepLine(id, line) {
      const step = running.get(id);
      if (step) step.line = line;
      if (!streamOutput) return;
      write(`${id.padEnd(16)} | ${terminalLine(line)}`);
      if (step) step.streamed = true;
    },
    stepEnded(id, status, durationMs, note) {
      stop(id);
      write(endRow(colors, id, status, durationMs, note));
    },
    // messages carry pause reasons and warnings built from paths and command output
    message: (text) => write(terminalText(text)),
    notice: (text) => write(terminalText(text)),
    close() {
      for (const id of [...running.keys()]) stop(id);
    },
  };
}
