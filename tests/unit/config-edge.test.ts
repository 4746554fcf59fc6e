/**
 * The config edge in the unit tier: the value grammars of fields that reach argv or generated files
 * (user names, the text of .desktop and plymouth files) and the loader's defences against hostile
 * files (YAML alias bombs, __proto__ keys, deep nesting, size), called directly rather than through
 * the CLI (tests/integration/bad-input.test.ts covers the CLI path).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, mergeConfig, readConfigFile, validateConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { makeWorkDir, profileConfig, removeWorkDir } from '../helpers/step-context.js';

let dir: string;
beforeEach(() => {
  dir = makeWorkDir('ailinux-config-edge-');
});
afterEach(() => removeWorkDir(dir));

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError, and nothing was thrown');
}

/** The issues validation reports for the ailinux profile with one change. */
function issuesOf(patch: (c: BuildConfig) => void): Array<{ path: string; expected: string }> {
  const config = profileConfig('ailinux', patch);
  try {
    validateConfig(config);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((i) => ({ path: i.path, expected: i.expected }));
  }
}

function writeFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('liveUser.name: the user name useradd gets', () => {
  const refused = ['-live', '--help', '-', 'Live', '1live', 'live user', 'live;reboot', 'live$', '', 'a'.repeat(33)];
  for (const name of refused) {
    it(`refuses ${JSON.stringify(name)}`, () => {
      const issues = issuesOf((c) => (c.liveUser.name = name));
      expect(issues.map((i) => i.path)).toEqual(['liveUser.name']);
    });
  }

  it('says what a user name is, and that a leading "-" is not one', () => {
    const [issue] = issuesOf((c) => (c.liveUser.name = '-o'));
    expect(issue?.expected).toBe('a user name (lower-case letter or _, then lower-case letters, digits, _ or -)');
  });

  for (const name of ['live', '_live', 'l', 'l-1_x', 'a'.repeat(32)]) {
    it(`accepts ${JSON.stringify(name)}`, () => {
      expect(issuesOf((c) => (c.liveUser.name = name))).toEqual([]);
    });
  }

  it('the group names follow the same rule', () => {
    expect(issuesOf((c) => (c.liveUser.groups = ['sudo', '-G'])).map((i) => i.path)).toEqual(['liveUser.groups.1']);
    expect(issuesOf((c) => (c.installer.userGroups = ['-x'])).map((i) => i.path)).toEqual(['installer.userGroups.0']);
  });
});

describe('text written into .desktop and plymouth files', () => {
  const helper = (c: BuildConfig) => {
    c.helper = {
      name: 'helper',
      title: 'Helper',
      comment: 'Does things',
      files: [{ source: 'h.py', destination: '/usr/local/bin/helper', mode: '0755' }],
      launcher: { exec: '/usr/local/bin/helper --gui', icon: 'helper', terminal: false },
    };
  };
  const fields: Array<[string, (c: BuildConfig, v: string) => void]> = [
    ['branding.productName', (c, v) => (c.branding.productName = v)],
    ['branding.version', (c, v) => (c.branding.version = v)],
    ['helper.title', (c, v) => (helper(c), (c.helper!.title = v))],
    ['helper.comment', (c, v) => (helper(c), (c.helper!.comment = v))],
  ];
  // a backslash starts an escape in a Desktop Entry value; a quote ends a quoted string; a newline starts a new key
  const bad = ['Acme "OS"', 'Acme\\sOS', 'C:\\', 'Acme\nExec=/bin/sh', 'Acme\rOS', 'Acme\0'];

  for (const [field, set] of fields) {
    for (const value of bad) {
      it(`${field} refuses ${JSON.stringify(value)}, naming the field and the characters`, () => {
        const issues = issuesOf((c) => set(c, value));
        expect(issues).toEqual([{ path: field, expected: 'one line of text without double quotes or backslashes' }]);
      });
    }
    it(`${field} accepts ordinary text, also with ' : & < and accents`, () => {
      expect(issuesOf((c) => set(c, "Acme's OS: <fast> & ünïcode 1.0"))).toEqual([]);
    });
  }

  it('the launcher command and icon refuse quotes and backslashes too', () => {
    const withExec = (exec: string) => (c: BuildConfig) => (helper(c), (c.helper!.launcher!.exec = exec));
    expect(issuesOf(withExec('/usr/bin/helper "x"')).map((i) => i.path)).toEqual(['helper.launcher.exec']);
    expect(issuesOf(withExec('/usr/bin/helper a\\b')).map((i) => i.path)).toEqual(['helper.launcher.exec']);
    expect(issuesOf(withExec('/usr/bin/helper --gui x=1'))).toEqual([]);
    const withIcon = (icon: string) => (c: BuildConfig) => (helper(c), (c.helper!.launcher!.icon = icon));
    expect(issuesOf(withIcon('a\\b')).map((i) => i.path)).toEqual(['helper.launcher.icon']);
    expect(issuesOf(withIcon('/usr/share/icons/x.png'))).toEqual([]);
  });

  it('the length limits hold: 64 characters of product name pass, 65 do not', () => {
    expect(issuesOf((c) => (c.branding.productName = 'A'.repeat(64)))).toEqual([]);
    expect(issuesOf((c) => (c.branding.productName = 'A'.repeat(65))).map((i) => i.path)).toEqual([
      'branding.productName',
    ]);
  });
});

