/**
 * The report step puts the verify step's screenshots beside the report (output/<name>.screen-<fw>-<stage>.png),
 * records them in the JSON report and hands their PNGs to the HTML renderer, which puts them into the page.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderScreenshotsHtml } from '../../src/inspect/report-html.js';
import { type BuildReport, createReportStep } from '../../src/steps/report.js';
import { verifyResultFile } from '../../src/steps/verify.js';
import type { VerifyReport } from '../../src/verify/types.js';
import { makeWorkDir, profileConfig, removeWorkDir, stepContext } from '../helpers/step-context.js';

let workDir = '';
beforeEach(() => {
  workDir = makeWorkDir();
});
afterEach(() => removeWorkDir(workDir));

const PNG = (text: string) => Buffer.from(`\x89PNG\r\n\x1a\n${text}`);

function verifyReport(shots: NonNullable<VerifyReport['boots'][number]['screenshots']>): VerifyReport {
  return {
    iso: '/x.iso',
    size: 1,
    mtimeMs: 1,
    sha256: null,
    volumeId: null,
    liveSystem: null,
    checkedAt: '2026-01-01T00:00:00Z',
    durationMs: 1,
    ok: true,
    checks: [],
    boots: [
      {
        firmware: 'bios',
        ok: true,
        outcome: 'marker',
        marker: 'login:',
        markerMs: 1,
        durationMs: 1,
        timeoutMs: 1,
        exitCode: null,
        lastLines: [],
        logFile: null,
        argv: [],
        detail: '',
        screenshots: shots,
        screenshotNotes: [],
      },
    ],
  };
}

describe('report step: screenshots', () => {
  it('copies the boot screenshots beside the report, records them, and gives the HTML renderer their PNGs', async () => {
    const config = profileConfig('minimal');
    const ctx = stepContext({ config, workDir, stepId: 'report' });
    const screens = path.join(workDir, 'logs', 'verify', 'screens');
    fs.mkdirSync(screens, { recursive: true });
    fs.writeFileSync(path.join(screens, 'bios-menu.png'), PNG('menu'));
    fs.writeFileSync(path.join(screens, 'bios-desktop.png'), PNG('desktop'));
    const result = verifyResultFile(config, ctx.paths);
    fs.mkdirSync(path.dirname(result), { recursive: true });
    fs.writeFileSync(
      result,
      JSON.stringify(
        verifyReport([
          { stage: 'menu', file: path.join(screens, 'bios-menu.png'), atMs: 4000 },
          { stage: 'desktop', file: path.join(screens, 'bios-desktop.png'), atMs: 61000 },
          // a shot whose file went away is left out
          { stage: 'desktop', file: path.join(screens, 'gone.png'), atMs: 1 },
        ]),
      ),
    );
    let handed: ReadonlyMap<string, Buffer> | undefined;
    const step = createReportStep({
      ledger: () => ({}),
      resourcePeaks: () => ({}),
      toolVersion: () => '1.0.0',
      renderHtml: async (report, _ledger, pngs) => {
        handed = pngs;
        return renderScreenshotsHtml(report, pngs);
      },
    });
    const artifacts = await step.run(ctx);
    const menu = 'output/ailinux-minimal-amd64.screen-bios-menu.png';
    const desktop = 'output/ailinux-minimal-amd64.screen-bios-desktop.png';
    expect(fs.readFileSync(path.join(workDir, menu))).toEqual(PNG('menu'));
    expect(fs.readFileSync(path.join(workDir, desktop))).toEqual(PNG('desktop'));
    const json = JSON.parse(fs.readFileSync(path.join(workDir, 'output/ailinux-minimal-amd64.report.json'), 'utf8'));
    expect(json.screenshots).toEqual([
      { firmware: 'bios', stage: 'menu', path: menu, atMs: 4000 },
      { firmware: 'bios', stage: 'desktop', path: desktop, atMs: 61000 },
    ]);
    expect(artifacts.map((a) => a.path)).toEqual(expect.arrayContaining([menu, desktop]));
    expect([...(handed?.keys() ?? [])]).toEqual([menu, desktop]);
    const html = fs.readFileSync(path.join(workDir, 'output/ailinux-minimal-amd64.report.html'), 'utf8');
    expect(html).toContain(`src="data:image/png;base64,${PNG('menu').toString('base64')}"`);
    expect(html).toContain('BIOS boot menu, 4 s after qemu started');
    expect(html).toContain('BIOS end of the boot, 61 s after qemu started');

    // undo removes the copies with the report
    await step.undo(ctx);
    expect(fs.existsSync(path.join(workDir, menu))).toBe(false);
    expect(fs.existsSync(path.join(workDir, desktop))).toBe(false);
  });

  it("copies Calamares' welcome page of the installer check boot beside the boots' shots, captioned as such", async () => {
    const config = profileConfig('minimal');
    const ctx = stepContext({ config, workDir, stepId: 'report' });
    const screens = path.join(workDir, 'logs', 'verify', 'screens');
    fs.mkdirSync(screens, { recursive: true });
    fs.writeFileSync(path.join(screens, 'bios-desktop.png'), PNG('desktop'));
    fs.writeFileSync(path.join(screens, 'installer-welcome.png'), PNG('welcome'));
    const verified = verifyReport([{ stage: 'desktop', file: path.join(screens, 'bios-desktop.png'), atMs: 61000 }]);
    const installerBoot = {
      ...verified.boots[0]!,
      marker: 'All requirements have been checked.',
      screenshots: [{ stage: 'welcome' as const, file: path.join(screens, 'installer-welcome.png'), atMs: 532000 }],
    };
    verified.installer = {
      ok: true,
      boot: installerBoot,
      modules: [],
      loaded: [],
      listed: [],
      calamaresVersion: '3.3.5',
    };
    const result = verifyResultFile(config, ctx.paths);
    fs.mkdirSync(path.dirname(result), { recursive: true });
    fs.writeFileSync(result, JSON.stringify(verified));
    const step = createReportStep({
      ledger: () => ({}),
      resourcePeaks: () => ({}),
      toolVersion: () => '1.0.0',
      renderHtml: async (report, _ledger, pngs) => renderScreenshotsHtml(report, pngs),
    });
    await step.run(ctx);
    const welcome = 'output/ailinux-minimal-amd64.screen-installer-welcome.png';
    expect(fs.readFileSync(path.join(workDir, welcome))).toEqual(PNG('welcome'));
    const json = JSON.parse(fs.readFileSync(path.join(workDir, 'output/ailinux-minimal-amd64.report.json'), 'utf8'));
    expect(json.screenshots).toEqual([
      { firmware: 'bios', stage: 'desktop', path: 'output/ailinux-minimal-amd64.screen-bios-desktop.png', atMs: 61000 },
      { firmware: 'bios', stage: 'welcome', boot: 'installer', path: welcome, atMs: 532000 },
    ]);
    const html = fs.readFileSync(path.join(workDir, 'output/ailinux-minimal-amd64.report.html'), 'utf8');
    expect(html).toContain(`src="data:image/png;base64,${PNG('welcome').toString('base64')}"`);
    expect(html).toContain('Installer check: Calamares&#39; welcome page, 532 s after qemu started');
    await step.undo(ctx);
    expect(fs.existsSync(path.join(workDir, welcome))).toBe(false);
  });

  it('without a verify result (or one with no screenshots) the report has no screenshots key', async () => {
    const config = profileConfig('minimal');
    const ctx = stepContext({ config, workDir, stepId: 'report' });
    const step = createReportStep({ ledger: () => ({}), resourcePeaks: () => ({}), toolVersion: () => '1.0.0' });
    await step.run(ctx);
    const json = JSON.parse(fs.readFileSync(path.join(workDir, 'output/ailinux-minimal-amd64.report.json'), 'utf8'));
    expect(json).not.toHaveProperty('screenshots');
  });

  it('the HTML leaves out a screenshot whose PNG it was not given, and escapes the path', () => {
    const report = {
      screenshots: [
        { firmware: 'uefi', stage: 'menu', path: 'output/a<b>.png', atMs: 1500 },
        { firmware: 'uefi', stage: 'desktop', path: 'output/missing.png', atMs: 2 },
      ],
    } as unknown as BuildReport;
    const html = renderScreenshotsHtml(report, new Map([['output/a<b>.png', PNG('x')]]));
    expect(html.match(/<figure/g)).toHaveLength(1);
    expect(html).toContain('UEFI boot menu, 2 s after qemu started');
    expect(html).toContain('output/a&lt;b&gt;.png');
    expect(renderScreenshotsHtml({} as BuildReport, undefined)).toBe('');
  });
});
