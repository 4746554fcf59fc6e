/**
 * Text from the ledger (an error message, a skip reason) and the title reach three formats: DOT's
 * HTML-like labels, the SVG Graphviz makes of them, and Mermaid's state descriptions. Markup
 * characters in that text must come out as text in each, and control characters must not break them.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { createBuildMachine } from '../../machines/build-machine.js';
import { loadConfig } from '../../src/config/load.js';
import { dotHtmlText, renderDot } from '../../src/inspect/dot.js';
import { escapeHtml, printable, truncate } from '../../src/inspect/format.js';
import { machineGraph } from '../../src/inspect/graph.js';
import { markGraph } from '../../src/inspect/marks.js';
import { mermaidText, renderMermaid } from '../../src/inspect/mermaid.js';
import { renderSvg } from '../../src/inspect/svg.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';
import { xmlProblem } from '../helpers/xml.js';

const order = resolveSteps(loadConfig({ profile: 'minimal' }).config).map((s) => s.id);
const graph = machineGraph(createBuildMachine(order));
const MESSAGE = 'expected <a & b> "c"';

/** A build that failed at bootstrap with `message`, configure skipped with `reason`. */
function picture(message: string, reason = 'unchanged') {
  const ledger: Ledger = {};
  for (const id of order) ledger[id] = emptyLedgerEntry(id);
  ledger['bootstrap'] = {
    ...emptyLedgerEntry('bootstrap'),
    status: 'failed',
    attempts: 1,
    durationMs: 1200,
    error: { message, code: 'COMMAND', transient: false },
  };
  ledger['configure'] = { ...emptyLedgerEntry('configure'), status: 'skipped', reason };
  const marks = markGraph(graph, {
    order,
    ledger,
    current: 'bootstrap',
    stateValue: 'failed',
    outcome: 'failed',
    live: true,
  });
  return { marks, dot: renderDot(graph, marks, { title: `minimal <x> & 'y' · failed` }) };
}

/** The DOT statement of the bootstrap step's header, which carries its notes. */
function headerLine(dot: string): string {
  return dot.split('\n').find((l) => l.trim().startsWith('"build.pipeline.bootstrap" ['))!;
}

/** Every & in the text starts an entity. */
function ampersandsAreEntities(text: string): boolean {
  return [...text.matchAll(/&/g)].every((m) =>
    /^&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);/.test(text.slice(m.index)),
  );
}

describe('the XML check used below', () => {
  it('accepts well-formed XML and finds each kind of breakage', () => {
    expect(xmlProblem('<svg a="1 &amp; 2"><g><text>x &lt; y &#39;</text></g><br/></svg>')).toBeNull();
    expect(xmlProblem('<svg><text>expected <a & b> "c"</text></svg>')).toMatch(/bare &|malformed tag/);
    expect(xmlProblem('<svg><text>a & b</text></svg>')).toMatch(/^a bare & at 13: /);
    expect(xmlProblem('<svg a="x & y"></svg>')).toMatch(/bare & .*attribute a of <svg>/);
    expect(xmlProblem('<svg><g></svg>')).toBe('</svg> at 8 closes <g>');
    expect(xmlProblem('<svg><g></g>')).toBe('<svg> is never closed');
    expect(xmlProblem('<svg/><svg/>')).toBe('2 root elements');
  });
});

