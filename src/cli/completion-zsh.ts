/** The zsh completion script, rendered from the completion model: one `_arguments` spec per command. */
import { completionFunctionName } from './completion-bash.js';
import type { CompletionModel, CompletionOption, CompletionValues } from './completion-model.js';

/** Text inside a single-quoted zsh word. */
function quoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A description inside an `_arguments` spec's brackets. */
function bracketed(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/:/g, '\\:');
}

function action(values: CompletionValues): string {
  switch (values.kind) {
    case 'words':
      return `(${values.words.join(' ')})`;
    case 'file':
      return '_files';
    case 'dir':
      return '_files -/';
    case 'any':
      return ' ';
  }
}

function optionSpecs(option: CompletionOption): string[] {
  const value = option.values === null ? '' : `:value:${action(option.values)}`;
  return option.flags.map((flag) => quoted(`${flag}[${bracketed(option.description)}]${value}`));
}

function argumentsCall(options: readonly CompletionOption[], rest: readonly string[], indent: string): string {
  const specs = [...options.flatMap(optionSpecs), ...rest.map(quoted)];
  return [`_arguments -C`, ...specs].join(` \\\n${indent}  `);
}

export function zshCompletionScript(model: CompletionModel): string {
  const fn = completionFunctionName(model.program);
  const commands = model.commands.map((c) => `    ${quoted(`${c.name}:${c.description}`)}`).join('\n');
  const arms = model.commands
    .map((c) => {
      const rest = c.argument ? [`1:argument:${action(c.argument)}`] : [];
      return `        ${c.name})\n          ${argumentsCall(c.options, rest, '          ')}\n          ;;`;
    })
    .join('\n');
  return `#compdef ${model.program}
# zsh completion for ${model.program}, printed by \`${model.program} completion zsh\`
# load it with: source <(${model.program} completion zsh), or save it as ${fn} in a directory on $fpath
${fn}() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  local -a commands=(
${commands}
  )
  ${argumentsCall(model.options, ['1:command:->command', '*::argument:->argument'], '  ')} && return
  case $state in
    command)
      _describe -t commands command commands
      ;;
    argument)
      curcontext="\${curcontext%:*:*}:${model.program}-$line[1]:"
      case $line[1] in
${arms}
      esac
      ;;
  esac
}
if [ "$funcstack[1]" = "${fn}" ]; then
  ${fn} "$@"
else
  compdef ${fn} ${model.program}
fi
`;
}
