/**
 * What `ailinux inspect` draws: the machine generated for a step list (the work dir's recorded
 * order, or a profile's), its graph, and the marks from the ledger and the persisted snapshot.
 */
import type { StateFile } from '../../state/schema.js';
import { createBuildMachine } from '../../machines/build-machine.js';
import type { Ledger } from '../types.js';
import { machineGraph, type MachineGraph } from './graph.js';
import { activeStateIds, markGraph, type InspectView, type NodeMark } from './marks.js';

export interface InspectModel {
  title: string;
  graph: MachineGraph;
  view: InspectView;
  marks: Map<string, NodeMark>;
  active: string[];
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
  return { title, graph, view, marks: markGraph(graph, view), active: activeStateIds(graph, view) };
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
