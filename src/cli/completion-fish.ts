/** The fish completion script, rendered from the completion model: one `complete` line per flag and command. */
import type { CompletionModel, CompletionOption, CompletionValues } from './completion-model.js';

/** A single-quoted fish string. */
function quoted(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function valueArgs(values: CompletionValues): string {
  switch (values.kind) {
    case 'words':
      return `-x -a ${quoted(values.words.join(' '))}`;
    case 'file':
      return '-r -F';
    case 'dir':
      return `-x -a ${quoted('(__fish_complete_directories)')}`;
    case 'any':
      return '-x';
  }
}

function optionLine(program: string, condition: string, option: CompletionOption): string {
  const flags = option.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`));
  const value = option.values === null ? [] : [valueArgs(option.values)];
  return ['complete -c', program, '-n', quoted(condition), ...flags, ...value, '-d', quoted(option.description)].join(
    ' ',
  );
}

export function fishCompletionScript(model: CompletionModel): string {
  const p = model.program;
  const top = '__fish_use_subcommand';
  const lines = [
    `# fish completion for ${p}, printed by \`${p} completion fish\``,
    `# load it with: ${p} completion fish | source, or save it as ~/.config/fish/completions/${p}.fish`,
    `complete -c ${p} -f`,
    ...model.options.map((o) => optionLine(p, top, o)),
    ...model.commands.map((c) => `complete -c ${p} -n ${top} -a ${c.name} -d ${quoted(c.description)}`),
  ];
  for (const c of model.commands) {
    const seen = `__fish_seen_subcommand_from ${c.name}`;
    lines.push(...c.options.map((o) => optionLine(p, seen, o)));
    if (c.argument?.kind === 'words')
      lines.push(`complete -c ${p} -n ${quoted(seen)} -a ${quoted(c.argument.words.join(' '))}`);
    if (c.argument?.kind === 'file') lines.push(`complete -c ${p} -n ${quoted(seen)} -F`);
  }
  return `${lines.join('\n')}\n`;
}
