/**
 * The bad-input suite, generated from the schema so that it grows with it: for every config field (walked in the
 * JSON Schema the config schema generates, as docs/profiles.md's field table is) a value of the wrong type and a
 * value out of its range (past a bound, breaking its pattern, off its enum, an empty required list). A field added
 * to the schema gets its cases without a line here; one that has no range at all must be listed in NO_RANGE with
 * the reason. Each case goes through the loader as the CLI calls it, on a config file that sets every field (every
 * optional one too), and must be refused with a ConfigError (exit 2) whose issues name the field; a wrong type's line
 * also says what the field takes and the type and value it got.
 *
 * The fields that name the user's own files (src/config/own-files.ts) each also try a path that leaves the config's
 * directory, directly ("../x") and through a symlink. tests/integration/bad-input.test.ts runs a handful of these
 * through the compiled CLI for the exit code and "nothing written".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configFieldRows } from '../../src/config/field-docs.js';
import { describeValue, issueLine } from '../../src/config/issue-line.js';
import { loadConfig } from '../../src/config/load.js';
import { ownFiles } from '../../src/config/own-files.js';
import { type BuildConfig, configJsonSchema } from '../../src/config/schema.js';
import { valueAt } from '../../src/config/value-at.js';
import { ConfigError } from '../../src/errors.js';

type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
};

/** Fields with no range to leave: only their type can be wrong. */
const NO_RANGE: Readonly<Record<string, string>> = {
  $schema: 'any path or URL of a JSON Schema; editors read it, the build does not',
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-bad-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SHA = 'a'.repeat(64);

/** A config that sets every field of the schema, optional ones too, so each field has a value to spoil. */
function fullConfig(): Record<string, unknown> {
  const { config } = loadConfig({ profile: 'ailinux' });
  const c: BuildConfig & { $schema?: string; extends?: string } = structuredClone(config);
  c.$schema = './ailinux.schema.json';
  c.extends = 'ailinux';
  c.distribution.keyring = { path: '/usr/share/keyrings/ubuntu-archive-keyring.gpg', sha256: SHA };
  c.distribution.debootstrapScript = '/usr/share/debootstrap/scripts/gutsy';
  c.distribution.snapshot = '20240301T000000Z';
  c.distribution.sources[0]!.signedBy = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';
  c.distribution.extraRepositories = [
    {
      name: 'extra',
      uri: 'https://repo.example.org/apt',
      suites: ['stable'],
      components: ['main'],
      key: { path: 'keys/extra.gpg', sha256: SHA },
    },
  ];
  c.distribution.resolvConf = { symlink: '../run/systemd/resolve/stub-resolv.conf' };
  c.squashfs.level = 19;
  c.packages.local = 'debs';
  c.branding = {
    ...c.branding,
    url: 'https://ailinux.example.org',
    dir: 'art',
    logo: 'logo.png',
    welcome: 'welcome.png',
    splash: 'splash.png',
    wallpaper: 'wallpaper.jpg',
  };
  c.helper = {
    name: 'ai-helper',
    title: 'AI helper',
    comment: 'Ask the helper',
    files: [{ source: 'helper/ai-helper', destination: '/usr/local/bin/ai-helper', mode: '0755' }],
    launcher: { exec: '/usr/local/bin/ai-helper --gui', icon: 'help-browser', terminal: false },
  };
  c.hooks = [{ name: 'issue', after: 'packages', script: 'hooks/issue.sh', binary: false }];
  c.packages.remove = ['nano'];
  c.debconf = [{ package: 'tzdata', question: 'tzdata/Areas', type: 'select', value: 'Europe' }];
  c.apt = { proxy: 'http://127.0.0.1:3142' };
  c.cache = { dir: '/var/cache/ailinux-debs', maxSize: '5GiB' };
  return c as unknown as Record<string, unknown>;
}

interface Field {
  /** Dotted path with array items at index 0, e.g. `distribution.sources.0.uri`. */
  path: string;
  schema: JsonSchema;
}

/** Every field of the schema: objects, lists and leaves; list items and object alternatives of unions walked into. */
function fields(s: JsonSchema, at: string, out: Field[] = []): Field[] {
  if (at !== '') out.push({ path: at, schema: s });
  const walk = (obj: JsonSchema, prefix: string) => {
    for (const [key, child] of Object.entries(obj.properties ?? {})) fields(child, `${prefix}${key}`, out);
  };
  const prefix = at === '' ? '' : `${at}.`;
  walk(s, prefix);
  if (s.type === 'array' && s.items?.properties) walk(s.items, `${prefix}0.`);
  for (const alt of s.anyOf ?? []) walk(alt, prefix);
  return out;
}

const kinds = (s: JsonSchema): Set<string> =>
  new Set(s.anyOf ? s.anyOf.flatMap((a) => [...kinds(a)]) : s.type ? [s.type === 'integer' ? 'number' : s.type] : []);

/** A value of a type the field does not take. */
function wrongType(s: JsonSchema): unknown {
  const taken = kinds(s);
  if (!taken.has('number')) return 12345;
  if (!taken.has('string')) return 'twelve';
  return [true];
}

const STRING_CANDIDATES = ['', ' ', 'a b', 'UPPER', '-x', '0', 'x;y', '../x', 'x\ny', '/', 'x'.repeat(2000)];

/** Whether a string is outside one string alternative by what the JSON Schema shows (pattern, lengths, enum). */
function stringOutside(s: JsonSchema, v: string): boolean {
  if (s.type !== 'string') return true;
  if (s.const !== undefined) return v !== s.const;
  if (s.enum) return !s.enum.includes(v);
  if (s.minLength !== undefined && v.length < s.minLength) return true;
  if (s.maxLength !== undefined && v.length > s.maxLength) return true;
  return s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v);
}

