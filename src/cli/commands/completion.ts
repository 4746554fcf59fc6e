/** ailinux completion bash|zsh|fish: prints a completion script for the shell, made from the CLI's own commands. */
import { Argument, type Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import type { CliIO } from '../io.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

/** The script for a shell, loaded when asked for: the model reads every step and format, which start-up need not. */
async function completionScript(shell: Shell, program: Command): Promise<string> {
  const { completionModel } = await import('../completion-model.js');
  const model = completionModel(program);
  if (shell === 'bash') return (await import('../completion-bash.js')).bashCompletionScript(model);
  if (shell === 'zsh') return (await import('../completion-zsh.js')).zshCompletionScript(model);
  return (await import('../completion-fish.js')).fishCompletionScript(model);
}

export function registerCompletionCommand(program: Command, io: CliIO, setExit: (code: number) => void): void {
  program
    .command('completion')
    .description('print a shell completion script: commands, flags, profile and step names')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .action(async (shell: Shell) => {
      io.stdout.write(await completionScript(shell, program));
      setExit(EXIT.ok);
    });
}
