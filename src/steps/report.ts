/** report: what was built, from what, how long each step took, and every artifact with its checksum. */
import { renderSafetySummary, type SafetySummary } from '../runtime/session.js';
import { terminalText } from '../runtime/terminal-text.js';
import { renderHintCommand, renderHintText, type UserFlags } from '../runtime/hint-command.js';
import fs from 'node:fs';
import path from 'node:path';
import { StepError } from '../errors.js';
import { removeTree } from '../runtime/safe-remove.js';
import { packageVersion } from '../runtime/package-root.js';
import type { Ledger, LedgerEntry } from '../types.js';
import { fileArtifact } from './artifacts.js';
import { archiveState, renderArchiveLines, type ReportArchiveSuite } from './report-archive.js';
import { liveMedium } from './live-medium.js';
import { readVerifyResult, verifyResultFile } from './verify.js';
import type { StepContext, StepDef } from './types.js';

/** Host resource figures of one step: lowest free disk, peak memory in use, peak 1-minute load. */
export interface StepResourcePeaks {
  minDiskFreeMb: number;
  peakMemUsedMb: number;
  peakLoad1: number;
}

/** What the report reads from the build that runs it; the engine composes the step with these (src/engine/steps.ts). */
export interface ReportDeps {
  /** The ledger as it stands when the report runs. */
  ledger(): Ledger;
  /** Host resource figures per step so far. */
  resourcePeaks(): Record<string, StepResourcePeaks>;
  /** The tool's own version. */
  toolVersion(): string;
  /** The session record of the run so far (docs/safety.md); none outside a build. */
  safety?: () => SafetySummary | null;
  /** The flags the user typed for this run (-C, --work-dir, --config), which its fix and run lines carry. */
  userFlags?: () => UserFlags;
  /** Renders the HTML report (machine picture and timeline); without it only the JSON and text reports are written. */
  renderHtml?: (report: BuildReport, ledger: Ledger, screenshots?: ReadonlyMap<string, Buffer>) => Promise<string>;
}

export interface BuildReport {
  tool: { name: 'ailinux'; version: string };
  profile: string;
  generatedAt: string;
  iso: { path: string; size: number | null; sha256: string | null; volumeLabel: string };
  steps: Array<
    Pick<LedgerEntry, 'id' | 'status' | 'attempts' | 'durationMs' | 'fingerprint' | 'artifacts' | 'reason'> & {
      resources: StepResourcePeaks | null;
      /** Only a step that ended in error has one, with the fix it gave. */
      error?: LedgerEntry['error'];
    }
  >;
  packages: Array<{ name: string; version: string }>;
  /** The archive state the package steps last ran against: each suite's Release file (date, sha256); absent in reports of earlier versions. */
  archive?: ReportArchiveSuite[];
  /** The session-safety checks of this run up to the report: the last one, and any violation. */
  safety?: SafetySummary | null;
  /**
   * The flags the user typed for the run that wrote the report (-C, --work-dir, --config; not defaults, not what
   * ailinux found). A step's error keeps its fix as the step wrote it; the text and HTML reports render the commands
   * in it with these, as the CLI does.
   */
  userFlags?: UserFlags;
  /**
   * Screenshots the verify step's boots took (boot menu, the screen each boot ended on), copied beside the report;
   * absent when no boot took one.
   */
  screenshots?: ReportScreenshot[];
}

export interface ReportScreenshot {
  firmware: 'bios' | 'uefi';
  stage: 'menu' | 'desktop' | 'welcome' | 'timeout';
  /** Set for the installer check boot (Calamares' welcome page); absent for the normal boots. */
  boot?: 'installer';
  /**
   * The copy beside the report, relative to the work dir: output/<outputName>.screen-<firmware>-<stage>.png, or
   * .screen-installer-<stage>.png for the installer check boot.
   */
  path: string;
  /** From qemu's start to the shot. */
  atMs: number;
}

const SCREEN_NAMES = [
  ...['bios', 'uefi'].flatMap((fw) => ['menu', 'desktop', 'timeout'].map((stage) => `${fw}-${stage}`)),
  'installer-welcome',
  'installer-timeout',
];

function screenFile(ctx: StepContext, name: string): string {
  return path.join(ctx.paths.outputDir, `${ctx.config.iso.outputName}.screen-${name}.png`);
}

