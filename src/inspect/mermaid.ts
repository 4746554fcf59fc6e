/**
 * Mermaid stateDiagram-v2 of the machine graph: one `state "label" as id` line per state node
 * (composites then open a block of their children), one line per transition, and classDefs for
 * the marks. Mermaid ids cannot hold dots or dashes, so each XState id maps to a safe one.
 */
import { nodeIndex, type GraphNode, type MachineGraph } from './graph.js';
import { printable } from './format.js';
import type { MarkClass, NodeMark } from './marks.js';

const CLASS_STYLES: Array<[MarkClass, string]> = [
  ['active', 'fill:#ffe08a,stroke:#d9480f,stroke-width:3px'],
  ['stale', 'fill:#ffe8cc,stroke:#d9480f,stroke-dasharray:4 3'],
  ['failed', 'fill:#ffd8d8,stroke:#c92a2a,stroke-width:2px'],
  ['interrupted', 'fill:#e5dbff,stroke:#6741d9'],
  ['in-flight', 'fill:#fff3bf,stroke:#e67700,stroke-width:2px'],
  ['done', 'fill:#d3f9d8,stroke:#2b8a3e'],
  ['skipped', 'fill:#e9ecef,stroke:#868e96,stroke-dasharray:4 3'],
  ['retried', 'fill:#fff4e6,stroke:#e8590c'],
];

/** XState id to a Mermaid-safe id, unique within the graph. */
export function mermaidIds(graph: MachineGraph): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const n of graph.nodes) {
    const base = `s_${n.id.replace(/[^A-Za-z0-9]/g, '_')}`;
    let id = base;
    for (let i = 2; used.has(id); i++) id = `${base}_${i}`;
    used.add(id);
    out.set(n.id, id);
  }
  return out;
}

/** Mermaid's entity codes: it decodes them before parsing, so a quote does not end the text and < & are not HTML. */
const MERMAID_ENTITY: Record<string, string> = {
  '"': '#quot;',
  '<': '#lt;',
  '>': '#gt;',
  '&': '#amp;',
  '#': '#35;',
  ';': '#59;',
};

/** A state description as Mermaid draws it: one line, the characters it reads as markup written as entity codes. */
export function mermaidText(text: string): string {
  return printable(text)
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/["<>&#;]/g, (c) => MERMAID_ENTITY[c]!);
}

function labelText(node: GraphNode, mark: NodeMark | undefined): string {
  return mermaidText([node.key, ...(mark?.notes ?? [])].join(' · '));
}

export function renderMermaid(graph: MachineGraph, marks: Map<string, NodeMark> = new Map()): string {
  const byId = nodeIndex(graph);
  const ids = mermaidIds(graph);
  const lines: string[] = ['stateDiagram-v2'];
  const out = (depth: number, text: string) => lines.push(`${'  '.repeat(depth)}${text}`);

  const emit = (node: GraphNode, depth: number) => {
    const id = ids.get(node.id)!;
    out(depth, `state "${labelText(node, marks.get(node.id))}" as ${id}`);
    if (node.children.length === 0) return;
    out(depth, `state ${id} {`);
    if (node.initial) out(depth + 1, `[*] --> ${ids.get(node.initial)}`);
    for (const c of node.children) emit(byId.get(c)!, depth + 1);
    for (const c of node.children) if (byId.get(c)!.kind === 'final') out(depth + 1, `${ids.get(c)} --> [*]`);
    out(depth, '}');
  };
  emit(byId.get(graph.rootId)!, 1);

  const seen = new Set<string>();
  for (const e of graph.edges) {
    if (e.kind === 'initial') continue;
    const line = `${ids.get(e.source)} --> ${ids.get(e.target)}${e.label ? ` : ${mermaidText(e.label.replace(/:/g, ' '))}` : ''}`;
    if (seen.has(line)) continue;
    seen.add(line);
    out(1, line);
  }

  for (const [cls, style] of CLASS_STYLES) out(1, `classDef ${cls.replace('-', '_')} ${style}`);
  for (const [cls] of CLASS_STYLES) {
    // Mermaid styles simple states only; composites keep their notes in the label
    const simple = graph.nodes
      .filter((n) => n.children.length === 0 && marks.get(n.id)?.classes.includes(cls))
      .map((n) => ids.get(n.id)!);
    if (simple.length > 0) out(1, `class ${simple.join(',')} ${cls.replace('-', '_')}`);
  }
  return `${lines.join('\n')}\n`;
}
