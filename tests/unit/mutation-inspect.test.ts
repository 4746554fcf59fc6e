/**
 * The inspect picture's pure parts on small machines of known shape: the graph read from a definition
 * (nodes, edges, labels, guards), the exact DOT text with its escaping and layout edges, and the marks a
 * ledger gives each state. Written against the survivors of `npm run mutation` (docs/testing.md);
 * inspect-graph.test.ts draws the real build machine.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createMachine, setup } from 'xstate';
import { clusterName, dotHtmlText, quoteId, renderDot, wrap } from '../../src/inspect/dot.js';
import {
  activeLeafIds,
  describeGuard,
  descendants,
  machineGraph,
  type MachineGraph,
  nodeIndex,
  stepContainer,
  stepNodeIds,
} from '../../src/inspect/graph.js';
import {
  activeStateIds,
  entryInRun,
  type InspectView,
  markClasses,
  markGraph,
  type NodeMark,
  previousNote,
} from '../../src/inspect/marks.js';
import { emptyLedgerEntry, type Ledger, type LedgerEntry } from '../../src/types.js';

/** A step as the build machine has it: sub-states named like the ledger's statuses. */
function step(next: string) {
  return {
    initial: 'running',
    states: {
      running: {
        invoke: {
          src: 'work',
          onDone: 'verifying',
          onError: [{ target: 'failed', guard: 'fatal' }, { target: 'retrying' }],
        },
      },
      verifying: { on: { OK: 'done' } },
      retrying: { after: { 500: 'running' } },
      skipped: { type: 'final' as const },
      done: { type: 'final' as const },
      failed: { type: 'final' as const },
    },
    onDone: next,
  };
}

const pipeline = createMachine({
  id: 'm',
  initial: 'steps',
  states: {
    steps: {
      initial: 'a',
      states: { a: step('b'), b: step('c'), c: step('end'), end: { type: 'final' } },
      onDone: 'over',
    },
    over: { type: 'final' },
  },
});
const ORDER = ['a', 'b', 'c'];

function entry(id: string, patch: Partial<LedgerEntry>): LedgerEntry {
  return { ...emptyLedgerEntry(id), ...patch };
}

