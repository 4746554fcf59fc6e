/**
 * What the picture highlights, from a ledger and the active states: the current state, finished
 * steps with their durations, skipped steps with the reason, failed steps with the error summary,
 * retried steps with their attempts. Pure; every renderer (DOT, Mermaid, SVG, HTML) uses it.
 */
import { isInFlight, type BuildOutcome, type Ledger, type LedgerEntry } from '../types.js';
import { activeLeafIds, nodeIndex, stepNodeIds, type MachineGraph } from './graph.js';
import { renderHintText, type UserFlags } from '../runtime/hint-command.js';
import { formatMs, truncate } from './format.js';

export type MarkClass =
  | 'active' // the state the build is in now
  | 'active-parent' // an ancestor of it
  | 'stale' // the state the build was in when its process died
  | 'done'
  | 'failed'
  | 'skipped'
  | 'interrupted'
  | 'retried'
  | 'in-flight'
  | 'pending';

export interface NodeMark {
  classes: MarkClass[];
  /** Short lines shown under the state's name. */
  notes: string[];
}

export interface InspectView {
  /** Step ids in run order. */
  order: readonly string[];
  ledger: Ledger;
  /** The step the build is at, as the state file says. */
  current: string | null;
  /** XState state value from the persisted snapshot, if any. */
  stateValue?: unknown;
  outcome?: BuildOutcome | null;
  /** False when the build's process is gone (crashed or killed): the active state is then stale. */
  live?: boolean;
  /** The run drawn; entries an earlier run left on steps this one has not reached are drawn pending. */
  runId?: string | null;
  /** The flags the user typed for the build (its state's userFlags), which a failed step's fix carries. */
  flags?: UserFlags | undefined;
}

/**
 * How a run sees a ledger entry. The ledger keeps what earlier runs left on the steps this run has
 * not reached yet (done, failed, interrupted there); until the machine gets to them they are
 * pending here, and `previous` is what the earlier run left.
 */
export function entryInRun(
  entry: LedgerEntry | undefined,
  runId: string | null | undefined,
): { status: LedgerEntry['status']; previous: LedgerEntry | null } {
  if (!entry) return { status: 'pending', previous: null };
  if (runId && entry.runId && entry.runId !== runId && entry.status !== 'skipped' && entry.status !== 'pending')
    return { status: 'pending', previous: entry };
  return { status: entry.status, previous: null };
}

/** "last run: done in 3.2 s", for an entry an earlier run left. */
export function previousNote(previous: LedgerEntry): string {
  return `last run: ${previous.status}${previous.durationMs !== null ? ` in ${formatMs(previous.durationMs)}` : ''}`;
}

/** The ids of the states the build is in: from the snapshot's value, else from the ledger's current step. */
export function activeStateIds(graph: MachineGraph, view: InspectView): string[] {
  const byId = nodeIndex(graph);
  if (view.stateValue !== undefined && view.stateValue !== null) {
    const ids = activeLeafIds(graph.rootId, view.stateValue).filter((id) => byId.has(id));
    if (ids.length > 0) return ids;
  }
  if (!view.current) return [];
  const stepNode = stepNodeIds(graph, view.order).get(view.current);
  if (!stepNode) return [];
  const status = view.ledger[view.current]?.status;
  const child = byId.get(stepNode)!.children.find((c) => byId.get(c)!.key === status);
  return [child ?? stepNode];
}

export function markGraph(graph: MachineGraph, view: InspectView): Map<string, NodeMark> {
  const byId = nodeIndex(graph);
  const marks = new Map<string, NodeMark>();
  const mark = (id: string, cls: MarkClass | null, note?: string) => {
    const m = marks.get(id) ?? { classes: [], notes: [] };
    if (cls && !m.classes.includes(cls)) m.classes.push(cls);
    if (note) m.notes.push(note);
    marks.set(id, m);
  };
  const live = view.live !== false;
  const steps = stepNodeIds(graph, view.order);

  for (const [stepId, nodeId] of steps) {
    const entry = view.ledger[stepId];
    const node = byId.get(nodeId)!;
    const child = (key: string) => node.children.find((c) => byId.get(c)!.key === key);
    const seen = entryInRun(entry, view.runId);
    if (!entry || seen.status === 'pending') {
      mark(nodeId, 'pending', seen.previous ? previousNote(seen.previous) : undefined);
      continue;
    }
    const s = entry.status;
    if (s === 'done') {
      mark(nodeId, 'done', `done in ${formatMs(entry.durationMs)}`);
    } else if (s === 'skipped') {
      mark(nodeId, 'skipped', `skipped: ${truncate(entry.reason ?? 'checkpoint reused', 70)}`);
    } else if (s === 'failed') {
      mark(nodeId, 'failed', `failed after ${formatMs(entry.durationMs)}`);
    } else if (s === 'interrupted') {
      mark(nodeId, 'interrupted', 'interrupted');
    } else if (isInFlight(s)) {
      if (live)
        mark(
          nodeId,
          'in-flight',
          s === 'running' && entry.startedAt ? `${s} since ${entry.startedAt.slice(11, 19)}` : s,
        );
      else mark(nodeId, 'interrupted', `${s} when the build process died`);
    }
    if (entry.error && (s === 'failed' || s === 'interrupted' || isInFlight(s))) {
      mark(
        nodeId,
        null,
        `error: ${truncate(`${entry.error.message}${entry.error.code && entry.error.code !== 'ERROR' ? ` (${entry.error.code})` : ''}`, 90)}`,
      );
      // whole, with the build's flags: a command cut short is worse than none (the label wraps it)
      if (entry.error.hint) mark(nodeId, null, `fix: ${renderHintText(entry.error.hint, view.flags)}`);
    }
    // a skipped step's attempts are those of the run that made its checkpoint
    if (entry.attempts > 1 && s !== 'skipped') {
      mark(nodeId, 'retried', `${entry.attempts} attempts`);
      const retrying = child('retrying');
      if (retrying) mark(retrying, 'retried', `${entry.attempts - 1}×`);
    }
    // the sub-state named like the ledger status is where the step ended (or is)
    const where = child(s);
    if (where && (s === 'done' || s === 'skipped' || s === 'failed')) mark(where, s);
  }

  const active = activeStateIds(graph, view);
  for (const id of active) {
    mark(id, live ? 'active' : 'stale', live ? undefined : 'stopped here');
    for (let p = byId.get(id)?.parent ?? null; p; p = byId.get(p)?.parent ?? null) mark(p, 'active-parent');
  }
  return marks;
}

/** The classes of a node as one string, for `class=` attributes. */
export function markClasses(marks: Map<string, NodeMark>, id: string): string {
  return (marks.get(id)?.classes ?? []).join(' ');
}
