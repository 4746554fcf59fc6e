/**
 * A config file's text to data, JSON or YAML; a syntax error names the file, line and column, and keeps that line.
 * JSON.parse decides what is valid JSON (and builds the value); on a refusal jsonc-parser's strict scanner finds
 * where, since V8's message has no position for an unexpected token ("Unexpected token 'x', ... is not valid JSON").
 */
import jsonc from 'jsonc-parser';
import YAML from 'yaml';
import { ConfigError, ConfigSyntaxError } from '../errors.js';

export function parseConfigText(text: string, format: 'json' | 'yaml', file: string): unknown {
  return format === 'json' ? parseJson(text, file) : parseYaml(text, file);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const errors: jsonc.ParseError[] = [];
    jsonc.parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    // V8's words, without its position (given as line and column instead) or its copy of the text
    const reason = (error as Error).message
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/, .*" is not valid JSON$/s, '');
    const offset = errors[0]?.offset;
    if (offset === undefined) throw refusal(file, reason, error);
    throw syntaxError(file, text, offset, reason, error);
  }
}

function parseYaml(text: string, file: string): unknown {
  const docs = YAML.parseAllDocuments(text, { prettyErrors: false });
  if (docs.length !== 1) {
    const second = docs[1]?.range[0];
    const reason = `expected one YAML document, found ${docs.length}`;
    throw second === undefined ? refusal(file, reason) : syntaxError(file, text, second, reason, undefined);
  }
  const doc = docs[0]!;
  const first = doc.errors[0];
  if (first) throw syntaxError(file, text, first.pos[0], first.message, first);
  try {
    // maxAliasCount bounds alias expansion, so a "billion laughs" file fails fast instead of eating memory
    return doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    throw refusal(file, (error as Error).message, error);
  }
}

function refusal(file: string, reason: string, cause?: unknown): ConfigError {
  return new ConfigError(`config file ${file} cannot be parsed: ${reason}`, [], file, { cause });
}

/** 1-based line and column of a character offset, and the text of that line. */
export function positionAt(text: string, offset: number): { line: number; column: number; sourceLine: string } {
  let at = Math.min(Math.max(offset, 0), text.length);
  // the end of a file that ends in a newline is the end of its last line, not an empty line after it
  if (at === text.length && text.endsWith('\n') && at > 0) at -= 1;
  const start = text.lastIndexOf('\n', at - 1) + 1;
  const end = text.indexOf('\n', at);
  const line = text.slice(0, start).split('\n').length;
  return {
    line,
    column: at - start + 1,
    sourceLine: text.slice(start, end === -1 ? undefined : end).replace(/\r$/, ''),
  };
}

function syntaxError(file: string, text: string, offset: number, reason: string, cause: unknown): ConfigSyntaxError {
  const at = positionAt(text, offset);
  return new ConfigSyntaxError(
    `config file ${file} cannot be parsed at line ${at.line}, column ${at.column}: ${reason}`,
    file,
    at,
    cause,
  );
}