describe('machineGraph: the graph read from a definition', () => {
  const guarded = setup({ guards: { isKey: (_: unknown, p: { key: string; n: number }) => p.n > 0 } }).createMachine({
    id: 'g',
    initial: 'a',
    states: {
      a: {
        always: [
          { target: 'p', guard: { type: 'isKey', params: { key: 'a', n: 1 } } },
          { target: 'p', guard: { type: 'isKey', params: { key: 'other', n: 2 } } },
          { target: 'b' },
        ],
        on: {
          X: {
            target: 'b',
            guard: function named() {
              return true;
            },
          },
          PING: { actions: [] },
        },
      },
      b: { always: { target: 'p' }, after: { 250: 'a' } },
      p: { type: 'parallel', states: { l: {}, r: {} } },
    },
  });

  it('has every node with its kind, parent, children, depth and initial child; a parallel state has none', () => {
    const graph = machineGraph(guarded);
    expect(graph.rootId).toBe('g');
    const plain = { invokes: [] };
    expect(graph.nodes).toEqual([
      {
        id: 'g',
        key: 'g',
        kind: 'compound',
        parent: null,
        children: ['g.a', 'g.b', 'g.p'],
        depth: 0,
        initial: 'g.a',
        ...plain,
      },
      { id: 'g.a', key: 'a', kind: 'atomic', parent: 'g', children: [], depth: 1, initial: null, ...plain },
      { id: 'g.b', key: 'b', kind: 'atomic', parent: 'g', children: [], depth: 1, initial: null, ...plain },
      {
        id: 'g.p',
        key: 'p',
        kind: 'parallel',
        parent: 'g',
        children: ['g.p.l', 'g.p.r'],
        depth: 1,
        initial: null,
        ...plain,
      },
      { id: 'g.p.l', key: 'l', kind: 'atomic', parent: 'g.p', children: [], depth: 2, initial: null, ...plain },
      { id: 'g.p.r', key: 'r', kind: 'atomic', parent: 'g.p', children: [], depth: 2, initial: null, ...plain },
    ]);
  });

  it('labels guards by type and the params that are not a state key, the last unguarded eventless one as else', () => {
    const edges = machineGraph(guarded).edges.map(({ source, target, kind, event, guard, label }) => ({
      source,
      target,
      kind,
      event,
      guard,
      label,
    }));
    expect(edges).toEqual([
      { source: 'g', target: 'g.a', kind: 'initial', event: '', guard: null, label: '' },
      { source: 'g.a', target: 'g.b', kind: 'event', event: 'X', guard: 'named', label: 'X [named]' },
      // a transition with actions only stays on its state
      { source: 'g.a', target: 'g.a', kind: 'event', event: 'PING', guard: null, label: 'PING' },
      // `a` is the state's own key, so it is not shown; `other` and the number are not a key or not text
      { source: 'g.a', target: 'g.p', kind: 'always', event: '', guard: 'isKey', label: '[isKey]' },
      { source: 'g.a', target: 'g.p', kind: 'always', event: '', guard: 'isKey other', label: '[isKey other]' },
      { source: 'g.a', target: 'g.b', kind: 'always', event: '', guard: null, label: '[else]' },
      { source: 'g.b', target: 'g.a', kind: 'after', event: 'xstate.after.250.g.b', guard: null, label: 'after 250' },
      // a lone eventless transition is no else
      { source: 'g.b', target: 'g.p', kind: 'always', event: '', guard: null, label: '' },
    ]);
  });

  it('a transition whose target list is empty stays on its state, like one with no target', () => {
    // xstate keeps `target: []` as an empty list (not undefined) and runs such a transition in place
    const inPlace = createMachine({ id: 't', initial: 'a', states: { a: { on: { E: { target: [] } } } } });
    expect(machineGraph(inPlace).edges.filter((e) => e.kind === 'event')).toEqual([
      { source: 't.a', target: 't.a', kind: 'event', event: 'E', guard: null, label: 'E' },
    ]);
  });

  it("names an actor's done and error edges, a state's done edge, and what a step invokes", () => {
    const graph = machineGraph(pipeline);
    const from = (source: string) =>
      graph.edges.filter((e) => e.source === source).map((e) => [e.target, e.kind, e.guard, e.label]);
    expect(from('m.steps.a.running')).toEqual([
      ['m.steps.a.verifying', 'done', null, 'done'],
      ['m.steps.a.failed', 'error', 'fatal', 'error [fatal]'],
      ['m.steps.a.retrying', 'error', null, 'error'],
    ]);
    expect(from('m.steps.a')).toEqual([
      ['m.steps.a.running', 'initial', null, ''],
      ['m.steps.b', 'done', null, 'done'],
    ]);
    expect(graph.edges.find((e) => e.source === 'm.steps.a' && e.kind === 'done')?.event).toBe(
      'xstate.done.state.m.steps.a',
    );
    expect(graph.nodes.find((n) => n.id === 'm.steps.a.running')?.invokes).toEqual([
      { id: '0.m.steps.a.running', src: 'work' },
    ]);
  });

  it("a delay's label is its name or its milliseconds, without the spaces around a name", () => {
    const delayed = setup({ delays: { 'slow ': 100 } }).createMachine({
      id: 'd',
      initial: 'a',
      states: { a: { after: { 'slow ': 'b' } }, b: { after: { 20: 'a' } } },
    });
    expect(
      machineGraph(delayed)
        .edges.filter((e) => e.kind === 'after')
        .map((e) => e.label),
    ).toEqual(['after slow', 'after 20']);
  });

  it('describeGuard: a name, a type with text params, or "guard" when it has neither', () => {
    expect(describeGuard(undefined)).toBeNull();
    expect(describeGuard(null)).toBeNull();
    expect(describeGuard('canRetry')).toBe('canRetry');
    expect(describeGuard(function isFatal() {})).toBe('isFatal');
    const anonymous = [() => true][0];
    expect(describeGuard(anonymous)).toBe('guard');
    expect(describeGuard({ type: 'outcomeIs', params: { outcome: 'succeeded', n: 3, flag: true } })).toBe(
      'outcomeIs succeeded',
    );
    expect(describeGuard({ type: 'outcomeIs', params: { outcome: 'succeeded' } }, new Set(['succeeded']))).toBe(
      'outcomeIs',
    );
    expect(describeGuard({ type: 'plain', params: 'not an object' })).toBe('plain');
    expect(describeGuard({ type: 7, params: { a: 'x' } })).toBe('guard x');
    expect(describeGuard({})).toBe('guard');
    expect(describeGuard(42)).toBe('guard');
  });

  it('descendants, the step container found by shape, and the step nodes in it', () => {
    const graph = machineGraph(pipeline);
    expect(descendants(graph, 'm.steps.b')).toEqual([
      'm.steps.b',
      'm.steps.b.running',
      'm.steps.b.verifying',
      'm.steps.b.retrying',
      'm.steps.b.skipped',
      'm.steps.b.done',
      'm.steps.b.failed',
    ]);
    expect(descendants(graph, 'm.over')).toEqual(['m.over']);
    expect(descendants(graph, 'nowhere')).toEqual(['nowhere']);
    expect(nodeIndex(graph).get('m.steps.c')?.key).toBe('c');
    expect(stepContainer(graph, ORDER)?.id).toBe('m.steps');
    // `running` is a child of each step, but no state has children `running` and `end` both
    expect(stepContainer(graph, ['running'])?.id).toBe('m.steps.a');
    expect(stepContainer(graph, ['running', 'end'])).toBeNull();
    expect(stepContainer(graph, [])).toBeNull();
    expect([...stepNodeIds(graph, ['c', 'a'])]).toEqual([
      ['a', 'm.steps.a'],
      ['c', 'm.steps.c'],
    ]);
    expect(stepNodeIds(graph, ['nowhere']).size).toBe(0);
  });

  it('activeLeafIds: a string, nested objects and parallel regions; an empty object is the state itself', () => {
    expect(activeLeafIds('m', 'over')).toEqual(['m.over']);
    expect(activeLeafIds('m', { steps: { b: 'retrying' } })).toEqual(['m.steps.b.retrying']);
    expect(activeLeafIds('g', { p: { l: {}, r: {} } })).toEqual(['g.p.l', 'g.p.r']);
    expect(activeLeafIds('m', {})).toEqual(['m']);
    expect(activeLeafIds('m', 5)).toEqual([]);
    expect(activeLeafIds('m', null)).toEqual([]);
  });
});