/** Copies the verify step's screenshots beside the report; a screenshot that is gone is left out. */
async function copyScreenshots(ctx: StepContext): Promise<ReportScreenshot[]> {
  for (const name of SCREEN_NAMES) await removeTree(screenFile(ctx, name), { within: ctx.paths.workDir });
  const verified = readVerifyResult(verifyResultFile(ctx.config, ctx.paths));
  const out: ReportScreenshot[] = [];
  const installer = verified?.installer?.boot;
  const boots = [
    ...(verified?.boots ?? []).map((boot) => ({ boot, name: boot.firmware as string, installer: false })),
    ...(installer ? [{ boot: installer, name: 'installer', installer: true }] : []),
  ];
  for (const { boot, name, installer: isInstaller } of boots) {
    for (const shot of boot.screenshots ?? []) {
      if (!fs.existsSync(shot.file)) continue;
      // only the names undo removes again
      if (!SCREEN_NAMES.includes(`${name}-${shot.stage}`)) continue;
      const copy = screenFile(ctx, `${name}-${shot.stage}`);
      fs.copyFileSync(shot.file, copy);
      out.push({
        firmware: boot.firmware,
        stage: shot.stage,
        ...(isInstaller ? { boot: 'installer' as const } : {}),
        path: path.relative(ctx.paths.workDir, copy),
        atMs: shot.atMs,
      });
    }
  }
  return out;
}

export function parseManifest(text: string): Array<{ name: string; version: string }> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name = '', version = ''] = line.split('\t');
      return { name, version };
    });
}

function reportFiles(ctx: StepContext) {
  const base = path.join(ctx.paths.outputDir, `${ctx.config.iso.outputName}.report`);
  return { json: `${base}.json`, text: `${base}.txt`, html: `${base}.html` };
}

export function buildReport(ctx: StepContext, deps: Omit<ReportDeps, 'renderHtml'>): BuildReport {
  const ledger = deps.ledger();
  const peaks = deps.resourcePeaks();
  const isoEntry = ledger['iso'];
  const isoArtifact = isoEntry?.artifacts.find((a) => a.path.endsWith('.iso'));
  const manifestFile = path.join(ctx.paths.isoDir, liveMedium(ctx.config).dir, 'filesystem.manifest');
  const manifest = fs.existsSync(manifestFile) ? fs.readFileSync(manifestFile, 'utf8') : '';
  const generatedAt =
    ctx.sourceDateEpoch !== null ? new Date(ctx.sourceDateEpoch * 1000).toISOString() : new Date().toISOString();
  return {
    tool: { name: 'ailinux', version: deps.toolVersion() },
    profile: ctx.config.name,
    generatedAt,
    iso: {
      path: isoArtifact?.path ?? `output/${ctx.config.iso.outputName}.iso`,
      size: isoArtifact?.size ?? null,
      sha256: isoArtifact?.sha256 ?? null,
      volumeLabel: ctx.config.iso.volumeLabel,
    },
    steps: ctx.config.steps.map((id) => {
      const e = ledger[id];
      return {
        id,
        status: e?.status ?? 'pending',
        attempts: e?.attempts ?? 0,
        durationMs: e?.durationMs ?? null,
        fingerprint: e?.fingerprint ?? null,
        artifacts: e?.artifacts ?? [],
        reason: e?.reason ?? null,
        // a step that failed an attempt and then succeeded has no error left; a report of a failed run keeps its fix
        ...(e?.error ? { error: e.error } : {}),
        resources: peaks[id] ?? null,
      };
    }),
    packages: parseManifest(manifest),
    archive: archiveState(ledger, ctx.config.steps),
    safety: deps.safety?.() ?? null,
    // outside a build there are none
    ...(deps.userFlags ? { userFlags: deps.userFlags() } : {}),
  };
}

