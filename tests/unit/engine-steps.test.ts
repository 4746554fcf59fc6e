/**
 * The steps as the engine runs them (src/engine/steps.ts): the registry's list with the report step composed for
 * the run. The report reads the run's ledger and resource figures when it runs, not when the list is made, and
 * writes the HTML report through the inspect renderer, which the engine imports only then.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeSteps } from '../../src/engine/steps.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { reportStep } from '../../src/steps/report.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';
import { makeWorkDir, profileConfig, removeWorkDir, stepContext } from '../helpers/step-context.js';

let workDir: string;

beforeEach(() => {
  workDir = makeWorkDir('ailinux-engine-steps-');
});

afterEach(() => {
  removeWorkDir(workDir);
});

describe('composeSteps', () => {
  const config = profileConfig('minimal');

  it('keeps the profile order, ids and versions, and replaces only the report step', () => {
    const steps = resolveSteps(config);
    const composed = composeSteps(steps, {
      runId: 'r',
      buildLog: '/nonexistent',
      ledger: () => ({}),
      resourcePeaks: () => ({}),
    });
    expect(composed.map((s) => [s.id, s.version])).toEqual(steps.map((s) => [s.id, s.version]));
    composed.forEach((step, i) => {
      if (step.id === 'report') {
        expect(step).not.toBe(steps[i]);
        expect(step.configFields).toEqual(reportStep.configFields);
      } else expect(step).toBe(steps[i]);
    });
  });

  it("the report reads the run's ledger and figures when it runs, and writes the HTML report", async () => {
    let ledger: Ledger = {};
    const composed = composeSteps(resolveSteps(config), {
      runId: 'r-1',
      buildLog: `${workDir}/logs/build.ndjson`,
      ledger: () => ledger,
      resourcePeaks: () => ({ bootstrap: { minDiskFreeMb: 900, peakMemUsedMb: 300, peakLoad1: 0.5, samples: 3 } }),
    });
    // the ledger changes after the list is made, as it does while the machine runs
    ledger = { bootstrap: { ...emptyLedgerEntry('bootstrap'), status: 'done', attempts: 1, fingerprint: 'fp-b' } };
    const report = composed.find((s) => s.id === 'report')!;
    const artifacts = await report.run(stepContext({ config, workDir, stepId: 'report' }));

    const base = `${workDir}/output/${config.iso.outputName}.report`;
    expect(artifacts.map((a) => a.path)).toEqual([
      `output/${config.iso.outputName}.report.json`,
      `output/${config.iso.outputName}.report.txt`,
      `output/${config.iso.outputName}.report.html`,
    ]);
    const json = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
    expect(json.steps[0]).toMatchObject({ id: 'bootstrap', status: 'done', fingerprint: 'fp-b' });
    expect(json.steps[0].resources).toMatchObject({ minDiskFreeMb: 900, peakMemUsedMb: 300 });
    const html = fs.readFileSync(`${base}.html`, 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('<title>AILinux build report: minimal</title>');
    // the machine picture, drawn by the inspect renderer the engine imported for the report
    expect(html).toMatch(/<svg[\s\S]*bootstrap[\s\S]*<\/svg>/);
  }, 30_000);
});
