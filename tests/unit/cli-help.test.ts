/**
 * Help per command (issue 13, point 5): each command's --help lists the exit codes that command can return, not the
 * whole table, and two examples whose flags the command really has.
 */
import { describe, expect, it } from 'vitest';
import { COMMAND_HELP } from '../../src/cli/command-help.js';
import type { CliIO } from '../../src/cli/io.js';
import { createProgram, main } from '../../src/cli/main.js';

function io(out: { stdout: string }): CliIO {
  return {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: () => true },
    env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: '/nonexistent-ailinux-help',
    uid: 1000,
    commandLine: 'ailinux',
  };
}

async function helpOf(command: string): Promise<string> {
  const out = { stdout: '' };
  expect(await main([command, '--help'], io(out))).toBe(0);
  return out.stdout;
}

/** The codes listed under "Exit codes:" in a help text. */
function listedCodes(help: string): number[] {
  const section = help.split('\nExit codes:\n')[1]?.split('\n\n')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => /^ {2}\d/.test(line))
    .map((line) => Number(/^ {2}(\d+) /.exec(line)?.[1]));
}

/** The examples under "Examples:": each a command line and, indented below it, what it does. */
function listedExamples(help: string): string[] {
  const section = help.split('\nExamples:\n')[1] ?? '';
  return section
    .split('\n')
    .filter((line) => /^ {2}\S/.test(line))
    .map((line) => line.trim());
}

const commandNames = createProgram(io({ stdout: '' }), () => {}).commands.map((c) => c.name());

describe('each command lists only its own exit codes', () => {
  it('every command has an entry, and nothing else does', () => {
    expect(Object.keys(COMMAND_HELP).sort()).toEqual([...commandNames].sort());
  });

  const expected: Record<string, number[]> = {
    build: [0, 1, 2, 3, 69, 75, 129, 130, 131, 143],
    resume: [0, 1, 2, 3, 69, 75, 129, 130, 131, 143],
    status: [0, 2],
    plan: [0, 2, 69],
    clean: [0, 2, 3, 75],
    log: [0, 1, 2, 75, 129, 130, 131, 143],
    doctor: [0, 1, 2],
    inspect: [0, 2],
    verify: [0, 1, 2, 129, 130, 143],
    config: [0, 2],
    schema: [0],
    completion: [0, 2],
  };
  for (const [command, codes] of Object.entries(expected)) {
    it(`${command} --help lists ${codes.join(', ')}`, async () => {
      expect(listedCodes(await helpOf(command))).toEqual(codes);
    });
  }

  it('status --help no longer says "the build failed"', async () => {
    expect(await helpOf('status')).not.toContain('the build failed');
  });

  it('ailinux --help lists every code once', async () => {
    const out = { stdout: '' };
    expect(await main(['--help'], io(out))).toBe(0);
    expect(listedCodes(out.stdout)).toEqual(expected['build']);
  });

  it('ailinux --help has two examples, whose flags before the command are its own (-C, -w)', async () => {
    const out = { stdout: '' };
    expect(await main(['--help'], io(out))).toBe(0);
    const examples = listedExamples(out.stdout);
    expect(examples).toHaveLength(2);
    const program = createProgram(io({ stdout: '' }), () => {});
    const known = new Set(program.options.flatMap((o) => [o.short, o.long]));
    for (const example of examples) {
      const words = example.split(/\s+/);
      const command = words.findIndex((w, i) => i > words.indexOf('ailinux') && commandNames.includes(w));
      expect(command, example).toBeGreaterThan(0);
      for (const flag of words.slice(words.indexOf('ailinux') + 1, command).filter((w) => w.startsWith('-')))
        expect(known.has(flag), `${example}: ${flag}`).toBe(true);
    }
  });
});

describe('each command has two examples', () => {
  for (const command of commandNames) {
    it(`${command}: two examples that run ${command} with flags it has`, async () => {
      const help = await helpOf(command);
      const examples = listedExamples(help);
      expect(examples).toHaveLength(2);
      const program = createProgram(io({ stdout: '' }), () => {});
      const cmd = program.commands.find((c) => c.name() === command)!;
      const known = new Set(cmd.options.flatMap((o) => [o.short, o.long]));
      for (const example of examples) {
        const words = example.split(/[\s()<>|]+/);
        expect(words.slice(words.indexOf('ailinux'), words.indexOf('ailinux') + 2), example).toEqual([
          'ailinux',
          command,
        ]);
        for (const flag of words.filter((w) => /^--?[a-z]/.test(w)))
          expect(known.has(flag), `${example}: ${flag}`).toBe(true);
      }
      // every line fits an 80-column terminal
      for (const line of help.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    });
  }
});
