/**
 * ailinux(1) (issue 13, point 5): man/ailinux.1 is what scripts/man-page.ts makes from the CLI and docs/cli.md, so it
 * cannot drift; it renders with man and groff without a warning; and every command, option and exit code is in it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_HELP } from '../../src/cli/command-help.js';
import type { CliIO } from '../../src/cli/io.js';
import { createProgram } from '../../src/cli/main.js';
import { MAN_PAGE, REPO, markedProse, renderManPage, roffInline, roffText } from '../../scripts/man-page.js';
import { skipTestWithout } from '../helpers/root.js';

const io: CliIO = {
  stdout: { write: () => true },
  stderr: { write: () => true },
  env: { PATH: '/usr/bin:/bin' },
  cwd: '/nonexistent-ailinux-docs',
  uid: 1000,
  commandLine: 'ailinux',
};
const program = createProgram(io, () => {});

function installed(tool: string): string | null {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0 ? null : `${tool} is not installed`;
}

/** The page as man prints it to a pipe, 80 columns wide, and what it warned. */
function rendered(): { text: string; warnings: string } {
  const r = spawnSync('man', ['--warnings', '-l', MAN_PAGE], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', MANWIDTH: '80', LANG: 'C.UTF-8', MAN_KEEP_FORMATTING: '' },
  });
  expect(r.status, r.stderr).toBe(0);
  return { text: r.stdout, warnings: r.stderr };
}

describe('man/ailinux.1', () => {
  it('is what npm run man makes from the CLI and docs/cli.md (run it after changing either)', () => {
    const committed = fs.existsSync(MAN_PAGE) ? fs.readFileSync(MAN_PAGE, 'utf8') : '';
    expect(committed, 'man/ailinux.1 is out of date: run npm run man').toBe(renderManPage());
  });

  it('has a section for every command, with each of its options and exit codes', () => {
    const page = renderManPage();
    const commands = program.commands.map((c) => c.name());
    expect(commands.length).toBeGreaterThan(5);
    for (const command of program.commands) {
      const name = command.name();
      const start = page.indexOf(`.SS "ailinux ${name}`);
      expect(start, `no section for ${name}`).toBeGreaterThan(0);
      const end = page.indexOf('\n.SS ', start + 1);
      const section = page.slice(start, end < 0 ? page.indexOf('\n.SH ', start) : end);
      for (const option of command.options)
        expect(section, `${name}: ${option.flags}`).toContain(roffText(option.long ?? option.flags));
      for (const line of COMMAND_HELP[name]!.exitCodes) expect(section).toContain(`\\fB${line.code}\\fR`);
      for (const example of COMMAND_HELP[name]!.examples) expect(section).toContain(roffText(example.command));
    }
  });

  it('is installed by npm install -g: package.json names it in "man" and ships it in "files"', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      man?: string | string[];
      files?: string[];
    };
    // an array: npm 11's bin-links links nothing for a string (checked with npm install -g --prefix of the packed tarball)
    expect(Array.isArray(pkg.man)).toBe(true);
    expect([pkg.man].flat().map((m) => path.normalize(m ?? ''))).toEqual(['man/ailinux.1']);
    expect(pkg.files).toContain('man');
  });

  it('renders with man, without a warning, and shows every command', (t) => {
    skipTestWithout(t, installed('man') ?? installed('groff'));
    const { text, warnings } = rendered();
    expect(warnings).toBe('');
    expect(text).toMatch(/^AILINUX\(1\)\s+User Commands\s+AILINUX\(1\)$/m);
    for (const name of program.commands.map((c) => c.name()))
      expect(text).toMatch(new RegExp(`^ {3}ailinux ${name}\\b`, 'm'));
    // the environment table from docs/cli.md
    expect(text).toMatch(/^ {7}SOURCE_DATE_EPOCH$/m);
  });

  it('passes groff -ww (every warning on) with nothing printed', (t) => {
    skipTestWithout(t, installed('groff'));
    const r = spawnSync('groff', ['-man', '-ww', '-z', '-Tutf8', MAN_PAGE], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });
});

describe('the roff it writes', () => {
  it('turns option dashes into minus signs and leaves hyphens in words', () => {
    expect(roffText('--fresh and -w, not read-only')).toBe('\\-\\-fresh and \\-w, not read-only');
  });

  it('escapes backslashes and lines that would be requests', () => {
    expect(roffText("a\\b\n.SH x\n'y")).toBe("a\\eb\n\\&.SH x\n\\&'y");
  });

  it('renders code spans bold and links as their text, naming the doc', () => {
    expect(roffInline('see `plan` and [layout](architecture.md#x), [safety.md](safety.md)')).toBe(
      'see \\fBplan\\fR and layout (docs/architecture.md), safety.md',
    );
  });

  it('reads the regions docs/cli.md marks for it, and refuses a doc without one', () => {
    expect(markedProse('a\n<!-- man:x -->\nhello\nworld\n<!-- /man -->\nb').get('x')).toBe('hello\nworld');
    expect(() => renderManPage('# no regions')).toThrow(/docs\/cli.md has no <!-- man:description --> region/);
  });
});
