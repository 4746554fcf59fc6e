/**
 * Ordinary file-system mistakes at the edge end in one line with a fix and exit 2 (issue 9, finding 12), through the
 * CLI's own entry point: `inspect -o` into a missing directory, onto a directory or under a file, `log` of a step
 * whose log is a directory. Before the fix each ended in `internal error` with a stack trace and exit 1. A build's
 * file-system error exits 1, and a real bug is still an internal error that names the build log.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exitCodeForError } from '../../src/cli/exit-codes.js';
import { DiskFullError } from '../../src/errors.js';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { renderError } from '../../src/cli/render-error.js';

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-fs-errors-'));
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function captureIO(): CliIO & { output: () => string } {
  let text = '';
  const sink = { write: (chunk: string) => (text += chunk) };
  return {
    stdout: sink,
    stderr: sink,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: tmp,
    uid: 1000,
    commandLine: 'ailinux test',
    output: () => text,
  };
}

/** The error part of the output: its first line and the fix under it, nothing like a stack frame. */
function expectOneLine(output: string, message: string, fix: RegExp): void {
  const lines = output.trimEnd().split('\n');
  const at = lines.findIndex((l) => l.startsWith('ailinux: '));
  expect(lines[at], output).toBe(`ailinux: ${message}`);
  expect(lines[at + 1]).toMatch(fix);
  expect(lines.length, output).toBe(at + 2);
  expect(output).not.toMatch(/internal error|\n\s+at /);
}

describe('a file-system mistake at the edge: one line with a fix, exit 2', () => {
  it('inspect -o into a directory that does not exist', async () => {
    const out = path.join(tmp, 'missing', 'machine.dot');
    const io = captureIO();
    const code = await main(['inspect', '-p', 'minimal', '-w', path.join(tmp, 'w'), '-o', out], io);
    expect(code, io.output()).toBe(2);
    expectOneLine(io.output(), `cannot open ${out}: no such file or directory (ENOENT)`, /fix: create the missing/);
    expect(fs.existsSync(path.join(tmp, 'missing'))).toBe(false);
  });

  it('inspect -o onto a directory', async () => {
    const out = path.join(tmp, 'dir.dot');
    fs.mkdirSync(out);
    const io = captureIO();
    const code = await main(['inspect', '-p', 'minimal', '-w', path.join(tmp, 'w'), '-o', out], io);
    expect(code, io.output()).toBe(2);
    expectOneLine(io.output(), `cannot open ${out}: it is a directory (EISDIR)`, /fix: name a file/);
  });

  it('inspect -o under a regular file', async () => {
    fs.writeFileSync(path.join(tmp, 'file'), 'x');
    const out = path.join(tmp, 'file', 'machine.dot');
    const io = captureIO();
    const code = await main(['inspect', '-p', 'minimal', '-w', path.join(tmp, 'w'), '-o', out], io);
    expect(code, io.output()).toBe(2);
    expectOneLine(
      io.output(),
      `cannot open ${out}: a part of the path is not a directory (ENOTDIR)`,
      /fix: check the path/,
    );
  });

  it('log of a step whose log is a directory', async () => {
    const work = path.join(tmp, 'w');
    fs.mkdirSync(path.join(work, 'logs', 'steps', 'bootstrap.log'), { recursive: true });
    const io = captureIO();
    const code = await main(['log', 'bootstrap', '-w', work], io);
    expect(code, io.output()).toBe(2);
    expectOneLine(io.output(), 'cannot read: it is a directory (EISDIR)', /fix: name a file/);
  });
});

describe('exit codes and the internal error', () => {
  const erofs = Object.assign(new Error('EROFS: read-only file system, open /x/y'), {
    code: 'EROFS',
    syscall: 'open',
    path: '/x/y',
    errno: -30,
  });

  it('a read-only file system is named with its path; exit 2, or 1 when it ended a build', () => {
    expect(renderError(erofs)).toBe(
      'ailinux: cannot open /x/y: the file system is read-only (EROFS)\n  fix: name a path on a writable file system',
    );
    expect(exitCodeForError(erofs)).toBe(2);
    expect(exitCodeForError(erofs, true)).toBe(1);
  });

  it('a full disk while ailinux writes its mark or lock owner: exit 75 in and out of a build, what filled and the fix', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      syscall: 'write',
    });
    const full = new DiskFullError('marking the work dir /w (.ailinux-work-dir)', {
      cause: enospc,
      hint: 'free some space where /w lies, then run the command again',
    });
    expect(exitCodeForError(full)).toBe(75);
    expect(exitCodeForError(full, true)).toBe(75);
    expect(renderError(full)).toBe(
      'ailinux: no space left on device while marking the work dir /w (.ailinux-work-dir)\n  fix: free some space where /w lies, then run the command again',
    );
  });

  it('a code without a syscall is not the OS speaking: still an internal error', () => {
    const odd = Object.assign(new Error('odd'), { code: 'ENOENT' });
    expect(renderError(odd)).toMatch(/^ailinux: internal error: Error: odd\n\s+at /);
    expect(exitCodeForError(odd)).toBe(1);
  });

  it('a real bug keeps its stack, says it is one, and names the build log when there is one', () => {
    const text = renderError(new TypeError('x is undefined'), {}, '/w/logs/build.ndjson');
    expect(text).toMatch(/^ailinux: internal error: TypeError: x is undefined\n\s+at /);
    expect(text).toContain('  this is a bug in ailinux; please report it with the lines above');
    expect(text.trimEnd().split('\n').at(-1)).toBe('  log: /w/logs/build.ndjson');
    expect(exitCodeForError(new TypeError('x'))).toBe(1);
  });
});