describe('an error text with markup characters', () => {
  it('DOT: the label holds it as entities, and Graphviz reads the DOT', async () => {
    const { dot } = picture(MESSAGE);
    const header = headerLine(dot);
    expect(header).toContain('<font point-size="8">error: expected &lt;a &amp; b&gt; &quot;c&quot; (COMMAND)</font>');
    expect(header).not.toContain('<a &');
    expect(ampersandsAreEntities(dot)).toBe(true);
    expect(dot).toContain(`label=<<b>minimal &lt;x&gt; &amp; &#39;y&#39; · failed</b>>`);
    await expect(renderSvg(dot)).resolves.toMatchObject({ svg: expect.stringMatching(/^<svg/) });
  });

  it('SVG: well-formed XML, the text escaped once, every & an entity', async () => {
    const { svg } = await renderSvg(picture(MESSAGE).dot);
    expect(xmlProblem(svg)).toBeNull();
    expect(ampersandsAreEntities(svg)).toBe(true);
    expect(svg).toContain('>error: expected &lt;a &amp; b&gt; &quot;c&quot; (COMMAND)</text>');
    expect(svg).toContain('>minimal &lt;x&gt; &amp; &#39;y&#39; · failed</text>');
    // escaped once, not twice
    expect(svg).not.toContain('&amp;lt;');
    expect(svg).not.toContain('&amp;amp;');
  });

  it('Mermaid: the description holds it as entity codes, so the quote does not end it and <a is no tag', () => {
    const mermaid = renderMermaid(graph, picture(MESSAGE).marks);
    const line = mermaid.split('\n').find((l) => l.endsWith(' as s_build_pipeline_bootstrap'))!;
    expect(line.trim()).toBe(
      'state "bootstrap · failed after 1.2 s · error: expected #lt;a #amp; b#gt; #quot;c#quot; (COMMAND)" as s_build_pipeline_bootstrap',
    );
    // inside the quotes, nothing Mermaid or its HTML labels would read as markup
    for (const m of mermaid.matchAll(/^\s*state "(.*)" as \w+$/gm)) expect(m[1]).not.toMatch(/["<>&]/);
  });

  it("Mermaid: # and ; stay in the text as codes (Mermaid would read them as markup or an entity's end)", () => {
    expect(mermaidText('apt-get: E#100; "x" <y> & z')).toBe('apt-get: E#35;100#59; #quot;x#quot; #lt;y#gt; #amp; z');
    expect(mermaidText('#quot;')).toBe('#35;quot#59;');
    expect(mermaidText('  two\n lines\t ')).toBe('two lines');
  });

  it('a skip reason is escaped the same way', async () => {
    const { dot, marks } = picture('x', 'config <changed> & "more"');
    expect(dot).toContain('skipped: config &lt;changed&gt; &amp; &quot;more&quot;');
    expect(renderMermaid(graph, marks)).toContain('skipped: config #lt;changed#gt; #amp; #quot;more#quot;');
    expect(xmlProblem((await renderSvg(dot)).svg)).toBeNull();
  });
});

describe('transition labels and state names with markup characters', () => {
  // the build machine's event names are plain; a machine whose are not shows the labels are escaped too
  const odd = machineGraph(
    createMachine({
      id: 'm',
      initial: 'a',
      states: { a: { invoke: { src: 'load<&>' }, on: { 'GO<&>"#;': 'b<&>' } }, 'b<&>': { type: 'final' } },
    }),
  );

  it('DOT, SVG and Mermaid each write them, and state names, as text', async () => {
    const dot = renderDot(odd);
    expect(dot).toContain('"m.a" -> "m.b<&>" [label=<GO&lt;&amp;&gt;&quot;#;>');
    expect(dot).toContain('label=<b&lt;&amp;&gt;>');
    expect(dot).toContain('<font point-size="7" color="#868e96">load&lt;&amp;&gt;</font>');
    // the active state's name is drawn bold
    const active = markGraph(odd, { order: [], ledger: {}, current: null, stateValue: 'b<&>', live: true });
    expect(renderDot(odd, active)).toContain('label=<<b>b&lt;&amp;&gt;</b>>');
    const { svg } = await renderSvg(dot);
    expect(xmlProblem(svg)).toBeNull();
    expect(svg).toContain('>b&lt;&amp;&gt;</text>');
    const mermaid = renderMermaid(odd);
    expect(mermaid).toContain('state "b#lt;#amp;#gt;" as s_m_b___');
    expect(mermaid).toContain('s_m_a --> s_m_b___ : GO#lt;#amp;#gt;#quot;#35;#59;');
  });
});

describe('control characters in an error text', () => {
  // what a command's stderr can carry: colour codes, a bell, a NUL
  const NOISY = 'E: \u001b[1;31mUnable\u001b[0m to locate\u0007 package\u0000 <x> & y';

  it('Graphviz still reads the DOT, the SVG is well-formed, and the text reads plainly', async () => {
    const { dot, marks } = picture(NOISY);
    expect(dot).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(headerLine(dot)).toContain('error: E: Unable to locate package &lt;x&gt;');
    const { svg } = await renderSvg(dot);
    expect(xmlProblem(svg)).toBeNull();
    expect(renderMermaid(graph, marks)).toContain('error: E: Unable to locate package #lt;x#gt; #amp; y (COMMAND)');
  });

  it('printable drops colour codes and turns the other control characters into spaces', () => {
    expect(printable('a\u001b[31mb\u001b[0m')).toBe('ab');
    expect(printable('a\u0000b\u0007c\u007fd\u0085e\tf\ng')).toBe('a b c d e f g');
    expect(printable('plain: <ä> & "ü" · 1×')).toBe('plain: <ä> & "ü" · 1×');
    expect(truncate('a\u0000\u0000b', 10)).toBe('a b');
    expect(dotHtmlText('\u0000<b>')).toBe(' &lt;b&gt;');
  });

  it('escapeHtml writes each markup character as its entity', () => {
    expect(escapeHtml(`<a href="x">Tom & Jerry's</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;',
    );
    expect(escapeHtml('&lt;')).toBe('&amp;lt;');
  });
});
