/**
 * Picks the build's view: live lines on a TTY, rows and heartbeats without one, every output line with
 * --progress=plain, and with --quiet only what went wrong. All of it goes to stderr; stdout is for the ISO's path.
 */
import type { ProgressView } from '../engine/progress.js';
import { terminalText } from '../runtime/terminal-text.js';
import { type Colors, colourFor, endRow } from './progress-format.js';
import { createLinesView } from './progress-lines.js';
import { createLiveView, type LiveStream } from './progress-live.js';
import { PROGRESS_MODES, type ProgressMode } from './progress-options.js';
import { type ProgressTimers, realTimers } from './progress-timers.js';

export { PROGRESS_MODES, type ProgressMode };

export interface ViewSettings {
  /** auto: tty when the stream is a TTY, rows and heartbeats when it is not. */
  mode: ProgressMode;
  quiet: boolean;
  env: NodeJS.ProcessEnv;
  timers?: ProgressTimers;
}

export function createProgressView(stream: LiveStream, settings: ViewSettings): ProgressView {
  const colors = colourFor(stream, settings.env);
  const timers = settings.timers ?? realTimers;
  if (settings.quiet) return createQuietView(stream, colors);
  if (settings.mode === 'tty' || (settings.mode === 'auto' && stream.isTTY === true))
    return createLiveView(stream, colors, timers);
  return createLinesView(stream, colors, timers, settings.mode === 'plain');
}

/** --quiet: a failed step's row and the messages that say something went wrong; no notice, no progress. */
function createQuietView(stream: LiveStream, colors: Colors): ProgressView {
  const write = (text: string) => stream.write(`${text}\n`);
  return {
    stepStarted: () => undefined,
    stepLine: () => undefined,
    stepEnded(id, status, durationMs, note) {
      if (status === 'failed') write(endRow(colors, id, status, durationMs, note));
    },
    message: (text) => write(terminalText(text)),
    notice: () => undefined,
    close: () => undefined,
  };
}