export function renderReportText(report: BuildReport): string {
  const flags = report.userFlags ?? {};
  const lines = [
    `AILinux build report (ailinux ${report.tool.version}, profile ${report.profile})`,
    `generated: ${report.generatedAt}`,
    `iso: ${report.iso.path} (${report.iso.size ?? '?'} bytes, label ${report.iso.volumeLabel})`,
    `sha256: ${report.iso.sha256 ?? '?'}`,
    '',
    'step              status    attempts  duration   peak mem  min free disk',
  ];
  for (const s of report.steps) {
    const dur = s.durationMs === null ? '-' : `${(s.durationMs / 1000).toFixed(1)} s`;
    const res = s.resources ? `${`${s.resources.peakMemUsedMb} MiB`.padEnd(10)}${s.resources.minDiskFreeMb} MiB` : '';
    lines.push(
      `${s.id.padEnd(18)}${s.status.padEnd(10)}${String(s.attempts).padEnd(10)}${dur.padEnd(11)}${res}${s.reason ? `  (${s.reason})` : ''}`.trimEnd(),
    );
    if (s.error) lines.push(`${' '.repeat(18)}error: ${s.error.message}`);
    if (s.error?.hint) lines.push(`${' '.repeat(18)}fix: ${renderHintText(s.error.hint, flags)}`);
    if (s.error?.hintArgv) lines.push(`${' '.repeat(18)}run: ${renderHintCommand(s.error.hintArgv, flags)}`);
  }
  const archive = renderArchiveLines(report.archive ?? []);
  if (archive.length > 0) lines.push('', ...archive);
  if (report.safety) lines.push('', `session safety: ${renderSafetySummary(report.safety)}`);
  lines.push('', `packages (${report.packages.length}):`);
  for (const p of report.packages) lines.push(`  ${p.name} ${p.version}`);
  // step errors and package names came from commands: the text is read in terminals
  return terminalText(`${lines.join('\n')}\n`);
}

/** The report step, reading the ledger and figures of the build that runs it. */
export function createReportStep(deps: ReportDeps): StepDef {
  return {
    id: 'report',
    title: 'Write the build report',
    // 3: Calamares' welcome page from the installer check boot is copied and shown with the boots' screenshots
    version: 3,
    layer: 'none',
    phase: 12,
    // liveSystem: where the package manifest is; iso.volumeLabel is in the report
    configFields: ['iso.outputName', 'iso.volumeLabel', 'liveSystem', 'name'],
    async run(ctx) {
      const f = reportFiles(ctx);
      const built = buildReport(ctx, deps);
      fs.mkdirSync(ctx.paths.outputDir, { recursive: true });
      const screenshots = await copyScreenshots(ctx);
      const report: BuildReport = screenshots.length > 0 ? { ...built, screenshots } : built;
      fs.writeFileSync(f.json, `${JSON.stringify(report, null, 2)}\n`);
      fs.writeFileSync(f.text, renderReportText(report));
      const artifacts = [await fileArtifact(ctx.paths.workDir, f.json), await fileArtifact(ctx.paths.workDir, f.text)];
      for (const shot of screenshots)
        artifacts.push(await fileArtifact(ctx.paths.workDir, path.join(ctx.paths.workDir, shot.path)));
      if (deps.renderHtml) {
        // the screenshots go into the page itself: the HTML report is one file that needs nothing else
        const pngs = new Map(screenshots.map((s) => [s.path, fs.readFileSync(path.join(ctx.paths.workDir, s.path))]));
        fs.writeFileSync(f.html, await deps.renderHtml(report, deps.ledger(), pngs));
        artifacts.push(await fileArtifact(ctx.paths.workDir, f.html));
      }
      return artifacts;
    },
    async verify(ctx) {
      const f = reportFiles(ctx);
      try {
        JSON.parse(fs.readFileSync(f.json, 'utf8'));
      } catch (error) {
        throw new StepError('report', `${f.json} is not valid JSON`, { cause: error });
      }
    },
    async undo(ctx) {
      const f = reportFiles(ctx);
      for (const file of [f.json, f.text, f.html, ...SCREEN_NAMES.map((n) => screenFile(ctx, n))])
        await removeTree(file, { within: ctx.paths.workDir });
    },
  };
}

/**
 * The report step outside a build (plan, doctor, inspect and tests ask it for its id, fields and undo): with no
 * build around it, it reports an empty ledger and writes no HTML. The engine runs its own, composed per run.
 */
export const reportStep: StepDef = createReportStep({
  ledger: () => ({}),
  resourcePeaks: () => ({}),
  toolVersion: packageVersion,
});
