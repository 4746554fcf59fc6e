/**
 * The completion scripts are made from the CLI itself (issue 13, point 5): a step registered after the built-in
 * ones, or a command added to the program, shows up in all three scripts without any list being edited.
 */
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { bashCompletionScript } from '../../src/cli/completion-bash.js';
import { fishCompletionScript } from '../../src/cli/completion-fish.js';
import { completionModel } from '../../src/cli/completion-model.js';
import { zshCompletionScript } from '../../src/cli/completion-zsh.js';
import type { CliIO } from '../../src/cli/io.js';
import { createProgram } from '../../src/cli/main.js';
import { builtInProfiles } from '../../src/config/profiles/index.js';
import { builtInSteps, registerStep, unregisterStep } from '../../src/steps/registry.js';

const io: CliIO = {
  stdout: { write: () => true },
  stderr: { write: () => true },
  env: {},
  cwd: '/nonexistent-ailinux-completion',
  uid: 1000,
  commandLine: 'ailinux',
};

afterEach(() => {
  try {
    unregisterStep('frobnicate');
  } catch {
    // not registered by this test
  }
});

describe('the completion model', () => {
  it("holds every command, each command's flags, the profiles and the steps", () => {
    const program = createProgram(io, () => {});
    const model = completionModel(program);
    expect(model.commands.map((c) => c.name)).toEqual([...program.commands.map((c) => c.name()), 'help']);
    const build = model.commands.find((c) => c.name === 'build')!;
    expect(build.options.find((o) => o.flags.includes('--profile'))?.values).toEqual({
      kind: 'words',
      words: Object.keys(builtInProfiles),
    });
    expect(build.options.find((o) => o.flags.includes('--fresh'))?.values).toBeNull();
    // --offline (the archive is not read) on each command that plans
    for (const name of ['build', 'resume', 'plan'])
      expect(
        model.commands.find((c) => c.name === name)?.options.find((o) => o.flags.includes('--offline')),
      ).toMatchObject({ flags: ['--offline'], values: null });
    const log = model.commands.find((c) => c.name === 'log')!;
    expect(log.argument).toEqual({ kind: 'words', words: builtInSteps.map((s) => s.id) });
    expect(log.options.find((o) => o.flags.includes('--follow'))).toMatchObject({
      flags: ['-f', '--follow'],
      values: null,
    });
  });

  it('holds the options before the command: -C and -w, each taking a directory', () => {
    const model = completionModel(createProgram(io, () => {}));
    for (const flags of [
      ['-C', '--directory'],
      ['-w', '--work-dir'],
    ])
      expect(model.options.find((o) => o.flags.includes(flags[0]!))).toMatchObject({ flags, values: { kind: 'dir' } });
  });

  it('a step registered later is offered after log, in bash, zsh and fish', () => {
    registerStep({ ...builtInSteps[1]!, id: 'frobnicate' });
    const model = completionModel(createProgram(io, () => {}));
    expect(bashCompletionScript(model)).toMatch(/ report frobnicate" -- "\$cur"\)/);
    expect(zshCompletionScript(model)).toMatch(/'1:argument:\(preflight .* report frobnicate\)'/);
    expect(fishCompletionScript(model)).toMatch(/from log' -a 'preflight .* report frobnicate'/);
  });

  it('a command added to the program is offered, with its flags', () => {
    const program = new Command('demo');
    program.command('frob').option('-x, --config <file>', 'a file');
    const model = completionModel(program);
    expect(bashCompletionScript(model)).toContain('-x|--config) mapfile -t COMPREPLY < <(compgen -f -- "$cur")');
    expect(zshCompletionScript(model)).toContain("'--config[a file]:value:_files'");
    expect(fishCompletionScript(model)).toContain(
      "complete -c demo -n '__fish_seen_subcommand_from frob' -s x -l config -r -F -d 'a file'",
    );
    expect(bashCompletionScript(model)).toContain('complete -o filenames -F _demo demo');
  });
});
