/**
 * The config loader's messages and the secrets check, word for word: what a user reads when a config
 * is refused, and which values count as secrets. Written against the survivors of `npm run mutation`
 * (docs/testing.md); the loader's defences against hostile files are in config-edge.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, readConfigFile, showValue, validateConfig } from '../../src/config/load.js';
import {
  findSecrets,
  looksLikeRandomToken,
  maskSecret,
  redactSecrets,
  secretKind,
  shannonEntropy,
} from '../../src/config/secrets.js';
import { ConfigError } from '../../src/errors.js';
import { makeWorkDir, profileConfig, removeWorkDir } from '../helpers/step-context.js';

const dir = makeWorkDir('ailinux-config-');
afterAll(() => removeWorkDir(dir));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function refusal(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

// biome-ignore lint/suspicious/noExplicitAny: a config patched with values of the wrong type on purpose
type Raw = Record<string, any>;

/** The issues of the minimal profile with one change, as the user sees them. */
function issues(patch: (c: Raw) => void) {
  const config = profileConfig('minimal') as unknown as Raw;
  patch(config);
  try {
    validateConfig(config);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
}

describe('loadConfig: which profile, and where relative paths start', () => {
  it('uses the ailinux profile when nothing names one, and the given cwd as the base dir', () => {
    const loaded = loadConfig({ cwd: dir });
    expect(loaded.source).toEqual({ profile: 'ailinux', configFile: null });
    expect(loaded.baseDir).toBe(dir);
    expect(loaded.config.name).toBe('ailinux');
  });

  it("takes the profile from the file's extends, resolves the file against cwd, and starts paths at its directory", () => {
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    write('sub/c.json', '{"$schema":"x.json","extends":"minimal","hostname":"kiosk"}');
    const loaded = loadConfig({ configFile: 'sub/c.json', cwd: dir });
    expect(loaded.source).toEqual({ profile: 'minimal', configFile: path.join(dir, 'sub/c.json') });
    expect(loaded.baseDir).toBe(path.join(dir, 'sub'));
    expect(loaded.config.hostname).toBe('kiosk');
    expect(loaded.config).not.toHaveProperty('extends');
    expect(loaded.config).not.toHaveProperty('$schema');
  });

  it('accepts --profile that agrees with extends, and refuses one that does not', () => {
    const file = write('m.json', '{"extends":"minimal"}');
    expect(loadConfig({ configFile: file, profile: 'minimal' }).source.profile).toBe('minimal');
    const error = refusal(() => loadConfig({ configFile: file, profile: 'ailinux' }));
    expect(error.message).toBe(`--profile ailinux conflicts with "extends": "minimal" in ${file}`);
    expect(error.issues).toEqual([
      { path: 'extends', value: 'minimal', expected: 'the same profile as --profile (ailinux), or leave one out' },
    ]);
    expect(error.file).toBe(file);
  });

  it('refuses an "extends" that is not a profile name, instead of building the default profile', () => {
    for (const [name, text, value] of [
      ['list.json', '{"extends":["minimal"]}', ['minimal']],
      ['number.json', '{"extends":5}', 5],
      ['empty.yaml', 'extends:\nhostname: kiosk\n', null],
    ] as const) {
      const file = write(name, text);
      const error = refusal(() => loadConfig({ configFile: file }));
      expect(error.message).toBe(`"extends" in ${file} must name a built-in profile`);
      expect(error.issues).toEqual([{ path: 'extends', value, expected: 'one of: ailinux, minimal' }]);
      expect(error.file).toBe(file);
    }
  });

  it('names the unknown profile and where it came from', () => {
    const byFlag = refusal(() => loadConfig({ profile: 'tiny' }));
    expect(byFlag.message).toBe('unknown profile "tiny"');
    expect(byFlag.issues).toEqual([{ path: '--profile', value: 'tiny', expected: 'one of: ailinux, minimal' }]);
    expect(byFlag.file).toBeUndefined();
    const file = write('t.json', '{"extends":"tiny"}');
    const byFile = refusal(() => loadConfig({ configFile: file }));
    expect(byFile.issues[0]!.path).toBe('extends');
    expect(byFile.file).toBe(file);
  });
});

describe('readConfigFile: what is refused before parsing', () => {
  it('a missing file, with a hint', () => {
    const file = path.join(dir, 'none.json');
    const error = refusal(() => readConfigFile(file));
    expect(error.message).toBe(`config file ${file} does not exist`);
    expect(error.hint).toBe('check the --config path');
    expect(error.issues).toEqual([]);
    expect(error.file).toBe(file);
  });

  it('a file over 1 MiB, before reading it, with no field to blame', () => {
    const file = write('huge.json', `{}${' '.repeat(1024 * 1024)}`);
    const error = refusal(() => readConfigFile(file));
    expect(error.message).toBe(`config file ${file} is ${1024 * 1024 + 2} bytes; the limit is ${1024 * 1024}`);
    expect(error.issues).toEqual([]);
  });

  it('a directory', () => {
    const error = refusal(() => readConfigFile(dir));
    expect(error.message).toBe(`config file ${dir} is not a regular file`);
    expect(error.issues).toEqual([]);
  });

  it('an empty or blank file, with a hint', () => {
    const file = write('blank.yaml', ' \n\t\n');
    const error = refusal(() => readConfigFile(file));
    expect(error.message).toBe(`config file ${file} is empty`);
    expect(error.hint).toBe('write at least {"extends": "minimal"}');
    expect(error.issues).toEqual([]);
  });

  it('a name that is not .json, .yaml or .yml; the case of the extension does not matter', () => {
    const file = write('c.toml', 'extends = "minimal"\n');
    expect(refusal(() => readConfigFile(file)).message).toBe(`config file ${file} must end in .json, .yaml or .yml`);
    expect(refusal(() => readConfigFile(file)).issues).toEqual([]);
    expect(readConfigFile(write('c.YML', 'extends: minimal\n'))).toEqual({ extends: 'minimal' });
    expect(readConfigFile(write('c.Yaml', 'extends: minimal\n'))).toEqual({ extends: 'minimal' });
    expect(readConfigFile(write('c.JSON', '{"extends":"minimal"}'))).toEqual({ extends: 'minimal' });
  });

  it('text that does not parse, with the parser message and where it is', () => {
    const json = write('bad.json', '{"extends":');
    expect(refusal(() => readConfigFile(json)).message).toBe(
      `config file ${json} cannot be parsed at line 1, column 12: Unexpected end of JSON input`,
    );
    const parsed = refusal(() => readConfigFile(json));
    expect(parsed.issues).toEqual([]);
    expect(parsed.cause).toBeInstanceOf(SyntaxError);
    expect(parsed).toMatchObject({ line: 1, column: 12, sourceLine: '{"extends":' });
    const yaml = write('bad.yaml', 'a: [1, 2\n');
    expect(refusal(() => readConfigFile(yaml)).message).toMatch(
      new RegExp(`^config file ${yaml} cannot be parsed at line 1, column 9: .*end with a \\]$`),
    );
    expect(refusal(() => readConfigFile(yaml))).toMatchObject({ line: 1, column: 9, sourceLine: 'a: [1, 2' });
  });

  it('expands up to 49 aliases of a list, and refuses 50', () => {
    const aliases = (n: number) => `a: &x [1]\n${Array.from({ length: n }, (_, i) => `k${i}: *x`).join('\n')}\n`;
    expect(Object.keys(readConfigFile(write('ok.yaml', aliases(49))))).toHaveLength(50);
    const many = write('many.yaml', aliases(50));
    expect(refusal(() => readConfigFile(many)).message).toBe(
      `config file ${many} cannot be parsed: Excessive alias count indicates a resource exhaustion attack`,
    );
  });

  it('says what a top level that is not an object holds', () => {
    const file = write('list.json', '[1]');
    expect(refusal(() => readConfigFile(file)).issues).toEqual([
      { path: '(top level)', value: [1], expected: 'an object' },
    ]);
  });
});

describe('validateConfig: what the user is told', () => {
  it('counts the problems and names the first, with the file', () => {
    const config = profileConfig('minimal') as unknown as Raw;
    config['hostname'] = 'bad host';
    expect(refusal(() => validateConfig(config, '/etc/a.json')).file).toBe('/etc/a.json');
    expect(refusal(() => validateConfig(config)).file).toBeUndefined();
    expect(refusal(() => validateConfig(config, '/etc/a.json')).message).toBe(
      'invalid config in /etc/a.json (1 problem); first: hostname: expected an RFC 1123 host name (letters, digits and inner hyphens, labels up to 63 characters), got string "bad host"',
    );
    config['iso'].menuTimeout = -1;
    expect(refusal(() => validateConfig(config)).message).toMatch(/^invalid config \(2 problems\); first: /);
  });

  it('names each unknown field with its value, and the fields there when none is near', () => {
    const found = issues((c) => ((c['colour'] = 'red'), (c['iso'].speed = 2)));
    expect(found.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      {
        path: 'colour',
        value: 'red',
        expected:
          'the fields here are $schema, extends, name, description, architecture, distribution, bootstrap, apt, cache, liveSystem, packages, hostname, liveUser, locale, debconf, squashfs, iso, branding, helper, overlays, hooks, installer, panel, verify, resources, retry, steps',
        kind: 'unknown-field',
      },
      {
        path: 'iso.speed',
        value: 2,
        expected:
          'the fields here are volumeLabel, outputName, bios, uefi, kernelArgs, menuTimeout, serialConsole, isolinux, secureBoot',
        kind: 'unknown-field',
      },
    ]);
  });

  it('suggests the nearest field for a misspelt key, at the top level, nested, and inside a list item', () => {
    const found = issues(
      (c) => ((c['hostnmae'] = 'x'), (c['iso'].biso = true), (c['distribution'].sources[0].suits = ['a'])),
    );
    expect(found.map((i) => [i.path, i.expected, i.kind]).sort()).toEqual([
      ['distribution.sources.0.suits', 'did you mean "suites"?', 'unknown-field'],
      ['hostnmae', 'did you mean "hostname"?', 'unknown-field'],
      ['iso.biso', 'did you mean "bios"?', 'unknown-field'],
    ]);
  });

  it('says a required field is missing, and what type a wrong one should have (not that it is missing)', () => {
    expect(issues((c) => delete c['hostname'])).toEqual([
      { path: 'hostname', value: undefined, expected: 'string (the field is required)' },
    ]);
    expect(issues((c) => (c['iso'].bios = 'yes'))).toEqual([{ path: 'iso.bios', value: 'yes', expected: 'boolean' }]);
    // the value took the object alternative of the union: the field inside it is named, not the union
    expect(issues((c) => (c['distribution'].resolvConf = { symlink: 5 }))).toEqual([
      { path: 'distribution.resolvConf.symlink', value: 5, expected: 'string' },
    ]);
    expect(issues((c) => (c['distribution'].resolvConf = 5))).toEqual([
      { path: 'distribution.resolvConf', value: 5, expected: 'one of: one of "empty"; or object' },
    ]);
  });

  it('lists the allowed values of an enum', () => {
    expect(issues((c) => (c['squashfs'].compression = 'bz2'))).toEqual([
      { path: 'squashfs.compression', value: 'bz2', expected: 'one of "zstd", "xz", "lz4", "gzip"' },
    ]);
  });

  it('gives the bounds of lists, text and numbers in their own words', () => {
    const expected = (patch: (c: Raw) => void) => issues(patch).map((i) => i.expected);
    expect(expected((c) => (c['packages'].kernel = []))).toEqual(['at least 1 item(s)']);
    expect(expected((c) => (c['name'] = ''))).toEqual(['at least 1 character(s)']);
    expect(expected((c) => (c['iso'].menuTimeout = -1))).toEqual(['a number >= 0']);
    expect(expected((c) => (c['name'] = 'n'.repeat(65)))).toEqual(['at most 64 character(s)']);
    expect(expected((c) => (c['iso'].menuTimeout = 301))).toEqual(['a number <= 300']);
    expect(
      expected(
        (c) =>
          (c['helper'] = {
            name: 'h',
            title: 'H',
            files: Array(201).fill({ source: 'a', destination: '/a', mode: '0644' }),
          }),
      ),
    ).toEqual(['at most 200 item(s)']);
  });

  it('lists each alternative of a union by its first complaint', () => {
    expect(issues((c) => (c['distribution'].keyring = { path: '../k.gpg' }))).toEqual([
      {
        path: 'distribution.keyring.path',
        value: '../k.gpg',
        expected:
          'one of: an absolute path; or a path inside the config file\'s directory ("..", which could escape it, is refused)',
      },
    ]);
  });

  it('names the top level when the whole config is wrong', () => {
    expect(refusal(() => validateConfig('minimal')).issues).toEqual([
      { path: '(top level)', value: 'minimal', expected: 'object' },
    ]);
  });

  it('shows a value refused by a rule whole, since only secrets are masked', () => {
    expect(issues((c) => (c['liveUser'].shell = '/bin/../sh'))).toEqual([
      { path: 'liveUser.shell', value: '/bin/../sh', expected: 'a path without ".." parts' },
    ]);
  });

  it('masks a value refused as a secret', () => {
    const key = `sk-${'A1b2C3d4'.repeat(4)}`;
    const [issue] = issues((c) => (c['description'] = key));
    expect(issue!.path).toBe('description');
    expect(issue!.value).toBe('sk-A... (35 characters, not shown)');
    expect(issue!.expected).toBe(
      'no secret: this looks like an OpenAI-style API key (sk-...), and secrets must never be baked into an image (sk-A... (35 characters, not shown))',
    );
  });
});

