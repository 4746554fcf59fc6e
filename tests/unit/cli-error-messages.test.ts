/**
 * Errors that say what to type, and outputs that match their names (issue 13, points 2, 3 and the bare command of 5),
 * through the CLI's own entry point: a wrong type says what it got, a misspelt key, step, profile or log name gets
 * the nearest known one (and nonsense gets none), a YAML or JSON syntax error names its line and column and shows
 * the line, `inspect -o` refuses a file name whose extension it cannot write, and a bare `ailinux` exits 2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { nearestName } from '../../src/config/nearest-name.js';
import { positionAt } from '../../src/config/parse-config-text.js';

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-messages-'));
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: tmp,
    uid: 1000,
    commandLine: `ailinux ${argv.join(' ')}`,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

/** `plan` of a config file in an empty work dir: it loads and checks the config, and writes nothing. */
const plan = (file: string) => run(['plan', '-c', file, '-w', path.join(tmp, 'w')]);

describe('nearestName: a suggestion within a third of the length in edits', () => {
  it.each([
    ['pakages', ['packages', 'desktop'], 'packages'],
    ['hostnmae', ['hostname', 'name'], 'hostname'],
    ['minmal', ['ailinux', 'minimal'], 'minimal'],
    ['MINIMAL', ['ailinux', 'minimal'], 'minimal'],
    ['biso', ['bios', 'uefi'], 'bios'],
  ])('%s -> %s', (input, known, near) => {
    expect(nearestName(input, known)).toBe(near);
  });

  it.each([
    ['gentoo', ['ailinux', 'minimal']],
    ['x', ['iso', 'name']],
    ['frobnicate', ['configure', 'bootstrap', 'packages']],
    // a known name is no misspelling of itself
    ['packages', ['packages', 'desktop']],
  ])('%s gets none', (input, known) => {
    expect(nearestName(input, known)).toBeUndefined();
  });
});

