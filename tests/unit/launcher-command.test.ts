/**
 * bin/ailinux decides from argv whether to enter a private mount namespace (build, resume and clean do). The
 * options before the command that take a value (-C DIR, -w DIR) must not be taken for the command: `ailinux -C
 * somedir build` builds in the namespace, `ailinux -C build status` does not. Run here on a copy of the launcher
 * whose ailinux.js only reports how it was started, with an `id` that says root and an `unshare` that marks the
 * environment and execs the rest, so no root and no namespace are needed; the pid shows it still never forks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LAUNCHER } from '../helpers/cli.js';
import { leadingOptions, VALUE_FLAGS } from '../../src/cli/global-options.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-launcher-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bin = path.join(tmp, 'bin');
const fakes = path.join(tmp, 'fakes');
fs.mkdirSync(bin);
fs.mkdirSync(fakes);
fs.copyFileSync(LAUNCHER, path.join(bin, 'ailinux'));
fs.chmodSync(path.join(bin, 'ailinux'), 0o755);
fs.writeFileSync(
  path.join(bin, 'ailinux.js'),
  'process.stdout.write(JSON.stringify({ pid: process.pid, argv: process.argv.slice(2), sandboxFrom: process.env.AILINUX_SANDBOX_FROM ?? null, unshare: process.env.FAKE_UNSHARE_ARGS ?? null }));\n',
);
fs.writeFileSync(path.join(fakes, 'id'), '#!/bin/sh\necho 0\n', { mode: 0o755 });
// records its own options, then execs what follows --, as unshare without --fork does
fs.writeFileSync(
  path.join(fakes, 'unshare'),
  '#!/bin/sh\nargs=\nwhile [ "$1" != -- ]; do args="$args $1"; shift; done\nshift\nFAKE_UNSHARE_ARGS=${args# } exec "$@"\n',
  { mode: 0o755 },
);

interface Started {
  pid: number;
  argv: string[];
  sandboxFrom: string | null;
  unshare: string | null;
}

function launch(args: string[]): { started: Started; spawnedPid: number } {
  const env = { PATH: `${fakes}:${path.dirname(process.execPath)}:/usr/bin:/bin` };
  const result = spawnSync(path.join(bin, 'ailinux'), args, { env, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return { started: JSON.parse(result.stdout) as Started, spawnedPid: result.pid! };
}

describe('bin/ailinux picks the command past the options that take a value', () => {
  const entering: string[][] = [
    ['build', '-c', 'my.yaml'],
    ['-C', 'somedir', 'build', '-c', 'my.yaml'],
    ['--directory', 'somedir', 'resume'],
    ['-Csomedir', 'build'],
    ['--directory=somedir', 'clean'],
    ['--work-dir', 'x', 'clean'],
    ['-w', 'x', 'resume'],
    ['--work-dir=x', 'build'],
    ['-C', 'a', '-w', 'b', 'clean', '--all'],
    ['--', 'build'],
  ];
  for (const args of entering)
    it(`ailinux ${args.join(' ')} enters a mount namespace, with the same pid and argv`, () => {
      const { started, spawnedPid } = launch(args);
      expect(started.unshare).toBe('--mount --propagation private');
      expect(started.sandboxFrom).toMatch(/^mnt:\[\d+\]$/);
      expect(started.argv).toEqual(args);
      // exec all the way: the pid the user started is node's
      expect(started.pid).toBe(spawnedPid);
    });

  const staying: string[][] = [
    ['status'],
    ['-C', 'build', 'status'],
    ['--directory', 'clean', 'log'],
    ['-w', 'resume', 'plan'],
    ['--work-dir', 'build', 'doctor'],
    ['status', '-w', 'build'],
    ['log', 'build'],
    ['--version'],
    ['--', 'status', 'build'],
  ];
  for (const args of staying)
    it(`ailinux ${args.join(' ')} stays in the caller's namespace`, () => {
      const { started, spawnedPid } = launch(args);
      expect(started.unshare).toBeNull();
      expect(started.sandboxFrom).toBeNull();
      expect(started.argv).toEqual(args);
      expect(started.pid).toBe(spawnedPid);
    });

  it('takes the same options for ones with a value as the CLI does (VALUE_FLAGS)', () => {
    const launcher = fs.readFileSync(LAUNCHER, 'utf8');
    const flags = [...VALUE_FLAGS.directory, ...VALUE_FLAGS.workDir];
    expect(launcher).toContain(`${flags.join(' | ')})`);
  });
});

describe('leadingOptions', () => {
  it('collects each -C before the command, in every spelling, and finds the command', () => {
    expect(leadingOptions(['-C', 'a', '--directory', 'b', '-Cc', '--directory=d', 'status'])).toEqual({
      directories: ['a', 'b', 'c', 'd'],
      commandIndex: 6,
    });
  });

  it('skips the value of -w, so a work dir named like a command is no command', () => {
    expect(leadingOptions(['-w', 'build', 'status'])).toEqual({ directories: [], commandIndex: 2 });
    expect(leadingOptions(['--work-dir', 'x', '-C', 'y', 'log', '-C', 'z'])).toEqual({
      directories: ['y'],
      commandIndex: 4,
    });
  });

  it('stops at the command: a -C after it is the command’s (and refused there)', () => {
    expect(leadingOptions(['build', '-C', 'x'])).toEqual({ directories: [], commandIndex: 0 });
  });

  it('takes the word after -- as the command, and has none for options alone or a -C without its value', () => {
    expect(leadingOptions(['--', 'status'])).toEqual({ directories: [], commandIndex: 1 });
    expect(leadingOptions(['--version'])).toEqual({ directories: [], commandIndex: -1 });
    expect(leadingOptions(['-C'])).toEqual({ directories: [], commandIndex: -1 });
  });
});
