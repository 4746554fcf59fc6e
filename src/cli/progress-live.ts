/**
 * The view on a TTY: one live line per running step (`▶ [4/15] desktop  1:10 / ~2:20  <latest output line>`: step
 * N of M, the step, its elapsed time and its expected time from earlier runs when there is one), redrawn every
 * second by log-update, with a row above it for each step that ended and each message.
 */
import { createLogUpdate } from 'log-update';
import { formatClock } from '../../state/durations.js';
import type { ProgressView } from '../engine/progress.js';
import { terminalText } from '../runtime/terminal-text.js';
import { type Colors, endRow, oneLine, stepNumber } from './progress-format.js';
import type { ProgressTimers } from './progress-timers.js';

const REDRAW_MS = 1000;

export interface LiveStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

interface Running {
  started: number;
  attempt: number;
  line: string;
}

export function createLiveView(stream: LiveStream, colors: Colors, timers: ProgressTimers): ProgressView {
  // showCursor: hiding it would make cli-cursor install signal-exit's handlers beside the build's own
  const live = createLogUpdate(stream as NodeJS.WritableStream, { showCursor: true });
  let order: readonly string[] = [];
  let expected: Readonly<Record<string, number>> = {};
  const running = new Map<string, Running>();
  let stopRedraw: (() => void) | null = null;

  const liveLine = (id: string, step: Running): string => {
    const width = Math.max(40, (stream.columns ?? 80) - 1);
    const n = stepNumber(order, id);
    const place = n ? `[${n}] ` : '';
    const attempt = step.attempt > 1 ? `  attempt ${step.attempt}` : '';
    const time = liveTime(timers.now() - step.started, expected[id]);
    const head = `▶ ${place}${id}${attempt}  ${time}  `;
    const tail = oneLine(step.line, Math.max(1, width - head.length));
    return `${colors.cyan('▶')} ${place}${colors.bold(id)}${attempt}  ${time}  ${colors.dim(tail)}`;
  };
  const redraw = () => {
    if (running.size === 0) live.clear();
    else live([...running].map(([id, step]) => liveLine(id, step)).join('\n'));
  };
  /** A row above the live lines, which are drawn again below it. */
  const persist = (text: string) => {
    live.clear();
    stream.write(`${text}\n`);
    redraw();
  };

  return {
    stepsPlanned(ids, expectedMs) {
      order = [...ids];
      expected = { ...expectedMs };
    },
    stepStarted(id, attempt) {
      running.set(id, { started: timers.now(), attempt, line: '' });
      stopRedraw ??= timers.every(REDRAW_MS, redraw);
      redraw();
    },
    stepLine(id, line) {
      const step = running.get(id);
      // drawn at the next tick: a command printing thousands of lines a second does not redraw for each
      if (step) step.line = line;
    },
    stepEnded(id, status, durationMs, note) {
      running.delete(id);
      persist(endRow(colors, id, status, durationMs, note));
    },
    // messages carry pause reasons and warnings built from paths and command output
    message: (text) => persist(terminalText(text)),
    notice: (text) => persist(terminalText(text)),
    close() {
      stopRedraw?.();
      stopRedraw = null;
      running.clear();
      live.clear();
      live.done();
    },
  };
}

/** `1:10 / ~2:20` with an expected time, `1:10` without one. */
export function liveTime(elapsedMs: number, expectedMs: number | undefined): string {
  const elapsed = formatClock(elapsedMs);
  return expectedMs === undefined ? elapsed : `${elapsed} / ~${formatClock(expectedMs)}`;
}
