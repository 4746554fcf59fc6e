/**
 * What `ailinux inspect` draws: the machine generated for a step list (the work dir's recorded
 * order, or a profile's), its graph, and the marks from the ledger and the persisted snapshot.
 */
import type { StateFile } from '../../state/schema.js';
import { createBuildMachine } from '../../machines/build-machine.js';
import type { Ledger } from '../types.js';
import { compactGraph, compactMarks, renderCompactDot, stepDetailGraph, type CompactGraph } from './compact.js';
import { renderDot } from './dot.js';
import { machineGraph, type MachineGraph } from './graph.js';
import { activeStateIds, markGraph, type InspectView, type NodeMark } from './marks.js';

export interface InspectModel {
  title: string;
  graph: MachineGraph;
  view: InspectView;
  marks: Map<string, NodeMark>;
  active: string[];
  /** The picture drawn by default: one node per step, then cleanup and the final states. */
  compact: CompactGraph;
  compactMarks: Map<string, NodeMark>;
}

const graphs = new Map<string, MachineGraph>();

/** The graph of the machine createBuildMachine makes for these steps (cached per step list). */
export function graphFor(order: readonly string[]): MachineGraph {
  const key = order.join('\u0000');
  let g = graphs.get(key);
  if (!g) {
    g = machineGraph(createBuildMachine(order));
    graphs.set(key, g);
  }
  return g;
}

export function buildModel(title: string, view: InspectView): InspectModel {
  const graph = graphFor(view.order);
  const marks = markGraph(graph, view);
  const active = activeStateIds(graph, view);
  const compact = compactGraph(graph, view.order);
  return {
    title,
    graph,
    view,
    marks,
    active,
    compact,
    compactMarks: compactMarks(graph, compact, view, marks, active),
  };
}

/** The DOT of the picture: the compact one, or with `detail` the whole machine. */
export function pictureDot(model: InspectModel, detail = false): string {
  return detail
    ? renderDot(model.graph, model.marks, { title: model.title })
    : renderCompactDot(model.compact, model.compactMarks, { title: model.title, full: model.graph });
}

/** Before the ids of a step's sub-state picture: the page holds it beside the compact picture, whose step node has the step's id. */
export const DETAIL_ID_PREFIX = 'detail:';

/** Each step's sub-states as DOT, by the step's node id: what the pages show when a step is expanded. */
export function stepDetailDots(model: InspectModel): Map<string, string> {
  const out = new Map<string, string>();
  for (const nodeId of model.compact.steps.values())
    out.set(nodeId, renderDot(stepDetailGraph(model.graph, nodeId), model.marks, { idPrefix: DETAIL_ID_PREFIX }));
  return out;
}

/** The machine as the state file records it. `live` is false when the build's process died mid-run. */
export function modelFromState(state: StateFile, live: boolean): InspectModel {
  const snapshot = state.snapshot as { value?: unknown } | null;
  return buildModel(`${state.profile} · ${state.outcome}`, {
    order: state.order,
    ledger: state.ledger,
    current: state.current,
    stateValue: snapshot?.value ?? null,
    outcome: state.outcome,
    live,
    runId: state.runId,
    flags: state.userFlags,
  });
}

/** The machine a profile would run, nothing done yet. */
export function modelFromOrder(title: string, order: readonly string[], ledger: Ledger = {}): InspectModel {
  return buildModel(title, { order, ledger, current: null, stateValue: null, outcome: null, live: true });
}

/** Marks as a plain object, for JSON. */
export function marksObject(marks: Map<string, NodeMark>): Record<string, NodeMark> {
  return Object.fromEntries(marks);
}
