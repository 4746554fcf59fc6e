/** The ailinux command line: the only place that turns errors and outcomes into exit codes. */
import path from 'node:path';
import { Argument, Command, CommanderError, Option } from 'commander';
import { DEFAULT_PROFILE, builtInProfiles } from '../config/profiles/index.js';
import { DEFAULT_WORK_DIR, workPaths } from '../runtime/paths.js';
import { packageVersion } from '../runtime/package-root.js';
import { DEFAULT_INSPECT_PORT } from './command-constants.js';
import { commandHelpText, programHelpText } from './command-help.js';
import { registerCompletionCommand } from './commands/completion.js';
import { registerVerifyCommand } from './commands/verify-register.js';
import { UsageError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import {
  runBuildCommand,
  runCacheCommand,
  runCleanCommand,
  runConfigCommand,
  runDoctorCommand,
  runInspectCommand,
  runLogCommand,
  runPlanCommand,
  runSchemaCommand,
  runShellCommand,
  runStatusCommand,
} from './lazy-commands.js';
import { joinDirectories, leadingOptions, resolveDirectories } from './global-options.js';
import { processIO, type CliIO } from './io.js';
import { progressOption, quietOption } from './progress-options.js';
import { type UserFlags, userFlags } from './hint.js';
import { discoverWorkDir } from './work-dir-discovery.js';

const workDirOption = () =>
  new Option('-w, --work-dir <dir>', 'work dir holding state, logs, layers, ISO tree, caches and output/').default(
    DEFAULT_WORK_DIR,
  );
const profiles = Object.keys(builtInProfiles).join(', ');
const OFFLINE_HELP =
  "do not read the archive's Release files: keep the package layers as built, whatever the archive published since";

/** `typed`: the words after `ailinux` as given (shell finds its `--` there); io.argv when not given. */
export function createProgram(io: CliIO, setExit: (code: number) => void, typed?: readonly string[]): Command {
  const program = new Command('ailinux')
    .description('Builds the AILinux live ISO as a resumable, checkpointed pipeline.')
    .version(packageVersion())
    .showHelpAfterError('(run ailinux --help for usage)')
    // options before the command are the program's (-C, -w), those after it the command's, as in git
    .enablePositionalOptions()
    .option(
      '-C, --directory <dir>',
      'run as if started in <dir>: config and work-dir discovery start there',
      // given twice, the second is relative to the first, as in git
      (dir: string, before: string | undefined) => joinDirectories(before === undefined ? [dir] : [before, dir]) ?? dir,
    )
    .option('-w, --work-dir <dir>', "the work dir of the command that follows, as that command's own -w")
    .addHelpText('after', programHelpText())
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  program
    .command('build')
    .description(
      `start a build (default profile: ${DEFAULT_PROFILE}); refuses a work dir with an unfinished build unless --fresh`,
    )
    .option('-c, --config <file>', 'ailinux.config.json or .yaml that extends a profile')
    .option('-p, --profile <name>', `built-in profile: ${profiles}`)
    .addOption(workDirOption())
    .option('--fresh', 'discard an unfinished or finished build in the work dir (caches are kept)')
    .option('--offline', OFFLINE_HELP)
    .addOption(quietOption())
    .addOption(progressOption())
    .action(async (opts) => setExit(await runBuildCommand('build', opts, io)));

  program
    .command('resume')
    .description('continue an interrupted, paused, crashed or failed build from its last good checkpoint')
    .addOption(workDirOption())
    .option('-c, --config <file>', 'use this config instead of the one the build was started with')
    .option('-p, --profile <name>', 'use this profile instead of the one the build was started with')
    .option('--offline', OFFLINE_HELP)
    .addOption(quietOption())
    .addOption(progressOption())
    .action(async (opts) => setExit(await runBuildCommand('resume', opts, io)));

  program
    .command('status')
    .description(
      'show each step: done, skipped, running, failed or pending, with durations, attempts and the last error',
    )
    .addOption(workDirOption())
    .option('--json', 'machine-readable output')
    .action(async (opts, cmd: Command) =>
      setExit(await runStatusCommand({ ...opts, workDirGiven: cmd.getOptionValueSource('workDir') === 'cli' }, io)),
    );

  program
    .command('plan')
    .description('say, step by step, what a build or resume would run or skip, and why')
    .addOption(workDirOption())
    .option('-c, --config <file>', 'plan for this config (default: the one recorded in the work dir)')
    .option('-p, --profile <name>', `plan for this built-in profile: ${profiles}`)
    .option('--offline', OFFLINE_HELP)
    .option('--json', 'machine-readable output')
    .action(async (opts) => setExit(await runPlanCommand(opts, io)));

  program
    .command('clean')
    .description('remove what builds left (layers, ISO tree, partial outputs, ledger); never across a mount point')
    .addOption(workDirOption())
    .option('--all', 'also remove caches, logs and finished outputs')
    .action(async (opts) => setExit(await runCleanCommand(opts, io)));

  program
    .command('cache')
    .description(
      'show the shared deb cache (where, how large, files per distribution, its limit), or prune it; never makes it',
    )
    .addArgument(
      new Argument(
        '[what]',
        'show (the default), or prune: remove the least recently used files down to the limit',
      ).choices(['show', 'prune']),
    )
    .option('-c, --config <file>', 'read cache.dir and cache.maxSize from this config (default: as build finds one)')
    .option('-p, --profile <name>', `read them from this built-in profile: ${profiles}`)
    .option('--max-size <size>', 'prune: down to this size (10GiB, 500M, 0) instead of cache.maxSize')
    .option('--json', 'machine-readable output')
    .action(async (action: string | undefined, opts) => setExit(await runCacheCommand(action, opts, io)));

  program
    .command('log')
    .description("print a step's log, or the build's event log when no step is given")
    .argument('[step]', 'step id, e.g. packages')
    .addOption(workDirOption())
    .option('-f, --follow', 'follow the log as it grows, until the step ends or the build stops; exits with its result')
    .action(async (step, opts) => setExit(await runLogCommand(step, opts, io)));

  program
    .command('shell')
    .description(
      'a root shell in the rootfs as it stands after a step, on a throwaway layer; holds the lock; -- CMD runs CMD instead',
    )
    .usage('[options] [step] [-- command [args...]]')
    .argument('[step]', 'a step with a rootfs layer (default: the last one that is done)')
    // the words after -- are the command; an argument of their own would widen every line of ailinux --help
    .allowExcessArguments()
    .addOption(workDirOption())
    .option('--keep <dir>', 'save what the session changed in <dir> (new or empty), as an overlay for overlays.late')
    .action(async (_step: string | undefined, opts, cmd: Command) => {
      // everything after -- is the command, a step before it or not: `shell -- ls` runs ls in the default step;
      // commander drops the -- itself, so it is found in the words as typed
      const words = typed ?? io.argv ?? [];
      const dash = words.indexOf('--', words.indexOf('shell') + 1);
      const after = dash === -1 ? [] : words.slice(dash + 1);
      const given = cmd.args.slice(0, cmd.args.length - after.length);
      if (given.length > 1)
        throw new UsageError(`shell takes one step, but got ${given.join(' ')}`, {
          hint: 'put the command to run after --: ailinux shell [STEP] -- CMD ARGS…',
        });
      setExit(await runShellCommand({ workDir: opts.workDir, step: given[0], keep: opts.keep, command: after }, io));
    });

  program
    .command('doctor')
    .description('check the session, host tools, keyring, disk and services before a build; reads only, needs no root')
    .addOption(workDirOption())
    .option('-c, --config <file>', 'check for this config (default: the one recorded in the work dir)')
    .option('-p, --profile <name>', `check for this built-in profile: ${profiles}`)
    .option('--json', 'machine-readable output')
    .action(async (opts) => setExit(await runDoctorCommand(opts, io)));

  program
    .command('inspect')
    .description(
      "draw the build machine from its definition, with the work dir's progress marked (svg, html, dot, mermaid, json), or serve a live page of the build; reads only, needs no root",
    )
    .addOption(workDirOption())
    .option('-p, --profile <name>', `draw this built-in profile's machine as it would run: ${profiles}`)
    .option('-c, --config <file>', 'draw the machine this config would run')
    .option('-f, --format <format>', "svg, html, dot, mermaid or json (default: from --output's extension, else svg)")
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--detail', "draw every step's sub-states (the whole machine), not one node per step")
    .option('--serve', 'serve a live page of the build (picture, timeline, log tail, resources) until Ctrl-C')
    .option('--port <n>', `port for --serve (0: any free port)`, String(DEFAULT_INSPECT_PORT))
    .option('--host <address>', 'address for --serve; only loopback unless --allow-remote', '127.0.0.1')
    .option(
      '--allow-remote',
      'let --serve bind a non-loopback address (no authentication: anyone who reaches it sees the build)',
    )
    .action(async (opts, cmd: Command) =>
      setExit(await runInspectCommand({ ...opts, workDirGiven: cmd.getOptionValueSource('workDir') === 'cli' }, io)),
    );

  program
    .command('config')
    .description(
      'print the config a build here would use: merged over its profile, with defaults, and where each value came from; secrets masked',
    )
    .option(
      '-c, --config <file>',
      'this config (default: ./ailinux.config.yaml, .yml or .json, else the default profile)',
    )
    .option('-p, --profile <name>', `a built-in profile alone: ${profiles}`)
    .option('--json', 'machine-readable output')
    .action(async (opts) => setExit(await runConfigCommand(opts, io)));

  program
    .command('schema')
    .description('print the JSON Schema of ailinux.config.json / .yaml, for editors')
    .action(async () => setExit(await runSchemaCommand(io)));

  registerVerifyCommand(program, io, setExit);
  registerCompletionCommand(program, io, setExit);
  // every command's exit codes and examples come from one table, shared with docs/cli.md and the completion scripts
  for (const command of program.commands) command.addHelpText('after', commandHelpText(command.name()));

  return program;
}

/**
 * The work dir of a command that takes one: its own -w, else the -w before the command, else the marked work dir
 * the current directory lies in (said on stderr), else commander's default, ./ailinux-build.
 */
function chooseWorkDir(program: Command, action: Command, io: CliIO): void {
  const before = program.opts<{ workDir?: string }>().workDir;
  if (!action.options.some((o) => o.attributeName() === 'workDir')) {
    if (before !== undefined)
      throw new UsageError(`${action.name()} takes no work dir, but -w ${before} was given before it`, {
        hint: `leave out -w ${before}`,
      });
    return;
  }
  if (action.getOptionValueSource('workDir') === 'cli') {
    const own = action.opts<{ workDir: string }>().workDir;
    if (before !== undefined && path.resolve(io.cwd, before) !== path.resolve(io.cwd, own))
      throw new UsageError(`two work dirs were given: -w ${before} before ${action.name()}, and -w ${own} after it`, {
        hint: 'give -w once',
      });
    return;
  }
  if (before !== undefined) {
    action.setOptionValueWithSource('workDir', before, 'cli');
    return;
  }
  const found = discoverWorkDir(io.cwd);
  if (found === null) return;
  action.setOptionValueWithSource('workDir', found.workDir, 'discovered');
  io.stderr.write(`${found.note}\n`);
}

/** Runs the CLI and resolves to the exit code. */
export async function main(argv: readonly string[], given: CliIO = processIO(argv)): Promise<number> {
  // -C as the very first thing, as git, make and tar do: config and work-dir discovery, and every relative path,
  // then start in that directory
  let io: CliIO;
  try {
    const entered = resolveDirectories(leadingOptions(argv).directories, given.cwd);
    if (entered !== null) process.chdir(entered);
    io = entered === null ? given : { ...given, cwd: entered };
  } catch (error) {
    return (await import('./report-error.js')).reportError(error, given, {}, false, null);
  }
  let code: number = EXIT.ok;
  // the flags the user typed, so a fix line names the same work dir and config
  let flags: UserFlags = {};
  // the command that ran and its work dir: a build's errors exit 1, and an internal error names its build log
  let ran: { name: string; workDir: string | undefined } = { name: '', workDir: undefined };
  // the commands' own io: it gets the flags once the command is parsed, and the caller's io is left as it was
  const cliIO: CliIO = { ...io };
  const program = createProgram(
    cliIO,
    (c) => {
      code = c;
    },
    argv,
  );
  program.hook('preAction', (_, action) => {
    chooseWorkDir(program, action, io);
    const opts = action.opts<{ workDir?: string }>();
    ran = { name: action.name(), workDir: opts.workDir };
    flags = userFlags(action);
    cliIO.hintFlags = flags;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // a bare `ailinux` gets the help on stderr with a non-zero code from commander: no command given is a usage error
      if (error.code === 'commander.help') return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      return EXIT.usage;
    }
    const duringBuild = ran.name === 'build' || ran.name === 'resume';
    const buildLog = duringBuild && ran.workDir !== undefined ? workPaths(ran.workDir).buildLog : null;
    // loaded here: a command that ends well never needs the error renderer (issue 11, point 7)
    return (await import('./report-error.js')).reportError(error, io, flags, duringBuild, buildLog);
  }
}