describe('a config value of the wrong type', () => {
  it('says the type it expected, and the type and value it got', async () => {
    const r = await plan(write('a.json', '{"extends": "minimal", "hostname": 123}'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('\n  hostname: expected string, got number 123\n');
    expect(r.stderr).toMatch(/first: hostname: expected string, got number 123\n/);
    expect(fs.existsSync(path.join(tmp, 'w'))).toBe(false);
  });

  it('a list where a word belongs, and a missing required field', async () => {
    const r = await plan(write('b.yaml', 'extends: minimal\nliveSystem: [casper]\n'));
    expect(r.stderr).toContain('\n  liveSystem: expected one of "live-boot", "casper", got array ["casper"]\n');
    const missing = await plan(write('c.json', '{"extends":"minimal","helper":{"name":"x","files":[]}}'));
    expect(missing.stderr).toContain('\n  helper.title: expected string (the field is required), got nothing\n');
  });
});

describe('did you mean: each kind of misspelt name', () => {
  it('a config key, at the top level and nested', async () => {
    const r = await plan(write('k.yaml', 'extends: minimal\nhostnmae: live\niso:\n  biso: true\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('\n  hostnmae: no such field; did you mean "hostname"?\n');
    expect(r.stderr).toContain('\n  iso.biso: no such field; did you mean "bios"?\n');
  });

  it('a key like no field gets the fields there instead', async () => {
    const r = await plan(write('n.yaml', 'extends: minimal\niso:\n  qqqqqqqq: 1\n'));
    expect(r.stderr).toContain('\n  iso.qqqqqqqq: no such field; the fields here are volumeLabel, outputName, bios,');
    expect(r.stderr).not.toContain('did you mean');
  });

  it('a step in the step list', async () => {
    const steps = ['preflight', 'bootstrap', 'pakages'];
    const r = await plan(write('s.json', JSON.stringify({ extends: 'minimal', steps })));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^ailinux: unknown step "pakages"; did you mean "packages"\?\n {2}steps\.2: expected one of: /,
    );
    const nonsense = await plan(write('t.json', JSON.stringify({ extends: 'minimal', steps: ['frobnicate'] })));
    expect(nonsense.stderr).toMatch(/^ailinux: unknown step "frobnicate"\n/);
  });

  it('a profile, given with -p or in extends', async () => {
    const flag = await run(['plan', '-p', 'minmal', '-w', path.join(tmp, 'w')]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^ailinux: unknown profile "minmal"; did you mean "minimal"\?\n/);
    expect(flag.stderr).toContain('\n  --profile: expected one of: ailinux, minimal, got string "minmal"\n');
    const extended = await plan(write('p.yaml', 'extends: ailnux\n'));
    expect(extended.stderr).toMatch(/^ailinux: unknown profile "ailnux"; did you mean "ailinux"\?\n/);
    const nonsense = await run(['plan', '-p', 'gentoo', '-w', path.join(tmp, 'w')]);
    expect(nonsense.stderr).toMatch(/^ailinux: unknown profile "gentoo"\n/);
  });

  it('a step name given to log, with the steps in the fix line', async () => {
    const work = path.join(tmp, 'w');
    fs.mkdirSync(path.join(work, 'logs', 'steps'), { recursive: true });
    const r = await run(['log', 'pakages', '-w', work]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^ailinux: no step "pakages"; did you mean "packages"\?\n {2}fix: the steps are: .*packages/,
    );
    const nonsense = await run(['log', 'zzzzzz', '-w', work]);
    expect(nonsense.stderr).toMatch(/^ailinux: no step "zzzzzz"\n/);
    // a real step that has not run is no misspelling
    const known = await run(['log', 'packages', '-w', work]);
    expect(known.stderr).toMatch(/^ailinux: no log for step packages in /);
  });

  it("log's fix lines are commands with the user's own work dir", async () => {
    const work = path.join(tmp, 'my work');
    fs.mkdirSync(work);
    const r = await run(['log', '-w', work]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`\n  run: ailinux build --work-dir '${work}'\n`);
    const bad = await run(['log', 'Packages', '-w', work]);
    expect(bad.stderr).toContain(`\n  run: ailinux status --work-dir '${work}'\n`);
  });
});

describe('a config file that does not parse: file, line and column, and the line itself', () => {
  it('YAML', async () => {
    const file = write('bad.yaml', 'extends: minimal\nhostname: [live\niso:\n  bios: true\n');
    const r = await plan(file);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^ailinux: config file ${file} cannot be parsed at line 3, column 1: `));
    expect(lines.slice(1, 3)).toEqual(['  3 | iso:', '    | ^']);
  });

  it('JSON, where V8 names no position (an unquoted word)', async () => {
    const file = write('bad.json', '{\n  "extends": "minimal",\n  "hostname": live\n}\n');
    const r = await plan(file);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').slice(0, 3)).toEqual([
      `ailinux: config file ${file} cannot be parsed at line 3, column 15: Unexpected token 'l'`,
      '  3 |   "hostname": live',
      '    |               ^',
    ]);
  });

  it('JSON with a trailing comma, and JSON cut short', async () => {
    const comma = write('comma.json', '{"extends": "minimal",\n}');
    expect((await plan(comma)).stderr).toMatch(/cannot be parsed at line 2, column 1: Expected double-quoted property/);
    const cut = write('cut.json', '{"extends": "minimal",\n "hostname":\n');
    const r = await plan(cut);
    expect(r.stderr.split('\n').slice(0, 3)).toEqual([
      `ailinux: config file ${cut} cannot be parsed at line 2, column 13: Unexpected end of JSON input`,
      '  2 |  "hostname":',
      '    |             ^',
    ]);
  });

  it('a long line is cut around the column, so the caret stays under it', async () => {
    const file = write('long.json', `{"extends": "minimal", "description": "${'x'.repeat(300)}", oops}`);
    const [, shown, caret] = (await plan(file)).stderr.split('\n');
    expect(shown!.length).toBeLessThan(120);
    expect(shown![caret!.indexOf('^')]).toBe('o');
  });

  it('positionAt: CRLF lines, the end of a file that ends in a newline', () => {
    expect(positionAt('a\r\nbc\r\n', 4)).toEqual({ line: 2, column: 2, sourceLine: 'bc' });
    expect(positionAt('a\nbc\n', 5)).toEqual({ line: 2, column: 3, sourceLine: 'bc' });
    expect(positionAt('abc', 0)).toEqual({ line: 1, column: 1, sourceLine: 'abc' });
  });
});

describe('inspect -o takes its format from the file name', () => {
  const inspect = (...args: string[]) => run(['inspect', '-p', 'minimal', '-w', path.join(tmp, 'w'), ...args]);

  it('refuses an extension it cannot write, listing those it can, and writes nothing', async () => {
    const out = path.join(tmp, 'machine.png');
    const r = await inspect('-o', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ailinux: cannot write a \.png file: inspect writes \.svg \.html \.htm \.dot \.gv \.mmd/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('refuses --format that the name contradicts, and a name without an extension unless --format says', async () => {
    const svg = path.join(tmp, 'machine.svg');
    const clash = await inspect('-f', 'dot', '-o', svg);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/--format dot does not match .*machine\.svg, whose name says svg\n {2}fix: .*\.dot/);
    expect(fs.existsSync(svg)).toBe(false);
    const bare = path.join(tmp, 'machine');
    expect((await inspect('-o', bare)).code).toBe(2);
    expect(fs.existsSync(bare)).toBe(false);
    expect((await inspect('-f', 'dot', '-o', bare)).code).toBe(0);
    expect(fs.readFileSync(bare, 'utf8')).toMatch(/^digraph /);
  });

  it('writes the format the extension names, in any case', async () => {
    const out = path.join(tmp, 'machine.MMD');
    expect((await inspect('-o', out)).code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toMatch(/^stateDiagram-v2\n/);
  });
});

describe('a bare ailinux', () => {
  it('prints the help on stderr and exits 2; asking for help exits 0', async () => {
    const bare = await run([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^Usage: ailinux \[options\] \[command\]/);
    expect(bare.stdout).toBe('');
    for (const asked of [['--help'], ['help'], ['help', 'build']]) {
      const r = await run(asked);
      expect(r.code, asked.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: ailinux /);
    }
  });
});
