/**
 * Processes a test starts and must end again, by its own handles and pids only: never by name,
 * and never a pid that has since been reused (its start ticks are checked first).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { expect } from 'vitest';
import { readProcStartTicks } from '../../src/runtime/process-groups.js';
import { readProcStat } from '../../src/runtime/proc-stat.js';

/** Gone, or a zombie nobody reaps: either way it runs no more. */
export function isRunning(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.state !== 'Z';
}

/** Polls check every 20 ms until it holds or timeoutMs passes; answers its last result. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

/** What a test started: child handles, and pids (with their start ticks) of processes those left behind. */
export class StartedProcesses {
  private children: ChildProcess[] = [];
  private pids: { pid: number; ticks: number | null }[] = [];

  child<T extends ChildProcess>(child: T): T {
    this.children.push(child);
    return child;
  }

  remember(pid: number): number {
    this.pids.push({ pid, ticks: readProcStartTicks(pid) });
    return pid;
  }

  /** Waits for a pid file (a full line) written by a started process, and remembers that pid. */
  async readPidFile(file: string): Promise<number> {
    expect(await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').endsWith('\n'), 30_000)).toBe(true);
    return this.remember(Number(fs.readFileSync(file, 'utf8').trim()));
  }

  /** SIGKILL to every child still running and every remembered pid still the same process; forgets them all. */
  killAll(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const { pid, ticks } of this.pids) {
      if (ticks !== null && readProcStartTicks(pid) === ticks) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    this.children = [];
    this.pids = [];
  }
}