describe('marks: what a ledger gives each state', () => {
  // built in each test, not while the file loads, so that StrykerJS sees which test runs which code
  let graph: MachineGraph;
  beforeEach(() => {
    graph = machineGraph(pipeline);
  });
  const ledgerOf = (entries: LedgerEntry[]): Ledger => Object.fromEntries(entries.map((e) => [e.id, e]));
  const marked = (classes: NodeMark['classes'], notes: string[] = []): NodeMark => ({ classes, notes });

  it('a live build: done, retrying with the error and its hint, skipped without a reason; the current state', () => {
    const ledger = ledgerOf([
      // an error an earlier attempt left on a finished step is not shown
      entry('a', {
        status: 'done',
        attempts: 3,
        durationMs: 12_300,
        error: { message: 'old', code: 'X', transient: false },
      }),
      entry('b', {
        status: 'retrying',
        attempts: 2,
        error: { message: 'x < y & "z"', code: 'ERROR', transient: true, hint: 'run apt-get update' },
      }),
      entry('c', { status: 'skipped', attempts: 4 }),
    ]);
    const view: InspectView = {
      order: ORDER,
      ledger,
      current: 'b',
      stateValue: { steps: { b: 'retrying' } },
      live: true,
    };
    const marks = markGraph(graph, view);
    expect(marks).toEqual(
      new Map([
        ['m.steps.a', marked(['done', 'retried'], ['done in 12.3 s', '3 attempts'])],
        ['m.steps.a.retrying', marked(['retried'], ['2×'])],
        ['m.steps.a.done', marked(['done'])],
        // the code ERROR (anything thrown that is not ours) adds nothing
        [
          'm.steps.b',
          marked(
            ['in-flight', 'retried', 'active-parent'],
            ['retrying', 'error: x < y & "z"', 'fix: run apt-get update', '2 attempts'],
          ),
        ],
        ['m.steps.b.retrying', marked(['retried', 'active'], ['1×'])],
        ['m.steps.c', marked(['skipped'], ['skipped: checkpoint reused'])],
        ['m.steps.c.skipped', marked(['skipped'])],
        ['m.steps', marked(['active-parent'])],
        ['m', marked(['active-parent'])],
      ]),
    );
    expect([...marks.keys()]).toEqual([
      'm.steps.a',
      'm.steps.a.retrying',
      'm.steps.a.done',
      'm.steps.b',
      'm.steps.b.retrying',
      'm.steps.c',
      'm.steps.c.skipped',
      'm.steps',
      'm',
    ]);
    expect(markClasses(marks, 'm.steps.b.retrying')).toBe('retried active');
    expect(markClasses(marks, 'm.over')).toBe('');
  });

  it('a build whose process died: its step interrupted, the state stale; a failed step; an earlier run pending', () => {
    const ledger = ledgerOf([
      entry('a', {
        status: 'running',
        attempts: 1,
        runId: 'r2',
        startedAt: '2026-11-29T12:34:56.000Z',
        error: { message: 'boom', code: 'COMMAND', transient: false },
      }),
      entry('b', { status: 'done', attempts: 1, runId: 'r1', durationMs: null }),
      // an entry without a run id is this run's
      entry('c', {
        status: 'failed',
        attempts: 1,
        durationMs: 4200,
        error: { message: 'bad', code: '', transient: false },
      }),
    ]);
    const view: InspectView = {
      order: ORDER,
      ledger,
      current: 'a',
      stateValue: { steps: { a: 'running' } },
      live: false,
      runId: 'r2',
    };
    expect(markGraph(graph, view)).toEqual(
      new Map([
        [
          'm.steps.a',
          marked(['interrupted', 'active-parent'], ['running when the build process died', 'error: boom (COMMAND)']),
        ],
        ['m.steps.b', marked(['pending'], ['last run: done'])],
        ['m.steps.c', marked(['failed'], ['failed after 4.2 s', 'error: bad'])],
        ['m.steps.c.failed', marked(['failed'])],
        ['m.steps.a.running', marked(['stale'], ['stopped here'])],
        ['m.steps', marked(['active-parent'])],
        ['m', marked(['active-parent'])],
      ]),
    );
  });

  it("each status's note: interrupted, in flight with and without a start time, long texts cut", () => {
    const notesOf = (patch: Partial<LedgerEntry>) =>
      markGraph(graph, { order: ORDER, ledger: ledgerOf([entry('a', { attempts: 1, ...patch })]), current: null }).get(
        'm.steps.a',
      );
    expect(notesOf({ status: 'interrupted' })).toEqual(marked(['interrupted'], ['interrupted']));
    expect(notesOf({ status: 'running', startedAt: '2026-11-29T12:34:56.789Z' })).toEqual(
      marked(['in-flight'], ['running since 12:34:56']),
    );
    expect(notesOf({ status: 'running' })).toEqual(marked(['in-flight'], ['running']));
    // only a running step says since when
    expect(notesOf({ status: 'verifying', startedAt: '2026-11-29T12:34:56.789Z' })).toEqual(
      marked(['in-flight'], ['verifying']),
    );
    expect(notesOf({ status: 'recovering' })).toEqual(marked(['in-flight'], ['recovering']));
    expect(notesOf({ status: 'pending', attempts: 0 })).toEqual(marked(['pending']));
    expect(notesOf({ status: 'skipped', reason: 'r'.repeat(100) })).toEqual(
      marked(['skipped'], [`skipped: ${'r'.repeat(69)}…`]),
    );
    const long = notesOf({
      status: 'failed',
      durationMs: 65_000,
      error: { message: 'm'.repeat(100), code: 'COMMAND', transient: false, hint: 'h'.repeat(100) },
    });
    // the error is cut; the fix is shown whole (a command cut short is worse than none; the label wraps it)
    expect(long).toEqual(
      marked(['failed'], ['failed after 1 min 5 s', `error: ${'m'.repeat(89)}…`, `fix: ${'h'.repeat(100)}`]),
    );
    // an error on an interrupted step is shown, with a code that is not ERROR
    expect(notesOf({ status: 'interrupted', error: { message: 'cut', code: 'SIGNAL', transient: false } })).toEqual(
      marked(['interrupted'], ['interrupted', 'error: cut (SIGNAL)']),
    );
    // nor on a pending or skipped one
    expect(
      notesOf({ status: 'skipped', reason: 'same', error: { message: 'e', code: 'X', transient: false } }),
    ).toEqual(marked(['skipped'], ['skipped: same']));
    // a step not in the ledger is pending, with no note
    expect(markGraph(graph, { order: ORDER, ledger: {}, current: null }).get('m.steps.b')).toEqual(marked(['pending']));
  });

  it('entryInRun and previousNote: what an earlier run left, seen from a later one', () => {
    const done = entry('a', { status: 'done', runId: 'r1', durationMs: 3200 });
    expect(entryInRun(undefined, 'r2')).toEqual({ status: 'pending', previous: null });
    expect(entryInRun(done, 'r2')).toEqual({ status: 'pending', previous: done });
    expect(entryInRun(done, 'r1')).toEqual({ status: 'done', previous: null });
    expect(entryInRun(done, null)).toEqual({ status: 'done', previous: null });
    expect(entryInRun(done, undefined)).toEqual({ status: 'done', previous: null });
    expect(entryInRun({ ...done, runId: null }, 'r2')).toEqual({ status: 'done', previous: null });
    // a checkpoint reused stays skipped, and a pending entry has nothing to tell
    expect(entryInRun({ ...done, status: 'skipped' }, 'r2')).toEqual({ status: 'skipped', previous: null });
    expect(entryInRun({ ...done, status: 'pending' }, 'r2')).toEqual({ status: 'pending', previous: null });
    expect(previousNote(done)).toBe('last run: done in 3.2 s');
    expect(previousNote({ ...done, status: 'failed', durationMs: null })).toBe('last run: failed');
  });

  it("activeStateIds: from the snapshot's value, else the current step's sub-state named like its status", () => {
    const ledger = ledgerOf([entry('b', { status: 'verifying' }), entry('c', { status: 'pending' })]);
    const at = (v: Partial<InspectView>) => activeStateIds(graph, { order: ORDER, ledger, current: null, ...v });
    expect(at({ stateValue: { steps: { a: 'done' } }, current: 'b' })).toEqual(['m.steps.a.done']);
    // a value that names no state of this machine falls back to the ledger
    expect(at({ stateValue: { nowhere: 'x' }, current: 'b' })).toEqual(['m.steps.b.verifying']);
    expect(at({ stateValue: null, current: 'b' })).toEqual(['m.steps.b.verifying']);
    expect(at({ current: 'b' })).toEqual(['m.steps.b.verifying']);
    // no sub-state is named pending, and a step with no entry has no status: the step itself
    expect(at({ current: 'c' })).toEqual(['m.steps.c']);
    expect(at({ current: 'a' })).toEqual(['m.steps.a']);
    expect(at({ current: 'gone' })).toEqual([]);
    expect(at({ current: null })).toEqual([]);
    expect(at({ stateValue: { nowhere: 'x' } })).toEqual([]);
  });
});

