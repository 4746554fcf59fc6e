/**
 * The session a build runs in (ssh, graphical, console or none) and the chain of our ancestor
 * processes, read from the environment and /proc. Reads only. The SafetyRecorder turns them, with
 * the signal guard's journal, into the invariant a build writes into its state at start and after
 * every step: every signal went to a group of ours or a verified leftover, and no ancestor died.
 */
import fs from 'node:fs';
import type { StateSafety, StateSafetyCheck } from '../../state/schema.js';
import type { Ledger, StepStatus } from '../types.js';
import { ancestorPids, signalJournal, signalRefusals, type SignalRecord } from './process-groups.js';
import { readProcStat, type ProcStat } from './proc-stat.js';

export type SessionKind = 'ssh' | 'graphical' | 'console' | 'none';

export interface SessionInfo {
  kind: SessionKind;
  /** The controlling terminal, e.g. /dev/pts/3, or null when there is none. */
  tty: string | null;
  /** What the kind was decided from (variable names, never their secrets). */
  evidence: string[];
  /** What this session means for a long build, in one line. */
  note: string;
}

/** Our ancestors, parent first, up to and including pid 1, each with its command name and start time. */
export function ancestorChain(pid: number = process.pid): ProcStat[] {
  return ancestorPids(pid).flatMap((p) => readProcStat(p) ?? []);
}

function controllingTty(): string | null {
  const own = readProcStat('self');
  if (!own || own.ttyNr === 0) return null;
  for (const fd of [0, 1, 2]) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (/^\/dev\/(pts\/\d+|tty\w*|console)$/.test(target)) return target;
    } catch {
      // a closed descriptor: try the next
    }
  }
  const major = own.ttyNr >> 8;
  const minor = (own.ttyNr & 0xff) | ((own.ttyNr >> 12) & 0xfff00);
  return major === 136 ? `/dev/pts/${minor}` : major === 4 ? `/dev/tty${minor}` : `tty ${major}:${minor}`;
}

const SSH_VARS = ['SSH_CONNECTION', 'SSH_TTY', 'SSH_CLIENT'];
const GRAPHICAL_VARS = ['WAYLAND_DISPLAY', 'DISPLAY'];

/** Which session we run in: ssh wins over graphical (a forwarded X display), graphical over a bare tty. */
export function detectSession(
  env: NodeJS.ProcessEnv = process.env,
  tty: string | null = controllingTty(),
): SessionInfo {
  const set = (name: string) => (env[name] ?? '') !== '';
  const ssh = SSH_VARS.filter(set);
  if (ssh.length > 0) {
    return {
      kind: 'ssh',
      tty,
      evidence: ssh,
      note: 'if the connection drops, the build gets SIGHUP, stops cleanly and saves its state (exit 129); run it under tmux or screen, or continue later with `ailinux resume`',
    };
  }
  const type = env['XDG_SESSION_TYPE'] ?? '';
  const graphical = [
    ...(['x11', 'wayland', 'mir'].includes(type) ? ['XDG_SESSION_TYPE'] : []),
    ...GRAPHICAL_VARS.filter(set),
  ];
  if (graphical.length > 0) {
    return {
      kind: 'graphical',
      tty,
      evidence: graphical,
      note: 'closing the terminal window sends SIGHUP: the build stops cleanly and can be resumed',
    };
  }
  if (tty !== null)
    return {
      kind: 'console',
      tty,
      evidence: ['controlling terminal'],
      note: 'logging out of this console sends SIGHUP: the build stops cleanly and can be resumed',
    };
  return {
    kind: 'none',
    tty: null,
    evidence: [],
    note: 'no terminal: a service, a cron job or CI; signals come only from whoever started it',
  };
}

const ENDED: readonly StepStatus[] = ['done', 'skipped', 'failed', 'interrupted'];

/** Steps whose status became final (or final again, after another attempt) between two ledgers. */
export function endedSteps(before: Ledger, after: Ledger): string[] {
  return Object.values(after)
    .filter(
      (e) => ENDED.includes(e.status) && (before[e.id]?.status !== e.status || before[e.id]?.attempts !== e.attempts),
    )
    .map((e) => e.id);
}

const KEEP_CHECKS = 500;
const KEEP_SIGNALS = 500;

/**
 * Records the session-safety invariant of a build run into `record`, which the engine keeps in its
 * state file. Signals are the guard's journal of this process: one CLI process runs one build.
 */
export class SafetyRecorder {
  readonly record: StateSafety;
  private readonly ancestors: ProcStat[];
  private readonly earlierSignals: StateSafety['signals'];

