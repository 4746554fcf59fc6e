/**
 * The terminal view of a build: one line per finished step with its duration, and on a TTY a live
 * line with the current step, its elapsed time and its latest output. Honours NO_COLOR; no live
 * line and no escape codes when the stream is not a TTY.
 */
import { terminalLine, terminalText } from '../runtime/terminal-text.js';
import type { StepStatus } from '../types.js';

export interface ProgressView {
  stepStarted(id: string, attempt: number): void;
  stepLine(id: string, line: string): void;
  stepEnded(id: string, status: StepStatus, durationMs: number | null, note?: string): void;
  message(text: string): void;
  close(): void;
}

export interface ViewStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const SYMBOLS: Partial<Record<StepStatus, string>> = {
  done: '✔',
  skipped: '↷',
  failed: '✖',
  interrupted: '■',
  retrying: '↻',
};

const COLORS: Partial<Record<StepStatus, string>> = {
  done: '32',
  skipped: '90',
  failed: '31',
  interrupted: '33',
  retrying: '33',
};

export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function createProgressView(
  stream: ViewStream,
  env: NodeJS.ProcessEnv = process.env,
  quiet = false,
): ProgressView {
  const live = stream.isTTY === true && !quiet;
  const color = live && env['NO_COLOR'] === undefined;
  let current: { id: string; started: number; attempt: number; line: string } | null = null;
  let timer: NodeJS.Timeout | null = null;

  const paint = (status: StepStatus, text: string) =>
    color && COLORS[status] ? `\x1b[${COLORS[status]}m${text}\x1b[0m` : text;
  const clearLive = () => {
    if (live) stream.write('\r\x1b[K');
  };
  const drawLive = () => {
    if (!live || !current) return;
    const width = Math.max(40, (stream.columns ?? 100) - 1);
    const elapsed = formatDuration(Date.now() - current.started);
    const attempt = current.attempt > 1 ? ` (attempt ${current.attempt})` : '';
    const head = `… ${current.id}${attempt}  ${elapsed}  `;
    const tail = terminalLine(current.line)
      .replace(/\s+/g, ' ')
      .slice(0, Math.max(0, width - head.length));
    stream.write(`\r\x1b[K${head}${tail}`);
  };

  return {
    stepStarted(id, attempt) {
      current = { id, started: Date.now(), attempt, line: '' };
      if (live) {
        timer ??= setInterval(drawLive, 500);
        timer.unref();
        drawLive();
      }
    },
    stepLine(id, line) {
      if (current?.id === id) current.line = line;
    },
    stepEnded(id, status, durationMs, note) {
      if (current?.id === id && status !== 'retrying') current = null;
      if (quiet && status !== 'failed') return;
      clearLive();
      const symbol = SYMBOLS[status] ?? '·';
      const text = `${symbol} ${id.padEnd(16)} ${status.padEnd(11)} ${formatDuration(durationMs).padStart(10)}${note ? `  ${terminalLine(note)}` : ''}`;
      stream.write(`${paint(status, text)}\n`);
      drawLive();
    },
    message(text) {
      clearLive();
      // messages carry pause reasons and warnings built from paths and command output
      stream.write(`${terminalText(text)}\n`);
      drawLive();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
      clearLive();
    },
  };
}
