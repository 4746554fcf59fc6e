/**
 * The machine picture is drawn from the machine's real definition: DOT and Mermaid have exactly
 * one node per state node, counted here by walking `machine.root` directly; every transition
 * lands on a drawn node; and the marks follow a ledger given in the test.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { createBuildMachine } from '../../machines/build-machine.js';
import { loadConfig } from '../../src/config/load.js';
import { renderDot } from '../../src/inspect/dot.js';
import { activeLeafIds, machineGraph, stepNodeIds } from '../../src/inspect/graph.js';
import { activeStateIds, markGraph, type InspectView } from '../../src/inspect/marks.js';
import { renderMermaid } from '../../src/inspect/mermaid.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { emptyLedgerEntry, type Ledger, type LedgerEntry } from '../../src/types.js';

interface NodeLike {
  id: string;
  key: string;
  states: Record<string, NodeLike>;
}

/** Every state node of a machine, by walking its definition; independent of src/inspect. */
function definitionStates(machine: { root: unknown }): NodeLike[] {
  const out: NodeLike[] = [];
  const walk = (n: NodeLike) => {
    out.push(n);
    for (const c of Object.values(n.states)) walk(c);
  };
  walk(machine.root as NodeLike);
  return out;
}

const NODE_LINE = /^\s*"((?:[^"\\]|\\.)*)" \[(.*)\];$/;
const EDGE_LINE = /^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" \[(.*)\];$/;

/** DOT node statements: id and attribute text. */
function dotNodes(dot: string): Map<string, string> {
  const nodes = new Map<string, string>();
  for (const line of dot.split('\n')) {
    if (EDGE_LINE.test(line)) continue;
    const m = NODE_LINE.exec(line);
    if (!m) continue;
    expect(nodes.has(m[1]!), `node ${m[1]} declared once`).toBe(false);
    nodes.set(m[1]!, m[2]!);
  }
  return nodes;
}

function dotEdges(dot: string): Array<[string, string, string]> {
  return dot
    .split('\n')
    .map((l) => EDGE_LINE.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!, m[3]!]);
}

/** Mermaid state declarations: safe id and label. */
function mermaidStates(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*state "([^"]*)" as (\S+)$/.exec(line);
    if (m) {
      expect(out.has(m[2]!), `mermaid state ${m[2]} declared once`).toBe(false);
      out.set(m[2]!, m[1]!);
    }
  }
  return out;
}

function attr(attrs: string, name: string): string | null {
  const m = new RegExp(`(?:^|, )${name}=("(?:[^"\\\\]|\\\\.)*"|<.*?>(?=, \\w+=|$)|[^,]+)`).exec(attrs);
  if (!m) return null;
  const v = m[1]!;
  return v.startsWith('"') ? v.slice(1, -1) : v;
}

function classesOf(nodes: Map<string, string>, id: string): string[] {
  const a = nodes.get(id);
  expect(a, `node ${id} is drawn`).toBeDefined();
  return (attr(a!, 'class') ?? '').split(' ');
}

/** A node's label as text: HTML-like markup dropped, wrapped lines joined with spaces. */
function labelOf(nodes: Map<string, string>, id: string): string {
  return (attr(nodes.get(id)!, 'label') ?? '')
    .replace(/<br\/>/g, ' ')
    .replace(/<[^>]*>/g, '')
    .replace(/&amp;/g, '&')
    .trim();
}

function entry(id: string, patch: Partial<LedgerEntry>): LedgerEntry {
  return { ...emptyLedgerEntry(id), ...patch };
}

