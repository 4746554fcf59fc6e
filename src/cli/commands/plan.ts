/** ailinux plan: what a build (or resume) would run or skip, step by step, and why. Reads only. */
import path from 'node:path';
import { readStateReadOnly } from '../../../state/store.js';
import { parseSourceDateEpoch, resolveBuildConfig } from '../../engine/build.js';
import { archiveInputs, type ArchiveCheck, checkArchive, describeArchiveCheck } from '../../engine/archive-check.js';
import { fingerprintSteps } from '../../engine/fingerprint.js';
import { InputHashCache } from '../../engine/input-hash-cache.js';
import { readFingerprintKey } from '../../engine/fingerprint-key.js';
import { durationsFile, expectedTimes, formatClock, readDurations, thisHost } from '../../../state/durations.js';
import { planBuild, type PlanEntry } from '../../engine/planner.js';
import { SECRET_FIELDS } from '../../config/secrets.js';
import type { ArchiveReader } from '../../runtime/archive-release.js';
import { workPaths } from '../../runtime/paths.js';
import { describeKeyringSource, keyringSource } from '../../steps/archive-keyring.js';
import { artifactPresent } from '../../steps/artifacts.js';
import { PHASES, phaseLabel } from '../../steps/phases.js';
import { resolveSteps } from '../../steps/registry.js';
import { describeBootCheck } from '../../steps/verify.js';
import { terminalJson, terminalText } from '../../runtime/terminal-text.js';
import { renderHintCommand } from '../hint.js';
import { withDiscoveredConfig } from '../config-discovery.js';
import type { CliIO } from '../io.js';

export async function computePlan(
  options: { workDir: string; config?: string; profile?: string; offline?: boolean },
  io: Pick<CliIO, 'env' | 'cwd'> & Partial<Pick<CliIO, 'stderr'>>,
  deps: { archive?: ArchiveReader } = {},
): Promise<{
  plan: PlanEntry[];
  profile: string;
  titles: Record<string, string>;
  phases: Record<string, number | undefined>;
  /** Secret fields taken as unchanged, because this user may not read the key they are compared with. */
  uncompared: string[];
  /** Where the bootstrap step's archive keyring comes from (null: no bootstrap step, or no keyring configured). */
  keyring: string | null;
  /** What the verify step's boot check does, or that it is off (null: no verify step). */
  bootCheck: string | null;
  /** Each step's expected time from earlier runs of this profile on this host, for the steps that have one. */
  expectedMs: Record<string, number>;
  /** The archive as read for this plan (each suite's Release), or --offline. */
  archive: ArchiveCheck;
}> {
  const paths = workPaths(options.workDir);
  const state = readStateReadOnly(paths.stateFile);
  // with no build to plan on, the default profile would apply: a config in the current directory comes first
  const chosen = state ? options : withDiscoveredConfig(options, io);
  const loaded = resolveBuildConfig(
    {
      command: 'resume',
      workDir: paths.workDir,
      configFile: chosen.config ?? null,
      profile: chosen.profile ?? null,
      cwd: io.cwd,
      commandLine: '',
    },
    state,
  );
  const steps = resolveSteps(loaded.config);
  const secretKey = readFingerprintKey(paths.stateDir);
  // each suite's Release, read once, as a build would: a plan says when the archive published updates
  const archive = await checkArchive(steps, loaded.config, { offline: options.offline === true, reader: deps.archive });
  const fingerprints = fingerprintSteps(steps, loaded.config, loaded.baseDir, {
    sourceDateEpoch: parseSourceDateEpoch(io.env),
    secretKey,
    storedMaterial: (id) => state?.ledger[id]?.material,
    // read, never written: plan changes nothing in the work dir
    hashCache: InputHashCache.forWorkDir(paths.cacheDir),
    archive: archiveInputs(archive, (id) => state?.ledger[id]?.material),
  });
  const plan = planBuild(fingerprints, state?.ledger ?? {}, (a) => artifactPresent(paths.workDir, a));
  const source = steps.some((s) => s.id === 'bootstrap')
    ? keyringSource(loaded.config, paths.workDir, (p) => path.resolve(loaded.baseDir, p))
    : null;
  const expectedMs = expectedTimes(
    readDurations(durationsFile(paths.stateDir)),
    steps.map((s) => s.id),
    { profile: loaded.config.name, host: thisHost() },
  );
  return {
    plan,
    keyring: source ? describeKeyringSource(source) : null,
    bootCheck: steps.some((s) => s.id === 'verify') ? describeBootCheck(loaded.config) : null,
    expectedMs,
    archive,
    profile: loaded.config.name,
    titles: Object.fromEntries(steps.map((s) => [s.id, s.title])),
    phases: Object.fromEntries(steps.map((s) => [s.id, s.phase])),
    uncompared:
      secretKey === null
        ? SECRET_FIELDS.filter((secret) =>
            steps.some(
              (s) =>
                state?.ledger[s.id]?.material && s.configFields.some((f) => f === secret || secret.startsWith(`${f}.`)),
            ),
          )
        : [],
  };
}

