/**
 * What a build tells its view as it goes: the steps in order, each step's start, output lines and end, and messages.
 * The CLI's views render it (src/cli/progress-view.ts); tests record it.
 */
import type { StepStatus } from '../types.js';

export interface ProgressView {
  /**
   * The steps in their order, once planned, so a view can say "step N of M"; with each step's expected time from
   * earlier runs (src/engine/durations.ts), for the steps that have one.
   */
  stepsPlanned?(ids: readonly string[], expectedMs?: Readonly<Record<string, number>>): void;
  stepStarted(id: string, attempt: number): void;
  stepLine(id: string, line: string): void;
  stepEnded(id: string, status: StepStatus, durationMs: number | null, note?: string): void;
  /** Something the user must see even with --quiet: a signal, a pause, a session check, a warning. */
  message(text: string): void;
  /** Chatter that --quiet drops (the --fresh removal, a step undone first); a view without it shows a message. */
  notice?(text: string): void;
  close(): void;
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}
