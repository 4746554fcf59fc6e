/**
 * ailinux(1), made from the same source as docs/cli.md (issue 13, point 5): the commands, arguments and options as
 * commander defines them in src/cli/main.ts, each command's exit codes and examples from src/cli/command-help.ts,
 * and the prose docs/cli.md marks with `<!-- man:NAME -->` … `<!-- /man -->` (the description, the global
 * options, the work dir, the environment table). Hand-written roff (man(7) macros): the page is small, and a
 * markdown-to-roff library would still need the CLI's structure fed to it.
 *
 *   npx tsx scripts/man-page.ts          writes man/ailinux.1
 *   npx tsx scripts/man-page.ts --check  exits 1 when man/ailinux.1 differs from what it would write
 *
 * tests/unit/man-page.test.ts regenerates it and compares.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argument, Command, Help, Option } from 'commander';
import { COMMAND_HELP, GENERAL_EXIT_CODES, type ExitCodeLine } from '../src/cli/command-help.js';
import type { CliIO } from '../src/cli/io.js';
import { createProgram } from '../src/cli/main.js';
import { packageVersion } from '../src/runtime/package-root.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MAN_PAGE = path.join(REPO, 'man', 'ailinux.1');
const CLI_DOC = path.join(REPO, 'docs', 'cli.md');

/** An io that nothing is written to: the program is only read. */
function quietIO(): CliIO {
  return {
    stdout: { write: () => true },
    stderr: { write: () => true },
    env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: '/nonexistent-ailinux-docs',
    uid: 1000,
    commandLine: 'ailinux',
  };
}