for (const profile of ['minimal', 'ailinux'] as const) {
  describe(`the ${profile} profile's machine`, () => {
    const order = resolveSteps(loadConfig({ profile }).config).map((s) => s.id);
    const machine = createBuildMachine(order);
    const states = definitionStates(machine);
    const graph = machineGraph(machine);

    it('DOT has one node for every state of the machine definition, and nothing else', () => {
      const dot = renderDot(graph);
      const nodes = dotNodes(dot);
      expect(nodes.size).toBe(states.length);
      expect([...nodes.keys()].sort()).toEqual(states.map((s) => s.id).sort());
      // every compound state is also a cluster around its children
      const compounds = states.filter((s) => Object.keys(s.states).length > 0);
      expect(dot.match(/^\s*subgraph "cluster_/gm)?.length).toBe(compounds.length);
      console.log(
        `${profile}: ${states.length} states (${compounds.length} compound), ${graph.edges.length} transitions`,
      );
    });

    it('Mermaid has one state for every state of the machine definition', () => {
      const text = renderMermaid(graph);
      const m = mermaidStates(text);
      expect(m.size).toBe(states.length);
      expect([...m.values()].sort()).toEqual(states.map((s) => s.key).sort());
      // each compound state is a block holding its children, entered at its initial state
      const compounds = states.filter((s) => Object.keys(s.states).length > 0);
      expect(text.match(/^\s*state \S+ \{$/gm)).toHaveLength(compounds.length);
      expect(text.match(/^\s*\[\*\] --> \S+$/gm)).toHaveLength(compounds.length);
      const lines = text.split('\n');
      const step = lines.findIndex((l) => /^\s*state s_build_pipeline_packages \{$/.test(l));
      const end = lines.findIndex((l, i) => i > step && l === lines[step]!.replace(/state .*/, '}'));
      expect(lines.slice(step, end).filter((l) => /^\s*state "/.test(l))).toHaveLength(
        Object.keys(states.find((s) => s.id === 'build.pipeline.packages')!.states).length,
      );
    });

    it('every transition of the definition is drawn between drawn nodes', () => {
      const dot = renderDot(graph);
      const nodes = dotNodes(dot);
      const drawn = new Set(
        dotEdges(dot)
          .filter(([, , a]) => !a.includes('style=invis'))
          .map(([s, t]) => `${s} -> ${t}`),
      );
      // counted from the definition: each state's transitions and eventless transitions, with their targets
      let count = 0;
      for (const s of states) {
        const node = s as unknown as {
          transitions: Map<string, Array<{ target?: Array<{ id: string }> }>>;
          always?: Array<{ target?: Array<{ id: string }> }>;
        };
        for (const defs of [...node.transitions.values(), node.always ?? []]) {
          for (const t of defs) {
            for (const target of t.target ?? [{ id: s.id }]) {
              count++;
              expect(nodes.has(target.id)).toBe(true);
              expect(drawn.has(`${s.id} -> ${target.id}`), `${s.id} -> ${target.id} is drawn`).toBe(true);
            }
          }
        }
      }
      expect(graph.edges.filter((e) => e.kind !== 'initial')).toHaveLength(count);
    });
  });
}

describe('a machine of another shape', () => {
  it('is walked the same way: parallel states, delays, targetless transitions', () => {
    const machine = createMachine({
      id: 'other',
      initial: 'idle',
      states: {
        idle: { on: { GO: 'work', PING: { actions: [] } }, after: { 1000: 'gone' } },
        work: {
          type: 'parallel',
          states: {
            left: { initial: 'a', states: { a: { on: { NEXT: 'b' } }, b: { type: 'final' } } },
            right: { initial: 'c', states: { c: {} } },
          },
        },
        gone: { type: 'final' },
      },
    });
    const states = definitionStates(machine);
    const graph = machineGraph(machine);
    expect(dotNodes(renderDot(graph)).size).toBe(states.length);
    expect(mermaidStates(renderMermaid(graph)).size).toBe(states.length);
    expect(graph.edges.find((e) => e.kind === 'after')).toMatchObject({
      source: 'other.idle',
      target: 'other.gone',
      label: 'after 1000',
    });
    expect(graph.edges.find((e) => e.event === 'PING')).toMatchObject({ source: 'other.idle', target: 'other.idle' });
    expect(graph.nodes.find((n) => n.id === 'other.work')?.kind).toBe('parallel');
    expect(activeLeafIds('other', { work: { left: 'a', right: 'c' } })).toEqual([
      'other.work.left.a',
      'other.work.right.c',
    ]);
  });
});

describe('highlighting follows the ledger', () => {
  const order = resolveSteps(loadConfig({ profile: 'minimal' }).config).map((s) => s.id);
  const graph = machineGraph(createBuildMachine(order));
  const steps = stepNodeIds(graph, order);
  const node = (step: string, sub?: string) => `${steps.get(step)!}${sub ? `.${sub}` : ''}`;
  const base = (): Ledger => Object.fromEntries(order.map((id) => [id, emptyLedgerEntry(id)]));

  it('a running build: done with durations, skipped with the reason, retried with attempts, the current state', () => {
    const ledger = base();
    ledger['bootstrap'] = entry('bootstrap', { status: 'done', attempts: 1, durationMs: 12_300 });
    ledger['configure'] = entry('configure', {
      status: 'skipped',
      attempts: 1,
      reason: 'unchanged since run 20261129T120000-abc123',
    });
    ledger['packages'] = entry('packages', { status: 'done', attempts: 3, durationMs: 65_000 });
    ledger['identity'] = entry('identity', { status: 'running', attempts: 1, startedAt: '2026-11-29T12:00:00.000Z' });
    const view: InspectView = {
      order,
      ledger,
      current: 'identity',
      stateValue: { pipeline: { identity: 'running' } },
      outcome: 'running',
      live: true,
    };
    const nodes = dotNodes(renderDot(graph, markGraph(graph, view)));

    expect(classesOf(nodes, node('identity', 'running'))).toContain('active');
    expect(classesOf(nodes, node('identity'))).toContain('active-parent');
    expect(classesOf(nodes, node('identity'))).toContain('in-flight');
    expect(attr(nodes.get(node('identity', 'running'))!, 'penwidth')).toBe('3');
    expect(classesOf(nodes, node('bootstrap'))).toContain('done');
    expect(classesOf(nodes, node('bootstrap', 'done'))).toContain('done');
    expect(labelOf(nodes, node('bootstrap'))).toContain('done in 12.3 s');
    expect(classesOf(nodes, node('configure'))).toContain('skipped');
    expect(classesOf(nodes, node('configure', 'skipped'))).toContain('skipped');
    expect(labelOf(nodes, node('configure'))).toContain('skipped: unchanged since run 20261129T120000-abc123');
    expect(classesOf(nodes, node('packages'))).toEqual(expect.arrayContaining(['done', 'retried']));
    expect(labelOf(nodes, node('packages'))).toContain('3 attempts');
    expect(labelOf(nodes, node('packages'))).toContain('done in 1 min 5 s');
    expect(classesOf(nodes, node('packages', 'retrying'))).toContain('retried');
    expect(labelOf(nodes, node('packages', 'retrying'))).toContain('2×');
    for (const id of ['chroot-cleanup', 'squashfs', 'report']) expect(classesOf(nodes, node(id))).toContain('pending');
    // exactly one active state
    expect(
      [...nodes.entries()].filter(([, a]) => (attr(a, 'class') ?? '').split(' ').includes('active')).map(([id]) => id),
    ).toEqual([node('identity', 'running')]);

    // the same marks in Mermaid
    const mermaid = renderMermaid(graph, markGraph(graph, view));
    expect(mermaid).toMatch(/^\s*class s_build_pipeline_identity_running active$/m);
    expect(mermaid).toMatch(/state "packages · done in 1 min 5 s · 3 attempts" as s_build_pipeline_packages/);
    expect(mermaid).toMatch(/state "configure · skipped: unchanged since run 20261129T120000-abc123" as/);
  });

  it('a failed build: the failed step with its error summary, the final state current', () => {
    const ledger = base();
    for (const id of ['bootstrap', 'configure', 'packages'])
      ledger[id] = entry(id, { status: 'done', attempts: 1, durationMs: 1000 });
    ledger['identity'] = entry('identity', {
      status: 'failed',
      attempts: 2,
      durationMs: 4200,
      error: { message: 'useradd: group netdev does not exist', code: 'COMMAND', transient: false },
    });
    const view: InspectView = {
      order,
      ledger,
      current: 'identity',
      stateValue: 'failed',
      outcome: 'failed',
      live: true,
    };
    const marks = markGraph(graph, view);
    const nodes = dotNodes(renderDot(graph, marks));
    expect(classesOf(nodes, 'build.failed')).toContain('active');
    expect(classesOf(nodes, node('identity'))).toEqual(expect.arrayContaining(['failed', 'retried']));
    expect(classesOf(nodes, node('identity', 'failed'))).toContain('failed');
    expect(labelOf(nodes, node('identity'))).toContain('error: useradd: group netdev does not exist (COMMAND)');
    expect(labelOf(nodes, node('identity'))).toContain('2 attempts');
    expect(attr(nodes.get(node('identity', 'failed'))!, 'fillcolor')).toBe('#ffd8d8');
    expect(renderMermaid(graph, marks)).toMatch(/^\s*class s_build_pipeline_identity_failed failed$/m);
  });

  it('a build whose process died: the state it was in is stale, the step interrupted', () => {
    const ledger = base();
    ledger['bootstrap'] = entry('bootstrap', { status: 'done', attempts: 1, durationMs: 1000 });
    ledger['configure'] = entry('configure', { status: 'running', attempts: 1, startedAt: '2026-11-29T12:00:00.000Z' });
    const view: InspectView = {
      order,
      ledger,
      current: 'configure',
      stateValue: { pipeline: { configure: 'running' } },
      outcome: 'running',
      live: false,
    };
    const nodes = dotNodes(renderDot(graph, markGraph(graph, view)));
    expect(classesOf(nodes, node('configure', 'running'))).toContain('stale');
    expect(classesOf(nodes, node('configure', 'running'))).not.toContain('active');
    expect(classesOf(nodes, node('configure'))).toContain('interrupted');
    expect(labelOf(nodes, node('configure'))).toContain('running when the build process died');
  });

  it('a later run: what an earlier run left on steps not reached yet is pending, with what it was', () => {
    const ledger = base();
    ledger['bootstrap'] = entry('bootstrap', {
      status: 'skipped',
      attempts: 2,
      runId: 'r1',
      reason: 'inputs unchanged',
    });
    ledger['identity'] = entry('identity', { status: 'running', attempts: 1, runId: 'r2' });
    ledger['squashfs'] = entry('squashfs', { status: 'done', attempts: 1, runId: 'r1', durationMs: 3200 });
    const view: InspectView = {
      order,
      ledger,
      current: 'identity',
      stateValue: { pipeline: { identity: 'running' } },
      outcome: 'running',
      live: true,
      runId: 'r2',
    };
    const nodes = dotNodes(renderDot(graph, markGraph(graph, view)));
    expect(classesOf(nodes, node('squashfs'))).toContain('pending');
    expect(classesOf(nodes, node('squashfs'))).not.toContain('done');
    expect(classesOf(nodes, node('squashfs', 'done'))).not.toContain('done');
    expect(labelOf(nodes, node('squashfs'))).toContain('last run: done in 3.2 s');
    // a skipped step keeps the attempts of the run that made its checkpoint: not a retry in this run
    expect(classesOf(nodes, node('bootstrap'))).toContain('skipped');
    expect(classesOf(nodes, node('bootstrap'))).not.toContain('retried');
  });

  it('without a snapshot, the current state comes from the ledger', () => {
    const ledger = base();
    ledger['squashfs'] = entry('squashfs', { status: 'verifying', attempts: 1 });
    expect(activeStateIds(graph, { order, ledger, current: 'squashfs', stateValue: null })).toEqual([
      node('squashfs', 'verifying'),
    ]);
    // a snapshot from another machine shape is ignored
    expect(activeStateIds(graph, { order, ledger, current: 'squashfs', stateValue: { nowhere: 'x' } })).toEqual([
      node('squashfs', 'verifying'),
    ]);
    expect(activeStateIds(graph, { order, ledger: base(), current: null, stateValue: null })).toEqual([]);
  });
});
