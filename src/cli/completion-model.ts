/**
 * What shell completion knows, read from the CLI itself: commander's command tree (commands, flags, choices), the
 * built-in profiles and the step registry. The bash, zsh and fish scripts are rendered from this one model.
 */
import type { Argument, Command, Option } from 'commander';
import { builtInProfiles } from '../config/profiles/index.js';
import { FORMATS } from '../inspect/render.js';
import { allSteps } from '../steps/registry.js';

/** What may follow a flag or stand as a command's argument. */
export type CompletionValues =
  | { readonly kind: 'words'; readonly words: readonly string[] }
  | { readonly kind: 'file' }
  | { readonly kind: 'dir' }
  | { readonly kind: 'any' };

export interface CompletionOption {
  /** `-c` and `--config`, whichever the option has. */
  readonly flags: readonly string[];
  readonly description: string;
  /** null: the flag takes no value. */
  readonly values: CompletionValues | null;
}

export interface CompletionCommand {
  readonly name: string;
  readonly description: string;
  readonly options: readonly CompletionOption[];
  /** What the command's first argument takes; null when it takes none. */
  readonly argument: CompletionValues | null;
}

export interface CompletionModel {
  readonly program: string;
  readonly options: readonly CompletionOption[];
  readonly commands: readonly CompletionCommand[];
}

const fileNamed = new Set(['config', 'output', 'iso', 'file']);

/** The values a flag's or argument's name stands for, where commander has no choices for it. */
function valuesByName(name: string, commandNames: readonly string[]): CompletionValues {
  if (name === 'profile') return { kind: 'words', words: Object.keys(builtInProfiles) };
  if (name === 'step') return { kind: 'words', words: allSteps().map((s) => s.id) };
  if (name === 'command') return { kind: 'words', words: commandNames };
  if (name === 'format') return { kind: 'words', words: FORMATS };
  if (name === 'workDir' || name === 'dir' || name === 'directory' || name === 'keep' || name === 'screenshots')
    return { kind: 'dir' };
  if (fileNamed.has(name)) return { kind: 'file' };
  return { kind: 'any' };
}

function optionModel(option: Option, commandNames: readonly string[]): CompletionOption {
  const flags = [option.short, option.long].filter((f): f is string => f !== undefined);
  const takesValue = option.required || option.optional;
  const values: CompletionValues | null = !takesValue
    ? null
    : option.argChoices
      ? { kind: 'words', words: option.argChoices }
      : valuesByName(option.attributeName(), commandNames);
  return { flags, description: option.description, values };
}

function argumentModel(arg: Argument | undefined, commandNames: readonly string[]): CompletionValues | null {
  if (!arg) return null;
  if (arg.argChoices) return { kind: 'words', words: arg.argChoices };
  return valuesByName(arg.name(), commandNames);
}

/** Reads the model from a program whose commands are all registered. */
export function completionModel(program: Command): CompletionModel {
  const help = program.createHelp();
  const commands = help.visibleCommands(program);
  const names = commands.map((c) => c.name());
  return {
    program: program.name(),
    options: help.visibleOptions(program).map((o) => optionModel(o, names)),
    commands: commands.map((c) => ({
      name: c.name(),
      description: c.description(),
      options: help.visibleOptions(c).map((o) => optionModel(o, names)),
      argument: argumentModel(c.registeredArguments[0], names),
    })),
  };
}
