/** ailinux status: each step's state, durations, attempts and last error. Reads only; needs no root. */
import fs from 'node:fs';
import { readStateReadOnly } from '../../../state/store.js';
import type { StateFile } from '../../../state/schema.js';
import { formatDuration } from '../../engine/progress.js';
import { readLock } from '../../runtime/lock.js';
import { workPaths } from '../../runtime/paths.js';
import os from 'node:os';
import { isProcessAlive, readProcStartTicks } from '../../runtime/process-groups.js';
import type { LedgerEntry } from '../../types.js';
import { renderStatusDetails, statusDetails, type StatusDetails } from '../../inspect/status-details.js';
import type { CliIO } from '../io.js';

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
  lock: { pid: number; host: string; startedAt: string; command: string; alive: boolean } | null;
  steps: StatusRow[];
  /** Machine state, timeline, log tail and host figures: what `ailinux inspect --serve` shows. */
  details: StatusDetails | null;
}

export function statusReport(workDir: string): StatusReport {
  const paths = workPaths(workDir);
  const state = readStateReadOnly(paths.stateFile);
  const owner = fs.existsSync(paths.lockFile) ? readLock(paths.lockFile) : null;
  // The owner is alive only if its pid runs here with the start time it recorded: a reused pid is not it.
  const ownerAlive = (o: NonNullable<typeof owner>) =>
    o.host === os.hostname() &&
    isProcessAlive(o.pid) &&
    (o.procStart === null || readProcStartTicks(o.pid) === o.procStart);
  const lock = owner
    ? { pid: owner.pid, host: owner.host, startedAt: owner.startedAt, command: owner.command, alive: ownerAlive(owner) }
    : null;
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
    };
  // A build whose lock owner is gone did not stop cleanly: it crashed or was killed.
  const crashed = state.outcome === 'running' && !(lock?.alive ?? false);
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
      const inFlight =
        status === 'running' || status === 'verifying' || status === 'retrying' || status === 'recovering';
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
    details: statusDetails(paths, state, !crashed, lock?.alive ? lock.pid : null),
  };
}

export function renderStatus(report: StatusReport): string {
  if (!report.exists) return `no build in ${report.workDir}\n`;
  const head = [
    `work dir: ${report.workDir}`,
    `profile:  ${report.profile}`,
    `outcome:  ${report.outcome === 'running' && !report.lock?.alive ? 'stopped (the build process is gone; continue with ailinux resume)' : report.outcome}${report.current ? ` (at ${report.current})` : ''}`,
    `updated:  ${report.updatedAt}`,
  ];
  if (report.pauseReason) head.push(`paused:   ${report.pauseReason}`);
  if (report.lock?.alive)
    head.push(`running:  pid ${report.lock.pid} on ${report.lock.host} since ${report.lock.startedAt}`);
  const rows = report.steps.map((s) =>
    `${s.id.padEnd(16)} ${s.status.padEnd(11)} ${formatDuration(s.durationMs).padStart(10)} ${String(s.attempts).padStart(8)}  ${s.note ?? ''}`.trimEnd(),
  );
  const table = `${head.join('\n')}\n\n${'step'.padEnd(16)} ${'status'.padEnd(11)} ${'duration'.padStart(10)} ${'attempts'.padStart(8)}  note\n${rows.join('\n')}\n`;
  return report.details ? `${table}\n${renderStatusDetails(report.details)}` : table;
}

export function runStatusCommand(options: { workDir: string; json?: boolean }, io: CliIO): number {
  const report = statusReport(options.workDir);
  io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
  return 0;
}
