/** ailinux completion bash|zsh|fish: prints a completion script for the shell, made from the CLI's own commands. */
import { Argument, type Command } from 'commander';
import { bashCompletionScript } from '../completion-bash.js';
import { fishCompletionScript } from '../completion-fish.js';
import { completionModel } from '../completion-model.js';
import { zshCompletionScript } from '../completion-zsh.js';
import { EXIT } from '../exit-codes.js';
import type { CliIO } from '../io.js';

const SCRIPTS = { bash: bashCompletionScript, zsh: zshCompletionScript, fish: fishCompletionScript } as const;
type Shell = keyof typeof SCRIPTS;

export function registerCompletionCommand(program: Command, io: CliIO, setExit: (code: number) => void): void {
  program
    .command('completion')
    .description('print a shell completion script: commands, flags, profile and step names')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(Object.keys(SCRIPTS)))
    .action((shell: Shell) => {
      io.stdout.write(SCRIPTS[shell](completionModel(program)));
      setExit(EXIT.ok);
    });
}
