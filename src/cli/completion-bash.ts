/** The bash completion script, rendered from the completion model. */
import type { CompletionModel, CompletionOption, CompletionValues } from './completion-model.js';

/** A shell function name from the program's name. */
export function completionFunctionName(program: string): string {
  return `_${program.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function reply(values: CompletionValues): string {
  switch (values.kind) {
    case 'words':
      return `mapfile -t COMPREPLY < <(compgen -W "${values.words.join(' ')}" -- "$cur")`;
    case 'file':
      return 'mapfile -t COMPREPLY < <(compgen -f -- "$cur")';
    case 'dir':
      return 'mapfile -t COMPREPLY < <(compgen -d -- "$cur")';
    case 'any':
      return 'COMPREPLY=()';
  }
}

/** A `case "$prev"` that completes the value after each flag that takes one (no lines when none does). */
function valueCase(options: readonly CompletionOption[]): string[] {
  const arms = options.flatMap((o) =>
    o.values === null ? [] : [`        ${o.flags.join('|')}) ${reply(o.values)}; return ;;`],
  );
  return arms.length ? ['      case "$prev" in', ...arms, '      esac'] : [];
}

function flagWords(options: readonly CompletionOption[]): string {
  return options.flatMap((o) => o.flags).join(' ');
}

function commandArm(name: string, options: readonly CompletionOption[], argument: CompletionValues | null): string {
  return [
    `    ${name})`,
    ...valueCase(options),
    `      if [[ $cur == -* ]]; then mapfile -t COMPREPLY < <(compgen -W "${flagWords(options)}" -- "$cur"); return; fi`,
    `      ${argument ? reply(argument) : 'COMPREPLY=()'}`,
    '      ;;',
  ].join('\n');
}

export function bashCompletionScript(model: CompletionModel): string {
  const fn = completionFunctionName(model.program);
  const globalValueFlags = model.options.filter((o) => o.values !== null).flatMap((o) => o.flags);
  const commandWords = model.commands.map((c) => c.name).join(' ');
  return `# bash completion for ${model.program}, printed by \`${model.program} completion bash\`
# load it with: source <(${model.program} completion bash)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" word i
  ((COMP_CWORD > 0)) && prev="\${COMP_WORDS[COMP_CWORD - 1]}"
  # bash splits --flag=value at "=": the flag is then one or two words back
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
    prev="\${COMP_WORDS[COMP_CWORD - 2]}"
  fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
${globalValueFlags.length ? `      ${globalValueFlags.join('|')}) ((i++)) ;;\n` : ''}      -*) ;;
      *)
        cmd="$word"
        break
        ;;
    esac
  done
  case "$cmd" in
    "")
${[...valueCase(model.options), ''].join('\n')}      if [[ $cur == -* ]]; then mapfile -t COMPREPLY < <(compgen -W "${flagWords(model.options)}" -- "$cur"); return; fi
      mapfile -t COMPREPLY < <(compgen -W "${commandWords}" -- "$cur")
      ;;
${model.commands.map((c) => commandArm(c.name, c.options, c.argument)).join('\n')}
  esac
}
complete -o filenames -F ${fn} ${model.program}
`;
}
