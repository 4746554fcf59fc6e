/**
 * Each command's exit codes and examples: the one source for its --help, the top-level help, docs/cli.md (a test
 * compares them) and the completion scripts' command list.
 */
import { Help } from 'commander';
import { DEFAULT_PROFILE, builtInProfiles } from '../config/profiles/index.js';
import { DEFAULT_WORK_DIR } from '../runtime/paths.js';
import { DOCTOR_EXIT } from './command-constants.js';
import { EXIT } from './exit-codes.js';

export interface ExitCodeLine {
  readonly code: number;
  readonly meaning: string;
}

export interface Example {
  readonly command: string;
  readonly what: string;
}

export interface CommandHelp {
  readonly exitCodes: readonly ExitCodeLine[];
  readonly examples: readonly [Example, Example];
}

const resumeHint = 'state saved; continue with ailinux resume';
/** Where a default build leaves its ISO, for verify's example. */
const defaultIso = `${DEFAULT_WORK_DIR}/output/${builtInProfiles[DEFAULT_PROFILE]?.iso?.outputName ?? 'ailinux'}.iso`;

/** What each code means for a build, and in `ailinux --help`, where every code is listed. */
export const GENERAL_EXIT_CODES: readonly ExitCodeLine[] = [
  { code: EXIT.ok, meaning: 'success' },
  { code: EXIT.buildFailed, meaning: 'the build failed (the step, command, log and resume command are printed)' },
  { code: EXIT.usage, meaning: 'bad usage, bad config, or a state file that cannot be read (nothing is written)' },
  { code: EXIT.locked, meaning: "another build holds the work dir's lock" },
  {
    code: EXIT.unavailable,
    meaning:
      "the archive's Release files could not be read (the URL is printed; --offline keeps the layers without them)",
  },
  { code: EXIT.paused, meaning: 'paused for lack of disk space (state saved; free space, then ailinux resume)' },
  { code: EXIT.sighup, meaning: `interrupted by SIGHUP (${resumeHint})` },
  { code: EXIT.sigint, meaning: `interrupted by SIGINT (Ctrl-C; ${resumeHint})` },
  { code: EXIT.sigquit, meaning: `interrupted by SIGQUIT (${resumeHint})` },
  { code: EXIT.sigterm, meaning: `interrupted by SIGTERM (${resumeHint})` },
];

function general(code: number): ExitCodeLine {
  const line = GENERAL_EXIT_CODES.find((l) => l.code === code);
  if (!line) throw new Error(`no general meaning for exit code ${code}`);
  return line;
}

const buildCodes = GENERAL_EXIT_CODES;
const success = (meaning: string): ExitCodeLine => ({ code: EXIT.ok, meaning });
const usage = (meaning: string): ExitCodeLine => ({ code: EXIT.usage, meaning });