  /** Refusals before this run (tests run many builds in one process); the CLI runs one build per process. */
  private readonly refusalsBefore = signalRefusals();

  /** `ancestors`: our ancestor chain at the start (read from /proc unless a test gives one). */
  constructor(
    private readonly runId: string,
    previous?: StateSafety | null,
    ancestors: ProcStat[] = ancestorChain(),
  ) {
    this.ancestors = ancestors;
    this.earlierSignals = (previous?.signals ?? []).filter((s) => s.runId !== runId);
    this.record = {
      session: detectSession(),
      ancestors: this.ancestors.map(({ pid, comm, startTicks }) => ({ pid, comm, startTicks })),
      signals: [...this.earlierSignals],
      checks: [...(previous?.checks ?? [])].slice(-KEEP_CHECKS),
    };
  }

  /** Appends one check: step null at the start of the run, the step's id after it ended. */
  check(step: string | null, phase: StateSafetyCheck['phase']): StateSafetyCheck {
    const journal = signalJournal();
    const own = readProcStat('self');
    // an ancestor that has exited (the shell of a nohup'd build) protects nothing: its pid may now be a group of ours
    const alive = this.ancestors.filter((a) => readProcStat(a.pid)?.startTicks === a.startTicks);
    const protectedIds = new Set([1, process.pid, ...alive.map((a) => a.pid)]);
    const ours = (s: SignalRecord) =>
      !protectedIds.has(Math.abs(s.target)) && !(s.target < 0 && own !== null && -s.target === own.pgrp);
    const check: StateSafetyCheck = {
      at: new Date().toISOString(),
      runId: this.runId,
      step,
      phase,
      signalsSent: journal.length,
      refused: signalRefusals() - this.refusalsBefore,
      allOurs: journal.every(ours),
      ancestorsAlive: alive.length === this.ancestors.length,
    };
    this.record.checks.push(check);
    if (this.record.checks.length > KEEP_CHECKS) this.record.checks.splice(0, this.record.checks.length - KEEP_CHECKS);
    this.record.signals = [...this.earlierSignals, ...journal.map((s) => ({ ...s, runId: this.runId }))].slice(
      -KEEP_SIGNALS,
    );
    return check;
  }
}

/**
 * What makes a check a violation, in words, or null: a signal the guard refused (a bug it stopped), or one that went
 * to a process outside the build's groups. An ancestor that exited is not one: a nohup'd build outlives its shell,
 * and a closed terminal sends SIGHUP, which stops the build anyway.
 */
export function checkViolation(check: StateSafetyCheck): string | null {
  const problems = [
    ...(check.refused > 0 ? [`the signal guard refused ${check.refused} signal(s)`] : []),
    ...(check.allOurs ? [] : ["a signal went to a process outside the build's own groups"]),
  ];
  return problems.length > 0 ? problems.join('; ') : null;
}

/** The session record as status and the report show it: the latest run's checks, the last one, any violation. */
export interface SafetySummary {
  session: SessionKind;
  checks: number;
  lastCheck: { at: string; step: string | null; phase: StateSafetyCheck['phase'] } | null;
  /** Whether every ancestor of the start was still there at the last check (an exited one is no violation). */
  ancestorsAlive: boolean | null;
  /** The first violation of the run, with the step after which it was seen; null when every check was ok. */
  violation: string | null;
}

export function summarizeSafety(record: StateSafety | undefined, runId: string): SafetySummary | null {
  if (!record) return null;
  const checks = record.checks.filter((c) => c.runId === runId);
  const last = checks.at(-1) ?? null;
  const bad = checks.find((c) => checkViolation(c) !== null);
  return {
    session: record.session.kind,
    checks: checks.length,
    lastCheck: last && { at: last.at, step: last.step, phase: last.phase },
    ancestorsAlive: last?.ancestorsAlive ?? null,
    violation: bad ? `${bad.step ? `after ${bad.step}` : `at the ${bad.phase}`}: ${checkViolation(bad)}` : null,
  };
}

/** One line for status and the report. */
export function renderSafetySummary(s: SafetySummary): string {
  const last = s.lastCheck
    ? `${s.checks} check(s), the last at ${s.lastCheck.at} (${s.lastCheck.phase}${s.lastCheck.step ? `, ${s.lastCheck.step}` : ''})`
    : 'no check yet';
  const verdict = s.violation ? `VIOLATION ${s.violation}` : 'ok';
  const gone = s.ancestorsAlive === false ? '; a parent process has exited since the start (not a violation)' : '';
  return `${s.session} session, ${last}: ${verdict}${gone}`;
}
