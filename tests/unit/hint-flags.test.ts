/**
 * Every fix line carries the user's own -C, --work-dir and --config (issue 13, point 2): after
 * `build -c my.yaml -w /x` fails, what ailinux says to type acts on /x with my.yaml, not on ./ailinux-build with the
 * default profile. One test per place that names a command, each run with -c and -w given; a work dir with a blank
 * and a quote in its name, and the printed lines read back by a real sh. Also status's colours (NO_COLOR,
 * FORCE_COLOR).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuildCommand } from '../../src/cli/commands/build.js';
import { doctorReport } from '../../src/cli/commands/doctor.js';
import { renderStatus, runStatusCommand, statusReport } from '../../src/cli/commands/status.js';
import { renderHintCommand, renderHintText, shellWords, type UserFlags } from '../../src/cli/hint.js';
import type { CliIO } from '../../src/cli/io.js';
import { createProgram, main } from '../../src/cli/main.js';
import { renderError } from '../../src/cli/render-error.js';
import { BuildRun } from '../../src/engine/build-run.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { detectSession } from '../../src/runtime/session.js';
import { registerStep, unregisterStep } from '../../src/steps/registry.js';
import type { StepDef } from '../../src/steps/types.js';

/** What a POSIX shell makes of a line: its words, as printf gives them back (NUL-separated: a word may hold a newline). */
function shArgv(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

/** The command after `run: ` or `continue with: ` on the first line that has it. */
function commandAfter(text: string, label: string): string {
  const line = text.split('\n').find((l) => l.includes(label));
  if (!line) throw new Error(`no "${label}" in:\n${text}`);
  return line.slice(line.indexOf(label) + label.length).trim();
}

let tmp: string;
/** A work dir and config whose names a shell would split and unquote: a blank and a single quote. */
let work: string;
let config: string;
let flags: UserFlags;

function testStep(id: string, run: () => Promise<void>): StepDef {
  return {
    id,
    title: `hint test step ${id}`,
    version: 1,
    layer: 'none',
    phase: 12,
    configFields: ['name'],
    async run() {
      await run();
      return [];
    },
    async verify() {},
    async undo() {},
  };
}

let failing = true;
const STEPS = [
  testStep('hf-ok', async () => undefined),
  testStep('hf-fail', async () => {
    if (failing)
      throw new StepError('hf-fail', 'the frob table is missing', {
        hint: 'see `ailinux log hf-fail`, or start over with `ailinux build --fresh`',
        hintArgv: ['ailinux', 'log', 'hf-fail'],
      });
  }),
];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-hint-flags-'));
  work = path.join(tmp, "my 'work' dir");
  config = path.join(tmp, 'my config.yaml');
  fs.writeFileSync(
    config,
    `extends: minimal\nsteps: [${STEPS.map((s) => s.id).join(', ')}]\nretry: { maxAttempts: 1 }\nresources: { minFreeDiskMb: 0 }\n`,
  );
  flags = { workDir: work, config };
  quotedWork = quote(work);
  quotedConfig = quote(config);
  for (const step of STEPS) registerStep(step);
});
afterAll(() => {
  for (const step of STEPS) unregisterStep(step.id);
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface TestIO extends CliIO {
  out: () => string;
  err: () => string;
}

function testIO(over: Partial<CliIO> = {}, env: NodeJS.ProcessEnv = { NO_COLOR: '1' }): TestIO {
  let out = '';
  let err = '';
  return {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    cwd: tmp,
    uid: 0,
    commandLine: 'ailinux build (test)',
    out: () => out,
    err: () => err,
    ...over,
  };
}

/** As a shell needs them: single quotes, a quote inside as '\\'' */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
let quotedWork: string;
let quotedConfig: string;

describe('the one formatter', () => {
  it('puts the flags after the command and its arguments, before its options, quoted for a shell', () => {
    expect(renderHintCommand(['ailinux', 'build', '--fresh'], { workDir: '/x', config: 'my.yaml' })).toBe(
      'ailinux build --work-dir /x --config my.yaml --fresh',
    );
    expect(renderHintCommand(['ailinux', 'log', 'bootstrap'], { workDir: '/x y', config: 'my.yaml' })).toBe(
      "ailinux log bootstrap --work-dir '/x y'",
    );
    // nothing added for defaults
    expect(renderHintCommand(['ailinux', 'build', '--fresh'], {})).toBe('ailinux build --fresh');
  });

  it('gives -C first, sudo keeps its place, and a profile given in the hint keeps the config out', () => {
    expect(renderHintCommand(['ailinux', 'resume'], { chdir: 'proj dir', workDir: 'w', config: 'c.yaml' })).toBe(
      "ailinux -C 'proj dir' resume --work-dir w --config c.yaml",
    );
    expect(renderHintCommand(['sudo', 'ailinux', 'clean', '--all'], { workDir: '/x' })).toBe(
      'sudo ailinux clean --work-dir /x --all',
    );
    expect(renderHintCommand(['ailinux', 'build', '-p', 'minimal'], { config: 'c.yaml' })).toBe(
      'ailinux build -p minimal',
    );
  });

  it('gives --work-dir and --config exactly to the commands that take them (read from the CLI itself)', () => {
    const program = createProgram(testIO(), () => undefined);
    const all = { workDir: 'W', config: 'C' };
    for (const command of program.commands) {
      const takes = (name: string) => command.options.some((o) => o.attributeName() === name);
      const line = renderHintCommand(['ailinux', command.name()], all);
      expect(line.includes('--work-dir W'), `${command.name()} and --work-dir`).toBe(takes('workDir'));
      expect(line.includes('--config C'), `${command.name()} and --config`).toBe(takes('config'));
    }
  });

  it('rewrites the ailinux commands in backticks inside prose, and nothing else', () => {
    expect(
      renderHintText('inspect it, or run `ailinux build --fresh` to start over; `ls -l` and ailinux resume stay', {
        workDir: '/x',
        config: 'my.yaml',
      }),
    ).toBe(
      'inspect it, or run `ailinux build --work-dir /x --config my.yaml --fresh` to start over; `ls -l` and ailinux resume stay',
    );
    // a span that is no plain shell words is left as it was
    expect(renderHintText('`ailinux log $(rm -rf x)`', { workDir: '/x' })).toBe('`ailinux log $(rm -rf x)`');
  });

  it('a printed command reads back through sh as the argv it was made from, and shellWords agrees', () => {
    const awkward = [
      "it's",
      "'",
      "'quoted'",
      "end'",
      'a b',
      '',
      '$HOME',
      '`x`',
      'tab\there',
      'back\\slash',
      '"dq"',
      '*',
      '~',
      'line\nbreak',
    ];
    const line = renderHintCommand(['ailinux', 'log', 'x'], { chdir: awkward.join('|'), workDir: work, config });
    expect(shArgv(line)).toEqual(['ailinux', '-C', awkward.join('|'), 'log', 'x', '--work-dir', work]);
    expect(shellWords(line)).toEqual(shArgv(line));
    for (const arg of awkward) {
      const one = renderHintCommand(['printf', arg]);
      expect(shArgv(one), JSON.stringify(arg)).toEqual(['printf', arg]);
      expect(shellWords(one)).toEqual(['printf', arg]);
    }
    expect(shellWords('a "b \\" c" d\\ e')).toEqual(['a', 'b " c', 'd e']);
    expect(shellWords("a 'b")).toBeNull();
    expect(shellWords('a; b')).toBeNull();
  });
});

describe('each place that says what to type', () => {
  it('build: a failed step, its fix and run lines, and how to continue; then the refusal of a second build', async () => {
    failing = true;
    const io = testIO({ hintFlags: flags });
    const build = () =>
      runBuildCommand('build', { workDir: work, config }, io, {
        startBuild: (request, deps) => new BuildRun(request, { ...deps, createRunner: () => new FakeRunner() }),
      });
    expect(await build()).toBe(1);
    const err = io.err();
    expect(err).toContain(
      `  fix: see \`ailinux log hf-fail --work-dir ${quotedWork}\`, or start over with \`ailinux build --work-dir ${quotedWork} --config ${quotedConfig} --fresh\``,
    );
    expect(shArgv(commandAfter(err, 'run: '))).toEqual(['ailinux', 'log', 'hf-fail', '--work-dir', work]);
    expect(shArgv(commandAfter(err, 'continue with: '))).toEqual([
      'ailinux',
      'resume',
      '--work-dir',
      work,
      '--config',
      config,
    ]);

    // build again without --fresh: refused, with resume and --fresh named for this work dir and config
    const refusal = await build().catch((e: unknown) => e);
    const text = renderError(refusal, flags);
    expect(shArgv(commandAfter(text, 'run: '))).toEqual(['ailinux', 'resume', '--work-dir', work, '--config', config]);
  });

  it('status: the failed step, what to type next and the log tail carry the work dir; no -c, status takes none', async () => {
    const io = testIO({ hintFlags: { workDir: work } });
    await runStatusCommand({ workDir: work }, io);
    const out = io.out();
    expect(out).toContain(`fix: see \`ailinux log hf-fail --work-dir ${quotedWork}\``);
    expect(shArgv(commandAfter(out, 'run: '))).toEqual(['ailinux', 'log', 'hf-fail', '--work-dir', work]);
    expect(shArgv(commandAfter(out, 'next:'))).toEqual(['ailinux', 'resume', '--work-dir', work]);
    // with the defaults, nothing is added
    const plain = renderStatus(await statusReport(work));
    expect(plain).toContain('next:     ailinux resume\n');
    expect(plain).toContain('run: ailinux log hf-fail\n');
  });

  it('status: the log tail names its whole log with the work dir', async () => {
    const report = await statusReport(work);
    const details = { ...report.details!, logTail: { step: 'hf-fail', file: 'hf-fail.log', size: 5, lines: ['frob'] } };
    const text = renderStatus({ ...report, details }, { workDir: work });
    expect(text).toContain(`log of hf-fail (last 1 lines; ailinux log hf-fail --work-dir ${quotedWork} for all):`);
  });

  it('status: a stopped build and a paused one say how to go on, with the flags', async () => {
    const report = await statusReport(work);
    const stopped = renderStatus({ ...report, outcome: 'running', lock: null }, { chdir: '/proj', workDir: 'w' });
    expect(stopped).toContain('outcome:  stopped (the build process is gone)');
    expect(stopped).toContain('next:     ailinux -C /proj resume --work-dir w\n');
    const paused = renderStatus(
      { ...report, outcome: 'paused', pauseReason: 'disk: no space left on device while running x; free some space' },
      { workDir: 'w' },
    );
    expect(paused).toContain('next:     ailinux resume --work-dir w\n');
  });

  it('build: a full disk pauses and says to resume with the flags', async () => {
    failing = false;
    const io = testIO({ hintFlags: flags });
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    registerStep(testStep('hf-full', async () => Promise.reject(full)));
    const fullConfig = path.join(tmp, 'full.yaml');
    fs.writeFileSync(fullConfig, 'extends: minimal\nsteps: [hf-ok, hf-full]\nresources: { minFreeDiskMb: 0 }\n');
    try {
      const code = await runBuildCommand('build', { workDir: path.join(tmp, 'full work'), config: fullConfig }, io, {
        startBuild: (request, deps) => new BuildRun(request, { ...deps, createRunner: () => new FakeRunner() }),
      });
      expect(code).toBe(75);
    } finally {
      unregisterStep('hf-full');
    }
    const err = io.err();
    expect(err).toMatch(/build paused: disk: no space left on device while running hf-full; free some space where /);
    expect(err).not.toMatch(/then run ailinux resume/);
    expect(shArgv(commandAfter(err, 'continue with: '))).toEqual([
      'ailinux',
      'resume',
      '--work-dir',
      work,
      '--config',
      config,
    ]);
  });

  it('build and clean without root: the whole command line again, under sudo', async () => {
    const argv = ['build', '-c', config, '-w', work, '--fresh'];
    const io = testIO({ uid: 1000, argv });
    expect(await main(argv, io)).toBe(2);
    expect(shArgv(commandAfter(io.err(), 'run: '))).toEqual(['sudo', 'ailinux', ...argv]);
    const cleanIO = testIO({ uid: 1000, argv: ['clean', '--all', '-w', work] });
    expect(await main(['clean', '--all', '-w', work], cleanIO)).toBe(2);
    expect(shArgv(commandAfter(cleanIO.err(), 'run: '))).toEqual(['sudo', 'ailinux', 'clean', '--all', '-w', work]);
    // a test's io without argv: the command with the flags main read from the command line
    const bare = testIO({ uid: 1000 });
    expect(await main(['resume', '--config', config, '--work-dir', work], bare)).toBe(2);
    expect(shArgv(commandAfter(bare.err(), 'run: '))).toEqual([
      'sudo',
      'ailinux',
      'resume',
      '--work-dir',
      work,
      '--config',
      config,
    ]);
  });

  it('main hands the typed flags to the command: log and status through the whole CLI', async () => {
    const io = testIO();
    expect(await main(['log', 'NOT A STEP', '-w', work], io)).toBe(2);
    expect(io.err()).toContain(`fix: \`ailinux status --work-dir ${quotedWork}\` lists the step ids`);
    expect(shArgv(commandAfter(io.err(), 'run: '))).toEqual(['ailinux', 'status', '--work-dir', work]);
    const status = testIO();
    expect(await main(['status', '--work-dir', work], status)).toBe(0);
    expect(shArgv(commandAfter(status.out(), 'next:'))).toEqual(['ailinux', 'resume', '--work-dir', work]);
    // -C before the command comes first in the line, and the work dir given before the command is carried too
    const chdir = testIO();
    const here = process.cwd();
    try {
      expect(await main(['-C', tmp, '--work-dir', work, 'log', 'NOT A STEP'], chdir)).toBe(2);
    } finally {
      process.chdir(here);
    }
    expect(shArgv(commandAfter(chdir.err(), 'run: '))).toEqual(['ailinux', '-C', tmp, 'status', '--work-dir', work]);
    // the default work dir: nothing added
    const empty = testIO({ cwd: fs.mkdtempSync(path.join(tmp, 'cwd-')) });
    expect(await main(['log'], empty)).toBe(2);
    expect(commandAfter(empty.err(), 'run: ')).toBe('ailinux build');
  });

  it('doctor: the unfinished build and the ssh note name resume with the flags', async () => {
    const report = await doctorReport(
      { workDir: work, config },
      {
        env: { PATH: '/usr/bin:/bin', SSH_CONNECTION: '10.0.0.1 1 10.0.0.2 22' },
        cwd: tmp,
        uid: 1000,
        hintFlags: flags,
      },
    );
    const state = report.findings.find((f) => f.topic === 'state');
    expect(state?.fix).toBe(`\`ailinux resume --work-dir ${quotedWork} --config ${quotedConfig}\``);
    expect(report.session.note).toContain(
      `continue later with \`ailinux resume --work-dir ${quotedWork} --config ${quotedConfig}\``,
    );
    expect(report.findings.find((f) => f.topic === 'session')?.message).toContain(
      `\`ailinux resume --work-dir ${quotedWork} --config ${quotedConfig}\``,
    );
  });

  it('the session note, the preflight fix and the state store write their commands in backticks for the CLI', () => {
    const note = detectSession({ SSH_CONNECTION: 'x' }, null).note;
    expect(renderHintText(note, { workDir: '/x' })).toContain('continue later with `ailinux resume --work-dir /x`');
    const preflight = 'run the build as root (`sudo ailinux resume`): it runs debootstrap';
    expect(renderHintText(preflight, flags)).toContain(
      `\`sudo ailinux resume --work-dir ${quotedWork} --config ${quotedConfig}\``,
    );
  });
});

describe('status colours', () => {
  const run = async (isTTY: boolean, env: NodeJS.ProcessEnv) => {
    const io = testIO({ hintFlags: {} }, env);
    io.stdout = { ...io.stdout, isTTY };
    await runStatusCommand({ workDir: work }, io);
    return io.out();
  };

  it('a terminal gets colour on the outcome and the status column; a pipe gets none', async () => {
    const tty = await run(true, {});
    expect(tty).toContain('\u001b[31mfailed\u001b[39m');
    expect(tty).toMatch(/hf-ok {12}\u001b\[32mdone {7}\u001b\[39m/);
    expect(await run(false, {})).not.toContain('\u001b[');
  });

  it('NO_COLOR=1 on a terminal: none; FORCE_COLOR=1 to a pipe: colour; FORCE_COLOR=0: none', async () => {
    expect(await run(true, { NO_COLOR: '1' })).not.toContain('\u001b[');
    expect(await run(false, { FORCE_COLOR: '1' })).toContain('\u001b[31mfailed\u001b[39m');
    expect(await run(true, { FORCE_COLOR: '0' })).not.toContain('\u001b[');
    // the colours are the only escapes: text from the state stays clean
    expect((await run(false, { FORCE_COLOR: '1' })).replace(/\u001b\[\d+m/g, '')).toBe(await run(false, {}));
  });
});
