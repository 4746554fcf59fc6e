/**
 * preflight: before the first minute of real work, what the host must offer this build: the
 * tools its steps run (with versions), the host files they read, root, free disk for the whole
 * build, and the archives it downloads from. Every problem is reported at once, each with the
 * command that fixes it. It writes nothing, and its fingerprint holds no config: it runs on a
 * fresh work dir and after it failed, and a config change never reruns the steps after it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { checkTools, type ToolCheck } from '../runtime/host-check.js';
import { freeDiskBytes, toMb } from '../runtime/resources.js';
import { describeKeyringSource, keyringSource, UBUNTU_ARCHIVE_KEYRING } from './archive-keyring.js';
import { hostPathOf } from './config-files.js';
import { hostRequirements } from './host-requirements.js';
import type { StepContext, StepDef } from './types.js';

const STEP = 'preflight';

/** What preflight asks of the host; the real one reads the machine, tests pass their own. */
export interface HostProbe {
  /** The PATH tools are looked up in. */
  envPath(): string | undefined;
  isRoot(): boolean;
  /** Free MiB where the work dir is (or its nearest existing parent). */
  freeDiskMb(dir: string): number;
  fileExists(file: string): boolean;
  /** The HTTP status of GET url (redirects followed); rejects on a network error or the timeout. */
  fetchStatus(url: string, timeoutMs: number, signal: AbortSignal): Promise<number>;
  /** A proxy the build's tools would use and node's fetch would not (so the mirror check is left to them). */
  proxy(): string | null;
}

export interface PreflightProblem {
  what: string;
  /** The command or change that fixes it. */
  fix: string;
  /** The Debian package that fixes it, when one does. */
  pkg?: string;
}

/** Extra MiB on top of the steps' estimates: logs, the deb cache's growth, tools' temporary files. */
export const DISK_MARGIN_MB = 1024;
export const MIRROR_TIMEOUT_MS = 10_000;

function nearestExisting(dir: string): string {
  let cur = dir;
  while (!fs.existsSync(cur) && cur !== '/') cur = cur.slice(0, Math.max(1, cur.lastIndexOf('/')));
  return cur;
}

export const hostProbe: HostProbe = {
  envPath: () => process.env['PATH'],
  isRoot: () => process.getuid?.() === 0,
  freeDiskMb: (dir) => toMb(freeDiskBytes(nearestExisting(dir))),
  fileExists: (file) => fs.existsSync(file),
  async fetchStatus(url, timeoutMs, signal) {
    const abort = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    const response = await fetch(url, { method: 'GET', redirect: 'follow', signal: abort });
    await response.body?.cancel(); // the status is all we need
    return response.status;
  },
  proxy: () => process.env['http_proxy'] ?? process.env['HTTP_PROXY'] ?? null,
};

/** The disk the whole build needs at its peak: every layer and output is kept until the end, so the steps' estimates add up. */
export function peakDiskNeedMb(
  config: BuildConfig,
  steps: readonly StepDef[],
): { totalMb: number; perStep: Array<[string, number]> } {
  const perStep = steps
    .map((s): [string, number] => [s.id, s.diskEstimateMb?.(config) ?? 0])
    .filter(([, mb]) => mb > 0);
  const totalMb = perStep.reduce((a, [, mb]) => a + mb, 0) + DISK_MARGIN_MB + config.resources.minFreeDiskMb;
  return { totalMb, perStep };
}

/** The Release file of every archive the build downloads from, one per distinct URI. */
export function archiveChecks(config: BuildConfig): Array<{ url: string; field: string }> {
  const d = config.distribution;
  const checks: Array<{ url: string; field: string }> = [];
  const add = (uri: string, suite: string, field: string) => {
    const base = uri.replace(/\/+$/, '');
    if (!checks.some((c) => c.url.startsWith(`${base}/dists/`)))
      checks.push({ url: `${base}/dists/${suite}/Release`, field });
  };
  if (config.steps.includes('bootstrap')) add(d.mirror, d.suite, 'distribution.mirror');
  if (config.steps.includes('configure')) {
    for (const [i, s] of d.sources.entries()) add(s.uri, s.suites[0]!, `distribution.sources.${i}.uri`);
    for (const [i, r] of d.extraRepositories.entries())
      add(r.uri, r.suites[0]!, `distribution.extraRepositories.${i}.uri`);
  }
  return checks;
}