/** A value of the right type outside the field's range, with what it is; null when the field has none. */
function outOfRange(s: JsonSchema): { value: unknown; what: string } | null {
  const alts = s.anyOf ?? [s];
  if (alts.every((a) => a.type === 'integer' || a.type === 'number')) {
    if (s.maximum !== undefined) return { value: s.maximum + 1, what: `${s.maximum + 1}, past the maximum` };
    if (s.minimum !== undefined) return { value: s.minimum - 1, what: `${s.minimum - 1}, below the minimum` };
    return null;
  }
  if (s.type === 'array') {
    if (s.minItems) return { value: [], what: 'an empty list' };
    if (s.maxItems !== undefined) return { value: Array(s.maxItems + 1).fill(null), what: 'too many items' };
    if (s.items?.type === 'object') return { value: [{}], what: 'an item without its required fields' };
    const item = s.items ? outOfRange(s.items) : null;
    return item ? { value: [item.value], what: `an item that is ${item.what}` } : null;
  }
  if (s.type === 'object') return null;
  if (alts.some((a) => a.type === 'string')) {
    const v = STRING_CANDIDATES.find((c) => alts.every((a) => stringOutside(a, c)));
    return v === undefined ? null : { value: v, what: JSON.stringify(v.length > 20 ? `${v.slice(0, 8)}...` : v) };
  }
  return null;
}

function setAt(root: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = root as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[parts.at(-1)!] = value;
}

