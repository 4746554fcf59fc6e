/** One picture in each output format of `ailinux inspect`: svg, html, dot, mermaid, json. */
import { packageVersion } from '../runtime/package-root.js';
import type { InspectPayload, StatusLike } from './collect.js';
import { renderPicture } from './collect.js';
import { renderDocument, renderStepsTableHtml } from './html.js';
import { renderMermaid } from './mermaid.js';
import { marksObject, pictureDot, type InspectModel } from './model.js';
import { svgDocument } from './svg.js';
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

/** Mermaid of the picture: the compact graph, or with `detail` the whole machine. */
function mermaidOf(model: InspectModel, detail: boolean): string {
  return detail ? renderMermaid(model.graph, model.marks) : renderMermaid(model.compact.graph, model.compactMarks);
}

/** A work dir's picture in a format, from what the collector read (with `detail`, the whole machine). */
export async function renderPayload(
  format: InspectFormat,
  payload: InspectPayload<StatusLike>,
  model: InspectModel,
  detail = false,
): Promise<string> {
  switch (format) {
    case 'dot':
      return pictureDot(model, detail);
    case 'mermaid':
      return mermaidOf(model, detail);
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
        stepSvgs: payload.picture.steps ?? null,
        timelineHtml: payload.timelineHtml,
        stepsHtml: payload.stepsHtml,
        logTail: payload.logTail,
        generator: generator(),
      });
  }
}

/** A profile's machine (nothing has run) in a format (with `detail`, the whole machine). */
export async function renderModel(format: InspectFormat, model: InspectModel, detail = false): Promise<string> {
  switch (format) {
    case 'dot':
      return pictureDot(model, detail);
    case 'mermaid':
      return mermaidOf(model, detail);
    case 'svg':
      return svgDocument((await renderPicture(model, { detail, stepPictures: false })).svg);
    case 'json':
      return `${JSON.stringify({ title: model.title, activeStates: model.active, graph: model.graph, marks: marksObject(model.marks) }, null, 2)}\n`;
    case 'html': {
      const timeline = buildTimeline({ order: model.view.order, ledger: model.view.ledger });
      const picture = await renderPicture(model, { detail });
      return renderDocument({
        title: `ailinux machine: ${model.title}`,
        meta: [['steps', model.view.order.join(' → ')]],
        svg: picture.svg,
        stepSvgs: picture.steps,
        timelineHtml: renderTimelineHtml(timeline),
        stepsHtml: renderStepsTableHtml({
          order: model.view.order,
          ledger: model.view.ledger,
          flags: model.view.flags,
        }),
        generator: generator(),
      });
    }
  }
}