describe('readConfigFile: hostile files fail fast and name the file', () => {
  const bomb = [
    'a: &a ["x","x","x","x","x","x","x","x","x"]',
    ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefg'[i]}`).join(',')}]`),
  ].join('\n');

  it('a YAML alias bomb is refused before it is expanded', () => {
    const file = writeFile('bomb.yaml', bomb);
    const error = configError(() => readConfigFile(file));
    expect(error.message).toBe(
      `config file ${file} cannot be parsed: Excessive alias count indicates a resource exhaustion attack`,
    );
  });

  it('a few ordinary YAML aliases are still expanded', () => {
    const file = writeFile('anchors.yml', 'a: &list [x, y]\nb: *list\nc: *list\n');
    expect(readConfigFile(file)).toEqual({ a: ['x', 'y'], b: ['x', 'y'], c: ['x', 'y'] });
  });

  it('a YAML file of two documents is refused', () => {
    const file = writeFile('two.yaml', 'extends: minimal\n---\nextends: ailinux\n');
    expect(configError(() => readConfigFile(file)).message).toBe(
      `config file ${file} cannot be parsed at line 2, column 1: expected one YAML document, found 2`,
    );
    expect(configError(() => readConfigFile(file))).toMatchObject({ line: 2, sourceLine: '---' });
  });

  it('nesting: 32 levels are read, 33 are refused', () => {
    const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
    const ok = writeFile('ok.json', nested(32));
    expect(JSON.stringify(readConfigFile(ok))).toBe(nested(32));
    const deep = writeFile('deep.json', nested(33));
    const error = configError(() => readConfigFile(deep));
    expect(error.message).toBe(`config file ${deep} is nested more than 32 levels deep; no config field needs that`);
    expect(error.issues).toEqual([
      { path: '(top level)', value: '(deeply nested)', expected: 'at most 32 levels of objects and arrays' },
    ]);
  });

  it('arrays count as levels too, and a file 20000 levels deep is refused without overflowing the stack', () => {
    const arrays = writeFile('arrays.json', `{"a":${'['.repeat(32)}${']'.repeat(32)}}`);
    expect(configError(() => readConfigFile(arrays)).message).toContain('nested more than 32 levels');
    const deep = writeFile('deep.json', `${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}`);
    expect(configError(() => readConfigFile(deep)).message).toContain('nested more than 32 levels');
    const yaml = writeFile('deep.yaml', `${'['.repeat(40)}${']'.repeat(40)}`);
    expect(configError(() => readConfigFile(yaml)).message).toMatch(/nested more than 32 levels|cannot be parsed/);
  });

  it('a file of exactly 1 MiB is read; one byte more is refused', () => {
    const limit = 1024 * 1024;
    const ok = writeFile('big.json', `{}${' '.repeat(limit - 2)}`);
    expect(readConfigFile(ok)).toEqual({});
    const big = writeFile('bigger.json', `{}${' '.repeat(limit - 1)}`);
    expect(configError(() => readConfigFile(big)).message).toBe(
      `config file ${big} is ${limit + 1} bytes; the limit is ${limit}`,
    );
  });

  it('the top level must be an object', () => {
    for (const [name, text] of [
      ['list.json', '[1]'],
      ['null.json', 'null'],
      ['word.yaml', 'minimal\n'],
    ] as const) {
      const file = writeFile(name, text);
      expect(configError(() => readConfigFile(file)).message).toBe(
        `config file ${file} must hold an object at the top level`,
      );
    }
  });
});

