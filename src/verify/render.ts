/** The verifier's table: one row per check (name, ok/FAIL, detail), then a one-line verdict. */
import { formatBytes } from './checks.js';
import { checkPasses, type CheckResult, type CheckStatus, type VerifyReport } from './types.js';

const STATUS_TEXT: Record<CheckStatus, string> = { ok: 'ok', fail: 'FAIL', missing: 'missing', skipped: 'skipped' };

export function renderVerifyTable(checks: readonly CheckResult[]): string {
  const nameWidth = Math.max(5, ...checks.map((c) => c.name.length));
  const statusWidth = Math.max(6, ...checks.map((c) => STATUS_TEXT[c.status].length));
  const indent = ' '.repeat(nameWidth + statusWidth + 4);
  const lines = [`${'check'.padEnd(nameWidth)}  ${'status'.padEnd(statusWidth)}  detail`];
  for (const c of checks) {
    const [first = '', ...rest] = c.detail.split('\n');
    lines.push(`${c.name.padEnd(nameWidth)}  ${STATUS_TEXT[c.status].padEnd(statusWidth)}  ${first}`.trimEnd());
    // continuation lines (a boot failure's serial console) sit under the detail column
    for (const line of rest)
      lines.push(`${indent}${/^(full serial log|screenshot warning):/.test(line) ? line : `| ${line}`}`);
  }
  return lines.join('\n');
}

export function verdictLine(report: VerifyReport): string {
  const failed = report.checks.filter((c) => !checkPasses(c));
  const seconds = `${(report.durationMs / 1000).toFixed(1)} s`;
  if (failed.length > 0)
    return `FAIL: ${failed.length} of ${report.checks.length} checks failed (${failed.map((c) => c.name).join(', ')}) in ${seconds}`;
  const missing = report.checks.filter((c) => c.status === 'missing').length;
  const skipped = report.checks.filter((c) => c.status === 'skipped').length;
  const notes = [missing ? `${missing} missing` : '', skipped ? `${skipped} skipped` : ''].filter(Boolean).join(', ');
  return `PASS: ${report.checks.length - missing - skipped} checks passed${notes ? ` (${notes})` : ''} in ${seconds}`;
}

export function renderVerifyReport(report: VerifyReport): string {
  const about = [formatBytes(report.size), report.volumeId ? `volume ${report.volumeId}` : '', report.liveSystem ?? '']
    .filter(Boolean)
    .join(', ');
  return `${report.iso} (${about})\n\n${renderVerifyTable(report.checks)}\n\n${verdictLine(report)}\n`;
}

/** The failed rows in one line each, for an error message. */
export function failureSummary(report: VerifyReport): string {
  return report.checks
    .filter((c) => !checkPasses(c))
    .map((c) => `${c.name}: ${c.detail.split('\n')[0]}`)
    .join('; ');
}
