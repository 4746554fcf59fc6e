/**
 * Graphviz DOT of the machine graph: every state node is one DOT node whose `id` is the XState
 * id (so the SVG has one element per state), compound states are clusters whose own node is the
 * header carrying the step's marks. Compound siblings chained by their `done` transitions (the
 * steps) are laid out in rows of `columns`, so the picture is not one very tall column.
 */
import { nodeIndex, type GraphEdge, type GraphNode, type MachineGraph } from './graph.js';
import { escapeHtml, printable } from './format.js';
import type { MarkClass, NodeMark } from './marks.js';

export interface DotOptions {
  /** A title drawn above the machine. */
  title?: string;
  /** Chained compound states (the steps) per row; default 2. */
  columns?: number;
  /** Put before every SVG element id, so a second picture of the same states can sit in one page (a step's sub-states beside the compact picture). */
  idPrefix?: string;
}

/** Graphviz sizes text with Helvetica's metrics (its WASM build has no fonts); svg.ts names the fonts browsers draw it with. */
const FONT = 'Helvetica';

export interface Palette {
  fill: string;
  border: string;
  text?: string;
  penwidth?: number;
  style?: string;
}

/** Styling by class; the first class in this order wins. */
export const PALETTE: Array<[MarkClass, Palette]> = [
  ['active', { fill: '#ffe08a', border: '#d9480f', penwidth: 3 }],
  ['stale', { fill: '#ffe8cc', border: '#d9480f', penwidth: 2, style: 'dashed' }],
  ['failed', { fill: '#ffd8d8', border: '#c92a2a', penwidth: 2 }],
  ['interrupted', { fill: '#e5dbff', border: '#6741d9', penwidth: 1.5 }],
  ['in-flight', { fill: '#fff3bf', border: '#e67700', penwidth: 2 }],
  ['done', { fill: '#d3f9d8', border: '#2b8a3e', penwidth: 1.2 }],
  ['skipped', { fill: '#e9ecef', border: '#868e96', style: 'dashed' }],
  ['retried', { fill: '#fff4e6', border: '#e8590c', penwidth: 1.5 }],
];

const CLUSTER_FILL: Partial<Record<MarkClass, string>> = {
  'active-parent': '#fffbea',
  'in-flight': '#fff9db',
  done: '#ebfbee',
  skipped: '#f1f3f5',
  failed: '#fff0f0',
  interrupted: '#f3f0ff',
  stale: '#fff4e6',
};

function paletteFor(mark: NodeMark | undefined): Palette | null {
  if (!mark) return null;
  for (const [cls, p] of PALETTE) if (mark.classes.includes(cls)) return p;
  return null;
}

export function quoteId(id: string): string {
  return `"${id.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** An HTML-like label's markup, written between `<` and `>`; any other text value is quoted, whatever it holds. */
interface HtmlLabel {
  html: string;
}

type AttrValue = string | number | HtmlLabel | undefined;

function attrs(a: Record<string, AttrValue>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? `<${v.html}>` : typeof v === 'number' ? v : quoteId(v as string)}`)
    .join(', ');
}

/** Text inside an HTML-like label: entities for < > & " ', and no control characters, which Graphviz refuses. */
export function dotHtmlText(text: string): string {
  return escapeHtml(printable(text));
}

function htmlLabel(title: string, notes: string[], sub: string | null, bold: boolean): HtmlLabel {
  const parts = [bold ? `<b>${dotHtmlText(title)}</b>` : dotHtmlText(title)];
  if (sub) parts.push(`<font point-size="7" color="#868e96">${dotHtmlText(sub)}</font>`);
  for (const n of notes) for (const line of wrap(n, 44)) parts.push(`<font point-size="8">${dotHtmlText(line)}</font>`);
  return { html: parts.join('<br/>') };
}

