/** ailinux plan: what a build (or resume) would run or skip, step by step, and why. Reads only. */
import { readStateReadOnly } from '../../../state/store.js';
import { parseSourceDateEpoch, resolveBuildConfig } from '../../engine/build.js';
import { fingerprintSteps } from '../../engine/fingerprint.js';
import { readFingerprintKey } from '../../engine/fingerprint-key.js';
import { planBuild, type PlanEntry } from '../../engine/planner.js';
import { workPaths } from '../../runtime/paths.js';
import { artifactPresent } from '../../steps/artifacts.js';
import { PHASES, phaseLabel } from '../../steps/phases.js';
import { resolveSteps } from '../../steps/registry.js';
import { terminalJson, terminalText } from '../../runtime/terminal-text.js';
import type { CliIO } from '../io.js';

export function computePlan(
  options: { workDir: string; config?: string; profile?: string },
  io: Pick<CliIO, 'env' | 'cwd'>,
): { plan: PlanEntry[]; profile: string; titles: Record<string, string>; phases: Record<string, number | undefined> } {
  const paths = workPaths(options.workDir);
  const state = readStateReadOnly(paths.stateFile);
  const loaded = resolveBuildConfig(
    {
      command: 'resume',
      workDir: paths.workDir,
      configFile: options.config ?? null,
      profile: options.profile ?? null,
      cwd: io.cwd,
      commandLine: '',
    },
    state,
  );
  const steps = resolveSteps(loaded.config);
  const fingerprints = fingerprintSteps(steps, loaded.config, loaded.baseDir, {
    sourceDateEpoch: parseSourceDateEpoch(io.env),
    secretKey: readFingerprintKey(paths.stateDir),
  });
  const plan = planBuild(fingerprints, state?.ledger ?? {}, (a) => artifactPresent(paths.workDir, a));
  return {
    plan,
    profile: loaded.config.name,
    titles: Object.fromEntries(steps.map((s) => [s.id, s.title])),
    phases: Object.fromEntries(steps.map((s) => [s.id, s.phase])),
  };
}

export function runPlanCommand(
  options: { workDir: string; config?: string; profile?: string; json?: boolean },
  io: CliIO,
): number {
  const { plan, profile, titles, phases } = computePlan(options, io);
  if (options.json) {
    io.stdout.write(
      terminalJson(
        `${JSON.stringify({ profile, steps: plan.map(({ id, action, reasons, fingerprint, undoFirst }) => ({ id, title: titles[id], phase: phases[id] ?? null, phaseName: PHASES[phases[id] ?? 0] ?? null, action, reasons, fingerprint, undoFirst })) }, null, 2)}\n`,
      ),
    );
    return 0;
  }
  const lines = [`plan for profile ${profile} in ${workPaths(options.workDir).workDir}:`];
  for (const p of plan) {
    const phase = phaseLabel(phases[p.id]);
    lines.push(
      `${p.action === 'run' ? 'run ' : 'skip'}  ${p.id.padEnd(16)} ${phase ? `[${phase}] ` : ''}${titles[p.id] ?? ''}`,
    );
    for (const r of p.reasons) lines.push(`      - ${r}`);
  }
  const runs = plan.filter((p) => p.action === 'run').length;
  lines.push(`${runs} step(s) to run, ${plan.length - runs} to skip`);
  io.stdout.write(terminalText(`${lines.join('\n')}\n`));
  return 0;
}
