/**
 * What `ailinux status` adds to its step table so that it shows what the live page shows: the
 * machine state, a text timeline, the tail of the current step's log and the host's figures.
 */
import type { StateFile } from '../../state/schema.js';
import type { WorkPaths } from '../runtime/paths.js';
import { formatBytes, formatMs } from './format.js';
import { logStepOf, resourceFigures, stepLogTail, type LogTail, type ResourceFigures } from './figures.js';
import { buildTimeline, renderTimelineText, StepEventReader, type Timeline } from './timeline.js';

export interface StatusDetails {
  /** XState ids of the states the build is in (or stopped in). */
  activeStates: string[];
  timeline: Timeline;
  logTail: LogTail | null;
  resources: ResourceFigures;
}

/**
 * The states the build is in. A state with no machine value and no current step (a finished or never-started
 * build) is in none, which needs no machine; else the machine is built (with xstate, loaded here: `status` of a
 * finished build starts without it; issue 11, point 7).
 */
export async function activeStates(state: StateFile, live: boolean): Promise<string[]> {
  const value = (state.snapshot as { value?: unknown } | null)?.value;
  if ((value === undefined || value === null) && !state.current) return [];
  return (await import('./model.js')).modelFromState(state, live).active;
}

export async function statusDetails(
  paths: WorkPaths,
  state: StateFile,
  live: boolean,
  buildPid: number | null,
  logLines = 5,
): Promise<StatusDetails> {
  const active = await activeStates(state, live);
  const timeline = buildTimeline({
    order: state.order,
    ledger: state.ledger,
    events: new StepEventReader(paths.buildLog).read(state.runId),
    runId: state.runId,
    now: Date.now(),
    live: live && state.outcome === 'running',
  });
  return {
    activeStates: active,
    timeline,
    logTail: stepLogTail(paths.stepLogsDir, logStepOf(state.order, state.ledger, state.current), logLines),
    resources: resourceFigures(paths.workDir, buildPid),
  };
}

/** `logCommand`: the command that prints a step's whole log, as the CLI renders it (with the user's own flags). */
export function renderStatusDetails(
  d: StatusDetails,
  logCommand: (step: string) => string = (step) => `ailinux log ${step}`,
): string {
  const lines: string[] = [];
  lines.push(`state:    ${d.activeStates.join(', ') || '-'}`);
  const gantt = renderTimelineText(d.timeline);
  if (gantt.length > 0) {
    lines.push(
      '',
      `timeline (${formatMs(d.timeline.end! - d.timeline.start!)}; # run, = verify, ~ backoff, x undo):`,
      ...gantt.map((l) => `  ${l}`),
    );
  }
  if (d.logTail && d.logTail.lines.length > 0) {
    lines.push(
      '',
      `log of ${d.logTail.step} (last ${d.logTail.lines.length} lines; ${logCommand(d.logTail.step)} for all):`,
      ...d.logTail.lines.map((l) => `  ${l}`),
    );
  }
  const r = d.resources;
  const host = [
    `load ${r.load.map((x) => x.toFixed(2)).join(' ')} on ${r.cpus} CPUs`,
    `memory ${formatBytes(r.memory.availableBytes)} available of ${formatBytes(r.memory.totalBytes)}`,
    r.disk ? `disk ${formatBytes(r.disk.freeBytes)} free in ${r.disk.path}` : null,
    r.build ? `build pid ${r.build.pid} ${formatBytes(r.build.rssBytes)} resident` : null,
  ].filter(Boolean);
  lines.push('', `host:     ${host.join(' · ')}`);
  return `${lines.join('\n')}\n`;
}