function sha256OfHostFile(file: string): string | null {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

/** Keys and keyrings the config pins: present, and the pinned ones. */
function pinnedFileProblems(ctx: StepContext, probe: HostProbe): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  const d = ctx.config.distribution;
  const pinned: Array<{ file: string; sha256?: string; field: string; fix: string }> = [];
  const source = ctx.config.steps.includes('bootstrap')
    ? keyringSource(
        ctx.config,
        ctx.paths.workDir,
        (p) => hostPathOf(ctx, p),
        (p) => probe.fileExists(p),
      )
    : null;
  if (source) ctx.log.info(`archive keyring: ${describeKeyringSource(source)}`);
  // a keyring the bootstrap step fetches is checked there, against the pinned archive keys
  if (d.keyring && source && source.kind !== 'fetch') {
    pinned.push({
      file: d.keyring.path,
      ...(d.keyring.sha256 ? { sha256: d.keyring.sha256 } : {}),
      field: 'distribution.keyring',
      fix:
        d.family === 'ubuntu'
          ? `fix distribution.keyring.path, or set it to ${UBUNTU_ARCHIVE_KEYRING} with no sha256: ailinux then fetches ubuntu-keyring from the archive when the host lacks it (docs/profiles.md)`
          : 'apt-get install debian-archive-keyring, or fix distribution.keyring.path',
    });
  }
  if (ctx.config.steps.includes('configure')) {
    for (const [i, r] of d.extraRepositories.entries()) {
      pinned.push({
        file: r.key.path,
        sha256: r.key.sha256,
        field: `distribution.extraRepositories.${i}.key`,
        fix: 'put the repository key file there, or fix the path (keys are never fetched from the network)',
      });
    }
  }
  for (const p of pinned) {
    const host = hostPathOf(ctx, p.file);
    if (!probe.fileExists(host)) {
      problems.push({ what: `${p.field}: ${host} does not exist`, fix: p.fix });
      continue;
    }
    const actual = sha256OfHostFile(host);
    if (p.sha256 && actual !== p.sha256) {
      problems.push({
        what: `${p.field}: ${host} has sha256 ${actual}, but the config pins ${p.sha256}`,
        fix: 'use the pinned file, or update the sha256 if you trust this one',
      });
    }
  }
  return problems;
}

async function archiveProblems(ctx: StepContext, probe: HostProbe): Promise<PreflightProblem[]> {
  // the config's proxy (apt.proxy), which the build's tools get, or one in the host's environment
  const proxy = ctx.config.apt.proxy ?? probe.proxy();
  const checks = archiveChecks(ctx.config);
  if (proxy !== null && checks.some((c) => c.url.startsWith('http'))) {
    ctx.log.info(
      `mirror check left to the build's own tools: a proxy is configured (${proxy.replace(/\/\/[^@/]*@/, '//***@')})`,
    );
  }
  const results = await Promise.all(
    checks.map(async ({ url, field }): Promise<PreflightProblem | null> => {
      if (url.startsWith('file://')) {
        return probe.fileExists(new URL(url).pathname)
          ? null
          : { what: `${field}: ${url} does not exist`, fix: `fix ${field}` };
      }
      if (proxy !== null) return null;
      try {
        const status = await probe.fetchStatus(url, MIRROR_TIMEOUT_MS, ctx.signal);
        ctx.log.info(`archive ${url}: HTTP ${status}`);
        if (status >= 200 && status < 400) return null;
        return {
          what: `${field}: ${url} answered HTTP ${status}`,
          fix: `check the suite and ${field} (the archive has no such Release file)`,
        };
      } catch (error) {
        const why =
          (error as Error).name === 'TimeoutError'
            ? `no answer within ${MIRROR_TIMEOUT_MS / 1000} s`
            : ((error as { cause?: Error }).cause?.message ?? (error as Error).message);
        return {
          what: `${field}: cannot reach ${url} (${why})`,
          fix: `check the network (and a proxy: http_proxy), or set ${field} to a mirror you can reach`,
        };
      }
    }),
  );
  return results.filter((p): p is PreflightProblem => p !== null);
}