/** Breaks a note into lines of at most `width` characters, at spaces where it can. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '';
    }
    line = line ? `${line} ${word}` : word;
    while (line.length > width) {
      lines.push(line.slice(0, width));
      line = line.slice(width);
    }
  }
  if (line) lines.push(line);
  return lines;
}

export function clusterName(id: string): string {
  return `cluster_${id}`;
}

export function renderDot(
  graph: MachineGraph,
  marks: Map<string, NodeMark> = new Map(),
  options: DotOptions = {},
): string {
  const byId = nodeIndex(graph);
  const idPrefix = options.idPrefix ?? '';
  const isCompound = (id: string) => (byId.get(id)?.children.length ?? 0) > 0;
  const lines: string[] = [];
  const out = (depth: number, text: string) => lines.push(`${'  '.repeat(depth)}${text}`);

  out(0, `digraph ${quoteId(graph.rootId)} {`);
  out(
    1,
    `graph [${attrs({ rankdir: 'TB', compound: 'true', remincross: 'false', fontname: FONT, fontsize: 11, nodesep: 0.22, ranksep: 0.32, pad: 0.15, bgcolor: 'white', labelloc: 't', label: options.title ? { html: `<b>${dotHtmlText(options.title)}</b>` } : undefined })}];`,
  );
  out(
    1,
    `node [${attrs({ shape: 'box', style: 'rounded,filled', fillcolor: 'white', color: '#adb5bd', fontname: FONT, fontsize: 10, height: 0.3, margin: '0.08,0.03' })}];`,
  );
  out(1, `edge [${attrs({ color: '#868e96', fontname: FONT, fontsize: 8, fontcolor: '#495057', arrowsize: 0.6 })}];`);

  const emitNode = (node: GraphNode, depth: number) => {
    const mark = marks.get(node.id);
    const classes = ['state', node.kind, ...(mark?.classes ?? [])].join(' ');
    if (node.children.length > 0) {
      const fill = mark ? mark.classes.map((c) => CLUSTER_FILL[c]).find(Boolean) : undefined;
      const pal = paletteFor(mark);
      out(depth, `subgraph ${quoteId(clusterName(node.id))} {`);
      out(
        depth + 1,
        `graph [${attrs({ id: `${idPrefix}cluster:${node.id}`, class: `cluster ${classes}`, label: '', style: 'rounded,filled', fillcolor: fill ?? (node.depth === 0 ? 'white' : '#fcfcfd'), color: pal?.border ?? '#ced4da', penwidth: mark?.classes.includes('active-parent') ? 1.5 : 1 })}];`,
      );
      out(
        depth + 1,
        `${quoteId(node.id)} [${attrs({ id: `${idPrefix}${node.id}`, class: `${classes} header`, shape: 'plaintext', style: '', label: htmlLabel(node.key, mark?.notes ?? [], null, true), fontcolor: pal?.border })}];`,
      );
      for (const c of node.children) emitNode(byId.get(c)!, depth + 1);
      // a choice between sub-states (erred: retrying or recovering) is drawn the same way round in every step
      for (const c of node.children) {
        const branch = branchTargets(graph, c, node.children, byId);
        if (branch.length < 2) continue;
        out(depth + 1, `{ rank=same; ${branch.map(quoteId).join('; ')}; }`);
        for (let i = 1; i < branch.length; i++)
          out(depth + 1, `${quoteId(branch[i - 1]!)} -> ${quoteId(branch[i]!)} [style=invis];`);
      }
      out(depth, '}');
      return;
    }
    const pal = paletteFor(mark);
    const style = ['rounded', 'filled', pal?.style].filter(Boolean).join(',');
    const sub = node.invokes.length > 0 ? node.invokes.map((i) => i.src).join(', ') : null;
    out(
      depth,
      `${quoteId(node.id)} [${attrs({
        id: `${idPrefix}${node.id}`,
        class: classes,
        label: htmlLabel(node.key, mark?.notes ?? [], sub, mark?.classes.includes('active') ?? false),
        style,
        fillcolor: pal?.fill ?? 'white',
        color: pal?.border,
        penwidth: pal?.penwidth,
        peripheries: node.kind === 'final' ? 2 : undefined,
        ordering:
          node.parent && branchTargets(graph, node.id, byId.get(node.parent)!.children, byId).length > 1
            ? 'out'
            : undefined,
      })}];`,
    );
  };
  emitNode(byId.get(graph.rootId)!, 1);

  const placed = chainPlacement(graph, options.columns ?? 2);

  // One drawn edge per source and target pair, its labels joined.
  const merged = new Map<string, { edge: GraphEdge; labels: string[] }>();
  for (const e of graph.edges) {
    const key = `${e.source}\u0000${e.target}`;
    const m = merged.get(key);
    if (m) {
      if (e.label && !m.labels.includes(e.label)) m.labels.push(e.label);
    } else merged.set(key, { edge: e, labels: e.label ? [e.label] : [] });
  }
  for (const { edge: e, labels } of merged.values()) {
    // one line per merged label keeps the fan-out below a state narrow
    const a: Record<string, AttrValue> = {
      label: labels.length > 0 ? { html: labels.map(dotHtmlText).join('<br/>') } : undefined,
    };
    if (e.kind === 'initial') Object.assign(a, { style: 'dashed', color: '#ced4da', arrowhead: 'vee' });
    else if (e.kind === 'error') Object.assign(a, { color: '#e03131', fontcolor: '#c92a2a' });
    else if (e.kind === 'event') Object.assign(a, { color: '#7048e8', fontcolor: '#5f3dc4', style: 'bold' });
    const sourceCompound = isCompound(e.source) && e.kind !== 'initial';
    if (sourceCompound) {
      a['ltail'] = clusterName(e.source);
      a['constraint'] = 'false';
      // a compound state's own `done` (one step to the next) is the plain flow: its label would only float
      if (e.kind === 'done') delete a['label'];
    }
    if (isCompound(e.target) && e.target !== e.source && !isAncestor(byId, e.target, e.source))
      a['lhead'] = clusterName(e.target);
    if (e.source === e.target) delete a['ltail'];
    a['class'] = `transition ${e.kind}`;
    out(1, `${quoteId(e.source)} -> ${quoteId(e.target)} [${attrs(a)}];`);
  }
  // Layout only: chained compound states (the steps) in rows of `columns`, each below the one `columns` before it.
  for (const [id, anchor] of placed) {
    const anchorNode = byId.get(anchor)!;
    const from = anchorNode.children.length > 0 && anchor !== byId.get(id)!.parent ? anchorNode.children : [anchor];
    for (const f of from) out(1, `${quoteId(f)} -> ${quoteId(id)} [style=invis];`);
  }
  out(0, '}');
  return `${lines.join('\n')}\n`;
}

/**
 * Compound siblings linked one to the next by their `done` transitions form a chain (the steps).
 * Returns, for each chain member, the node it is laid out below: the member `columns` before it,
 * or the parent's own header for the first row.
 */
