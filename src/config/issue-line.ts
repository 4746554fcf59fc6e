/** One config issue as the one line a user reads: the field, what it takes, and what it got. */
import type { ConfigIssue } from '../errors.js';
import { redactSecrets } from './secrets.js';

/** A short, safe rendering of a bad value for an error message. */
export function showValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = redactSecrets(JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The value with its kind, as JSON names them: `number 123`, `string "x"`; a missing value is `nothing`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  const kind = Array.isArray(value) ? 'array' : typeof value;
  return `${kind} ${showValue(value)}`;
}

/** `hostname: expected string, got number 123`; an unknown key: `hostnmae: no such field; did you mean "hostname"?`. */
export function issueLine(issue: ConfigIssue): string {
  if (issue.kind === 'unknown-field') return `${issue.path}: no such field; ${issue.expected}`;
  if (issue.kind === 'unused-field') return `${issue.path}: ${issue.expected}`;
  return `${issue.path}: expected ${issue.expected}, got ${describeValue(issue.value)}`;
}