function toolProblems(checks: readonly ToolCheck[]): PreflightProblem[] {
  return checks
    .filter((t) => t.path === null)
    .map((t) => ({
      what: `${t.name} is not installed (needed for ${t.why})`,
      fix: `apt-get install ${t.pkg}`,
      pkg: t.pkg,
    }));
}

/** Runs every check and returns all problems; logs what it found. */
export async function runPreflight(
  ctx: StepContext,
  probe: HostProbe,
  steps: readonly StepDef[],
): Promise<PreflightProblem[]> {
  const { config } = ctx;
  const problems: PreflightProblem[] = [];

  if (!probe.isRoot())
    problems.push({
      what: 'not running as root',
      fix: 'run the build as root (`sudo ailinux resume`): it runs debootstrap and chroot, and mounts in a private namespace',
    });

  const needs = hostRequirements(steps, config);
  const tools = await checkTools(needs.tools, ctx.runner, probe.envPath());
  for (const t of tools) if (t.path) ctx.log.info(`tool ${t.name}: ${t.version ?? 'version unknown'} (${t.path})`);
  problems.push(...toolProblems(tools));

  for (const f of needs.files) {
    if (probe.fileExists(f.path)) ctx.log.info(`file ${f.path}: present`);
    else problems.push({ what: `${f.path} is missing (${f.why})`, fix: `apt-get install ${f.pkg}`, pkg: f.pkg });
  }

  problems.push(...pinnedFileProblems(ctx, probe));

  const need = peakDiskNeedMb(config, steps);
  const free = probe.freeDiskMb(ctx.paths.workDir);
  ctx.log.info(
    `disk: ${free} MiB free in ${ctx.paths.workDir}; the build needs about ${need.totalMb} MiB (${need.perStep.map(([id, mb]) => `${id} ${mb}`).join(', ')}, margin ${DISK_MARGIN_MB}, floor ${config.resources.minFreeDiskMb})`,
  );
  if (config.resources.checkEstimates && free < need.totalMb) {
    problems.push({
      what: `only ${free} MiB free in ${ctx.paths.workDir}, the build needs about ${need.totalMb} MiB`,
      fix: `free ${need.totalMb - free} MiB there, or use a --work-dir on a bigger disk`,
    });
  }

  problems.push(...(await archiveProblems(ctx, probe)));
  return problems;
}

/** One line per problem, and one apt-get line for every missing package. */
export function describeProblems(problems: readonly PreflightProblem[]): {
  message: string;
  hint: string;
  hintArgv?: string[];
} {
  const pkgs = [...new Set(problems.map((p) => p.pkg).filter((p): p is string => p !== undefined))];
  const message = `the host is not ready for this build (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems.map((p) => `${p.what} [fix: ${p.fix}]`).join('; ')}`;
  const hint =
    pkgs.length > 0
      ? `apt-get install ${pkgs.join(' ')}; then run the build again`
      : 'fix the problems listed, then run the build again';
  return pkgs.length > 0 ? { message, hint, hintArgv: ['apt-get', 'install', ...pkgs] } : { message, hint };
}

export function createPreflightStep(deps: {
  probe: HostProbe;
  steps: (config: BuildConfig) => readonly StepDef[];
}): StepDef {
  return {
    id: STEP,
    title: 'Check the host: tools, root, disk and archives',
    version: 1,
    layer: 'none',
    phase: 1,
    hostOnly: true,
    // no config: a config change must never rerun the steps after it (see the module comment)
    // its mirror check is left to the build's tools when a proxy is set
    runtimeFields: ['apt.proxy'],
    configFields: [],
    async run(ctx) {
      const problems = await runPreflight(ctx, deps.probe, deps.steps(ctx.config));
      for (const p of problems) ctx.log.info(`problem: ${p.what}; fix: ${p.fix}`);
      if (problems.length > 0) {
        const { message, hint, hintArgv } = describeProblems(problems);
        throw new StepError(STEP, message, hintArgv ? { hint, hintArgv } : { hint });
      }
      ctx.log.info('the host is ready');
      return [];
    },
    async verify() {},
    async undo() {},
  };
}
