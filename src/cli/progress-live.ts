/**
 * The view on a TTY: one live line per running step (its name, step N of M, elapsed time, latest output line),
 * redrawn every second by log-update, with a row above it for each step that ended and each message.
 */
import { createLogUpdate } from 'log-update';
import { formatDuration, type ProgressView } from '../engine/progress.js';
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
  const running = new Map<string, Running>();
  let stopRedraw: (() => void) | null = null;

  const liveLine = (id: string, step: Running): string => {
    const width = Math.max(40, (stream.columns ?? 80) - 1);
    const n = stepNumber(order, id);
    const of = n ? `step ${n.replace('/', ' of ')}` : '';
    const attempt = step.attempt > 1 ? `, attempt ${step.attempt}` : '';
    const elapsed = formatDuration(timers.now() - step.started);
    const head = `▶ ${id}  ${of}${attempt}  ${elapsed}  `;
    const tail = oneLine(step.line, Math.max(1, width - head.length));
    return `${colors.cyan('▶')} ${colors.bold(id)}  ${of}${attempt}  ${elapsed}  ${colors.dim(tail)}`;
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
    stepsPlanned(ids) {
      order = [...ids];
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
