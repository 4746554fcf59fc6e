/**
 * Shell completion (issue 13, point 5): the bash script printed by `ailinux completion bash` is loaded by a real bash
 * and completes commands, flags, profile names after -p and step names after `log`. zsh and fish scripts are checked
 * with `zsh -n` / `fish -n` where those shells are installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInProfiles } from '../../src/config/profiles/index.js';
import { allSteps } from '../../src/steps/registry.js';
import { assertCliBuilt, CLI, runCli } from '../helpers/cli.js';

let tmp: string;
let bashScript: string;

beforeAll(() => {
  assertCliBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-completion-'));
  bashScript = path.join(tmp, 'ailinux.bash');
  const script = execFileSync(process.execPath, [CLI, 'completion', 'bash'], { encoding: 'utf8' });
  fs.writeFileSync(bashScript, script);
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** What bash offers for the words typed so far (the last one is the word being completed). */
function complete(...words: string[]): string[] {
  const program = `source "$1"; shift; COMP_WORDS=(ailinux "$@"); COMP_CWORD=$#; _ailinux; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program, 'bash', bashScript, ...words], {
    encoding: 'utf8',
    cwd: tmp,
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter((w) => w !== '');
}

describe('bash completion', () => {
  it('the script is loaded by bash through source <(...), as the help says', () => {
    const r = spawnSync(
      'bash',
      ['--norc', '-c', `source <("${process.execPath}" "${CLI}" completion bash); complete -p ailinux`],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('complete -o filenames -F _ailinux ailinux');
  });

  it('completes ailinux bu to build, and the commands and global flags', () => {
    expect(complete('bu')).toEqual(['build']);
    expect(complete('c')).toEqual(['clean', 'cache', 'config', 'completion']);
    expect(complete('--v')).toEqual(['--version']);
  });

  it("completes cache's actions, show and prune, from its argument's choices", () => {
    expect(complete('cache', '')).toEqual(['show', 'prune']);
    expect(complete('cache', 'p')).toEqual(['prune']);
  });

  it("completes a command's flags, and only its own", () => {
    expect(complete('status', '--')).toEqual(['--work-dir', '--json', '--help']);
    expect(complete('build', '--pro')).toEqual(['--profile', '--progress']);
    expect(complete('verify', '--no-')).toEqual(['--no-uefi', '--no-bios']);
  });

  it('completes a profile name after -p and --profile, also as --profile=', () => {
    const profiles = Object.keys(builtInProfiles);
    expect(complete('build', '-p', '')).toEqual(profiles);
    expect(complete('doctor', '--profile', 'mi')).toEqual(['minimal']);
    expect(complete('plan', '--profile', '=', 'ai')).toEqual(['ailinux']);
    expect(complete('inspect', '--profile', '=')).toEqual(profiles);
  });

  it('completes a step name after log, choices after --progress and inspect -f, and the shell after completion', () => {
    expect(complete('log', '')).toEqual(allSteps().map((s) => s.id));
    expect(complete('log', '-w', 'x', 'pa')).toEqual(['packages', 'packages-remove']);
    expect(complete('build', '--progress', 'p')).toEqual(['plain']);
    expect(complete('inspect', '-f', 'm')).toEqual(['mermaid']);
    expect(complete('completion', 'z')).toEqual(['zsh']);
    expect(complete('help', 'st')).toEqual(['status']);
  });

  it('completes past the options before the command (-C DIR, -w DIR), and a directory after them', () => {
    fs.mkdirSync(path.join(tmp, 'proj'), { recursive: true });
    expect(complete('-C', 'build', 'bu')).toEqual(['build']);
    expect(complete('-w', 'x', '--directory', 'y', 'log', 'pa')).toEqual(['packages', 'packages-remove']);
    expect(complete('-C', 'pro')).toEqual(['proj']);
    expect(complete('--work-dir', 'pro')).toEqual(['proj']);
    expect(complete('-')).toEqual(expect.arrayContaining(['-C', '--directory', '-w', '--work-dir']));
  });

  it('completes files after -c and directories after -w', () => {
    fs.writeFileSync(path.join(tmp, 'my.yaml'), 'extends: minimal\n');
    fs.mkdirSync(path.join(tmp, 'mywork'), { recursive: true });
    expect(complete('build', '-c', 'my')).toEqual(['my.yaml', 'mywork']);
    expect(complete('build', '-w', 'my')).toEqual(['mywork']);
    // a free value (a port) gets nothing, not the flags or the commands
    expect(complete('inspect', '--port', '')).toEqual([]);
  });
});

function installed(shell: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
}

describe('zsh and fish scripts', () => {
  it.skipIf(!installed('zsh'))('zsh -n parses the zsh script', () => {
    const file = path.join(tmp, '_ailinux');
    fs.writeFileSync(file, execFileSync(process.execPath, [CLI, 'completion', 'zsh'], { encoding: 'utf8' }));
    expect(spawnSync('zsh', ['-n', file], { encoding: 'utf8' }).status).toBe(0);
  });

  it.skipIf(!installed('fish'))('fish -n parses the fish script', () => {
    const file = path.join(tmp, 'ailinux.fish');
    fs.writeFileSync(file, execFileSync(process.execPath, [CLI, 'completion', 'fish'], { encoding: 'utf8' }));
    expect(spawnSync('fish', ['-n', file], { encoding: 'utf8' }).status).toBe(0);
  });

  it('an unknown shell is bad usage (exit 2) and prints no script', async () => {
    const r = await runCli(['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Allowed choices are bash, zsh, fish/);
  });
});
