/**
 * Text from a command, a log or a state file made safe for a terminal: escape sequences (CSI, OSC, DCS and the
 * rest, 7- and 8-bit) are removed whole, and every other C0 and C1 control character is dropped, so a command's
 * stderr can neither retitle the terminal nor move its cursor nor ring its bell. strip-ansi would remove only the
 * sequences and leave a bare BEL or an 8-bit CSI, so this one function does both.
 */

/** OSC, DCS, SOS, PM and APC strings up to their terminator (BEL or ST), CSI sequences, then any other ESC pair. */
const ESCAPE_SEQUENCE = new RegExp(
  [
    '(?:\\u001b[\\]PX^_]|[\\u0090\\u0098\\u009d-\\u009f])[^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c)',
    '(?:\\u001b\\[|\\u009b)[\\u0030-\\u003f]*[\\u0020-\\u002f]*[\\u0040-\\u007e]',
    '\\u001b[\\u0020-\\u002f]*[\\u0030-\\u007e]',
  ].join('|'),
  'g',
);
/** Controls left after the sequences are gone; tab and newline are kept where text may span lines. */
const CONTROL_KEEPING_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Text for the terminal that keeps its lines and tabs; a CRLF ends a line, a lone CR is dropped. */
export function terminalText(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(ESCAPE_SEQUENCE, '').replace(CONTROL_KEEPING_LINES, '');
}

/** One line for the terminal: as terminalText, with tabs and line breaks turned into spaces. */
export function terminalLine(text: string): string {
  return text
    .replace(ESCAPE_SEQUENCE, '')
    .replace(/[\t\n\r]/g, ' ')
    .replace(CONTROL, '');
}

/**
 * JSON for the terminal: JSON.stringify escapes C0 but not DEL or C1 (an 8-bit CSI is U+009B), which can only occur
 * inside strings, where a \u escape means the same.
 */
export function terminalJson(json: string): string {
  return json.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
