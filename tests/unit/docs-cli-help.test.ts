/**
 * The help quoted in docs/cli.md is the help the CLI prints (issue 13, point 5): every block that starts with
 * `Usage: ailinux` equals that command's --help, and every command has one, so the docs cannot drift again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/io.js';
import { createProgram, main } from '../../src/cli/main.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/cli.md');

function io(out: { stdout: string }): CliIO {
  return {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: () => true },
    env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: '/nonexistent-ailinux-docs',
    uid: 1000,
    commandLine: 'ailinux',
  };
}

/** What `ailinux [command] --help` prints, at the 80 columns of a pipe. */
async function helpOf(command: string | null): Promise<string> {
  const out = { stdout: '' };
  expect(await main(command === null ? ['--help'] : [command, '--help'], io(out))).toBe(0);
  return out.stdout.replace(/\n$/, '');
}

/** The docs' help blocks, by command (null for `ailinux --help`). */
function quotedHelp(): Map<string | null, string> {
  const blocks = new Map<string | null, string>();
  for (const match of fs.readFileSync(DOC, 'utf8').matchAll(/^```\n(Usage: ailinux [^\n]*\n[\s\S]*?)\n```$/gm)) {
    const text = match[1]!;
    const command = /^Usage: ailinux (\w[\w-]*)/.exec(text)?.[1] ?? null;
    expect(blocks.has(command), `docs/cli.md quotes the help of ${command ?? 'ailinux'} twice`).toBe(false);
    blocks.set(command, text);
  }
  return blocks;
}

describe('the help quoted in docs/cli.md', () => {
  // commander wraps help to the terminal's width; the docs quote it as a pipe prints it
  const width = process.stdout.isTTY ? process.stdout.columns : 80;
  const names = createProgram(io({ stdout: '' }), () => {}).commands.map((c) => c.name());

  it('quotes every command, and ailinux --help', () => {
    expect([...quotedHelp().keys()].sort()).toEqual([null, ...names].sort());
  });

  for (const command of [null, ...names]) {
    it.skipIf(width !== 80)(`${command ?? 'ailinux'} --help matches the docs exactly`, async () => {
      expect(quotedHelp().get(command)).toBe(await helpOf(command));
    });
  }
});
