/** The flags of build and resume that choose what they print while they run. */
import { Option } from 'commander';

/** The --progress modes; here, not in progress-view.ts, so the CLI's start-up does not load the views. */
export const PROGRESS_MODES = ['auto', 'plain', 'tty'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

export function progressOption(): Option {
  return new Option(
    '--progress <mode>',
    'tty: a live line per running step; plain: every output line, prefixed with its step; auto: tty on a terminal, otherwise a line when each step starts and ends and a heartbeat every 30 s',
  )
    .choices(PROGRESS_MODES)
    .default('auto');
}

export function quietOption(): Option {
  return new Option('-q, --quiet', 'print only what went wrong; on success, only the ISO path (on stdout)').conflicts(
    'progress',
  );
}
