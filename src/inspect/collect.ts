/**
 * Everything the live page shows, read from a work dir without writing to it: the status report,
 * the machine graph with its marks, the SVG picture, the timeline, the tail of the current step's
 * log and the host's resource figures. Used by the server; `ailinux status` uses the same pieces.
 */
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { readStateReadOnly } from '../../state/store.js';
import type { StateFile } from '../../state/schema.js';
import {
  durationsFile,
  estimateRemaining,
  type Eta,
  expectedTimes,
  readDurations,
  thisHost,
} from '../../state/durations.js';
import { workPaths, type WorkPaths } from '../runtime/paths.js';
import type { Ledger } from '../types.js';
import { logStepOf, resourceFigures, stepLogTail, type LogTail, type ResourceFigures } from './figures.js';
import type { MachineGraph } from './graph.js';
import { renderStepsTableHtml } from './html.js';
import type { NodeMark } from './marks.js';
import { marksObject, modelFromOrder, modelFromState, pictureDot, stepDetailDots, type InspectModel } from './model.js';
import { renderSvg } from './svg.js';
import { buildTimeline, renderTimelineHtml, StepEventReader, type Timeline } from './timeline.js';

/** The part of `ailinux status`'s report the collector needs; the CLI passes its own statusReport in. */
export interface StatusLike {
  /** alive: its owner runs on this host; a lock held from another host (state 'foreign') may be running too. */
  lock: { pid: number | null; alive: boolean; state?: string } | null;
}

export interface CollectorOptions<S extends StatusLike = StatusLike> {
  workDir: string;
  statusReport: (workDir: string) => S | Promise<S>;
  /** What to draw while the work dir holds no build: a profile's machine. */
  fallback: { title: string; order: string[] };
  logLines?: number;
  /** Draw the whole machine (`inspect --detail`) instead of the compact picture. */
  detail?: boolean;
  /** Also draw each step's sub-states (the pages expand them on click); default true. */
  stepPictures?: boolean;
}

export interface InspectPayload<S extends StatusLike = StatusLike> {
  generatedAt: string;
  workDir: string;
  /** "state" when drawn from the work dir's state file, "profile" before a build exists there. */
  source: 'state' | 'profile';
  title: string;
  profile: string | null;
  outcome: StateFile['outcome'] | null;
  /** The step the build is at. */
  current: string | null;
  /** The XState ids of the states the build is in. */
  activeStates: string[];
  /** False when the build's process died mid-run. */
  live: boolean;
  runId: string | null;
  updatedAt: string | null;
  pauseReason: string | null;
  order: string[];
  ledger: Ledger;
  status: S | null;
  graph: MachineGraph;
  marks: Record<string, NodeMark>;
  /** `svg` is null while a new picture is still being rendered (see InspectCollector.pictureFor). */
  picture: Picture;
  timeline: Timeline;
  timelineHtml: string;
  stepsHtml: string;
  logTail: LogTail | null;
  resources: ResourceFigures;
  /** A running build's ETA from earlier runs' durations (state/durations.ts); null when none applies. */
  eta: Eta | null;
  /** A state file that could not be read, or a status that failed: what went wrong. */
  error: string | null;
}

export interface Picture {
  key: string;
  svg: string | null;
  renderMs: number;
  /** Each step's sub-states as SVG, by the step's node id (what a click on the step expands); null when not drawn. */
  steps?: Record<string, string> | null;
}

type RenderedPicture = Picture & { svg: string };

/** The compact (or detailed) picture and, unless told not to, every step's sub-state picture. */
export async function renderPicture(
  model: InspectModel,
  options: { detail?: boolean; stepPictures?: boolean } = {},
): Promise<{ svg: string; renderMs: number; steps: Record<string, string> | null }> {
  const started = performance.now();
  const { svg } = await renderSvg(pictureDot(model, options.detail === true));
  let steps: Record<string, string> | null = null;
  if (options.stepPictures !== false && !options.detail) {
    steps = {};
    for (const [id, dot] of stepDetailDots(model)) steps[id] = (await renderSvg(dot)).svg;
  }
  return { svg, renderMs: Math.round(performance.now() - started), steps };
}

export class InspectCollector<S extends StatusLike = StatusLike> {
  readonly paths: WorkPaths;
  private readonly events: StepEventReader;
  private svg: RenderedPicture | null = null;
  private rendering: { key: string; done: Promise<RenderedPicture> } | null = null;

  constructor(private readonly options: CollectorOptions<S>) {
    this.paths = workPaths(options.workDir);
    this.events = new StepEventReader(this.paths.buildLog);
  }

