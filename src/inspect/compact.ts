/**
 * The picture that reads at a glance: one node per step in a column, with its status colour,
 * duration and attempts, then the state the steps end in (cleanup) and the machine's final states.
 * It is a projection of the real machine graph (graph.ts): each state below a step is drawn as
 * that step, and a transition is kept when it links two drawn nodes. Steps are found by shape
 * (stepContainer), the end states as the container's siblings that lead to a final state, and the
 * finals by their kind; no state name is assumed. The step's own sub-states are drawn on demand
 * (stepDetailGraph): `inspect --detail` draws them all, the pages expand one on click.
 */
import { dotHtmlText, PALETTE, quoteId, type DotOptions, type Palette } from './dot.js';
import { formatMs, truncate } from './format.js';
import { descendants, nodeIndex, stepContainer, type GraphEdge, type GraphNode, type MachineGraph } from './graph.js';
import { entryInRun, previousNote, type InspectView, type MarkClass, type NodeMark } from './marks.js';
import { isInFlight } from '../types.js';

export interface CompactGraph {
  /** The drawn nodes (under the machine's root) and the transitions between them. */
  graph: MachineGraph;
  /** Step id to its node id, in run order. */
  steps: Map<string, string>;
  /** The node the steps sit in, in the full graph. */
  containerId: string | null;
  /** The states after the steps (cleanup) and the final states, in definition order. */
  ends: string[];
}

/** The compact view of a machine graph for a step order. */
export function compactGraph(graph: MachineGraph, order: readonly string[]): CompactGraph {
  const byId = nodeIndex(graph);
  const root = byId.get(graph.rootId)!;
  const container = stepContainer(graph, order);
  const steps = new Map<string, string>();
  if (container) {
    for (const id of order) {
      const child = container.children.find((c) => byId.get(c)!.key === id);
      if (child) steps.set(id, child);
    }
  }
  // the container's top-level ancestor: what the steps are inside of at the root
  let top: string | null = container?.id ?? null;
  while (top && byId.get(top)!.parent !== graph.rootId) top = byId.get(top)!.parent;
  const finals = root.children.filter((c) => byId.get(c)!.kind === 'final');
  const leadsToFinal = (id: string) => graph.edges.some((e) => e.source === id && finals.includes(e.target));
  const ends = root.children.filter(
    (c) => c !== top && (byId.get(c)!.kind === 'final' || (byId.get(c)!.children.length === 0 && leadsToFinal(c))),
  );

  // every state below a step is drawn as that step
  const rep = new Map<string, string>();
  for (const nodeId of steps.values()) for (const d of descendants(graph, nodeId)) rep.set(d, nodeId);
  for (const e of ends) rep.set(e, e);

  const drawn = [...steps.values(), ...ends];
  const nodes: GraphNode[] = [
    { ...root, children: drawn, initial: steps.values().next().value ?? null },
    ...drawn.map((id) => {
      const n = byId.get(id)!;
      return { ...n, parent: graph.rootId, children: [], depth: 1, initial: null };
    }),
  ];
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  for (const e of graph.edges) {
    if (e.kind === 'initial') continue;
    const source = rep.get(e.source);
    const target = rep.get(e.target);
    if (!source || !target || source === target) continue;
    // a transition out of a step's sub-state is named by that sub-state when it has no event of its own
    const label = e.label || byId.get(e.source)!.key;
    const key = `${source}\u0000${target}\u0000${label}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push({ ...e, source, target, label });
  }
  return { graph: { rootId: graph.rootId, nodes, edges }, steps, containerId: container?.id ?? null, ends };
}

/** One step's sub-states as a graph of their own: the step is the root, transitions leaving it are left out. */
export function stepDetailGraph(graph: MachineGraph, stepNodeId: string): MachineGraph {
  const byId = nodeIndex(graph);
  const ids = new Set(descendants(graph, stepNodeId));
  const base = byId.get(stepNodeId)!.depth;
  return {
    rootId: stepNodeId,
    nodes: graph.nodes
      .filter((n) => ids.has(n.id))
      .map((n) => ({ ...n, depth: n.depth - base, parent: n.id === stepNodeId ? null : n.parent })),
    edges: graph.edges.filter((e) => ids.has(e.source) && ids.has(e.target)),
  };
}

/** "1 attempt", "3 attempts". */
function attemptsText(n: number): string {
  return `${n} attempt${n === 1 ? '' : 's'}`;
}

/**
 * The compact picture's marks: a step carries its status class (done, failed, skipped,
 * interrupted, in-flight, pending, retried) and is the current one (active, or stale when the build's
 * process died) when the machine is in one of its sub-states; its notes are one status line
 * (status · duration · attempts, or the sub-state it is in) and, for a failed step, the error.
 */
export function compactMarks(
  full: MachineGraph,
  compact: CompactGraph,
  view: InspectView,
  fullMarks: Map<string, NodeMark>,
  active: readonly string[],
): Map<string, NodeMark> {
  const byId = nodeIndex(full);
  const live = view.live !== false;
  const marks = new Map<string, NodeMark>();
  for (const [stepId, nodeId] of compact.steps) {
    const classes: MarkClass[] = (fullMarks.get(nodeId)?.classes ?? []).filter((c) => c !== 'active-parent');
    const here = active.find((a) => a === nodeId || a.startsWith(`${nodeId}.`));
    if (here) classes.unshift(live ? 'active' : 'stale');
    const entry = view.ledger[stepId];
    const seen = entryInRun(entry, view.runId);
    const notes: string[] = [];
    if (!entry || seen.status === 'pending') {
      notes.push(seen.previous ? `pending · ${previousNote(seen.previous)}` : 'pending');
    } else {
      const s = entry.status;
      const parts: string[] = [];
      if (here && isInFlight(s)) parts.push(live ? `now: ${byId.get(here)!.key}` : `stopped in ${byId.get(here)!.key}`);
      else parts.push(s);
      if (s === 'skipped') parts.push(truncate(entry.reason ?? 'checkpoint reused', 40));
      else {
        if (entry.durationMs !== null) parts.push(formatMs(entry.durationMs));
        else if (isInFlight(s) && entry.startedAt) parts.push(`since ${entry.startedAt.slice(11, 19)}`);
        if (entry.attempts > 0) parts.push(attemptsText(entry.attempts));
      }
      notes.push(parts.join(' · '));
      if (entry.error && s !== 'done' && s !== 'skipped') notes.push(`error: ${truncate(entry.error.message, 60)}`);
    }
    marks.set(nodeId, { classes, notes });
  }
  for (const id of compact.ends) {
    const m = fullMarks.get(id);
    if (m) marks.set(id, { classes: [...m.classes], notes: [...m.notes] });
  }
  return marks;
}

/**
 * Styling by class for the compact picture: the full picture's palette (dot.ts), first class in that order wins,
 * without the retried mark (a step node says its attempts in words) and with pending drawn plain.
 */
const COMPACT_PALETTE: Array<[MarkClass, Palette]> = [
  ...PALETTE.filter(([cls]) => cls !== 'retried'),
  ['pending', { fill: '#ffffff', border: '#adb5bd', penwidth: 1 }],
];

/** The fill a node of the compact picture gets for its marks (tests read it back from the DOT). */
export function compactFill(mark: NodeMark | undefined): string {
  for (const [cls, p] of COMPACT_PALETTE) if (mark?.classes.includes(cls)) return p.fill;
  return '#ffffff';
}

function attr(a: Record<string, string | number | { html: string } | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? `<${v.html}>` : typeof v === 'number' ? v : quoteId(v as string)}`)
    .join(', ');
}

