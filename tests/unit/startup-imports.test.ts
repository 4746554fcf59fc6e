/**
 * `status` and `plan` start fast (issue 11, point 7): they load neither execa, Graphviz's WASM, pino, log-update,
 * playwright nor the build engine, which the CLI loads only for the commands that use them (src/cli/lazy-commands.ts).
 * Each command runs from the sources (tsx) in a child node with a module hook that records every file it resolves,
 * static or dynamic; the control case (`verify` of a missing ISO) shows that the hook sees execa when it is loaded.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-startup-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** tsx's loader by its path: the child runs in a temp dir, where the bare name would not resolve. */
const TSX = pathToFileURL(path.join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;

let n = 0;
/** The files the CLI resolves while it runs `args`, relative to the checkout. */
function modulesLoadedBy(args: string[]): string[] {
  const record = path.join(tmp, `modules-${++n}.txt`);
  const main = pathToFileURL(path.join(REPO, 'src/cli/main.ts')).href;
  const script = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(${JSON.stringify(args)});`;
  try {
    execFileSync(
      process.execPath,
      ['--import', TSX, '--import', path.join(REPO, 'tests/fixtures/startup/record-modules.mjs'), '-e', script],
      { cwd: tmp, env: { ...process.env, RECORD_MODULES: record, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (error) {
    // a usage error (exit 2) is the control case's expected end; the record is what counts
    if ((error as { status?: number }).status !== 2) throw error;
  }
  const root = `${pathToFileURL(REPO).href}/`;
  // a package by its path from node_modules/ (wherever that lies), a file of ours from the checkout
  const named = (url: string): string | null => {
    const at = url.lastIndexOf('/node_modules/');
    if (at >= 0) return url.slice(at + 1);
    return url.startsWith(root) ? url.slice(root.length) : null;
  };
  return [...new Set(fs.readFileSync(record, 'utf8').trim().split('\n'))]
    .map(named)
    .filter((f): f is string => f !== null);
}

/** What status and plan must not load: each costs start-up time and serves only other commands. */
const HEAVY = [
  /^node_modules\/execa\//,
  /^node_modules\/@hpcc-js\/wasm-graphviz\//,
  /^node_modules\/playwright-core\//,
  /^node_modules\/pino\//,
  /^node_modules\/log-update\//,
  /^src\/runtime\/execa-runner\.ts$/,
  /^src\/engine\/build-run\.ts$/,
  /^src\/inspect\/render\.ts$/,
  /^src\/inspect\/server\.ts$/,
  /^src\/verify\/verify-iso\.ts$/,
];
const heavyIn = (files: string[]) => files.filter((f) => HEAVY.some((re) => re.test(f)));

describe('what a command loads', { timeout: 60_000 }, () => {
  it('status loads none of execa, Graphviz, pino, log-update, playwright, the build engine or the ISO verifier', () => {
    const files = modulesLoadedBy(['status', '-w', path.join(tmp, 'work')]);
    expect(files).toContain('src/cli/commands/status.ts');
    expect(heavyIn(files)).toEqual([]);
  });

  it('plan loads none of them either', () => {
    const files = modulesLoadedBy(['plan', '-p', 'minimal', '-w', path.join(tmp, 'work')]);
    expect(files).toContain('src/cli/commands/plan.ts');
    expect(heavyIn(files)).toEqual([]);
  });

  it('the control: verify loads execa and the verifier when it runs, so the record sees a lazy import', () => {
    const files = modulesLoadedBy(['verify', path.join(tmp, 'missing.iso')]);
    expect(files).toContain('src/cli/commands/verify.ts');
    expect(files.some((f) => f.startsWith('node_modules/execa/'))).toBe(true);
  });
});