describe('renderDot: the exact DOT text', () => {
  // three steps (the chain laid out in rows), a failed step with a note that wraps, the current state, a
  // transition back to an enclosing state, and a compound state's own targetless transition
  const machine = createMachine({
    id: 'm',
    initial: 'steps',
    states: {
      steps: {
        initial: 'a',
        states: {
          a: {
            initial: 'running',
            states: {
              running: { invoke: { src: 'work', onDone: 'done', onError: 'failed' } },
              done: { type: 'final' },
              failed: { type: 'final' },
            },
            onDone: 'b',
          },
          b: {
            initial: 'running',
            states: {
              running: { invoke: { src: 'work', onDone: 'done' }, on: { AGAIN: '#m.steps.b' } },
              done: { type: 'final' },
            },
            onDone: 'c',
          },
          c: {
            initial: 'running',
            states: {
              running: { invoke: [{ src: 'one' }, { src: 'two' }], on: { NEXT: 'done' } },
              done: { type: 'final' },
            },
            onDone: 'end',
          },
          end: { type: 'final' },
        },
        onDone: 'over',
        on: { PING: { actions: [] } },
      },
      over: { type: 'final' },
    },
  });
  let graph: MachineGraph;
  let marks: Map<string, NodeMark>;
  beforeEach(() => {
    graph = machineGraph(machine);
    marks = markGraph(graph, {
      order: ORDER,
      current: 'b',
      stateValue: { steps: { b: 'running' } },
      live: true,
      ledger: {
        a: entry('a', {
          status: 'failed',
          attempts: 1,
          durationMs: 1500,
          // 44 characters up to the "x", the wrap width
          error: {
            message: `apt-get said: <no such package> & "x" 'y' in a long line`,
            code: 'COMMAND',
            transient: false,
          },
        }),
        b: entry('b', { status: 'running', attempts: 1 }),
      },
    });
  });

  it('styles each state by its marks, escapes the text, and lays out one step per row', () => {
    expect(renderDot(graph, marks, { title: `t <x> & "q"`, columns: 1 })).toBe(`digraph "m" {
  graph [rankdir="TB", compound="true", remincross="false", fontname="Helvetica", fontsize=11, nodesep=0.22, ranksep=0.32, pad=0.15, bgcolor="white", labelloc="t", label=<<b>t &lt;x&gt; &amp; &quot;q&quot;</b>>];
  node [shape="box", style="rounded,filled", fillcolor="white", color="#adb5bd", fontname="Helvetica", fontsize=10, height=0.3, margin="0.08,0.03"];
  edge [color="#868e96", fontname="Helvetica", fontsize=8, fontcolor="#495057", arrowsize=0.6];
  subgraph "cluster_m" {
    graph [id="cluster:m", class="cluster state compound active-parent", label="", style="rounded,filled", fillcolor="#fffbea", color="#ced4da", penwidth=1.5];
    "m" [id="m", class="state compound active-parent header", shape="plaintext", style="", label=<<b>m</b>>];
    subgraph "cluster_m.steps" {
      graph [id="cluster:m.steps", class="cluster state compound active-parent", label="", style="rounded,filled", fillcolor="#fffbea", color="#ced4da", penwidth=1.5];
      "m.steps" [id="m.steps", class="state compound active-parent header", shape="plaintext", style="", label=<<b>steps</b>>];
      subgraph "cluster_m.steps.a" {
        graph [id="cluster:m.steps.a", class="cluster state compound failed", label="", style="rounded,filled", fillcolor="#fff0f0", color="#c92a2a", penwidth=1];
        "m.steps.a" [id="m.steps.a", class="state compound failed header", shape="plaintext", style="", label=<<b>a</b><br/><font point-size="8">failed after 1.5 s</font><br/><font point-size="8">error: apt-get said: &lt;no such package&gt; &amp; &quot;x&quot;</font><br/><font point-size="8">&#39;y&#39; in a long line (COMMAND)</font>>, fontcolor="#c92a2a"];
        "m.steps.a.running" [id="m.steps.a.running", class="state atomic", label=<running<br/><font point-size="7" color="#868e96">work</font>>, style="rounded,filled", fillcolor="white"];
        "m.steps.a.done" [id="m.steps.a.done", class="state final", label=<done>, style="rounded,filled", fillcolor="white", peripheries=2];
        "m.steps.a.failed" [id="m.steps.a.failed", class="state final failed", label=<failed>, style="rounded,filled", fillcolor="#ffd8d8", color="#c92a2a", penwidth=2, peripheries=2];
      }
      subgraph "cluster_m.steps.b" {
        graph [id="cluster:m.steps.b", class="cluster state compound in-flight active-parent", label="", style="rounded,filled", fillcolor="#fff9db", color="#e67700", penwidth=1.5];
        "m.steps.b" [id="m.steps.b", class="state compound in-flight active-parent header", shape="plaintext", style="", label=<<b>b</b><br/><font point-size="8">running</font>>, fontcolor="#e67700"];
        "m.steps.b.running" [id="m.steps.b.running", class="state atomic active", label=<<b>running</b><br/><font point-size="7" color="#868e96">work</font>>, style="rounded,filled", fillcolor="#ffe08a", color="#d9480f", penwidth=3];
        "m.steps.b.done" [id="m.steps.b.done", class="state final", label=<done>, style="rounded,filled", fillcolor="white", peripheries=2];
      }
      subgraph "cluster_m.steps.c" {
        graph [id="cluster:m.steps.c", class="cluster state compound pending", label="", style="rounded,filled", fillcolor="#fcfcfd", color="#ced4da", penwidth=1];
        "m.steps.c" [id="m.steps.c", class="state compound pending header", shape="plaintext", style="", label=<<b>c</b>>];
        "m.steps.c.running" [id="m.steps.c.running", class="state atomic", label=<running<br/><font point-size="7" color="#868e96">one, two</font>>, style="rounded,filled", fillcolor="white"];
        "m.steps.c.done" [id="m.steps.c.done", class="state final", label=<done>, style="rounded,filled", fillcolor="white", peripheries=2];
      }
      "m.steps.end" [id="m.steps.end", class="state final", label=<end>, style="rounded,filled", fillcolor="white", peripheries=2];
    }
    "m.over" [id="m.over", class="state final", label=<over>, style="rounded,filled", fillcolor="white", peripheries=2];
  }
  "m" -> "m.steps" [style="dashed", color="#ced4da", arrowhead="vee", lhead="cluster_m.steps", class="transition initial"];
  "m.steps" -> "m.steps.a" [style="dashed", color="#ced4da", arrowhead="vee", lhead="cluster_m.steps.a", class="transition initial"];
  "m.steps" -> "m.steps" [label=<PING>, color="#7048e8", fontcolor="#5f3dc4", style="bold", constraint="false", class="transition event"];
  "m.steps" -> "m.over" [ltail="cluster_m.steps", constraint="false", class="transition done"];
  "m.steps.a" -> "m.steps.a.running" [style="dashed", color="#ced4da", arrowhead="vee", class="transition initial"];
  "m.steps.a" -> "m.steps.b" [ltail="cluster_m.steps.a", constraint="false", lhead="cluster_m.steps.b", class="transition done"];
  "m.steps.a.running" -> "m.steps.a.done" [label=<done>, class="transition done"];
  "m.steps.a.running" -> "m.steps.a.failed" [label=<error>, color="#e03131", fontcolor="#c92a2a", class="transition error"];
  "m.steps.b" -> "m.steps.b.running" [style="dashed", color="#ced4da", arrowhead="vee", class="transition initial"];
  "m.steps.b" -> "m.steps.c" [ltail="cluster_m.steps.b", constraint="false", lhead="cluster_m.steps.c", class="transition done"];
  "m.steps.b.running" -> "m.steps.b" [label=<AGAIN>, color="#7048e8", fontcolor="#5f3dc4", style="bold", class="transition event"];
  "m.steps.b.running" -> "m.steps.b.done" [label=<done>, class="transition done"];
  "m.steps.c" -> "m.steps.c.running" [style="dashed", color="#ced4da", arrowhead="vee", class="transition initial"];
  "m.steps.c" -> "m.steps.end" [ltail="cluster_m.steps.c", constraint="false", class="transition done"];
  "m.steps.c.running" -> "m.steps.c.done" [label=<NEXT>, color="#7048e8", fontcolor="#5f3dc4", style="bold", class="transition event"];
  "m.steps.a.running" -> "m.steps.b" [style=invis];
  "m.steps.a.done" -> "m.steps.b" [style=invis];
  "m.steps.a.failed" -> "m.steps.b" [style=invis];
  "m.steps.b.running" -> "m.steps.c" [style=invis];
  "m.steps.b.done" -> "m.steps.c" [style=invis];
}
`);
  });

  it('a retried step whose machine has no retrying state marks the step alone', () => {
    const retried = markGraph(graph, {
      order: ORDER,
      ledger: { a: entry('a', { status: 'done', attempts: 2, durationMs: 400 }) },
      current: null,
    });
    expect([...retried.keys()]).toEqual(['m.steps.a', 'm.steps.a.done', 'm.steps.b', 'm.steps.c']);
    expect(retried.get('m.steps.a')).toEqual({ classes: ['done', 'retried'], notes: ['done in 0.4 s', '2 attempts'] });
  });

  it('without marks or a title every state is plain; the steps sit two to a row by default, or as many as asked', () => {
    const plain = renderDot(graph);
    expect(plain.split('\n')[1]).toBe(
      '  graph [rankdir="TB", compound="true", remincross="false", fontname="Helvetica", fontsize=11, nodesep=0.22, ranksep=0.32, pad=0.15, bgcolor="white", labelloc="t"];',
    );
    expect(plain).not.toMatch(/#ffe08a|#ffd8d8|#fff9db|#fffbea|active|failed header/);
    const layout = (dot: string) => dot.split('\n').filter((l) => l.includes('style=invis'));
    expect(layout(plain)).toEqual([
      '  "m.steps" -> "m.steps.b" [style=invis];',
      '  "m.steps.a.running" -> "m.steps.c" [style=invis];',
      '  "m.steps.a.done" -> "m.steps.c" [style=invis];',
      '  "m.steps.a.failed" -> "m.steps.c" [style=invis];',
    ]);
    expect(layout(renderDot(graph, new Map(), { columns: 3 }))).toEqual([
      '  "m.steps" -> "m.steps.b" [style=invis];',
      '  "m.steps" -> "m.steps.c" [style=invis];',
    ]);
    // the outermost cluster is white, the ones inside it nearly so; a header without marks has no notes
    expect(plain).toContain(
      '  subgraph "cluster_m" {\n    graph [id="cluster:m", class="cluster state compound", label="", style="rounded,filled", fillcolor="white", color="#ced4da", penwidth=1];\n    "m" [id="m", class="state compound header", shape="plaintext", style="", label=<<b>m</b>>];\n',
    );
    expect(plain).toContain(
      '      graph [id="cluster:m.steps.a", class="cluster state compound", label="", style="rounded,filled", fillcolor="#fcfcfd", color="#ced4da", penwidth=1];\n        "m.steps.a" [id="m.steps.a", class="state compound header", shape="plaintext", style="", label=<<b>a</b>>];\n',
    );
    // a machine without a chain of compound states has no layout edges
    expect(layout(renderDot(machineGraph(createMachine({ id: 'x', initial: 'a', states: { a: {} } }))))).toEqual([]);
  });
});

describe('renderDot: merged transitions, clusters as edge ends, and which states form the rows', () => {
  const layout = (dot: string) => dot.split('\n').filter((l) => l.includes('style=invis'));
  const edge = (dot: string, from: string, to: string) =>
    dot.split('\n').find((l) => l.startsWith(`  "${from}" -> "${to}" [`) && !l.includes('style=invis'));
  // two compound steps run one after the other; the first can also jump to a third, which is no part of the row
  const steps = createMachine({
    id: 'y',
    initial: 'one',
    states: {
      one: {
        initial: 'run',
        states: {
          run: {
            on: { UP: '#y', RETRY: '#y.one', GO: 'fin', STOP: 'fin' },
            always: [
              { target: 'fin', guard: 'ready' },
              { target: 'fin', guard: 'ready' },
            ],
          },
          fin: { type: 'final' },
        },
        on: { JUMP: 'three' },
        onDone: 'two',
      },
      two: { initial: 'run', states: { run: {} } },
      three: { initial: 'run', states: { run: {} } },
    },
  });
  let dot: string;
  beforeEach(() => {
    dot = renderDot(machineGraph(steps));
  });

  it('one drawn edge per pair of states, with each label once, in the style of the first', () => {
    expect(edge(dot, 'y.one.run', 'y.one.fin')).toBe(
      '  "y.one.run" -> "y.one.fin" [label=<GO<br/>STOP<br/>[ready]>, color="#7048e8", fontcolor="#5f3dc4", style="bold", class="transition event"];',
    );
  });

  it('a transition to an enclosing state ends at its node, not at its cluster, however far up', () => {
    expect(edge(dot, 'y.one.run', 'y')).toBe(
      '  "y.one.run" -> "y" [label=<UP>, color="#7048e8", fontcolor="#5f3dc4", style="bold", class="transition event"];',
    );
    expect(edge(dot, 'y.one.run', 'y.one')).toBe(
      '  "y.one.run" -> "y.one" [label=<RETRY>, color="#7048e8", fontcolor="#5f3dc4", style="bold", class="transition event"];',
    );
    expect(edge(dot, 'y.one', 'y.three')).toBe(
      '  "y.one" -> "y.three" [label=<JUMP>, color="#7048e8", fontcolor="#5f3dc4", style="bold", ltail="cluster_y.one", constraint="false", lhead="cluster_y.three", class="transition event"];',
    );
  });

  it('a row is the chain of done transitions from the initial compound state; two states make one', () => {
    expect(layout(dot)).toEqual(['  "y" -> "y.two" [style=invis];']);
    // an atomic initial state starts no row, even when its actor's done leads to a compound state
    const atomicFirst = createMachine({
      id: 'x',
      initial: 'a',
      states: { a: { invoke: { src: 'w', onDone: 'b' } }, b: { initial: 'c', states: { c: {} } } },
    });
    expect(layout(renderDot(machineGraph(atomicFirst)))).toEqual([]);
  });
});

describe('renderDot: colours by mark, and the text helpers', () => {
  let graph: MachineGraph;
  beforeEach(() => {
    graph = machineGraph(pipeline);
  });
  const lineOf = (dot: string, start: string) => dot.split('\n').find((l) => l.trimStart().startsWith(start))!;
  const leaf = (classes: NodeMark['classes']) =>
    lineOf(renderDot(graph, new Map([['m.over', { classes, notes: [] }]])), '"m.over" [');
  const cluster = (classes: NodeMark['classes']) =>
    lineOf(renderDot(graph, new Map([['m.steps.a', { classes, notes: [] }]])), 'graph [id="cluster:m.steps.a"');

  it('a state: fill, border, pen and dash by its first class in the order active, stale, failed, … retried', () => {
    const tail = (cls: string, rest: string) =>
      `"m.over" [id="m.over", class="state final ${cls}", label=<over>, ${rest}, peripheries=2];`;
    expect(leaf(['active']).trim()).toBe(
      tail('active', 'style="rounded,filled", fillcolor="#ffe08a", color="#d9480f", penwidth=3').replace(
        'label=<over>',
        'label=<<b>over</b>>',
      ),
    );
    expect(leaf(['stale']).trim()).toBe(
      tail('stale', 'style="rounded,filled,dashed", fillcolor="#ffe8cc", color="#d9480f", penwidth=2'),
    );
    expect(leaf(['failed']).trim()).toBe(
      tail('failed', 'style="rounded,filled", fillcolor="#ffd8d8", color="#c92a2a", penwidth=2'),
    );
    expect(leaf(['interrupted']).trim()).toBe(
      tail('interrupted', 'style="rounded,filled", fillcolor="#e5dbff", color="#6741d9", penwidth=1.5'),
    );
    expect(leaf(['in-flight']).trim()).toBe(
      tail('in-flight', 'style="rounded,filled", fillcolor="#fff3bf", color="#e67700", penwidth=2'),
    );
    expect(leaf(['done']).trim()).toBe(
      tail('done', 'style="rounded,filled", fillcolor="#d3f9d8", color="#2b8a3e", penwidth=1.2'),
    );
    expect(leaf(['skipped']).trim()).toBe(
      tail('skipped', 'style="rounded,filled,dashed", fillcolor="#e9ecef", color="#868e96"'),
    );
    expect(leaf(['retried']).trim()).toBe(
      tail('retried', 'style="rounded,filled", fillcolor="#fff4e6", color="#e8590c", penwidth=1.5'),
    );
    // classes without a colour of their own, and the order of the palette rather than of the mark
    expect(leaf(['pending', 'active-parent']).trim()).toBe(
      tail('pending active-parent', 'style="rounded,filled", fillcolor="white"'),
    );
    expect(leaf(['retried', 'done'])).toContain('fillcolor="#d3f9d8", color="#2b8a3e", penwidth=1.2');
    expect(leaf(['retried', 'stale'])).toContain('fillcolor="#ffe8cc", color="#d9480f", penwidth=2');
  });

  it("a step's cluster: its fill by the first of its classes that has one, its border by the palette", () => {
    const fills: Array<[NodeMark['classes'], string, string]> = [
      [['active-parent'], '#fffbea', '#ced4da'],
      [['in-flight'], '#fff9db', '#e67700'],
      [['done'], '#ebfbee', '#2b8a3e'],
      [['skipped'], '#f1f3f5', '#868e96'],
      [['failed'], '#fff0f0', '#c92a2a'],
      [['interrupted'], '#f3f0ff', '#6741d9'],
      [['stale'], '#fff4e6', '#d9480f'],
      // retried has no fill: the next class's
      [['retried', 'done'], '#ebfbee', '#2b8a3e'],
      [['pending'], '#fcfcfd', '#ced4da'],
    ];
    for (const [classes, fill, border] of fills) {
      const pen = classes.includes('active-parent') ? 1.5 : 1;
      expect(cluster(classes).trim(), classes.join(' ')).toBe(
        `graph [id="cluster:m.steps.a", class="cluster state compound ${classes.join(' ')}", label="", style="rounded,filled", fillcolor="${fill}", color="${border}", penwidth=${pen}];`,
      );
    }
    // the header carries the border colour as its text colour
    expect(
      lineOf(renderDot(graph, new Map([['m.steps.a', { classes: ['done'], notes: ['n'] }]])), '"m.steps.a" ['),
    ).toBe(
      '        "m.steps.a" [id="m.steps.a", class="state compound done header", shape="plaintext", style="", label=<<b>a</b><br/><font point-size="8">n</font>>, fontcolor="#2b8a3e"];',
    );
  });

  it('quoteId, clusterName and dotHtmlText', () => {
    expect(quoteId('build.pipeline')).toBe('"build.pipeline"');
    expect(quoteId('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quoteId('\\"')).toBe('"\\\\\\""');
    expect(clusterName('m.steps')).toBe('cluster_m.steps');
    expect(dotHtmlText(`<a href="x">&'\u0007`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39; ');
    // an id with a quote or backslash stays one DOT id
    const odd = machineGraph(createMachine({ id: 'q"\\', initial: 'a', states: { a: {} } }));
    expect(renderDot(odd).split('\n')[0]).toBe('digraph "q\\"\\\\" {');
  });

  it('an id that starts with < and ends with > is still a quoted string, not an HTML-like label', () => {
    const angled = machineGraph(createMachine({ id: '<q', initial: 'a>', states: { 'a>': {} } }));
    const dot = renderDot(angled);
    expect(dot).toContain('"<q.a>" [id="<q.a>", class="state atomic", label=<a&gt;>,');
    expect(dot).toContain('graph [id="cluster:<q", class="cluster state compound",');
    expect(dot).toContain(
      '"<q" -> "<q.a>" [style="dashed", color="#ced4da", arrowhead="vee", class="transition initial"];',
    );
  });

  it('wrap: lines of at most the width, broken at spaces, a longer word cut', () => {
    expect(wrap('', 10)).toEqual([]);
    expect(wrap('short', 10)).toEqual(['short']);
    expect(wrap('aaaa bbbbb', 10)).toEqual(['aaaa bbbbb']);
    expect(wrap('aaaa bbbbbb', 10)).toEqual(['aaaa', 'bbbbbb']);
    expect(wrap('one two three four', 9)).toEqual(['one two', 'three', 'four']);
    expect(wrap('abcdefghijklmnopqrstuvwxy', 10)).toEqual(['abcdefghij', 'klmnopqrst', 'uvwxy']);
    expect(wrap('abcdefghij', 10)).toEqual(['abcdefghij']);
    expect(wrap('ab abcdefghijkl', 5)).toEqual(['ab', 'abcde', 'fghij', 'kl']);
    expect(wrap('a  b', 10)).toEqual(['a  b']);
  });
});
