/**
 * A fix that suggests an ailinux command, as a line to paste with the user's own -C, --work-dir and --config, so the
 * pasted command acts on the same build and not on ./ailinux-build with the default profile. This is the one place
 * that formats such a command line, for the CLI (src/cli/hint.ts, which reads the flags from commander) and for what
 * a build leaves to be read later: the build report (src/steps/report.ts) and inspect's picture and page, which take
 * the flags the build recorded in its state (`userFlags`). renderHintCommand renders a command given as argv (an
 * error's hintArgv, or a command the CLI names itself), renderHintText the commands written in backticks inside a
 * fix's or a reason's prose by code that does not know the command line (steps, the engine, the state store).
 */
import { quoteArgv } from './runner.js';

/** The flags the user gave on the command line (not defaults, not discovered), as they typed them. */
export interface UserFlags {
  /** -C DIR: the directory ailinux changed to first; relative paths in the other flags are relative to it. */
  chdir?: string;
  workDir?: string;
  config?: string;
}

/**
 * Commands that take --work-dir, and those that take --config: the others would refuse them (verify, schema,
 * completion). tests/unit/hint-flags.test.ts checks both against the commands' options.
 */
const TAKES_WORK_DIR = new Set(['build', 'resume', 'status', 'plan', 'clean', 'log', 'doctor', 'inspect', 'shell']);
const TAKES_CONFIG = new Set(['build', 'resume', 'plan', 'doctor', 'inspect', 'config', 'cache']);
/** Run before the command, as in `sudo ailinux clean`. */
const PREFIXES = new Set(['sudo']);

/** The program's own name, as a hint's argv starts (not a profile's name). */
const PROGRAM = 'ailinux';

/**
 * argv as a line a POSIX shell reads back as argv. An ailinux command (also after sudo) gets the user's -C first, and
 * their --work-dir and --config after the command's name and arguments, before its options, unless it has its own.
 */
export function renderHintCommand(argv: readonly string[], flags: UserFlags = {}): string {
  const at = PREFIXES.has(argv[0] ?? '') ? 1 : 0;
  if (argv[at] !== PROGRAM) return quoteArgv(argv);
  const name = argv[at + 1] ?? '';
  const rest = argv.slice(at + 2);
  const has = (...spellings: string[]) => rest.some((a) => spellings.some((s) => a === s || a.startsWith(`${s}=`)));
  const added: string[] = [];
  if (flags.workDir !== undefined && TAKES_WORK_DIR.has(name) && !has('--work-dir', '-w'))
    added.push('--work-dir', flags.workDir);
  if (flags.config !== undefined && TAKES_CONFIG.has(name) && !has('--config', '-c', '--profile', '-p'))
    added.push('--config', flags.config);
  const chdir = flags.chdir !== undefined && !argv.slice(at + 1).includes('-C') ? ['-C', flags.chdir] : [];
  // after the command's arguments (`log bootstrap`), before its options (`build --fresh`)
  const firstOption = rest.findIndex((a) => a.startsWith('-'));
  const split = firstOption < 0 ? rest.length : firstOption;
  return quoteArgv([
    ...argv.slice(0, at + 1),
    ...chdir,
    ...(name ? [name] : []),
    ...rest.slice(0, split),
    ...added,
    ...rest.slice(split),
  ]);
}

/** An ailinux command inside prose, in backticks as Markdown writes code: `ailinux resume`, `sudo ailinux clean`. */
const COMMAND_IN_TEXT = /`((?:sudo )?ailinux(?: [^`\n]*)?)`/g;

/**
 * Prose with every backticked ailinux command in it rendered by renderHintCommand, backticks kept. Code that cannot
 * know the command line writes a command it suggests this way (quoted as quoteArgv quotes); a span that is not
 * valid shell words is left as it is.
 */
export function renderHintText(text: string, flags: UserFlags = {}): string {
  return text.replace(COMMAND_IN_TEXT, (span, command: string) => {
    const argv = shellWords(command);
    return argv === null ? span : `\`${renderHintCommand(argv, flags)}\``;
  });
}

/**
 * Splits a line into words as a POSIX shell does, for the quoting a hint uses: blanks separate words; single
 * quotes keep everything; double quotes keep everything but \ before " \ $ `; a backslash outside quotes keeps the
 * next character. Null for an unterminated quote or anything a shell would expand or run ($, backticks, ;, |, &,
 * redirections, globs), which no hint contains.
 */
export function shellWords(line: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return null;
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let text = '';
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '$' || line[i] === '`') return null;
        if (line[i] === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)) i++;
        text += line[i];
      }
      if (i >= line.length) return null;
      word = (word ?? '') + text;
    } else if (c === '\\') {
      if (i + 1 >= line.length) return null;
      word = (word ?? '') + line[++i];
    } else if ('$`;|&<>()*?[]{}~#'.includes(c) && !(c === '#' && word !== null) && !(c === '~' && word !== null)) {
      return null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}
