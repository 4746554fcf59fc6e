/**
 * Secrets never go into an image: config values that look like API keys or tokens are refused at
 * load. Known token shapes are looked for in every string; long high-entropy words only in fields
 * meant for human text (where a key has no business being), so hashes and URLs are not flagged.
 */

/**
 * Config fields whose values are secrets the build needs (the live user's password reaches chpasswd on stdin).
 * They never land in the state, the plan or a log: a fingerprint holds their keyed hash
 * (src/engine/fingerprint.ts), the stored config a placeholder, and `plan` names the field without values.
 */
export const SECRET_FIELDS: readonly string[] = ['liveUser.password'];

/**
 * Fields that hold a secret in part: a debconf answer of type password, in the `debconf` list of answers. Each entry
 * gives a copy of the field's value with every secret part replaced by `hide(secret, index)`, so `ailinux config`,
 * the stored config and the fingerprint (a keyed hash) keep the rest of the field readable.
 */
export const PARTLY_SECRET_FIELDS: Readonly<
  Record<string, (value: unknown, hide: (secret: string, index: number) => string) => unknown>
> = {
  debconf: (value, hide) =>
    Array.isArray(value)
      ? value.map((item: unknown, i) =>
          isPasswordAnswer(item) ? { ...(item as object), value: hide(item.value, i) } : item,
        )
      : value,
};

function isPasswordAnswer(item: unknown): item is { type: 'password'; value: string } {
  return (
    item !== null &&
    typeof item === 'object' &&
    (item as { type?: unknown }).type === 'password' &&
    typeof (item as { value?: unknown }).value === 'string'
  );
}

/** The value of `field` with its secret parts hidden (PARTLY_SECRET_FIELDS); any other field's value as it is. */
export function hideSecretParts(
  field: string,
  value: unknown,
  hide: (secret: string, index: number) => string,
): unknown {
  const partly = PARTLY_SECRET_FIELDS[field];
  return partly ? partly(value, hide) : value;
}

/** The value at `at` (a path into the raw config, `debconf.1.value`) is a secret part of a field: never echo it. */
export function isSecretPart(data: unknown, at: readonly string[]): boolean {
  const MARK = '\u0000secret';
  for (const field of Object.keys(PARTLY_SECRET_FIELDS)) {
    const parts = field.split('.');
    if (at.length <= parts.length || parts.some((p, i) => at[i] !== p)) continue;
    let node: unknown = hideSecretParts(field, walk(data, parts), () => MARK);
    node = walk(node, at.slice(parts.length));
    if (node === MARK) return true;
  }
  return false;
}

function walk(value: unknown, parts: readonly string[]): unknown {
  let node = value;
  for (const p of parts)
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[p] : undefined;
  return node;
}

/** The field is a secret, or an object that holds one (so printing its value would print the secret). */
export function holdsSecret(field: string): boolean {
  return SECRET_FIELDS.some((s) => s === field || s.startsWith(`${field}.`));
}

export interface SecretShape {
  /** What the value looks like, for the error message. */
  kind: string;
  pattern: RegExp;
}

// (?<![A-Za-z0-9_-]) keeps a shape from matching inside an ordinary word ("task-kde-...").
const START = '(?<![A-Za-z0-9_-])';

export const SECRET_SHAPES: readonly SecretShape[] = [
  { kind: 'an OpenAI-style API key (sk-...)', pattern: new RegExp(`${START}sk-[A-Za-z0-9]{20,}`) },
  {
    kind: 'an API key (sk-proj-/sk-ant-/sk-svcacct-...)',
    pattern: new RegExp(`${START}sk-(proj|ant|svcacct|admin)-[A-Za-z0-9_-]{20,}`),
  },
  { kind: 'an AWS access key id (AKIA...)', pattern: new RegExp(`${START}(AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])`) },
  { kind: 'a GitHub token (ghp_...)', pattern: new RegExp(`${START}gh[pousr]_[A-Za-z0-9]{36,}`) },
  { kind: 'a GitHub fine-grained token (github_pat_...)', pattern: new RegExp(`${START}github_pat_[A-Za-z0-9_]{22,}`) },
  { kind: 'a Slack token (xoxb-/xoxp-...)', pattern: new RegExp(`${START}xox[baprs]-[A-Za-z0-9-]{10,}`) },
  { kind: 'a Google API key (AIza...)', pattern: new RegExp(`${START}AIza[0-9A-Za-z_-]{35}`) },
  { kind: 'a Hugging Face token (hf_...)', pattern: new RegExp(`${START}hf_[A-Za-z0-9]{30,}`) },
  { kind: 'a GitLab token (glpat-...)', pattern: new RegExp(`${START}glpat-[A-Za-z0-9_-]{20,}`) },
  { kind: 'a private key', pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/ },
];

/** Shannon entropy in bits per character. */
export function shannonEntropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** A word of 32+ base64/hex characters that is as random as a key is: no prose or name looks like that. */
export function looksLikeRandomToken(word: string): boolean {
  if (word.length < 32) return false;
  if (/^[0-9a-fA-F]+$/.test(word)) return shannonEntropy(word) >= 3.0;
  if (!/^[A-Za-z0-9+/=_-]+$/.test(word)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((c) => c.test(word)).length;
  return classes >= 2 && shannonEntropy(word) >= 4.0;
}

/** What kind of secret text holds, or null. Entropy is only judged when the field is meant for text. */
export function secretKind(text: string, isTextField: boolean): string | null {
  for (const shape of SECRET_SHAPES) if (shape.pattern.test(text)) return shape.kind;
  if (isTextField && text.split(/[\s"'`,;:()<>[\]{}]+/).some(looksLikeRandomToken))
    return 'a long random token (an API key or password?)';
  return null;
}

/** Enough of a value to recognise it, never all of it. */
export function maskSecret(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return `${text.slice(0, 4)}... (${text.length} characters, not shown)`;
}

/** Replaces every known secret shape inside text with its masked form (for error output). */
export function redactSecrets(text: string): string {
  let out = text;
  for (const shape of SECRET_SHAPES) {
    const global = new RegExp(shape.pattern.source, 'g');
    out = out.replace(global, (m) => `${m.slice(0, 4)}...(redacted)`);
  }
  return out;
}

export interface SecretFinding {
  path: string[];
  kind: string;
}

/**
 * Walks a config value and reports every string that looks like a secret. textFields are the
 * dotted paths (with * for array items) of fields meant for human text.
 */
export function findSecrets(value: unknown, textFields: ReadonlySet<string>, at: string[] = []): SecretFinding[] {
  if (typeof value === 'string') {
    const key = at.map((p) => (/^\d+$/.test(p) ? '*' : p)).join('.');
    const kind = secretKind(value, textFields.has(key));
    return kind ? [{ path: at, kind }] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => findSecrets(v, textFields, [...at, String(i)]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => findSecrets(v, textFields, [...at, k]));
  }
  return [];
}