describe('path and file name fields', () => {
  const paths = (patch: (c: Raw) => void) => issues(patch).map((i) => [i.path, i.expected]);

  it('refuses ".." in an absolute host path', () => {
    expect(paths((c) => (c['liveUser'].shell = '/bin/../sh'))).toEqual([
      ['liveUser.shell', 'a path without ".." parts'],
    ]);
  });

  it('refuses a drive-absolute Windows path as a config-relative one, and only that', () => {
    const dir = (d: string) => paths((c) => (c['branding'].dir = d));
    const absolute = 'a path relative to the config file (an absolute path is refused)';
    expect(dir('C:/brand')).toEqual([['branding.dir', absolute]]);
    expect(dir('c:\\brand')).toEqual([['branding.dir', absolute]]);
    for (const ok of ['brand', 'C:brand', 'assets/C:/brand', '1:/brand']) expect(dir(ok), ok).toEqual([]);
  });

  it('takes the image type from the end of the name', () => {
    const set = (field: 'logo' | 'wallpaper', name: string) =>
      paths((c) => ((c['branding'].dir = 'brand'), (c['branding'][field] = name)));
    expect(set('logo', 'logo.png.svg')).toEqual([
      ['branding.logo', 'a PNG file (ending in .png): the installer, plymouth and launchers all read PNG'],
    ]);
    expect(set('logo', 'LOGO.PNG')).toEqual([]);
    expect(set('wallpaper', 'w.jpg.exe')).toEqual([
      ['branding.wallpaper', 'an image file ending in .png, .jpg or .jpeg'],
    ]);
    for (const ok of ['w.jpg', 'w.JPEG', 'w.png']) expect(set('wallpaper', ok), ok).toEqual([]);
  });

  it('needs branding.dir for each kind of branding file', () => {
    for (const field of ['logo', 'welcome', 'splash', 'wallpaper']) {
      expect(paths((c) => (c['branding'][field] = 'x.png'))).toEqual([
        ['branding.dir', 'branding.dir must be set when branding files are named'],
      ]);
    }
  });

  it('refuses "." and ".." parts in a squashfs exclude, and allows dots inside a name', () => {
    const exclude = (list: string[]) => paths((c) => (c['squashfs'].exclude = list));
    const message = 'a path relative to the rootfs without "." or ".." parts';
    expect(exclude(['usr/../etc'])).toEqual([['squashfs.exclude.0', message]]);
    expect(exclude(['boot', './boot'])).toEqual([['squashfs.exclude.1', message]]);
    expect(exclude(['boot', 'var/cache/apt', 'a..b', '.hidden'])).toEqual([]);
  });
});

