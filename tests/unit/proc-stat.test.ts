import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseProcStat, readProcStat } from '../../src/runtime/proc-stat.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-proc-stat-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A stat line as the kernel writes it: pid (comm) state ppid pgrp session tty_nr ... starttime(22) ... */
function statLine(pid: number, comm: string, state = 'S', startTicks = 987654): string {
  const after = [state, '1', '4242', '4241', '34817', '-1', '4194560', '10', '0', '0', '0', '1', '2', '0', '0'];
  after.push('20', '0', '1', '0', String(startTicks), '1234567', '100', '18446744073709551615');
  return `${pid} (${comm}) ${after.join(' ')} 0 0 0 0 0 0\n`;
}

describe('parseProcStat', () => {
  it('reads the fields by number, from after the last parenthesis', () => {
    expect(parseProcStat(statLine(4243, 'sleep'))).toEqual({
      pid: 4243,
      comm: 'sleep',
      state: 'S',
      ppid: 1,
      pgrp: 4242,
      sid: 4241,
      ttyNr: 34817,
      startTicks: 987654,
    });
  });

  it('keeps a comm that holds spaces and parentheses whole', () => {
    for (const comm of ['a) b (c', 'x) S 1 2 3 (', '((', ') )', 'two words']) {
      const stat = parseProcStat(statLine(77, comm, 'Z', 5));
      expect(stat, comm).toMatchObject({ pid: 77, comm, state: 'Z', ppid: 1, pgrp: 4242, startTicks: 5 });
    }
  });

  it('is null for a line that is not a stat line', () => {
    for (const text of [
      '',
      'garbage',
      '12 (comm',
      '12 comm) S 1 2 3',
      statLine(12, 'c').slice(0, 40),
      'x (c) S 1 2 3',
    ]) {
      expect(parseProcStat(text), JSON.stringify(text)).toBeNull();
    }
    expect(parseProcStat(statLine(12, 'c').replace(' 987654 ', ' 98x654 '))).toBeNull();
  });
});

describe('readProcStat', () => {
  it('reads this process, by pid and as self', () => {
    const own = readProcStat(process.pid)!;
    expect(own).toMatchObject({ pid: process.pid, ppid: process.ppid, state: 'R' });
    expect(readProcStat('self')?.startTicks).toBe(own.startTicks);
  });

  it('reads a live process whose comm is "a) b (c"', async () => {
    const odd = path.join(tmp, 'a) b (c');
    fs.copyFileSync('/bin/sleep', odd);
    fs.chmodSync(odd, 0o755);
    const child = spawn(odd, ['30'], { stdio: 'ignore' });
    try {
      await new Promise((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      // after exec the kernel names it after the file
      let stat = readProcStat(child.pid!);
      for (let i = 0; i < 100 && stat?.comm !== 'a) b (c'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        stat = readProcStat(child.pid!);
      }
      expect(stat).toMatchObject({ pid: child.pid, ppid: process.pid, comm: 'a) b (c' });
      expect(stat!.startTicks).toBeGreaterThanOrEqual(readProcStat(process.pid)!.startTicks);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('is null for a process that is gone', () => {
    expect(readProcStat(2 ** 22 + 17)).toBeNull();
  });
});
