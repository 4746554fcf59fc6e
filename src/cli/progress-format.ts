/**
 * The rows a build prints about its steps, the same in every view: a symbol, the step, what happened, a figure
 * (a duration, or "step N/M") and a note. Colour comes from picocolors, switched on and off by colourFor.
 */
import pc from 'picocolors';
import { formatDuration } from '../engine/progress.js';
import { terminalLine } from '../runtime/terminal-text.js';
import type { StepStatus } from '../types.js';

export type Colors = ReturnType<typeof pc.createColors>;

/** A row's kind: a step's status, or one of the rows a view adds while it runs. */
type RowKind = StepStatus | 'started';

const SYMBOLS: Partial<Record<RowKind, string>> = {
  started: '▶',
  running: '·',
  done: '✔',
  skipped: '↷',
  failed: '✖',
  interrupted: '■',
  retrying: '↻',
};

const PAINT: Partial<Record<RowKind, keyof Colors>> = {
  started: 'cyan',
  running: 'dim',
  done: 'green',
  skipped: 'gray',
  failed: 'red',
  interrupted: 'yellow',
  retrying: 'yellow',
};

/** text in the colour of a step's status (`status` paints its status column with it); unpainted for the others. */
export function paintStatus(colors: Colors, kind: RowKind, text: string): string {
  const paint = PAINT[kind];
  return paint ? (colors[paint] as (s: string) => string)(text) : text;
}

/** A heartbeat's output line is cut here: a log line, not a screenful. */
const MAX_NOTE = 200;

/**
 * Colour on or off for a stream: a non-empty NO_COLOR turns it off (no-color.org), FORCE_COLOR turns it on
 * (but FORCE_COLOR=0 or false), and otherwise a TTY gets colour and a pipe does not.
 */
export function colourFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Colors {
  const force = env['FORCE_COLOR'];
  const enabled = env['NO_COLOR']
    ? false
    : force !== undefined
      ? force !== '0' && force !== 'false'
      : stream.isTTY === true;
  return pc.createColors(enabled);
}

/** An output line or a note as one short line of plain text: no control character, no run of blanks. */
export function oneLine(text: string, max = MAX_NOTE): string {
  const line = terminalLine(text).replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** `✔ packages         done            32.8 s  note`: the columns of docs/cli.md's samples. */
export function stepRow(colors: Colors, kind: RowKind, id: string, figure: string, note = ''): string {
  const text = `${SYMBOLS[kind] ?? '·'} ${id.padEnd(16)} ${kind.padEnd(11)} ${figure.padStart(10)}`;
  const painted = paintStatus(colors, kind, text);
  const shown = oneLine(note);
  return shown ? `${painted}  ${shown}` : painted;
}

/** The row of a step that ended, with its duration (none for a skipped step). */
export function endRow(colors: Colors, id: string, status: StepStatus, durationMs: number | null, note = ''): string {
  return stepRow(colors, status, id, formatDuration(durationMs), note);
}

/** "N/M" for a step, once the steps are planned; empty before. */
export function stepNumber(order: readonly string[], id: string): string {
  const index = order.indexOf(id);
  return index < 0 ? '' : `${index + 1}/${order.length}`;
}
