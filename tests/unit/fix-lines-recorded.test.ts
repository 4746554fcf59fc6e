/**
 * The fix lines that are read after the build's own output is gone carry the user's typed -C, --work-dir and
 * --config too (issue 13, point 2): the build records them in its state (`userFlags`), and the build report (text
 * and HTML), inspect's --detail picture and the steps table of the live page and the HTML documents render a fix
 * with them through the one formatter (src/runtime/hint-command.ts). A work dir and config with a blank and a quote
 * in their names; every printed command is read back by a real sh. Nothing is added when the user typed nothing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStateReadOnly } from '../../state/store.js';
import { runBuildCommand } from '../../src/cli/commands/build.js';
import type { CliIO } from '../../src/cli/io.js';
import { BuildRun } from '../../src/engine/build-run.js';
import { composeSteps } from '../../src/engine/steps.js';
import { StepError } from '../../src/errors.js';
import { InspectCollector } from '../../src/inspect/collect.js';
import { stepNodeIds } from '../../src/inspect/graph.js';
import { renderStepsTableHtml } from '../../src/inspect/html.js';
import { modelFromState, pictureDot } from '../../src/inspect/model.js';
import { renderReportHtml } from '../../src/inspect/report-html.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import type { UserFlags } from '../../src/runtime/hint-command.js';
import { workPaths } from '../../src/runtime/paths.js';
import { registerStep, resolveSteps, unregisterStep } from '../../src/steps/registry.js';
import { type BuildReport, renderReportText } from '../../src/steps/report.js';
import type { StepDef } from '../../src/steps/types.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';
import { profileConfig, stepContext } from '../helpers/step-context.js';

/** What a POSIX shell makes of a line: its words, as printf gives them back (NUL-separated). */
function shArgv(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

/** As a shell needs them: single quotes, a quote inside as '\'' */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The commands in backticks in a line of prose. */
const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

const unescapeHtml = (html: string) =>
  html
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

const HINT = 'see `ailinux log fr-fail`, or start over with `ailinux build --fresh`';

let failing = true;
function testStep(id: string, run: () => void): StepDef {
  return {
    id,
    title: `recorded flags test step ${id}`,
    version: 1,
    layer: 'none',
    phase: 12,
    configFields: ['name'],
    async run() {
      run();
      return [];
    },
    async verify() {},
    async undo() {},
  };
}
const STEPS = [
  testStep('fr-ok', () => undefined),
  testStep('fr-fail', () => {
    if (failing)
      throw new StepError('fr-fail', 'the frob table is missing', {
        hint: HINT,
        hintArgv: ['ailinux', 'log', 'fr-fail'],
      });
  }),
];

let tmp: string;
let work: string;
let config: string;
let flags: UserFlags;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-fix-recorded-'));
  work = path.join(tmp, "my 'work' dir");
  config = path.join(tmp, 'my config.yaml');
  fs.writeFileSync(
    config,
    `extends: minimal\nsteps: [${STEPS.map((s) => s.id).join(', ')}]\nretry: { maxAttempts: 1 }\nresources: { minFreeDiskMb: 0 }\n`,
  );
  flags = { workDir: work, config };
  for (const step of STEPS) registerStep(step);
});
afterAll(() => {
  for (const step of STEPS) unregisterStep(step.id);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function testIO(hintFlags: UserFlags): CliIO {
  return {
    stdout: { write: () => true },
    stderr: { write: () => true },
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: tmp,
    uid: 0,
    commandLine: 'ailinux build (test)',
    hintFlags,
  };
}

async function runBuild(command: 'build' | 'resume', hintFlags: UserFlags): Promise<number> {
  return runBuildCommand(command, { workDir: work, ...(command === 'build' ? { config } : {}) }, testIO(hintFlags), {
    startBuild: (request, deps) => new BuildRun(request, { ...deps, createRunner: () => new FakeRunner() }),
  });
}

/** What the fix of fr-fail must read, for these flags, and the argv its commands give back. */
function expectFix(text: string, typed: UserFlags): void {
  const [log, fresh] = backticked(text);
  const w = typed.workDir !== undefined ? ['--work-dir', typed.workDir] : [];
  const c = typed.config !== undefined ? ['--config', typed.config] : [];
  expect(shArgv(log!)).toEqual(['ailinux', 'log', 'fr-fail', ...w]);
  expect(shArgv(fresh!)).toEqual(['ailinux', 'build', ...w, ...c, '--fresh']);
}

const state = () => readStateReadOnly(workPaths(work).stateFile)!;

describe('a build records the flags the user typed, and inspect shows a fix with them', () => {
  it('build -w -c: the state has them as typed; the --detail picture and the steps table carry them', async () => {
    failing = true;
    expect(await runBuild('build', flags)).toBe(1);
    const s = state();
    expect(s.userFlags).toEqual({ workDir: work, config });

    // inspect --detail: the failed step's node says what to type, whole and quoted
    const model = modelFromState(s, true);
    const node = stepNodeIds(model.graph, model.view.order).get('fr-fail')!;
    const fix = model.marks.get(node)!.notes.find((n) => n.startsWith('fix: '))!;
    expect(fix).toBe(
      `fix: see \`ailinux log fr-fail --work-dir ${quote(work)}\`, or start over with \`ailinux build --work-dir ${quote(work)} --config ${quote(config)} --fresh\``,
    );
    expectFix(fix, flags);
    // the DOT of --detail holds it (wrapped into lines of the label)
    expect(pictureDot(model, true)).toContain('--config');

    // the live page's payload, from the state on disk: the steps table has the fix and the run line
    const collector = new InspectCollector({
      workDir: work,
      statusReport: () => ({ lock: null }),
      fallback: { title: 'unused', order: [] },
      stepPictures: false,
    });
    const { payload } = await collector.collectWithModel();
    const html = payload.stepsHtml;
    const fixHtml = /<div class="fix">fix: (.*?)<\/div>/.exec(html)![1]!;
    expectFix(unescapeHtml(fixHtml), flags);
    const run = /<div class="fix">run: <code>(.*?)<\/code><\/div>/.exec(html)![1]!;
    expect(shArgv(unescapeHtml(run))).toEqual(['ailinux', 'log', 'fr-fail', '--work-dir', work]);
  });

  it('a resume records what it was typed with (-C and -w here); typed nothing, the fixes are bare', async () => {
    expect(await runBuild('resume', { chdir: tmp, workDir: work })).toBe(1);
    expect(state().userFlags).toEqual({ chdir: tmp, workDir: work });
    const model = modelFromState(state(), true);
    const node = stepNodeIds(model.graph, model.view.order).get('fr-fail')!;
    const fix = model.marks.get(node)!.notes.find((n) => n.startsWith('fix: '))!;
    expect(shArgv(backticked(fix)[0]!)).toEqual(['ailinux', '-C', tmp, 'log', 'fr-fail', '--work-dir', work]);

    // the user typed no flag (the work dir given by the caller, as a found one would be): nothing is added
    expect(await runBuild('resume', {})).toBe(1);
    expect(state().userFlags).toEqual({});
    const bare = modelFromState(state(), true);
    const bareFix = bare.marks.get(node)!.notes.find((n) => n.startsWith('fix: '))!;
    expect(bareFix).toBe(`fix: ${HINT}`);
    const table = renderStepsTableHtml({ order: bare.view.order, ledger: bare.view.ledger, flags: bare.view.flags });
    expect(table).toContain('<div class="fix">run: <code>ailinux log fr-fail</code></div>');
  });

  it('a state from before the record has no userFlags: the fixes are bare', () => {
    const { userFlags: _, ...old } = state();
    const model = modelFromState(old, true);
    const node = stepNodeIds(model.graph, model.view.order).get('fr-fail')!;
    expect(model.marks.get(node)!.notes).toContain(`fix: ${HINT}`);
  });
});

describe('the build report', () => {
  const failedLedger = (): Ledger => ({
    bootstrap: { ...emptyLedgerEntry('bootstrap'), status: 'done', attempts: 1, durationMs: 1000 },
    packages: {
      ...emptyLedgerEntry('packages'),
      status: 'failed',
      attempts: 1,
      durationMs: 500,
      error: {
        message: 'apt-get failed',
        code: 'STEP',
        transient: false,
        hint: 'see `ailinux log packages`, or start over with `ailinux build --fresh`',
        hintArgv: ['ailinux', 'log', 'packages'],
      },
    },
  });

  it('the report step of a build: its text and HTML fix and run lines carry the flags of the run', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'report-'));
    try {
      const ledger = failedLedger();
      const profile = profileConfig('minimal');
      const step = composeSteps(resolveSteps(profile), {
        runId: 'r1',
        buildLog: path.join(dir, 'logs', 'build.ndjson'),
        ledger: () => ledger,
        resourcePeaks: () => ({}),
        userFlags: () => ({ chdir: 'proj dir', ...flags }),
      }).find((s) => s.id === 'report');
      const ctx = stepContext({ config: profile, workDir: dir, stepId: 'report', sourceDateEpoch: 1 });
      await step!.run(ctx);
      const base = path.join(dir, 'output', 'ailinux-minimal-amd64.report');

      const json = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as BuildReport;
      expect(json.userFlags).toEqual({ chdir: 'proj dir', workDir: work, config });
      // the JSON keeps the fix as the step wrote it; the flags beside it
      expect(json.steps.find((s) => s.id === 'packages')!.error!.hint).toBe(failedLedger().packages!.error!.hint);

      const text = fs.readFileSync(`${base}.txt`, 'utf8');
      const fixLine = text.split('\n').find((l) => l.trim().startsWith('fix: '))!;
      const [log, fresh] = backticked(fixLine);
      expect(shArgv(log!)).toEqual(['ailinux', '-C', 'proj dir', 'log', 'packages', '--work-dir', work]);
      expect(shArgv(fresh!)).toEqual([
        'ailinux',
        '-C',
        'proj dir',
        'build',
        '--work-dir',
        work,
        '--config',
        config,
        '--fresh',
      ]);
      const runLine = text.split('\n').find((l) => l.trim().startsWith('run: '))!;
      expect(shArgv(runLine.trim().slice('run: '.length))).toEqual([
        'ailinux',
        '-C',
        'proj dir',
        'log',
        'packages',
        '--work-dir',
        work,
      ]);

      const html = fs.readFileSync(`${base}.html`, 'utf8');
      const run = /<div class="fix">run: <code>(.*?)<\/code><\/div>/.exec(html)![1]!;
      expect(shArgv(unescapeHtml(run))).toEqual(['ailinux', '-C', 'proj dir', 'log', 'packages', '--work-dir', work]);
      const fix = /<div class="fix">fix: (.*?)<\/div>/.exec(html)![1]!;
      expect(shArgv(backticked(unescapeHtml(fix))[1]!)).toEqual([
        'ailinux',
        '-C',
        'proj dir',
        'build',
        '--work-dir',
        work,
        '--config',
        config,
        '--fresh',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('typed nothing: the text and HTML report print the commands bare', async () => {
    const ledger = failedLedger();
    const report: BuildReport = {
      tool: { name: 'ailinux', version: '0' },
      profile: 'minimal',
      generatedAt: '1970-01-01T00:00:01.000Z',
      iso: { path: 'output/x.iso', size: null, sha256: null, volumeLabel: 'X' },
      steps: ['bootstrap', 'packages'].map((id) => ({
        id,
        status: ledger[id]!.status,
        attempts: 1,
        durationMs: ledger[id]!.durationMs,
        fingerprint: null,
        artifacts: [],
        reason: null,
        resources: null,
        ...(ledger[id]!.error ? { error: ledger[id]!.error } : {}),
      })),
      packages: [],
      userFlags: {},
    };
    const text = renderReportText(report);
    expect(text).toContain('fix: see `ailinux log packages`, or start over with `ailinux build --fresh`\n');
    expect(text).toContain('run: ailinux log packages\n');
    const html = await renderReportHtml({ report, order: ['bootstrap', 'packages'], ledger, events: [], now: 2000 });
    expect(html).toContain('<div class="fix">run: <code>ailinux log packages</code></div>');
    // a report from before the record (no userFlags) reads the same
    const { userFlags: _, ...old } = report;
    expect(renderReportText(old)).toBe(text);
  });
});
