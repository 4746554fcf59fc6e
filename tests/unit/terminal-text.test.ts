/**
 * Terminal output strips control characters from what came from a command or a file (issue 9, finding 11): the
 * function itself, and `status`, `plan`, `log`, an error line and the progress view fed a state and logs that hold
 * a title change (OSC), a colour (CSI, 7- and 8-bit), a bell and a backspace. Before the fix `status` printed the
 * ledger's text raw: these tests fail on that code because ESC, BEL and U+009B reach the output.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { renderError } from '../../src/cli/render-error.js';
import { createProgressView } from '../../src/cli/progress-view.js';
import { CommandError } from '../../src/errors.js';
import { terminalJson, terminalLine, terminalText } from '../../src/runtime/terminal-text.js';
import { emptyLedgerEntry } from '../../src/types.js';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';

/** A retitle, a red colour both ways, a bell, a backspace, a DCS string and a lone ESC pair. */
const HOSTILE = 'a\u001b]0;pwned\u0007b\u001b[31mc\u009b1;31md\u0007e\bf\u001bPq#0\u001b\\g\u001b(0h\u009d2;x\u009ci';
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('terminalText', () => {
  it('removes whole escape sequences and every other control, keeping newlines and tabs', () => {
    expect(terminalText(HOSTILE)).toBe('abcdefghi');
    expect(terminalText('one\r\ntwo\tthree\rfour\n')).toBe('one\ntwo\tthreefour\n');
    expect(terminalText('ünïcödé → ✔')).toBe('ünïcödé → ✔');
  });

  it('an unterminated title string loses its introducer, so the terminal does not swallow what follows', () => {
    expect(terminalText('x\u001b]0;title without end\ny')).toBe('x0;title without end\ny');
  });

  it('terminalLine makes one line of it', () => {
    expect(terminalLine(`one\ntwo\tthree\r${HOSTILE}`)).toBe('one two three abcdefghi');
  });

  it('terminalJson escapes DEL and C1, which JSON.stringify leaves raw, and stays the same JSON', () => {
    const json = JSON.stringify({ m: 'x\u009b31my\u007f\u001b' });
    expect(json).toContain('\u009b');
    const safe = terminalJson(json);
    expect(safe).not.toMatch(CONTROL);
    expect(JSON.parse(safe)).toEqual({ m: 'x\u009b31my\u007f\u001b' });
  });
});

let work: string;

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-terminal-text-'));
});

afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function captureIO(): CliIO & { output: () => string } {
  let text = '';
  const sink = { write: (chunk: string) => (text += chunk) };
  return {
    stdout: sink,
    stderr: sink,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: work,
    uid: 1000,
    commandLine: 'ailinux test',
    output: () => text,
  };
}

/** A failed build whose bootstrap error, hint, pause reason and log carry escape sequences. */
function writeHostileBuild(): void {
  const now = '2025-01-01T00:00:00.000Z';
  const state: StateFile = {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '0',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'failed',
    createdAt: now,
    updatedAt: now,
    order: ['bootstrap'],
    ledger: {
      bootstrap: {
        ...emptyLedgerEntry('bootstrap'),
        status: 'failed',
        attempts: 1,
        startedAt: now,
        endedAt: now,
        error: {
          message: `debootstrap said ${HOSTILE}`,
          code: 'COMMAND',
          stderrTail: `E: ${HOSTILE}`,
          hint: `try ${HOSTILE}`,
          transient: false,
        },
      },
    },
    snapshot: null,
    current: 'bootstrap',
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'r-1', command: 'build', startedAt: now, endedAt: now, outcome: 'failed' }],
  };
  fs.mkdirSync(path.join(work, 'state'), { recursive: true });
  fs.writeFileSync(path.join(work, 'state', 'state.json'), JSON.stringify(state));
  fs.mkdirSync(path.join(work, 'logs', 'steps'), { recursive: true });
  fs.writeFileSync(path.join(work, 'logs', 'steps', 'bootstrap.log'), `! E: ${HOSTILE}\n`);
  fs.writeFileSync(
    path.join(work, 'logs', 'build.ndjson'),
    `${JSON.stringify({ time: now, level: 50, step: 'bootstrap', msg: `failed: ${HOSTILE}` })}\n`,
  );
}

describe('commands that print what a command or a file said', () => {
  it.each([
    ['status', ['status']],
    ['status --json', ['status', '--json']],
    ['log bootstrap', ['log', 'bootstrap']],
    ['log (the build log)', ['log']],
  ])('%s prints no control character', async (_, args) => {
    writeHostileBuild();
    const io = captureIO();
    const code = await main([...args, '-w', work], io);
    expect(code, io.output()).toBe(0);
    expect(io.output()).toContain(args.includes('--json') ? 'pwned' : 'abcdefghi');
    expect(io.output()).not.toMatch(CONTROL);
  });

  it('plan prints no control character from a work dir path', async () => {
    const io = captureIO();
    const code = await main(['plan', '-w', path.join(work, 'w\u001b]0;pwned\u0007'), '-p', 'minimal'], io);
    expect(code, io.output()).toBe(0);
    expect(io.output()).toContain(`plan for profile minimal in ${path.join(work, 'w')}:`);
    expect(io.output()).not.toMatch(CONTROL);
  });

  it("an error line with a command's stderr prints no control character", () => {
    const error = new CommandError(
      {
        argv: ['apt-get', 'install', 'x'],
        exitCode: 100,
        signal: null,
        stderrTail: `E: ${HOSTILE}`,
        rerun: 'apt-get install x',
        timedOut: false,
        cancelled: false,
      },
      false,
    );
    const text = renderError(error);
    expect(text).toContain('E: abcdefghi');
    expect(text).not.toMatch(CONTROL);
  });

  it.each(['tty', 'plain'] as const)(
    "the %s progress view shows a command's latest line, a retry note and a message without their controls",
    (mode) => {
      let out = '';
      const stream = { write: (t: string) => (out += t), isTTY: mode === 'tty', columns: 200 };
      const view = createProgressView(stream, { mode, quiet: false, env: { NO_COLOR: '1' } });
      view.stepStarted('packages', 1);
      view.stepLine('packages', `Get:1 ${HOSTILE}`);
      // the live line shows the latest output line when it is drawn (every second, and when a row is printed)
      view.message(`warning: ${HOSTILE}`);
      view.stepEnded('packages', 'retrying', null, `attempt 1 failed: ${HOSTILE}; retrying`);
      view.close();
      // log-update's own cursor moves, line erases and synchronized output; nothing else may reach the terminal
      const withoutOwn = out.replace(/\u001b\[(?:\?2026[hl]|\d*[ABG]|2?K)/g, '');
      expect(withoutOwn).toContain('Get:1 abcdefghi');
      expect(withoutOwn).toContain('attempt 1 failed: abcdefghi; retrying');
      expect(withoutOwn).toContain('warning: abcdefghi');
      expect(withoutOwn).not.toMatch(CONTROL);
    },
  );
});