export const COMMAND_HELP: Readonly<Record<string, CommandHelp>> = {
  build: {
    exitCodes: buildCodes,
    examples: [
      { command: 'ailinux build -p minimal', what: 'build the minimal profile in ./ailinux-build' },
      { command: 'ailinux build -c my.yaml -w /var/tmp/ai --fresh', what: "start my.yaml's build over, caches kept" },
    ],
  },
  resume: {
    exitCodes: buildCodes,
    examples: [
      { command: 'ailinux resume', what: 'continue the build in ./ailinux-build from its last good step' },
      { command: 'ailinux resume -w /var/tmp/ai -c my.yaml', what: 'continue it with an edited config' },
    ],
  },
  status: {
    exitCodes: [
      success('the status is printed (also when the work dir holds no build yet)'),
      usage('bad usage, or a state file that cannot be read'),
    ],
    examples: [
      { command: 'ailinux status', what: "each step of ./ailinux-build's build" },
      { command: 'ailinux status -w /var/tmp/ai --json', what: 'the same as JSON, for scripts' },
    ],
  },
  plan: {
    exitCodes: [
      success('the plan is printed'),
      usage('bad usage, bad config, or a state file that cannot be read'),
      general(EXIT.unavailable),
    ],
    examples: [
      { command: 'ailinux plan', what: 'what ailinux resume would run or skip in ./ailinux-build' },
      { command: 'ailinux plan -c my.yaml --json', what: 'what a build of my.yaml would run, as JSON' },
    ],
  },
  clean: {
    exitCodes: [
      success('removed (each removed path is named)'),
      usage('bad usage, not root, a refused work dir, or a removal refused for safety'),
      general(EXIT.locked),
      { code: EXIT.paused, meaning: 'the disk is full and the mark of a work dir it adopts cannot be written' },
    ],
    examples: [
      { command: 'ailinux clean', what: "remove the layers, ISO tree and ledger of ./ailinux-build's build" },
      { command: 'ailinux clean -w /var/tmp/ai --all', what: 'also caches, logs and outputs, then the work dir' },
    ],
  },
  cache: {
    exitCodes: [
      success('shown, or pruned (the files removed are counted)'),
      usage(
        'bad usage: an action other than show or prune, a --max-size that is not a size, a cache dir that is / or a system directory, a bad config',
      ),
    ],
    examples: [
      { command: 'ailinux cache', what: 'where the deb cache is, its size, files per distribution, limit' },
      {
        command: 'ailinux cache prune --max-size 2GiB',
        what: 'remove the least recently used files until 2 GiB are left',
      },
    ],
  },
  shell: {
    exitCodes: [
      success('the shell or command ended with status 0 (with -- CMD: any other status is passed on as it is)'),
      usage(
        'bad usage: not root, no build in the work dir, an unknown step, a step with no layer yet, a --keep dir that is not empty',
      ),
      general(EXIT.locked),
      { code: EXIT.sighup, meaning: 'SIGHUP: the session is ended, its mounts gone' },
      { code: EXIT.sigint, meaning: 'SIGINT to ailinux: the session is ended, its mounts gone' },
      { code: EXIT.sigquit, meaning: 'SIGQUIT: the session is ended, its mounts gone' },
      { code: EXIT.sigterm, meaning: 'SIGTERM: the session is ended, its mounts gone' },
    ],
    examples: [
      { command: 'sudo ailinux shell identity', what: 'a root shell in the rootfs as it stands after identity' },
      {
        command: 'sudo ailinux shell --keep tz -- cp /usr/share/zoneinfo/UTC /etc/localtime',
        what: 'run one command in the last rootfs; keep its change in ./tz, an overlay',
      },
    ],
  },
  log: {
    exitCodes: [
      success('the log is printed; with -f: the step was done or skipped, or the build succeeded'),
      { code: EXIT.buildFailed, meaning: 'with -f: the step failed, or the build failed or stopped before it ended' },
      usage('bad usage, no such step, or no log yet'),
      { code: EXIT.paused, meaning: 'with -f: the build paused for lack of disk space' },
      { code: EXIT.sighup, meaning: 'with -f: the build was interrupted by SIGHUP' },
      { code: EXIT.sigint, meaning: 'with -f: Ctrl-C (the build goes on), or the build was interrupted by SIGINT' },
      { code: EXIT.sigquit, meaning: 'with -f: the build was interrupted by SIGQUIT' },
      { code: EXIT.sigterm, meaning: 'with -f: SIGTERM (the build goes on), or the build was interrupted by SIGTERM' },
    ],
    examples: [
      { command: 'ailinux log packages', what: "the packages step's log" },
      { command: 'ailinux log -f squashfs', what: 'follow the squashfs step as it runs, until it ends' },
    ],
  },
  doctor: {
    exitCodes: [
      { code: DOCTOR_EXIT.ok, meaning: 'nothing blocks a build (warnings may be printed)' },
      { code: DOCTOR_EXIT.blocked, meaning: 'something blocks a build: each "block" line says what and how to fix it' },
      usage('bad usage or a config that cannot be read'),
    ],
    examples: [
      { command: 'ailinux doctor', what: 'can this host build the ailinux profile in ./ailinux-build?' },
      { command: 'ailinux doctor -p minimal --json', what: 'the same for the minimal profile, as JSON' },
    ],
  },
  inspect: {
    exitCodes: [
      success('written, or --serve stopped by Ctrl-C or SIGTERM'),
      usage('bad usage: a format or an --output extension it cannot write, a bad config'),
    ],
    examples: [
      {
        command: 'ailinux inspect -o machine.svg',
        what: "draw ./ailinux-build's steps with status, duration and attempts",
      },
      { command: 'ailinux inspect --serve --port 8080', what: 'a live page of the build on 127.0.0.1:8080' },
    ],
  },
  verify: {
    exitCodes: [
      success('every check passed (a missing checksum file passes unless --require-checksum)'),
      { code: EXIT.buildFailed, meaning: 'a check failed: the table names it and says why' },
      usage('bad usage: no such file, not an ISO 9660 image, a bad option'),
      { code: EXIT.sighup, meaning: 'interrupted by SIGHUP; qemu is ended first' },
      { code: EXIT.sigint, meaning: 'interrupted by SIGINT; qemu is ended first' },
      { code: EXIT.sigterm, meaning: 'interrupted by SIGTERM; qemu is ended first' },
    ],
    examples: [
      { command: `ailinux verify ${defaultIso}`, what: 'check the ISO of a default build, without booting it' },
      {
        command: 'ailinux verify my.iso --boot --uefi --screenshots shots',
        what: 'also boot it in qemu (BIOS, UEFI); screenshots of each boot into shots/',
      },
    ],
  },
  config: {
    exitCodes: [
      success('the config is printed'),
      usage('bad usage or a bad config: two config files here, a field no step of its steps reads, an invalid value'),
    ],
    examples: [
      { command: 'ailinux config', what: './ailinux.config.yaml over its profile, each value with where it came from' },
      {
        command: `ailinux config -c my.yaml --json | jq '.fields[] | select(.source == "file")'`,
        what: 'the values my.yaml itself sets, for scripts',
      },
    ],
  },
  schema: {
    exitCodes: [success('the schema is printed')],
    examples: [
      { command: 'ailinux schema > ailinux.config.schema.json', what: 'save it for an editor' },
      { command: 'ailinux schema | jq .properties.steps', what: 'what the steps field takes' },
    ],
  },
  completion: {
    exitCodes: [success('the script is printed'), usage('bad usage: a shell other than bash, zsh or fish')],
    examples: [
      { command: 'source <(ailinux completion bash)', what: "complete ailinux's commands in this bash" },
      { command: 'ailinux completion fish > ~/.config/fish/completions/ailinux.fish', what: 'for every fish' },
    ],
  },
};