function chainPlacement(graph: MachineGraph, columns: number): Map<string, string> {
  const byId = nodeIndex(graph);
  const placed = new Map<string, string>();
  for (const parent of graph.nodes) {
    if (!parent.initial || (byId.get(parent.initial)?.children.length ?? 0) === 0) continue;
    const siblings = new Set(parent.children);
    const chain = [parent.initial];
    for (;;) {
      const last = chain[chain.length - 1]!;
      const next = graph.edges.find(
        (e) =>
          e.source === last &&
          e.kind === 'done' &&
          siblings.has(e.target) &&
          (byId.get(e.target)?.children.length ?? 0) > 0,
      );
      if (!next || chain.includes(next.target)) break;
      chain.push(next.target);
    }
    if (chain.length < 2) continue;
    chain.forEach((id, i) => {
      if (i === 0) return;
      placed.set(id, i < columns ? parent.id : chain[i - columns]!);
    });
  }
  return placed;
}

/**
 * The atomic siblings a state chooses between with its eventless transitions, in definition order
 * (the guarded ones, then the fallback): laid out left to right on one rank, with the chooser's
 * out-edges kept in that order, so the choice looks the same in every step (Graphviz would otherwise
 * order each one as it likes: the retry and recover boxes swapped sides from step to step).
 */
export function branchTargets(
  graph: MachineGraph,
  source: string,
  siblings: readonly string[],
  byId: Map<string, GraphNode> = nodeIndex(graph),
): string[] {
  const edges = graph.edges.filter(
    (e) =>
      e.source === source &&
      e.kind === 'always' &&
      e.target !== source &&
      siblings.includes(e.target) &&
      (byId.get(e.target)?.children.length ?? 0) === 0,
  );
  return [...new Set(edges.map((e) => e.target))];
}

function isAncestor(byId: Map<string, GraphNode>, ancestor: string, id: string): boolean {
  for (let p = byId.get(id)?.parent ?? null; p; p = byId.get(p)?.parent ?? null) if (p === ancestor) return true;
  return false;
}