export async function runPlanCommand(
  options: { workDir: string; config?: string; profile?: string; json?: boolean; offline?: boolean },
  io: CliIO,
  deps: { archive?: ArchiveReader } = {},
): Promise<number> {
  const { plan, profile, titles, phases, uncompared, expectedMs, keyring, bootCheck, archive } = await computePlan(
    options,
    io,
    deps,
  );
  const cost = rerunCost(plan, expectedMs);
  if (options.json) {
    io.stdout.write(
      terminalJson(
        `${JSON.stringify({ profile, uncomparedSecrets: uncompared, keyring, bootCheck, archive: archiveJson(archive), expected: { totalMs: cost.totalMs, withoutHistory: cost.missing }, steps: plan.map(({ id, action, reasons, fingerprint, undoFirst }) => ({ id, title: titles[id], phase: phases[id] ?? null, phaseName: PHASES[phases[id] ?? 0] ?? null, action, reasons, fingerprint, undoFirst, expectedMs: expectedMs[id] ?? null })) }, null, 2)}\n`,
      ),
    );
    return 0;
  }
  const lines = [`plan for profile ${profile} in ${workPaths(options.workDir).workDir}:`];
  if (keyring) lines.push(`archive keyring: ${keyring}`);
  if (bootCheck) lines.push(`verify: ${bootCheck}`);
  const archiveLine = describeArchiveCheck(archive);
  if (archiveLine) lines.push(archiveLine);
  for (const p of plan) {
    const phase = phaseLabel(phases[p.id]);
    const ms = expectedMs[p.id];
    const time = p.action === 'run' && ms !== undefined ? `  ~${formatClock(ms)}` : '';
    lines.push(
      `${p.action === 'run' ? 'run ' : 'skip'}  ${p.id.padEnd(16)} ${phase ? `[${phase}] ` : ''}${titles[p.id] ?? ''}${time}`,
    );
    for (const r of p.reasons) lines.push(`      - ${r}`);
  }
  const runs = plan.filter((p) => p.action === 'run').length;
  if (runs > 0) lines.push(renderCost(cost, profile));
  lines.push(`${runs} step(s) to run, ${plan.length - runs} to skip`);
  // the same plan as root: the user's own command line under sudo, or plan with their -C, -w and -c
  const asRoot = renderHintCommand(['sudo', 'ailinux', ...(io.argv ?? ['plan'])], io.hintFlags);
  for (const secret of uncompared)
    lines.push(
      `note: ${secret} was taken as unchanged: only root may read the key it is compared with (state/fingerprint.key); run it as root to compare it: ${asRoot}`,
    );
  io.stdout.write(terminalText(`${lines.join('\n')}\n`));
  return 0;
}

/** The archive check for --json: the mode, and each suite's URL, file, sha256 and Date. */
function archiveJson(check: ArchiveCheck) {
  return {
    mode: check.mode,
    suites:
      check.mode === 'checked'
        ? check.releases.map((r) => ({
            suite: r.suite,
            uri: r.uri,
            url: r.url,
            file: r.file,
            sha256: r.sha256,
            date: r.date,
          }))
        : [],
  };
}

/** What the steps that would run cost, from earlier runs: the sum of their expected times, and those without one. */
export function rerunCost(
  plan: readonly Pick<PlanEntry, 'id' | 'action'>[],
  expectedMs: Readonly<Record<string, number>>,
): { totalMs: number | null; missing: string[] } {
  const runs = plan.filter((p) => p.action === 'run');
  const known = runs.filter((p) => expectedMs[p.id] !== undefined);
  return {
    totalMs: known.length ? known.reduce((sum, p) => sum + (expectedMs[p.id] ?? 0), 0) : null,
    missing: runs.filter((p) => expectedMs[p.id] === undefined).map((p) => p.id),
  };
}

/** `expected: ~5:40 …`, or that there is no history to go by. */
export function renderCost(cost: { totalMs: number | null; missing: readonly string[] }, profile: string): string {
  const source = `profile ${profile} on this host`;
  if (cost.totalMs === null)
    return `expected: no history yet (no earlier run of these steps for ${source}; each run that finishes a step records it)`;
  const missing = cost.missing.length ? `; no history for ${cost.missing.join(', ')}` : '';
  return `expected: ~${formatClock(cost.totalMs)} for what runs (median of earlier runs for ${source})${missing}`;
}
