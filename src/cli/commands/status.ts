/** ailinux status: each step's state, durations, attempts and last error. Reads only; needs no root. */
import { readStateQuick } from '../../../state/read-quick.js';
import type { StateFile } from '../../../state/schema.js';
import { formatDuration } from '../../engine/progress.js';
import { lockState, type LockState } from '../../runtime/lock.js';
import { workPaths } from '../../runtime/paths.js';
import { isInFlight, type LedgerEntry } from '../../types.js';
import { renderStatusDetails, statusDetails, type StatusDetails } from '../../inspect/status-details.js';
import { renderSafetySummary, type SafetySummary, summarizeSafety } from '../../runtime/session.js';
import { terminalJson, terminalText } from '../../runtime/terminal-text.js';
import pc from 'picocolors';
import { renderHintCommand, renderHintText, type UserFlags } from '../hint.js';
import type { CliIO } from '../io.js';
import { type Colors, colourFor, paintStatus } from '../progress-format.js';

export interface StatusRow {
  id: string;
  status: LedgerEntry['status'];
  durationMs: number | null;
  attempts: number;
  note: string | null;
  error: LedgerEntry['error'];
}

export interface StatusReport {
  workDir: string;
  exists: boolean;
  outcome: StateFile['outcome'] | null;
  pauseReason: string | null;
  profile: string | null;
  current: string | null;
  updatedAt: string | null;
  /** The work dir's lock; null when there is none. */
  lock: StatusLock | null;
  steps: StatusRow[];
  /** Machine state, timeline, log tail and host figures: what `ailinux inspect --serve` shows. */
  details: StatusDetails | null;
  /** The latest run's session-safety checks: the last one and any violation (docs/safety.md). */
  safety: SafetySummary | null;
}

export interface StatusLock {
  /** held: its owner runs here; foreign: held from another host, which we cannot check; stale: its owner is gone. */
  state: Exclude<LockState['kind'], 'free'>;
  /** The owner the lock names; null when it is unreadable. */
  pid: number | null;
  host: string | null;
  startedAt: string | null;
  command: string | null;
  /** Its owner runs on this host: the build is live, and its pid is ours to sample. */
  alive: boolean;
  /** Why it is stale or unreadable. */
  why: string | null;
}

/** The lock as status shows it: read only, never taken or changed. */
export function statusLock(found: LockState): StatusLock | null {
  if (found.kind === 'free') return null;
  if (found.kind === 'unreadable')
    return { state: 'unreadable', pid: null, host: null, startedAt: null, command: null, alive: false, why: found.why };
  if (found.owner === null)
    return { state: 'held', pid: null, host: null, startedAt: null, command: null, alive: true, why: null };
  const { pid, host, startedAt, command } = found.owner;
  const why = found.kind === 'stale' ? found.why : null;
  return { state: found.kind, pid, host, startedAt, command, alive: found.kind === 'held', why };
}

/** No owner runs the build: none here, and none on another host (which may run it; we cannot check). */
function ownerGone(lock: StatusLock | null): boolean {
  return !lock?.alive && lock?.state !== 'foreign';
}

/** Reads the state without zod or xstate when it can (state/read-quick.ts, status-details.ts): `status` starts fast. */
export async function statusReport(workDir: string): Promise<StatusReport> {
  const paths = workPaths(workDir);
  const state = await readStateQuick(paths.stateFile);
  const lock = statusLock(lockState(paths.lockFile));
  if (!state)
    return {
      workDir: paths.workDir,
      exists: false,
      outcome: null,
      pauseReason: null,
      profile: null,
      current: null,
      updatedAt: null,
      lock,
      steps: [],
      details: null,
      safety: null,
    };
  // A build whose lock owner is gone did not stop cleanly: it crashed or was killed.
  const crashed = state.outcome === 'running' && ownerGone(lock);
  return {
    workDir: paths.workDir,
    exists: true,
    outcome: state.outcome,
    pauseReason: state.outcome === 'paused' ? (state.pauseReason ?? null) : null,
    profile: state.profile,
    current: state.current,
    updatedAt: state.updatedAt,
    lock,
    steps: state.order.map((id) => {
      const e = state.ledger[id];
      const status = e?.status ?? 'pending';
      const inFlight = isInFlight(status);
      return {
        id,
        status: crashed && inFlight ? 'interrupted' : status,
        durationMs: e?.durationMs ?? null,
        attempts: e?.attempts ?? 0,
        note: e?.error
          ? e.error.message
          : status === 'skipped'
            ? (e?.reason ?? null)
            : crashed && inFlight
              ? 'the build process died during this step'
              : null,
        error: e?.error ?? null,
      };
    }),
    details: await statusDetails(paths, state, !crashed, lock?.alive ? lock.pid : null),
    safety: summarizeSafety(state.safety, state.runId),
  };
}

