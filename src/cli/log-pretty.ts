/**
 * The build's event log (logs/build.ndjson, pino's NDJSON) as people read it, through pino-pretty: a line per
 * event with the time, the level, the step and the message, then the event's other fields on the same line, and an
 * error's stack below it. Colour on a terminal, plain in a pipe or a file, as NO_COLOR and FORCE_COLOR say.
 */
import { prettyFactory } from 'pino-pretty';
import { terminalText } from '../runtime/terminal-text.js';
import { colourFor } from './progress-format.js';

/**
 * Fields every event has, or that the line shows already: the step in the message, argv in the "$ command" line,
 * a command's ms in the "exit 0 after 1.1 s" line, the status and attempts in "step running".
 */
const HIDDEN = ['pid', 'hostname', 'runId', 'step', 'argv', 'ms', 'plan', 'workDir', 'status', 'attempts'];

/** Every string in a parsed event with escape sequences and control characters taken out, as terminalText does. */
function sanitized(value: unknown): unknown {
  if (typeof value === 'string') return terminalText(value);
  if (Array.isArray(value)) return value.map(sanitized);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sanitized(v)]));
  return value;
}

/** A function from NDJSON text (whole lines) to readable text; colour follows the stream and the environment. */
export function eventLogPrinter(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): (ndjson: string) => string {
  const pretty = prettyFactory({
    colorize: colourFor(stream, env).isColorSupported,
    // the time as logged, in UTC with the date, as the step logs show it
    translateTime: false,
    ignore: HIDDEN.join(','),
    messageFormat: '{if step}[{step}] {end}{msg}',
    singleLine: true,
  });
  return (ndjson) => {
    let out = '';
    for (const line of ndjson.split('\n')) {
      if (!line) continue;
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        event = null;
      }
      // a line that is no event (cut short by a crash, say) is shown as it is
      if (event === null || typeof event !== 'object' || Array.isArray(event)) out += `${terminalText(line)}\n`;
      else out += pretty(sanitized(event) as Record<string, unknown>);
    }
    return out;
  };
}
