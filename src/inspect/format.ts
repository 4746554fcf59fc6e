/** Small text helpers shared by the inspect renderers. */

/** 12.3 s, or 4 min 5 s; "-" when unknown. Same shape as the terminal view's durations. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

// the inspect renderers' byte counts are the CLI's and the steps' (src/runtime/format-bytes.ts)
export { formatBytes } from '../runtime/format-bytes.js';

/** Text a picture can show: terminal colour codes dropped, other control characters (a NUL breaks Graphviz) as spaces. */
export function printable(text: string): string {
  return text.replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

export function truncate(text: string, max: number): string {
  const one = printable(text).replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
