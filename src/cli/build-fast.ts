/**
 * `ailinux build` with nothing to do, decided without the config schema, the steps, the machine, execa or pino
 * (issue 11, the no-op target; docs/performance.md). src/cli/entry.ts sends the plain forms of `build` here; this
 * returns null whenever it is not sure, having written nothing, and main runs the build as before.
 *
 * It is sure only when the no-op digest the last build left (src/engine/noop-digest.ts) still holds: the same tool,
 * command, environment, config bytes, fingerprint key and state file; every step's input files hash as its ledger
 * material says; the archive's Release files (read again, unless --offline) give the same entries, made by
 * fingerprint.ts's own code; and the planner, given the ledger's fingerprints, skips every step. Then, holding the
 * work dir's lock, it records the run as the full path records a no-op (every step skipped, with the planner's reason;
 * the history; the archive check; the session checks), leaves a new digest, and prints what the full path prints.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { StateFile } from '../../state/schema.js';
import { DurableJsonFileSync } from '../../state/durable-adapter.js';
import { discoverConfigFile } from '../config/discover-config.js';
import { describeArchiveCheck } from '../engine/archive-check.js';
import {
  archiveMaterial,
  digestEnv,
  inputFilesMaterial,
  type NoopDigest,
  readNoopDigest,
  sameEntries,
  saveNoopDigest,
  toolStamp,
} from '../engine/noop-digest.js';
import { planBuild } from '../engine/planner.js';
import { formatDuration } from '../engine/progress.js';
import { readMark } from '../engine/work-dir-mark.js';
import { defaultArchiveReader, type ReleaseInfo } from '../runtime/archive-release.js';
import { acquireLock, type LockHandle } from '../runtime/lock.js';
import { DEFAULT_WORK_DIR, workPaths } from '../runtime/paths.js';
import { inSandboxNamespace } from '../runtime/sandbox.js';
import { endedSteps, SafetyRecorder } from '../runtime/session.js';
import { terminalText } from '../runtime/terminal-text.js';
import { artifactPresent } from '../steps/artifacts.js';
import type { Ledger } from '../types.js';
import type { PlainBuildArgs } from './entry.js';
import type { CliIO } from './io.js';
import { colourFor, endRow } from './progress-format.js';
import { discoverWorkDir } from './work-dir-discovery.js';

/** Not sure: main runs the build. */
class NotSure extends Error {}

function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function fileSha(file: string): string | null {
  try {
    return sha256(fs.readFileSync(file));
  } catch {
    return null;
  }
}

function sure(condition: unknown, why: string): asserts condition {
  if (!condition) throw new NotSure(why);
}

/** The exit code of a no-op build, or null (nothing written) when the full path must decide. */
export async function runFastBuild(args: PlainBuildArgs, io: CliIO): Promise<number | null> {
  const started = Date.now();
  if (io.env['AILINUX_NO_FAST_PATH'] === '1' || io.uid !== 0 || !inSandboxNamespace(io.env)) return null;
  const err: string[] = [];
  let lock: LockHandle | null = null;
  try {
    let workDir = args.workDir;
    if (workDir === undefined) {
      const found = discoverWorkDir(io.cwd);
      if (found !== null) err.push(found.note);
      workDir = found?.workDir ?? DEFAULT_WORK_DIR;
    }
    const abs = path.resolve(io.cwd, workDir);
    let configFile = args.config === undefined ? null : path.resolve(io.cwd, args.config);
    if (configFile === null && args.profile === undefined) {
      configFile = discoverConfigFile(io.cwd);
      if (configFile !== null && !args.quiet) err.push(`using ./${path.basename(configFile)}`);
    }
    const paths = workPaths(abs);
    const digest = readNoopDigest(paths.stateDir);
    sure(digest, 'no digest');
    sure(digest.workDir === abs, 'another work dir');
    sure(digest.configFile === configFile && digest.profile === (args.profile ?? null), 'another config');
    sure(sameEnv(digest, io.env), 'another environment');
    sure(configFile === null || fileSha(configFile) === digest.configSha256, 'the config changed');
    sure(fs.statSync(digest.debCache, { throwIfNoEntry: false })?.isDirectory(), 'no deb cache');
    sure(toolStamp() === digest.tool, 'the tool changed');
    // as the full path: the archive is read before the lock, once for the run; a failure is the full path's to say
    const releases = args.offline ? null : await readReleases(digest, io.env);
    const flags = {
      ...(args.workDir !== undefined ? { workDir: args.workDir } : {}),
      ...(args.config !== undefined ? { config: args.config } : {}),
    };
    lock = acquireLock(paths.lockFile, io.commandLine, (m) => err.push(terminalText(`warning: ${m}`)));
    const { iso, skipped } = recordNoop(abs, paths, digest, releases, flags);
    lock.release();
    lock = null;
    if (args.offline) err.push(terminalText(describeArchiveCheck({ mode: 'offline' })!));
    // as the progress view: a row for each step that was done and is now skipped (none under --quiet)
    if (!args.quiet) {
      const colors = colourFor(io.stderr, io.env);
      for (const [id, reason] of skipped) err.push(endRow(colors, id, 'skipped', null, reason));
    }
    if (!args.quiet) err.push(`build succeeded in ${formatDuration(Date.now() - started)}`);
    io.stderr.write(err.map((l) => `${l}\n`).join(''));
    if (iso) io.stdout.write(`${iso}\n`);
    return 0;
  } catch (error) {
    // NotSure, or anything else (a lock held, a full disk, a file that went away): the full path says what it is
    lock?.release();
    // AILINUX_FAST_PATH_DEBUG=1: why the full path runs (tests, docs/performance.md)
    if (io.env['AILINUX_FAST_PATH_DEBUG'] === '1')
      io.stderr.write(`fast path: not sure (${(error as Error).message})\n`);
    return null;
  }
}