  /** Everything; with `waitForPicture: false` a picture that is not rendered yet comes as `svg: null`. */
  async collect(options: { waitForPicture?: boolean } = {}): Promise<InspectPayload<S>> {
    return (await this.collectWithModel(options)).payload;
  }

  /** The payload and the model it was drawn from (the one-shot formats need the model too). */
  async collectWithModel(
    how: { waitForPicture?: boolean } = {},
  ): Promise<{ payload: InspectPayload<S>; model: InspectModel }> {
    const { paths, options } = this;
    let state: StateFile | null = null;
    let status: S | null = null;
    const errors: string[] = [];
    try {
      state = readStateReadOnly(paths.stateFile);
    } catch (error) {
      errors.push((error as Error).message);
    }
    try {
      status = await options.statusReport(paths.workDir);
    } catch (error) {
      if (errors.length === 0) errors.push((error as Error).message);
    }
    const alive = status?.lock?.alive ?? false;
    const live = !(state?.outcome === 'running' && !alive && status?.lock?.state !== 'foreign');
    const model: InspectModel = state
      ? modelFromState(state, live)
      : modelFromOrder(options.fallback.title, options.fallback.order);
    const picture = await this.picture(model, how.waitForPicture !== false);
    const order = [...model.view.order];
    const ledger = model.view.ledger;
    const now = Date.now();
    const timeline = buildTimeline({
      order,
      ledger,
      events: state ? this.events.read(state.runId) : [],
      runId: state?.runId ?? null,
      now,
      live: live && state?.outcome === 'running',
    });
    const current = state?.current ?? null;
    const payload: InspectPayload<S> = {
      generatedAt: new Date(now).toISOString(),
      workDir: paths.workDir,
      source: state ? 'state' : 'profile',
      title: model.title,
      profile: state?.profile ?? null,
      outcome: state?.outcome ?? null,
      current,
      activeStates: model.active,
      live,
      runId: state?.runId ?? null,
      updatedAt: state?.updatedAt ?? null,
      pauseReason: state?.pauseReason ?? null,
      order,
      ledger,
      status,
      graph: model.graph,
      marks: marksObject(model.marks),
      picture,
      timeline,
      timelineHtml: renderTimelineHtml(timeline),
      stepsHtml: renderStepsTableHtml({
        order,
        ledger,
        current,
        runId: state?.runId ?? null,
        resources: state?.resources,
        flags: state?.userFlags,
      }),
      logTail: state ? stepLogTail(paths.stepLogsDir, logStepOf(order, ledger, current), options.logLines ?? 30) : null,
      resources: resourceFigures(paths.workDir, alive ? status!.lock!.pid : null),
      eta:
        state && live && state.outcome === 'running'
          ? estimateRemaining(
              order,
              ledger,
              expectedTimes(readDurations(durationsFile(paths.stateDir)), order, {
                profile: state.profile,
                host: thisHost(),
              }),
              now,
            )
          : null,
      error: errors[0] ?? null,
    };
    return { payload, model };
  }

  /**
   * The SVG, rendered again only when the DOT (shape or marks) changed. Without `wait`, a picture
   * not rendered yet is returned as `svg: null` while it renders: the live page gets the new
   * current step at once and the picture when Graphviz is done with it.
   */
  private async picture(model: InspectModel, wait: boolean): Promise<Picture> {
    const how = { detail: this.options.detail === true, stepPictures: this.options.stepPictures !== false };
    const hash = crypto.createHash('sha256').update(pictureDot(model, how.detail));
    hash.update(JSON.stringify(how));
    if (how.stepPictures && !how.detail) for (const dot of stepDetailDots(model).values()) hash.update(dot);
    const key = hash.digest('hex').slice(0, 16);
    if (this.svg?.key === key) return this.svg;
    if (this.rendering?.key !== key) {
      const done = renderPicture(model, how).then((r) => {
        const picture: RenderedPicture = { key, svg: r.svg, renderMs: r.renderMs, steps: r.steps };
        if (this.rendering?.key === key) {
          this.svg = picture;
          this.rendering = null;
        }
        return picture;
      });
      this.rendering = { key, done };
      done.catch(() => {
        if (this.rendering?.key === key) this.rendering = null;
      });
    }
    return wait ? this.rendering.done : { key, svg: null, renderMs: 0 };
  }

  /** The picture with this key, once rendered; null if a newer one replaced it meanwhile. */
  async pictureFor(key: string): Promise<RenderedPicture | null> {
    if (this.svg?.key === key) return this.svg;
    if (this.rendering?.key === key) return this.rendering.done;
    return null;
  }
}
