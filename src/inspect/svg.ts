/** SVG from DOT with Graphviz compiled to WASM (@hpcc-js/wasm-graphviz): offline, no system packages. */
import { performance } from 'node:perf_hooks';

type GraphvizInstance = { dot(source: string, format?: 'svg'): string; version(): string };
let loading: Promise<GraphvizInstance> | null = null;

/** Loads the WASM module once per process, on first use (the CLI's other commands never pay for it). */
function graphviz(): Promise<GraphvizInstance> {
  if (!loading) {
    loading = import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load() as Promise<GraphvizInstance>);
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

export interface RenderedSvg {
  svg: string;
  ms: number;
  graphvizVersion: string;
}

export async function renderSvg(dot: string): Promise<RenderedSvg> {
  const gv = await graphviz();
  const started = performance.now();
  const raw = gv.dot(dot, 'svg');
  return { svg: screenFonts(stripProlog(raw)), ms: performance.now() - started, graphvizVersion: gv.version() };
}

/**
 * The layout was measured with Helvetica's metrics; DejaVu Sans, the usual font on Debian, is
 * wider and would overflow the boxes, so its condensed cut (about Helvetica's width) comes first.
 */
export function screenFonts(svg: string): string {
  return svg.replace(
    /font-family="Helvetica,sans-Serif"/g,
    'font-family="DejaVu Sans Condensed,Helvetica,Arial,sans-serif"',
  );
}

/** Drops the XML declaration and DOCTYPE so the SVG can be inlined in HTML. */
export function stripProlog(svg: string): string {
  const at = svg.indexOf('<svg');
  return at > 0 ? svg.slice(at) : svg;
}

/** A standalone .svg file: the prolog back on. */
export function svgDocument(svg: string): string {
  return `<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n${svg.trimEnd()}\n`;
}