/**
 * DOT of the compact picture: the steps in one column inside a frame, the end states below. The
 * transition every step has into the same end state (a failure, INTERRUPT, PAUSE) is drawn once,
 * from the frame, with the union of its labels; the step-to-step `done` chain is the column.
 */
export function renderCompactDot(
  compact: CompactGraph,
  marks: Map<string, NodeMark>,
  options: Pick<DotOptions, 'title'> & { full?: MachineGraph } = {},
): string {
  const { graph } = compact;
  const byId = nodeIndex(graph);
  const lines: string[] = [];
  const out = (depth: number, text: string) => lines.push(`${'  '.repeat(depth)}${text}`);
  const FONT = 'Helvetica';
  out(0, `digraph ${quoteId(graph.rootId)} {`);
  out(
    1,
    `graph [${attr({ rankdir: 'TB', compound: 'true', fontname: FONT, fontsize: 11, nodesep: 0.3, ranksep: 0.22, pad: 0.15, bgcolor: 'white', labelloc: 't', label: options.title ? { html: `<b>${dotHtmlText(options.title)}</b>` } : undefined })}];`,
  );
  out(
    1,
    `node [${attr({ shape: 'box', style: 'rounded,filled', fillcolor: 'white', color: '#adb5bd', fontname: FONT, fontsize: 10, width: 2.6, height: 0.42, margin: '0.1,0.04' })}];`,
  );
  out(1, `edge [${attr({ color: '#868e96', fontname: FONT, fontsize: 8, fontcolor: '#495057', arrowsize: 0.6 })}];`);

  const node = (depth: number, id: string, isStep: boolean) => {
    const n = byId.get(id)!;
    const mark = marks.get(id);
    const pal = COMPACT_PALETTE.find(([cls]) => mark?.classes.includes(cls))?.[1];
    const classes = ['state', isStep ? 'step' : n.kind, ...(mark?.classes ?? [])].join(' ');
    const notes = (mark?.notes ?? []).map((t) => `<font point-size="8">${dotHtmlText(t)}</font>`);
    const bold = isStep || mark?.classes.includes('active');
    const title = bold ? `<b>${dotHtmlText(n.key)}</b>` : dotHtmlText(n.key);
    out(
      depth,
      `${quoteId(id)} [${attr({
        id,
        class: classes,
        label: { html: [title, ...notes].join('<br/>') },
        style: ['rounded', 'filled', pal?.style].filter(Boolean).join(','),
        fillcolor: pal?.fill ?? 'white',
        color: pal?.border,
        penwidth: pal?.penwidth,
        width: isStep ? undefined : 1.2,
        peripheries: n.kind === 'final' ? 2 : undefined,
      })}];`,
    );
  };

  const stepIds = [...compact.steps.values()];
  const frame = compact.containerId ?? `${graph.rootId}.steps`;
  if (stepIds.length > 0) {
    out(1, `subgraph ${quoteId(`cluster_${frame}`)} {`);
    out(
      2,
      `graph [${attr({ id: `cluster:${frame}`, class: 'cluster steps', label: '', style: 'rounded,dashed', color: '#ced4da', margin: 10 })}];`,
    );
    for (const id of stepIds) node(2, id, true);
    out(1, '}');
  }
  const finals = compact.ends.filter((e) => byId.get(e)!.kind === 'final');
  for (const id of compact.ends) node(1, id, false);
  if (finals.length > 1) out(1, `{ rank=same; ${finals.map(quoteId).join('; ')}; }`);

  // every step's edges into one end state, drawn once from the frame when all steps have them
  const stepSet = new Set(stepIds);
  const shared = new Map<string, string[]>();
  for (const end of compact.ends) {
    const from = new Set(graph.edges.filter((e) => stepSet.has(e.source) && e.target === end).map((e) => e.source));
    if (stepIds.length > 1 && stepIds.every((s) => from.has(s))) shared.set(end, []);
  }
  const fullById = options.full ? nodeIndex(options.full) : null;
  const last = stepIds[stepIds.length - 1];
  for (const e of graph.edges) {
    const sharedLabels = shared.get(e.target);
    if (stepSet.has(e.source) && sharedLabels) {
      // the plain flow out of the last step is drawn on its own
      if (e.source === last && e.kind === 'done' && e.label === 'done') continue;
      if (!sharedLabels.includes(e.label)) sharedLabels.push(e.label);
    }
  }
  // the frame's own events (INTERRUPT, PAUSE on the container) into an end state join the shared edge
  if (fullById && compact.containerId) {
    for (const e of options.full!.edges) {
      if (e.source !== compact.containerId || e.kind !== 'event') continue;
      const labels = shared.get(e.target);
      if (labels && !labels.includes(e.label)) labels.push(e.label);
    }
  }
  const drawnPairs = new Set<string>();
  for (const e of graph.edges) {
    const key = `${e.source}\u0000${e.target}`;
    if (drawnPairs.has(key)) continue;
    const fromStep = stepSet.has(e.source);
    if (fromStep && shared.has(e.target) && !(e.source === last && e.kind === 'done' && e.label === 'done')) continue;
    drawnPairs.add(key);
    const toFinal = byId.get(e.target)?.kind === 'final';
    const a: Record<string, string | number | { html: string } | undefined> = { class: `transition ${e.kind}` };
    if (fromStep && stepSet.has(e.target)) Object.assign(a, { weight: 10, color: '#495057' });
    if (!toFinal && !(fromStep && stepSet.has(e.target)) && e.label !== 'done')
      a['label'] = { html: dotHtmlText(e.label) };
    out(1, `${quoteId(e.source)} -> ${quoteId(e.target)} [${attr(a)}];`);
  }
  for (const [end, labels] of shared) {
    if (!last) break;
    out(
      1,
      `${quoteId(last)} -> ${quoteId(end)} [${attr({
        ltail: `cluster_${frame}`,
        class: 'transition shared',
        style: 'dashed',
        color: '#e03131',
        fontcolor: '#c92a2a',
        label: { html: ['<i>from any step</i>', ...labels.map(dotHtmlText)].join('<br/>') },
      })}];`,
    );
  }
  out(0, '}');
  return `${lines.join('\n')}\n`;
}