describe('showValue', () => {
  it('says missing for undefined, shows JSON, and cuts what is longer than 80 characters to 77 and ...', () => {
    expect(showValue(undefined)).toBe('(missing)');
    expect(showValue({ a: [1] })).toBe('{"a":[1]}');
    const eighty = `"${'x'.repeat(78)}"`;
    expect(showValue('x'.repeat(78))).toBe(eighty);
    expect(showValue('x'.repeat(79))).toBe(`"${'x'.repeat(76)}...`);
  });

  it('never shows a secret whole', () => {
    expect(showValue(`token ghp_${'a'.repeat(36)}`)).toBe('"token ghp_...(redacted)"');
  });
});

describe('the secrets check', () => {
  const shapes: Array<[string, string, string]> = [
    ['an OpenAI-style API key (sk-...)', `sk-${'a'.repeat(20)}`, `sk-${'a'.repeat(19)}`],
    ['an API key (sk-proj-/sk-ant-/sk-svcacct-...)', `sk-ant-${'a_'.repeat(10)}`, `sk-ant-${'a'.repeat(19)}`],
    ['an AWS access key id (AKIA...)', `AKIA${'A1'.repeat(8)}`, `AKIA${'A1'.repeat(8)}B`],
    ['a GitHub token (ghp_...)', `ghs_${'a'.repeat(36)}`, `ghx_${'a'.repeat(36)}`],
    ['a GitHub fine-grained token (github_pat_...)', `github_pat_${'a'.repeat(22)}`, `github_pat_${'a'.repeat(21)}`],
    ['a Slack token (xoxb-/xoxp-...)', `xoxp-${'1'.repeat(10)}`, `xoxp-${'1'.repeat(9)}`],
    ['a Google API key (AIza...)', `AIza${'b'.repeat(35)}`, `AIza${'b'.repeat(34)}`],
    ['a Hugging Face token (hf_...)', `hf_${'c'.repeat(30)}`, `hf_${'c'.repeat(29)}`],
    ['a GitLab token (glpat-...)', `glpat-${'d'.repeat(20)}`, `glpat-${'d'.repeat(19)}`],
    ['a private key', '-----BEGIN OPENSSH PRIVATE KEY-----', '-----BEGIN PUBLIC KEY-----'],
  ];

  for (const [kind, hit, miss] of shapes) {
    it(`knows ${kind}, and not the value one character short of it`, () => {
      expect(secretKind(`key: ${hit}`, false)).toBe(kind);
      expect(secretKind(miss, false)).toBeNull();
    });
  }

  it('does not find a shape inside a longer word', () => {
    expect(secretKind(`task-sk-${'a'.repeat(24)}`, false)).toBeNull();
    expect(secretKind(`xAKIA${'A1'.repeat(8)}`, false)).toBeNull();
  });

  it('measures entropy in bits per character', () => {
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abab')).toBe(1);
    expect(shannonEntropy('abcd')).toBe(2);
    expect(shannonEntropy('aaab')).toBeCloseTo(0.8113, 4);
  });

  it('takes a random token to be 32 or more characters, of two character classes, as random as a key', () => {
    const hex = '0123456789abcdef'.repeat(2);
    expect(looksLikeRandomToken(hex)).toBe(true);
    expect(looksLikeRandomToken(hex.slice(1))).toBe(false);
    expect(looksLikeRandomToken('ab'.repeat(16))).toBe(false);
    const mixed = 'q8ZrT2vLx9WmB4nK7cYp1sDf6GhJ3aE5';
    expect(looksLikeRandomToken(mixed)).toBe(true);
    expect(looksLikeRandomToken(`${mixed.slice(0, 31)}!`)).toBe(false);
    expect(looksLikeRandomToken('qwertyuiopasdfghjklzxcvbnmqwerty')).toBe(false);
    expect(looksLikeRandomToken('QWERTYUIOPASDFGHJKLZXCVBNM123456')).toBe(true);
    expect(looksLikeRandomToken(`!${mixed.slice(1)}`)).toBe(false);
    // one class alone is not a token, however random
    expect(looksLikeRandomToken('QWERTYUIOPASDFGHJKLZXCVBNMQWERTY')).toBe(false);
  });

  it('has exact thresholds: 3 bits a character for hex, 4 for the rest', () => {
    // hex with eight symbols: exactly 3 bits
    expect(looksLikeRandomToken('01234567'.repeat(4))).toBe(true);
    expect(looksLikeRandomToken('0123'.repeat(8))).toBe(false);
    // digits only count as hex, not as one class
    expect(looksLikeRandomToken(`${'0123456789'.repeat(3)}01`)).toBe(true);
    // a hex start does not make the word hex
    expect(looksLikeRandomToken(`0123456789abcdef${'g'.repeat(16)}`)).toBe(false);
    // sixteen symbols in two classes: exactly 4 bits
    expect(looksLikeRandomToken('abcdefghABCDEFGH'.repeat(2))).toBe(true);
    expect(looksLikeRandomToken('aB'.repeat(16))).toBe(false);
  });

  it('judges entropy only in text fields, in words split at white space, quotes and punctuation', () => {
    const token = 'q8ZrT2vLx9WmB4nK7cYp1sDf6GhJ3aE5';
    expect(secretKind(`key:${token};`, false)).toBeNull();
    for (const sep of [' ', '\t', '"', "'", '`', ',', ';', ':', '(', ')', '<', '>', '[', ']', '{', '}'])
      expect(secretKind(`a.b${sep}${token}`, true), JSON.stringify(sep)).toBe(
        'a long random token (an API key or password?)',
      );
    // a dot or a bang splits nothing, and a word with one is not a token
    expect(secretKind(`a.b.${token}`, true)).toBeNull();
    expect(secretKind(`a.b!${token}`, true)).toBeNull();
  });

  it('masks a value to its first four characters and its length', () => {
    expect(maskSecret('abcdefgh')).toBe('abcd... (8 characters, not shown)');
    expect(maskSecret({ k: 1 })).toBe('{"k"... (7 characters, not shown)');
  });

  it('redacts every secret in a text, of every shape', () => {
    const gh = `ghp_${'a'.repeat(36)}`;
    const aws = `AKIA${'B'.repeat(16)}`;
    expect(redactSecrets(`${gh} and ${aws} and ${gh}`)).toBe(
      'ghp_...(redacted) and AKIA...(redacted) and ghp_...(redacted)',
    );
  });

  it('reports the path of every secret, with * standing for any list item when it looks up text fields', () => {
    const token = 'q8ZrT2vLx9WmB4nK7cYp1sDf6GhJ3aE5';
    const value = { notes: [{ text: token }, { text: 'fine' }], other: token, list: [`hf_${'c'.repeat(30)}`] };
    expect(findSecrets(value, new Set(['notes.*.text']))).toEqual([
      { path: ['notes', '0', 'text'], kind: 'a long random token (an API key or password?)' },
      { path: ['list', '0'], kind: 'a Hugging Face token (hf_...)' },
    ]);
    // only a whole number is a list index
    expect(findSecrets({ notes: { '1a': token, a1: token } }, new Set(['notes.*']))).toEqual([]);
    const eleven = Array(11).fill('fine');
    eleven[10] = token;
    expect(findSecrets({ notes: eleven }, new Set(['notes.*']))).toEqual([
      { path: ['notes', '10'], kind: 'a long random token (an API key or password?)' },
    ]);
    expect(findSecrets(null, new Set())).toEqual([]);
    expect(findSecrets({ branding: { url: undefined } }, new Set())).toEqual([]);
    expect(findSecrets(42, new Set())).toEqual([]);
  });
});