function sameEnv(digest: NoopDigest, env: NodeJS.ProcessEnv): boolean {
  const now = digestEnv(env);
  return (
    Object.keys(now).every((k) => now[k] === digest.env[k]) &&
    Object.keys(digest.env).length === Object.keys(now).length
  );
}

async function readReleases(digest: NoopDigest, env: NodeJS.ProcessEnv): Promise<ReleaseInfo[]> {
  if (digest.suites.length === 0) return [];
  try {
    return await defaultArchiveReader(env).read(digest.suites, digest.proxy ? { proxy: digest.proxy } : {});
  } catch {
    throw new NotSure('the archive could not be read');
  }
}

/**
 * Under the lock: checks the state and every step's inputs against the digest, then writes the run as the full path
 * writes a no-op, and a new digest. Throws NotSure, having written nothing, when anything differs.
 */
function recordNoop(
  workDir: string,
  paths: ReturnType<typeof workPaths>,
  digest: NoopDigest,
  releases: ReleaseInfo[] | null,
  flags: StateFile['userFlags'],
): { iso: string | null; skipped: Array<[string, string]> } {
  const bytes = fs.readFileSync(paths.stateFile);
  sure(sha256(bytes) === digest.stateSha256, 'the state changed');
  const previous = JSON.parse(bytes.toString('utf8')) as StateFile;
  sure(previous.outcome === 'succeeded' && previous.processes.length === 0, 'not a finished build');
  sure(readMark(workDir)?.id === previous.workDirMark?.id, 'another mark');
  sure(fileSha(path.join(paths.stateDir, 'fingerprint.key')) === digest.keySha256, 'another key');
  sure(
    digest.steps.length === previous.order.length && digest.steps.every((s, i) => s.id === previous.order[i]),
    'another step list',
  );
  for (const step of digest.steps) {
    const material = previous.ledger[step.id]?.material;
    sure(material, `no material for ${step.id}`);
    const files = inputFilesMaterial(step.inputFiles);
    sure(files, `an input file of ${step.id} moved`);
    const archive = archiveMaterial(
      step.id,
      step.suites,
      releases === null ? { mode: 'offline', stored: material } : { mode: 'checked', releases },
    );
    sure(sameEntries({ ...files, ...archive }, material.files), `the inputs of ${step.id} changed`);
  }
  const fingerprints = previous.order.map((id) => {
    const entry = previous.ledger[id]!;
    return { id, fingerprint: entry.fingerprint!, material: entry.material! };
  });
  const plan = planBuild(fingerprints, previous.ledger, (a) => artifactPresent(workDir, a));
  sure(
    plan.every((p) => p.action === 'skip'),
    'a step would run',
  );
  const now = new Date().toISOString();
  const runId = `${now.replace(/[-:.]/g, '').slice(0, 15)}-${crypto.randomBytes(3).toString('hex')}`;
  const ledger: Ledger = {};
  for (const p of plan) ledger[p.id] = { ...previous.ledger[p.id]!, status: 'skipped', reason: p.reasons[0]! };
  const safety = new SafetyRecorder(runId, previous.safety);
  safety.check(null, 'start');
  const state: StateFile = {
    schemaVersion: previous.schemaVersion,
    machineVersion: previous.machineVersion,
    workId: previous.workId,
    runId,
    profile: previous.profile,
    configSource: previous.configSource,
    config: previous.config,
    outcome: 'succeeded',
    createdAt: previous.createdAt,
    updatedAt: now,
    order: previous.order,
    ledger,
    snapshot: {
      status: 'done',
      output: { outcome: 'succeeded', failedStep: null, interruptSignal: null, pauseReason: null, current: null },
      value: 'succeeded',
      historyValue: {},
      context: {
        runId,
        order: previous.order,
        plan: Object.fromEntries(
          plan.map((p) => [
            p.id,
            { id: p.id, fingerprint: p.fingerprint, material: p.material, skipReason: p.reasons[0]! },
          ]),
        ),
        retry: (previous.config as { retry?: unknown }).retry,
        ledger,
        current: null,
        outcome: 'succeeded',
        failedStep: null,
        interruptSignal: null,
        pauseReason: null,
      },
      children: {},
    },
    current: null,
    interruptSignal: null,
    processes: [],
    history: [
      ...previous.history,
      {
        runId,
        command: 'build' as const,
        startedAt: now,
        endedAt: null as string | null,
        outcome: 'succeeded' as const,
      },
    ].slice(-50),
    resources: {},
    userFlags: { ...flags },
    workDirMark: previous.workDirMark,
    archive: {
      mode: releases === null ? 'offline' : 'checked',
      at: now,
      suites: (releases ?? []).map((r) => ({ ...r })),
    },
    safety: safety.record,
    pauseReason: null,
  };
  // as the engine checks: after each step that ended in this run (skipped now, done before), and at the end
  for (const id of endedSteps(previous.ledger, ledger)) safety.check(id, 'step');
  const last = state.history[state.history.length - 1]!;
  last.endedAt = new Date().toISOString();
  safety.check(null, 'end');
  state.updatedAt = new Date().toISOString();
  new DurableJsonFileSync<StateFile>(paths.stateFile).write(state);
  appendLog(paths.buildLog, runId, previous, plan, releases, workDir);
  const written = fileSha(paths.stateFile);
  saveNoopDigest(paths.stateDir, written === null ? null : { ...digest, stateSha256: written });
  // the steps whose status changed, as the build reports transitions (a step skipped again is not shown)
  const skipped = plan
    .filter((p) => previous.ledger[p.id]!.status !== 'skipped')
    .map((p): [string, string] => [p.id, p.reasons[0]!]);
  // the ISO the build made, as the build command finds it: the first .iso artifact in step order
  for (const id of state.order) {
    const iso = state.ledger[id]?.artifacts.find((a) => a.path.endsWith('.iso'));
    if (iso) return { iso: path.join(workDir, iso.path), skipped };
  }
  return { iso: null, skipped };
}

/** The build log's lines of this run, in the logger's format (src/engine/build-log.ts). */
function appendLog(
  file: string,
  runId: string,
  previous: StateFile,
  plan: ReturnType<typeof planBuild>,
  releases: ReleaseInfo[] | null,
  workDir: string,
): void {
  const line = (fields: Record<string, unknown>, msg: string) =>
    `${JSON.stringify({ level: 30, time: new Date().toISOString(), runId, ...fields, msg })}\n`;
  const archive = describeArchiveCheck(releases === null ? { mode: 'offline' } : { mode: 'checked', releases });
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(
      file,
      line(
        {
          command: 'build',
          profile: previous.profile,
          workDir,
          plan: plan.map((p) => ({ id: p.id, action: p.action, reasons: p.reasons })),
          archive,
          noop: 'decided from the no-op digest (src/cli/build-fast.ts)',
        },
        'build started',
      ) + line({ outcome: 'succeeded', failedStep: null }, 'build finished'),
    );
  } catch {
    // as the full path's logger: a log that cannot be written costs the log, not the build
  }
}