describe('prototype keys: refused wherever they are, and nothing is polluted', () => {
  const probe = () => (Object.prototype as Record<string, unknown>)['hostname'];

  for (const [name, text, key] of [
    ['proto.json', '{"extends":"minimal","__proto__":{"hostname":"x;y"}}', '__proto__'],
    ['proto.yaml', 'extends: minimal\n__proto__:\n  hostname: "x;y"\n', '__proto__'],
    ['nested.json', '{"extends":"minimal","iso":{"__proto__":{"hostname":"x;y"}}}', '__proto__'],
    ['nested.yaml', 'extends: minimal\nliveUser:\n  __proto__:\n    hostname: "x;y"\n', '__proto__'],
    ['constructor.json', '{"extends":"minimal","constructor":{"prototype":{"hostname":"x"}}}', 'constructor'],
    ['prototype.json', '{"extends":"minimal","iso":{"prototype":{"hostname":"x"}}}', 'prototype'],
  ] as const) {
    it(`${name}: "${key}" is not a config field`, () => {
      const file = writeFile(name, text);
      const error = configError(() => loadConfig({ configFile: file }));
      expect(error.message).toBe(`config field "${key}" is not allowed`);
      expect(error.issues).toEqual([{ path: key, value: '(object)', expected: 'a config field name' }]);
      expect(probe()).toBeUndefined();
    });
  }

  it('a __proto__ under a field the profile does not set is refused by the schema instead', () => {
    const file = writeFile('helper.json', '{"extends":"minimal","helper":{"__proto__":{"x":1}}}');
    const error = configError(() => loadConfig({ configFile: file }));
    expect(error.issues.map((i) => i.path)).toContain('helper.__proto__');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});

describe('mergeConfig: objects merge, everything else replaces', () => {
  it('merges objects field by field, replaces arrays and scalars', () => {
    const merged = mergeConfig(
      { a: { x: 1, y: 2 }, l: [1, 2], s: 'old', keep: true },
      { a: { y: 3 }, l: [9], s: 'new' },
    );
    expect(merged).toEqual({ a: { x: 1, y: 3 }, l: [9], s: 'new', keep: true });
  });

  it('an array is never merged into, nor merged with an object', () => {
    expect(mergeConfig({ l: [1, 2] }, { l: { 0: 5 } })).toEqual({ l: { 0: 5 } });
    expect(mergeConfig({ o: { 0: 1, k: 2 } }, { o: [7] })).toEqual({ o: [7] });
  });

  it('null replaces an object, and an object replaces null', () => {
    expect(mergeConfig({ a: { x: 1 } }, { a: null })).toEqual({ a: null });
    expect(mergeConfig({ a: null }, { a: { x: 1 } })).toEqual({ a: { x: 1 } });
  });

  it('does not change the base object it merges into below the top level', () => {
    const inner = { x: 1 };
    mergeConfig({ a: inner }, { a: { x: 2 } });
    expect(inner).toEqual({ x: 1 });
  });

  it('refuses __proto__ from JSON.parse, which makes it an own key', () => {
    const override = JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(configError(() => mergeConfig({}, override)).message).toBe('config field "__proto__" is not allowed');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