/** Text for roff: backslashes escaped, option dashes as minus signs, and no line that starts like a request. */
export function roffText(text: string): string {
  const escaped = text
    .replace(/\\/g, '\\e')
    // a dash that starts an option or a flag is a minus sign; a hyphen inside a word stays a hyphen
    .replace(
      /(^|[\s("'`[=|])(-{1,2})(?=[\w])/g,
      (_, before: string, dashes: string) => before + dashes.replace(/-/g, '\\-'),
    );
  return escaped.replace(/^([.'])/gm, '\\&$1');
}

/** A link's text, with the doc it points to when the text does not name it: `layout (docs/architecture.md)`. */
function linkText(text: string, link: string): string {
  const target = /\]\(([^)#]*)/.exec(link)?.[1] ?? '';
  if (target === '' || text.includes('.md') || !target.endsWith('.md')) return text;
  return `${text} (docs/${target})`;
}

/** Inline markdown (code spans, links, emphasis) as roff fonts; the rest escaped. */
export function roffInline(markdown: string): string {
  let out = '';
  const pattern = /`([^`]+)`|\[([^\]]+)\]\([^)]*\)|\*\*([^*]+)\*\*/g;
  let last = 0;
  for (const match of markdown.matchAll(pattern)) {
    out += roffText(markdown.slice(last, match.index));
    if (match[1] !== undefined) out += `\\fB${roffText(match[1])}\\fR`;
    else if (match[2] !== undefined) out += roffInline(linkText(match[2], match[0]));
    else if (match[3] !== undefined) out += `\\fB${roffText(match[3])}\\fR`;
    last = match.index + match[0].length;
  }
  return out + roffText(markdown.slice(last));
}

/** The prose docs/cli.md marks for the page, by name. */
export function markedProse(markdown: string): Map<string, string> {
  const regions = new Map<string, string>();
  for (const match of markdown.matchAll(/^<!-- man:([\w-]+) -->\n([\s\S]*?)\n<!-- \/man -->$/gm))
    regions.set(match[1]!, match[2]!);
  return regions;
}

/** Markdown paragraphs, bullet lists and pipe tables as roff. */
export function roffBlocks(markdown: string): string {
  const out: string[] = [];
  for (const block of markdown.split(/\n\s*\n/)) {
    const lines = block.split('\n');
    if (lines.every((l) => l.startsWith('|'))) {
      // a table: each row a tagged paragraph, the first cell its tag
      for (const row of lines.slice(2)) {
        const cells = row
          .slice(1, -1)
          .split(' | ')
          .map((c) => c.trim());
        out.push('.TP', roffInline(cells[0]!), roffInline(cells.slice(1).join(' ')));
      }
    } else if (lines[0]!.startsWith('- ')) {
      const items = block.split(/\n(?=- )/);
      for (const item of items) out.push('.IP \\(bu 2', roffInline(item.slice(2).replace(/\n\s*/g, ' ')));
    } else {
      out.push('.PP', roffInline(block.replace(/\n\s*/g, ' ')));
    }
  }
  return out.join('\n');
}

/** `-c, --config <file>`: the flags bold, the value italic. */
function optionTerm(option: Option): string {
  return option.flags
    .split(/(,?\s+)/)
    .map((part) => {
      if (/^,?\s+$/.test(part)) return part;
      return part.startsWith('-') ? `\\fB${roffText(part)}\\fR` : `\\fI${roffText(part)}\\fR`;
    })
    .join('');
}

function argumentTerm(help: Help, argument: Argument): string {
  return `\\fI${roffText(help.argumentTerm(argument))}\\fR`;
}

function tagged(term: string, description: string): string {
  return ['.TP', term, roffText(description)].join('\n');
}

function exitCodes(lines: readonly ExitCodeLine[]): string {
  return lines.map((l) => tagged(`\\fB${l.code}\\fR`, l.meaning)).join('\n');
}

/** A command's part of COMMANDS: usage, description, arguments, options, exit codes and examples. */
function commandSection(help: Help, command: Command): string {
  const name = command.name();
  const entry = COMMAND_HELP[name];
  if (!entry) throw new Error(`no help entry for command ${name} in src/cli/command-help.ts`);
  const out = [`.SS "${roffText(`ailinux ${help.commandUsage(command).replace(/^ailinux /, '')}`)}"`];
  out.push(roffText(help.commandDescription(command)));
  const args = help.visibleArguments(command);
  if (args.length > 0) {
    out.push('.PP', 'Arguments:');
    for (const a of args) out.push(tagged(argumentTerm(help, a), help.argumentDescription(a)));
  }
  out.push('.PP', 'Options:');
  for (const o of help.visibleOptions(command)) out.push(tagged(optionTerm(o), help.optionDescription(o)));
  out.push('.PP', 'Exit codes:', exitCodes(entry.exitCodes), '.PP', 'Examples:');
  for (const e of entry.examples) out.push(tagged(`\\fB${roffText(e.command)}\\fR`, e.what));
  return out.join('\n');
}

/** The whole page, as roff. */
export function renderManPage(cliDoc = fs.readFileSync(CLI_DOC, 'utf8')): string {
  const program = createProgram(quietIO(), () => {});
  const help = program.createHelp();
  const prose = markedProse(cliDoc);
  const need = (name: string): string => {
    const text = prose.get(name);
    if (text === undefined) throw new Error(`docs/cli.md has no <!-- man:${name} --> region for the man page`);
    return text;
  };
  const commands = help.visibleCommands(program).filter((c) => c.name() !== 'help');
  const version = packageVersion();
  const page = [
    '.\\" Generated by scripts/man-page.ts from the CLI (src/cli/main.ts, src/cli/command-help.ts) and docs/cli.md.',
    '.\\" Do not edit: run npm run man.',
    `.TH AILINUX 1 "" "ailinux ${version}" "User Commands"`,
    // no hyphenation, ragged right: option names and paths must not be split
    '.nh',
    '.ad l',
    '.SH NAME',
    `ailinux \\- ${roffText(
      program
        .description()
        .replace(/\.$/, '')
        .replace(/^./, (c) => c.toLowerCase()),
    )}`,
    '.SH SYNOPSIS',
    commands.map((c) => `.B ailinux\n${roffText(help.commandUsage(c).replace(/^ailinux /, ''))}`).join('\n.br\n'),
    '.SH DESCRIPTION',
    roffText(program.description()),
    roffBlocks(need('description')),
    '.SH OPTIONS',
    help
      .visibleOptions(program)
      .map((o) => tagged(optionTerm(o), help.optionDescription(o)))
      .join('\n'),
    roffBlocks(need('options')),
    '.SH COMMANDS',
    commands.map((c) => commandSection(help, c)).join('\n'),
    '.SH "EXIT STATUS"',
    exitCodes(GENERAL_EXIT_CODES),
    '.SH ENVIRONMENT',
    roffBlocks(need('environment')),
    '.SH "SEE ALSO"',
    roffText(
      'docs/cli.md (every command in full, with sample output), docs/using-your-iso.md (boot the ISO, write it to a USB stick, log in, install), docs/profiles.md, docs/troubleshooting.md; installed with the package, in $(npm root -g)/ailinux/docs/.',
    ),
    '.BR debootstrap (8),',
    '.BR xorriso (1),',
    '.BR qemu-system-x86_64 (1)',
  ];
  return `${page.filter((p) => p !== '').join('\n')}\n`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const page = renderManPage();
  if (process.argv.includes('--check')) {
    const committed = fs.existsSync(MAN_PAGE) ? fs.readFileSync(MAN_PAGE, 'utf8') : '';
    if (committed !== page) {
      console.error('man/ailinux.1 is out of date: run npm run man');
      process.exit(1);
    }
  } else {
    fs.mkdirSync(path.dirname(MAN_PAGE), { recursive: true });
    fs.writeFileSync(MAN_PAGE, page);
  }
}