/** Help's width when stdout is not a terminal; a meaning wraps under itself, as commander wraps options. */
const HELP_WIDTH = 80;
const CODE_COLUMN = '  0000 '.length;

function exitCodesText(lines: readonly ExitCodeLine[]): string {
  const help = new Help();
  return lines
    .map((l) => {
      const wrapped = help.boxWrap(l.meaning, HELP_WIDTH - CODE_COLUMN).replace(/\n/g, `\n${' '.repeat(CODE_COLUMN)}`);
      return `  ${String(l.code).padEnd(4)} ${wrapped}`;
    })
    .join('\n');
}

/** The text after a command's options: its exit codes and two examples. */
export function commandHelpText(name: string): string {
  const help = COMMAND_HELP[name];
  if (!help) throw new Error(`no help entry for command ${name}`);
  const examples = help.examples.map((e) => `  ${e.command}\n      ${e.what}`).join('\n');
  return `\nExit codes:\n${exitCodesText(help.exitCodes)}\n\nExamples:\n${examples}`;
}

/** What `ailinux --help` shows of the options before the command. */
export const PROGRAM_EXAMPLES: readonly Example[] = [
  { command: 'ailinux -C ~/iso build -p minimal', what: 'change to ~/iso first, then build in ./ailinux-build there' },
  { command: 'cd ailinux-build/logs && ailinux status', what: 'inside a work dir, ailinux finds it by its mark' },
];

/** The text after `ailinux --help`: every exit code, and examples of the options before the command. */
export function programHelpText(): string {
  const examples = PROGRAM_EXAMPLES.map((e) => `  ${e.command}\n      ${e.what}`).join('\n');
  return `\nExit codes:\n${exitCodesText(GENERAL_EXIT_CODES)}\n\nExamples:\n${examples}`;
}