let n = 0;
/** Writes the config into a fresh dir (with optional links) and loads it as the CLI does; returns the refusal. */
function refusal(config: Record<string, unknown>, links: Record<string, string> = {}): ConfigError | string {
  const dir = path.join(tmp, `c${++n}`);
  fs.mkdirSync(dir);
  for (const [rel, target] of Object.entries(links)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(dir, rel));
  }
  const configFile = path.join(dir, 'ailinux.config.json');
  fs.writeFileSync(configFile, JSON.stringify(config));
  try {
    loadConfig({ configFile });
    return 'accepted';
  } catch (error) {
    return error instanceof ConfigError ? error : `${(error as Error).name}: ${(error as Error).message}`;
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const names = (error: ConfigError, field: string) =>
  error.issues.some((i) => i.path === field || i.path.startsWith(`${field}.`));

const all = fields(configJsonSchema() as JsonSchema, '');
const typeCases = all.map((f) => ({ field: f.path, value: wrongType(f.schema) }));
const rangeCases = all.flatMap((f) => {
  const r = outOfRange(f.schema);
  return r ? [{ field: f.path, ...r }] : [];
});
/** Leaves with no generated range case that are not booleans or objects: each must be in NO_RANGE. */
const uncovered = all
  .filter((f) => !rangeCases.some((c) => c.field === f.path))
  .filter((f) => !kinds(f.schema).has('boolean') && f.schema.type !== 'object')
  .map((f) => f.path);
const booleans = all.filter((f) => kinds(f.schema).has('boolean')).length;

const base = fullConfig();
const own = ownFiles(loadConfig({ configFile: writeBase() }).config);
function writeBase(): string {
  const file = path.join(tmp, 'base.json');
  fs.writeFileSync(file, JSON.stringify(base));
  return file;
}

console.info(
  `config-bad-input.test.ts: ${all.length} fields, ${typeCases.length} wrong-type and ${rangeCases.length} out-of-range cases (${booleans} boolean fields have no range), ${own.length * 2} path-escape cases`,
);

describe('the generated bad-input suite', () => {
  it('starts from a config that sets every field and loads', () => {
    expect(refusal(base)).toBe('accepted');
    const rows = configFieldRows().map((r) => r.path.replace(/\[\]/g, '.0'));
    for (const row of rows)
      expect(
        all.map((f) => f.path),
        `field ${row}`,
      ).toContain(row);
    for (const f of all) expect(valueAt(base, f.path), `the base config sets ${f.path}`).not.toBeUndefined();
  });

  it('has a range case for every field but booleans and objects, or a reason in NO_RANGE', () => {
    expect(uncovered.sort()).toEqual(Object.keys(NO_RANGE).sort());
  });

  it.each(typeCases)(
    '$field: the wrong type ($value) is refused, naming the field and what it got',
    ({ field, value }) => {
      const config = structuredClone(base);
      setAt(config, field, value);
      const error = refusal(config);
      expect(error, `${field} = ${JSON.stringify(value)}`).toBeInstanceOf(ConfigError);
      expect(names(error as ConfigError, field), JSON.stringify((error as ConfigError).issues)).toBe(true);
      // the line says what the field takes and what it got, e.g. "hostname: expected string, got number 12345"
      const lines = (error as ConfigError).issues.filter((i) => i.path === field).map(issueLine);
      expect(lines, JSON.stringify((error as ConfigError).issues)).toContainEqual(
        expect.stringMatching(
          new RegExp(`^${escapeRegExp(field)}: expected .+, got ${escapeRegExp(describeValue(value))}$`),
        ),
      );
    },
  );

  it.each(rangeCases)('$field: $what is refused, naming the field', ({ field, value }) => {
    const config = structuredClone(base);
    setAt(config, field, value);
    const error = refusal(config);
    expect(error, `${field} = ${JSON.stringify(value)}`).toBeInstanceOf(ConfigError);
    expect(names(error as ConfigError, field), JSON.stringify((error as ConfigError).issues)).toBe(true);
  });
});

describe("paths to the user's own files never leave the config's directory", () => {
  it('covers every field that names a file relative to the config (not a host path)', () => {
    const relative = configFieldRows()
      .filter(
        (r) => /relative to (the config file|branding\.dir)/.test(r.description) && !/absolute/.test(r.description),
      )
      .map((r) => r.path.replace(/\[\]/g, '.0'));
    expect(own.map((o) => o.field).sort()).toEqual(relative.sort());
  });

  it.each(own)('$field: "../x" is refused, naming the field', ({ field }) => {
    const config = structuredClone(base);
    setAt(config, field, '../x.png');
    const error = refusal(config);
    expect(error).toBeInstanceOf(ConfigError);
    expect(names(error as ConfigError, field)).toBe(true);
  });

  it.each(own)('$field: a symlink out of the directory is refused, naming the field and the link', ({ field, rel }) => {
    const error = refusal(structuredClone(base), { [rel]: '/etc/hostname' });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]!.path).toBe(field);
    expect((error as ConfigError).message).toContain(`-> /etc/hostname`);
  });
});
