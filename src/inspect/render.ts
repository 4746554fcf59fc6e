/** One picture in each output format of `ailinux inspect`: svg, html, dot, mermaid, json. */
import { packageVersion } from '../runtime/package-root.js';
import type { InspectPayload, StatusLike } from './collect.js';
import { renderDot } from './dot.js';
import { renderDocument, renderStepsTableHtml } from './html.js';
import { renderMermaid } from './mermaid.js';
import { marksObject, type InspectModel } from './model.js';
import { renderSvg, svgDocument } from './svg.js';
import { buildTimeline, renderTimelineHtml } from './timeline.js';

export const FORMATS = ['svg', 'html', 'dot', 'mermaid', 'json'] as const;
export type InspectFormat = (typeof FORMATS)[number];

export const EXTENSIONS: Readonly<Record<string, InspectFormat>> = {
  '.svg': 'svg',
  '.html': 'html',
  '.htm': 'html',
  '.dot': 'dot',
  '.gv': 'dot',
  '.mmd': 'mermaid',
  '.mermaid': 'mermaid',
  '.json': 'json',
};

/** The format an output file's extension names, if any. */
export function formatForFile(file: string): InspectFormat | null {
  const m = /\.[A-Za-z]+$/.exec(file);
  return m ? (EXTENSIONS[m[0].toLowerCase()] ?? null) : null;
}

export function generator(): string {
  return `ailinux ${packageVersion()} inspect`;
}

/** A work dir's picture in a format, from what the collector read. */
export async function renderPayload(
  format: InspectFormat,
  payload: InspectPayload<StatusLike>,
  model: InspectModel,
): Promise<string> {
  switch (format) {
    case 'dot':
      return renderDot(model.graph, model.marks, { title: model.title });
    case 'mermaid':
      return renderMermaid(model.graph, model.marks);
    case 'svg':
      return svgDocument(payload.picture.svg ?? '');
    case 'json':
      return `${JSON.stringify({ title: model.title, activeStates: model.active, graph: model.graph, marks: marksObject(model.marks), timeline: payload.timeline }, null, 2)}\n`;
    case 'html':
      return renderDocument({
        title: `ailinux build: ${model.title}`,
        outcome: payload.outcome === 'running' && !payload.live ? 'stopped' : payload.outcome,
        meta: [
          ['work dir', payload.workDir],
          ['current step', payload.current ?? '-'],
          ['state', payload.activeStates.join(', ') || '-'],
          ['updated', payload.updatedAt ?? '-'],
          ['run', payload.runId ?? '-'],
        ],
        svg: payload.picture.svg ?? '',
        timelineHtml: payload.timelineHtml,
        stepsHtml: payload.stepsHtml,
        logTail: payload.logTail,
        generator: generator(),
      });
  }
}

/** A profile's machine (nothing has run) in a format. */
export async function renderModel(format: InspectFormat, model: InspectModel): Promise<string> {
  const dot = renderDot(model.graph, model.marks, { title: model.title });
  switch (format) {
    case 'dot':
      return dot;
    case 'mermaid':
      return renderMermaid(model.graph, model.marks);
    case 'svg':
      return svgDocument((await renderSvg(dot)).svg);
    case 'json':
      return `${JSON.stringify({ title: model.title, activeStates: model.active, graph: model.graph, marks: marksObject(model.marks) }, null, 2)}\n`;
    case 'html': {
      const timeline = buildTimeline({ order: model.view.order, ledger: model.view.ledger });
      return renderDocument({
        title: `ailinux machine: ${model.title}`,
        meta: [['steps', model.view.order.join(' → ')]],
        svg: (await renderSvg(dot)).svg,
        timelineHtml: renderTimelineHtml(timeline),
        stepsHtml: renderStepsTableHtml({ order: model.view.order, ledger: model.view.ledger }),
        generator: generator(),
      });
    }
  }
}
