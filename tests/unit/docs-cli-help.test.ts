/**
 * The help quoted in the docs is the help the CLI prints (issue 13, point 5): every block in docs/*.md that starts
 * with `Usage: ailinux` equals that command's --help, and docs/cli.md has one for every command, so they cannot drift.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/io.js';
import { createProgram, main } from '../../src/cli/main.js';

const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs');

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

/** A doc's help blocks, by command (null for `ailinux --help`). */
function quotedHelp(doc = 'cli.md'): Map<string | null, string> {
  const blocks = new Map<string | null, string>();
  const markdown = fs.readFileSync(path.join(DOCS, doc), 'utf8');
  for (const match of markdown.matchAll(/^```\n(Usage: ailinux [^\n]*\n[\s\S]*?)\n```$/gm)) {
    const text = match[1]!;
    const command = /^Usage: ailinux (\w[\w-]*)/.exec(text)?.[1] ?? null;
    expect(blocks.has(command), `docs/${doc} quotes the help of ${command ?? 'ailinux'} twice`).toBe(false);
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

  const otherDocs = fs.readdirSync(DOCS).filter((f) => f.endsWith('.md') && f !== 'cli.md');
  it.skipIf(width !== 80)('the other docs quote it exactly too', async () => {
    let quoted = 0;
    for (const doc of otherDocs)
      for (const [command, text] of quotedHelp(doc)) {
        expect(text, `docs/${doc}: ${command ?? 'ailinux'} --help`).toBe(await helpOf(command));
        quoted++;
      }
    expect(quoted).toBeGreaterThan(0);
  });
});
