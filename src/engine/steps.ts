/**
 * The steps as the engine runs them: the profile's, with the report step composed for this run (its ledger,
 * resource figures and HTML renderer). The renderer is imported when the report runs, so the commands that only
 * resolve steps (plan, status, doctor) never load the inspect renderers and their WASM Graphviz.
 */
import type { UserFlags } from '../runtime/hint-command.js';
import type { SafetySummary } from '../runtime/session.js';
import { packageVersion } from '../runtime/package-root.js';
import { createReportStep, type StepResourcePeaks } from '../steps/report.js';
import type { StepDef } from '../steps/types.js';
import type { Ledger } from '../types.js';

/** What the report step reads from the run it is part of, at the moment it runs. */
export interface RunView {
  runId: string;
  /** logs/build.ndjson, for the attempts on the report's timeline. */
  buildLog: string;
  ledger(): Ledger;
  resourcePeaks(): Record<string, StepResourcePeaks>;
  /** The run's session record so far, for the report. */
  safety?: () => SafetySummary | null;
  /** The flags the user typed for this run, for the report's fix and run lines. */
  userFlags?: () => UserFlags;
}

/** `steps` (from resolveSteps) with the registry's report step replaced by one that reads this run. */
export function composeSteps(steps: readonly StepDef[], run: RunView): StepDef[] {
  const order = steps.map((s) => s.id);
  const report = createReportStep({
    ledger: run.ledger,
    resourcePeaks: run.resourcePeaks,
    toolVersion: packageVersion,
    ...(run.safety ? { safety: run.safety } : {}),
    ...(run.userFlags ? { userFlags: run.userFlags } : {}),
    renderHtml: async (built, ledger, screenshots) => {
      const { renderReportHtml } = await import('../inspect/report-html.js');
      return renderReportHtml({ report: built, order, ledger, buildLog: run.buildLog, runId: run.runId, screenshots });
    },
  });
  return steps.map((s) => (s.id === report.id ? report : s));
}