/** The outcome's colour: as a step's status (succeeded as done), a pause as an interruption. */
const OUTCOME_PAINT: Record<string, Parameters<typeof paintStatus>[1]> = {
  succeeded: 'done',
  failed: 'failed',
  paused: 'interrupted',
  interrupted: 'interrupted',
  stopped: 'interrupted',
  running: 'started',
};

/**
 * The report as text. Every command in it (a fix, the command that goes on) carries `flags`, the user's own -C,
 * --work-dir and --config; `colors` paints the outcome and the status column (off by default). Text that came from
 * the state, a log or a lock file is made safe for the terminal here, piece by piece, so the colours survive.
 */
export function renderStatus(
  report: StatusReport,
  flags: UserFlags = {},
  colors: Colors = pc.createColors(false),
): string {
  const safe = (text: string) => terminalText(renderHintText(text, flags));
  if (!report.exists) return `no build in ${terminalText(report.workDir)}\n`;
  const lock = report.lock;
  const stopped = report.outcome === 'running' && ownerGone(lock);
  const outcome = stopped ? 'stopped' : String(report.outcome);
  const resume = renderHintCommand(['ailinux', 'resume'], flags);
  const head = [
    `work dir: ${terminalText(report.workDir)}`,
    `profile:  ${terminalText(String(report.profile))}`,
    `outcome:  ${paintStatus(colors, OUTCOME_PAINT[outcome] ?? 'running', outcome)}${stopped ? ' (the build process is gone)' : ''}${report.current ? ` (at ${terminalText(report.current)})` : ''}`,
    `updated:  ${terminalText(String(report.updatedAt))}`,
  ];
  if (report.pauseReason) head.push(`paused:   ${safe(report.pauseReason)}`);
  // what to type to go on: after a failure (once its cause is fixed), a pause, an interruption or a crash
  if (stopped || ['failed', 'paused', 'interrupted'].includes(outcome)) head.push(`next:     ${terminalText(resume)}`);
  const lockLine = renderStatusLock(lock);
  if (lockLine) head.push(terminalText(lockLine));
  if (report.safety) head.push(`safety:   ${terminalText(renderSafetySummary(report.safety))}`);
  const rows = report.steps.flatMap((s) => [
    `${terminalText(s.id).padEnd(16)} ${paintStatus(colors, s.status, s.status.padEnd(11))} ${formatDuration(s.durationMs).padStart(10)} ${String(s.attempts).padStart(8)}  ${safe(s.note ?? '')}`.trimEnd(),
    // a failed step's fix, as the step gave it, under its row, with its command ready to paste
    ...(s.status === 'failed' && s.error?.hint ? [`${' '.repeat(16)} fix: ${safe(s.error.hint)}`] : []),
    ...(s.status === 'failed' && s.error?.hintArgv
      ? [`${' '.repeat(16)} run: ${terminalText(renderHintCommand(s.error.hintArgv, flags))}`]
      : []),
  ]);
  const table = `${head.join('\n')}\n\n${'step'.padEnd(16)} ${'status'.padEnd(11)} ${'duration'.padStart(10)} ${'attempts'.padStart(8)}  note\n${rows.join('\n')}\n`;
  if (!report.details) return table;
  const logCommand = (step: string) => renderHintCommand(['ailinux', 'log', step], flags);
  return `${table}\n${terminalText(renderStatusDetails(report.details, logCommand))}`;
}

function renderStatusLock(lock: StatusLock | null): string | null {
  if (lock === null) return null;
  const since = `pid ${lock.pid} on ${lock.host} since ${lock.startedAt}`;
  switch (lock.state) {
    case 'held':
      return lock.pid === null ? 'running:  (its owner is not recorded yet)' : `running:  ${since}`;
    case 'foreign':
      return `lock:     held by ${since} (another host: ailinux cannot check it from here, and never takes it over)`;
    case 'stale':
      return `lock:     stale, left by pid ${lock.pid} (${lock.why}); the next build takes it over`;
    case 'unreadable':
      return `lock:     unreadable (${lock.why}); the next build takes it over`;
  }
}

export async function runStatusCommand(
  options: { workDir: string; json?: boolean; workDirGiven?: boolean },
  io: CliIO,
): Promise<number> {
  const report = await statusReport(options.workDir);
  const flags = io.hintFlags ?? (options.workDirGiven ? { workDir: options.workDir } : {});
  // the ledger, the log tail and the lock's command line came from commands and files: no escape reaches the
  // terminal (renderStatus cleans each piece); colour on a terminal, per NO_COLOR and FORCE_COLOR
  io.stdout.write(
    options.json
      ? terminalJson(`${JSON.stringify(report, null, 2)}\n`)
      : renderStatus(report, flags, colourFor(io.stdout, io.env)),
  );
  return 0;
}
