/**
 * The one reader of /proc/PID/stat (proc(5)). comm is in parentheses and may itself hold spaces
 * and parentheses, so the fields after it are split from the LAST ')'.
 */
import fs from 'node:fs';

export interface ProcStat {
  pid: number;
  /** The kernel's command name (up to 15 characters), as it is: spaces and parentheses included. */
  comm: string;
  /** Field 3: R, S, D, Z (zombie), T, ... */
  state: string;
  ppid: number;
  pgrp: number;
  /** Session id (field 6). */
  sid: number;
  /** tty_nr (field 7): 0 when the process has no controlling terminal. */
  ttyNr: number;
  /** Start time in clock ticks since boot (field 22): with the pid, it names one process for good. */
  startTicks: number;
}

/** The process's stat; null when it is gone, unreadable or not in the expected form. */
export function readProcStat(pid: number | 'self'): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return parseProcStat(text);
}

/** One /proc/PID/stat line; null when it is not one. */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  // after ") " come the fields from 3 (state) on, so field N is rest[N - 3]
  const rest = text
    .slice(close + 2)
    .trimEnd()
    .split(' ');
  const field = (n: number): number => (/^-?\d+$/.test(rest[n - 3] ?? '') ? Number(rest[n - 3]) : Number.NaN);
  const stat: ProcStat = {
    pid: /^\d+$/.test(text.slice(0, open)) ? Number(text.slice(0, open)) : Number.NaN,
    comm: text.slice(open + 2, close),
    state: rest[0] ?? '',
    ppid: field(4),
    pgrp: field(5),
    sid: field(6),
    ttyNr: field(7),
    startTicks: field(22),
  };
  const numbers = [stat.pid, stat.ppid, stat.pgrp, stat.sid, stat.ttyNr, stat.startTicks];
  return /^[A-Za-z]$/.test(stat.state) && numbers.every(Number.isSafeInteger) ? stat : null;
}
