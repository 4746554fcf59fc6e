/**
 * The build machine as a graph, read from its real definition: every StateNode under
 * `machine.root`, and every transition (events, eventless, invoke done/error, state done, delays).
 * No state name is assumed here; renderers only style by name.
 */
import type { AnyStateMachine } from 'xstate';

export type StateKind = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

export interface GraphNode {
  /** The XState id, e.g. `build.pipeline.packages.running`. */
  id: string;
  key: string;
  kind: StateKind;
  parent: string | null;
  children: string[];
  /** Depth below the root (the root is 0). */
  depth: number;
  /** Child the state enters first (compound states). */
  initial: string | null;
  /** Ids and sources of the actors it invokes. */
  invokes: Array<{ id: string; src: string }>;
}

export type EdgeKind = 'event' | 'always' | 'done' | 'error' | 'after' | 'initial';

export interface GraphEdge {
  source: string;
  target: string;
  kind: EdgeKind;
  /** The raw event type (empty for eventless and initial transitions). */
  event: string;
  guard: string | null;
  /** What a reader needs: `done`, `error`, `INTERRUPT`, `[canRetry]`... */
  label: string;
}

export interface MachineGraph {
  rootId: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The parts of a StateNode this module reads; XState's own class satisfies it. */
interface StateNodeLike {
  id: string;
  key: string;
  type: StateKind;
  states: Record<string, StateNodeLike>;
  parent?: StateNodeLike;
  initial?: { target: ReadonlyArray<{ id: string }> } | undefined;
  invoke: ReadonlyArray<{ id: string; src: unknown }>;
  transitions: Map<string, ReadonlyArray<TransitionLike>>;
  always?: ReadonlyArray<TransitionLike> | undefined;
}

interface TransitionLike {
  target?: ReadonlyArray<{ id: string }> | undefined;
  guard?: unknown;
}

/** Walks the machine definition; nodes in document order (parents before children). */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as StateNodeLike;
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const visit = (node: StateNodeLike, depth: number) => {
    const children = Object.values(node.states ?? {});
    const initial = node.type === 'compound' ? (node.initial?.target[0]?.id ?? null) : null;
    nodes.push({
      id: node.id,
      key: node.key,
      kind: node.type,
      parent: node.parent?.id ?? null,
      children: children.map((c) => c.id),
      depth,
      initial,
      invokes: node.invoke.map((i) => ({ id: i.id, src: typeof i.src === 'string' ? i.src : 'actor' })),
    });
    if (initial) edges.push({ source: node.id, target: initial, kind: 'initial', event: '', guard: null, label: '' });
    const pathKeys = ancestorKeys(node);
    for (const [event, defs] of node.transitions) {
      for (const t of defs) addEdges(edges, node, t, event, pathKeys);
    }
    const always = node.always ?? [];
    always.forEach((t, i) => {
      addEdges(edges, node, t, '', pathKeys, i > 0 && !t.guard);
    });
    for (const child of children) visit(child, depth + 1);
  };
  visit(root, 0);
  return { rootId: root.id, nodes, edges };
}

function ancestorKeys(node: StateNodeLike): Set<string> {
  const keys = new Set<string>();
  for (let n: StateNodeLike | undefined = node; n; n = n.parent) keys.add(n.key);
  return keys;
}

function addEdges(
  edges: GraphEdge[],
  node: StateNodeLike,
  t: TransitionLike,
  event: string,
  pathKeys: Set<string>,
  isElse = false,
): void {
  const kind = edgeKind(event);
  const guard = describeGuard(t.guard, pathKeys);
  const base = eventLabel(event, kind);
  const label = [base, guard ? `[${guard}]` : isElse ? '[else]' : ''].filter(Boolean).join(' ');
  // A targetless transition (an action only) stays on the node itself.
  const targets = t.target && t.target.length > 0 ? t.target.map((x) => x.id) : [node.id];
  for (const target of targets) edges.push({ source: node.id, target, kind, event, guard, label });
}

function edgeKind(event: string): EdgeKind {
  if (event === '') return 'always';
  if (event.startsWith('xstate.done.')) return 'done';
  if (event.startsWith('xstate.error.')) return 'error';
  if (event.startsWith('xstate.after.')) return 'after';
  return 'event';
}

function eventLabel(event: string, kind: EdgeKind): string {
  switch (kind) {
    case 'always':
      return '';
    case 'done':
      return 'done';
    case 'error':
      return 'error';
    case 'after':
      return `after ${event.split('.')[2] ?? ''}`.trim();
    default:
      return event;
  }
}

/** `canRetry`, or `outcomeIs succeeded`: the guard's type and those string params that are not just the state's own key. */
export function describeGuard(guard: unknown, pathKeys: Set<string> = new Set()): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object') {
    const g = guard as { type?: unknown; params?: unknown };
    const type = typeof g.type === 'string' ? g.type : 'guard';
    const params = g.params && typeof g.params === 'object' ? Object.values(g.params as Record<string, unknown>) : [];
    const shown = params.filter((v): v is string => typeof v === 'string' && !pathKeys.has(v));
    return [type, ...shown].join(' ');
  }
  return 'guard';
}

/** Every node id below (and including) id. */
export function descendants(graph: MachineGraph, id: string): string[] {
  const byId = nodeIndex(graph);
  const out: string[] = [];
  const walk = (nid: string) => {
    out.push(nid);
    for (const c of byId.get(nid)?.children ?? []) walk(c);
  };
  walk(id);
  return out;
}

export function nodeIndex(graph: MachineGraph): Map<string, GraphNode> {
  return new Map(graph.nodes.map((n) => [n.id, n]));
}

/**
 * The node whose children are the build's steps: the one compound state that has a child for
 * every step id given. Found by shape, not by name.
 */
export function stepContainer(graph: MachineGraph, order: readonly string[]): GraphNode | null {
  if (order.length === 0) return null;
  const byId = nodeIndex(graph);
  for (const node of graph.nodes) {
    const keys = new Set(node.children.map((c) => byId.get(c)!.key));
    if (order.every((id) => keys.has(id))) return node;
  }
  return null;
}

/** Step id to the id of the step's own state node. */
export function stepNodeIds(graph: MachineGraph, order: readonly string[]): Map<string, string> {
  const container = stepContainer(graph, order);
  const out = new Map<string, string>();
  if (!container) return out;
  const byId = nodeIndex(graph);
  for (const c of container.children) {
    const key = byId.get(c)!.key;
    if (order.includes(key)) out.set(key, c);
  }
  return out;
}

/** Turns an XState state value (`{ pipeline: { packages: 'running' } }`) into the ids of the active leaf states. */
export function activeLeafIds(rootId: string, value: unknown): string[] {
  const out: string[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (typeof v === 'string') out.push(`${prefix}.${v}`);
    else if (v && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) out.push(prefix);
      for (const [k, child] of entries) walk(`${prefix}.${k}`, child);
    }
  };
  walk(rootId, value);
  return out;
}
