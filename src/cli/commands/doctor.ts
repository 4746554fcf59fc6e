/**
 * ailinux doctor: what the host and the session offer a build, and what would stop one. Reads
 * only and needs no root: session and ancestors, host tools with versions, keyring, free disk,
 * the work dir's state and lock, and session-critical services (warned about, never "fixed").
 * Exit 0: nothing blocks a build (warnings may be printed); 1: something blocks a build.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readStateReadOnly } from '../../../state/store.js';
import type { StateFile } from '../../../state/schema.js';
import { resolveBuildConfig } from '../../engine/build.js';
import { type AilinuxError, ConfigError } from '../../errors.js';
import type { LoadedConfig } from '../../config/load.js';
import { ExecaRunner } from '../../runtime/execa-runner.js';
import {
  checkDisk,
  checkServices,
  checkTools,
  type DiskReport,
  type Finding,
  type ServicesReport,
  type ToolCheck,
} from '../../runtime/host-check.js';
import { lockOwnerFile, lockState, type LockState } from '../../runtime/lock.js';
import { workPaths } from '../../runtime/paths.js';
import { addSandboxFinding, checkSandbox, type SandboxCheck } from '../../runtime/sandbox-check.js';
import type { ProcStat } from '../../runtime/proc-stat.js';
import { ancestorChain, detectSession, type SessionInfo } from '../../runtime/session.js';
import { checkWorkDir } from '../../runtime/work-dir.js';
import { describeKeyringSource, keyringSource, type KeyringSource } from '../../steps/archive-keyring.js';
import { hostRequirements } from '../../steps/host-requirements.js';
import { resolveSteps } from '../../steps/registry.js';
import { renderHintText } from '../hint.js';
import { DOCTOR_EXIT } from '../command-constants.js';
import { withDiscoveredConfig } from '../config-discovery.js';
import type { CliIO } from '../io.js';
import { type OwnershipView, workDirOwnershipFinding } from '../work-dir-finding.js';
import { statusLock, type StatusLock } from './status.js';

/** doctor's exit codes: 0 nothing blocks a build, 1 something does (2 is bad usage, as everywhere). */
export { DOCTOR_EXIT };

export interface DoctorOptions {
  workDir: string;
  config?: string;
  profile?: string;
  json?: boolean;
}

export interface DoctorReport {
  session: SessionInfo;
  ancestors: Array<Pick<ProcStat, 'pid' | 'comm' | 'startTicks'>>;
  user: { uid: number; root: boolean };
  workDir: string;
  /** Whose the work dir is, as build sees it (null when the work dir cannot be used at all). */
  ownership: OwnershipView | null;
  profile: string | null;
  build: { state: StateFile['outcome'] | 'none' | 'unreadable'; lock: StatusLock | null };
  tools: ToolCheck[];
  services: ServicesReport;
  /** The read-only host build, resume and clean run in (once checked). */
  sandbox?: SandboxCheck;
  disk: DiskReport | null;
  /** Where the build's archive keyring comes from (null: none configured, debootstrap's default). */
  keyring?: (KeyringSource & { description: string }) | null;
  findings: Finding[];
  blocked: boolean;
}

const DEBIAN_KEYRINGS: Record<string, string> = {
  debian: '/usr/share/keyrings/debian-archive-keyring.gpg',
  ubuntu: '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
};

export async function doctorReport(
  options: DoctorOptions,
  io: Pick<CliIO, 'env' | 'cwd' | 'uid'> & Partial<Pick<CliIO, 'hintFlags' | 'stderr'>>,
): Promise<DoctorReport> {
  const findings: Finding[] = [];
  const add = (level: Finding['level'], topic: string, message: string, fix?: string) =>
    findings.push({ level, topic, message, ...(fix ? { fix } : {}) });

  const session = detectSession(io.env);
  if (session.kind === 'ssh' && !io.env['TMUX'] && !io.env['STY']) {
    add(
      'warn',
      'session',
      `running over ssh (${session.evidence.join(', ')}): ${session.note}`,
      'start long builds inside tmux or screen',
    );
  } else {
    add('ok', 'session', `${session.kind}${session.tty ? ` on ${session.tty}` : ''}: ${session.note}`);
  }
  const ancestors = ancestorChain().map(({ pid, comm, startTicks }) => ({ pid, comm, startTicks }));

  const root = io.uid === 0;
  if (root) add('ok', 'root', 'running as root, as a build must');
  else
    add(
      'warn',
      'root',
      `running as uid ${io.uid}: ailinux build, resume and clean need root (doctor, status, plan, log, inspect, verify and schema do not)`,
      'run the build with sudo',
    );

  const report: DoctorReport = {
    session,
    ancestors,
    user: { uid: io.uid, root },
    workDir: workPaths(options.workDir).workDir,
    ownership: null,
    profile: null,
    build: { state: 'none', lock: null },
    tools: [],
    services: { checked: false, note: 'not checked', units: [] },
    disk: null,
    findings,
    blocked: false,
  };

  let workDirOk = true;
  try {
    report.workDir = checkWorkDir(options.workDir);
    add('ok', 'work dir', `${report.workDir} is usable`);
  } catch (error) {
    workDirOk = false;
    add('block', 'work dir', (error as AilinuxError).message, (error as AilinuxError).hint);
  }

  let state: StateFile | null = null;
  if (workDirOk) {
    const paths = workPaths(report.workDir);
    try {
      state = readStateReadOnly(paths.stateFile);
      report.build.state = state?.outcome ?? 'none';
      if (state && state.outcome !== 'succeeded' && state.outcome !== 'running') {
        add(
          'ok',
          'state',
          `an unfinished build (${state.outcome}${state.current ? ` at ${state.current}` : ''}) can be continued`,
          `\`ailinux resume\``,
        );
      }
    } catch (error) {
      report.build.state = 'unreadable';
      add('block', 'state', (error as AilinuxError).message, (error as AilinuxError).hint);
    }
    const lock = lockState(paths.lockFile);
    report.build.lock = statusLock(lock);
    const finding = lockFinding(lock, paths.lockFile);
    if (finding) add(finding.level, 'lock', finding.message, finding.fix);
    const owner = workDirOwnershipFinding(report.workDir, state);
    report.ownership = owner.view;
    add(owner.finding.level, 'work dir owner', owner.finding.message, owner.finding.fix);
  }

  let loaded: LoadedConfig | null = null;
  // with no build in the work dir, the default profile would apply: a config in the current directory comes first
  const chosen = state ? options : withDiscoveredConfig(options, io);
  const explicit = Boolean(chosen.config || chosen.profile);
  try {
    loaded = resolveBuildConfig(
      {
        command: 'resume',
        workDir: report.workDir,
        configFile: chosen.config ?? null,
        profile: chosen.profile ?? null,
        cwd: io.cwd,
        commandLine: '',
      },
      state,
    );
  } catch (error) {
    // a bad --config is bad usage; a recorded config that is gone blocks the build
    if (explicit || !(error instanceof ConfigError)) throw error;
    add(
      'block',
      'config',
      `the config this work dir was built with cannot be loaded: ${error.message}`,
      'pass --config or --profile',
    );
  }

  const runner = new ExecaRunner({ graceMs: 1000 });
  if (loaded) {
    const config = loaded.config;
    report.profile = config.name;
    const steps = resolveSteps(config);
    const needs = hostRequirements(steps, config);
    report.tools = await checkTools(needs.tools, runner, io.env['PATH']);
    for (const t of report.tools) {
      if (t.path === null) add('block', 'tools', `${t.name} is missing (${t.why})`, `apt-get install ${t.pkg}`);
      // a build runs with this PATH; sudo's secure_path usually has the sbin dirs
      else if (!t.onPath)
        add(
          root ? 'block' : 'warn',
          'tools',
          `${t.name} is at ${t.path}, which is not on PATH`,
          'run the build with sudo (its PATH has the sbin dirs), or add the directory to PATH',
        );
    }
    const present = report.tools.filter((t) => t.path !== null && t.onPath).length;
    if (present === report.tools.length)
      add('ok', 'tools', `all ${present} host tools the ${config.name} profile runs are present`);
    for (const f of needs.files) {
      if (!fs.existsSync(f.path)) add('block', 'files', `${f.path} is missing (${f.why})`, `apt-get install ${f.pkg}`);
    }
    const source = keyringSource(config, report.workDir, (p) => path.resolve(loaded!.baseDir, p));
    report.keyring = source ? { ...source, description: describeKeyringSource(source) } : null;
    if (source?.kind === 'fetch') add('ok', 'keyring', describeKeyringSource(source));
    else if (source) {
      if (!fs.existsSync(source.path))
        add(
          'block',
          'keyring',
          `the archive keyring ${source.path} does not exist on this host`,
          'fix distribution.keyring.path, or copy the keyring there',
        );
      else add('ok', 'keyring', describeKeyringSource(source));
    } else {
      const expected = DEBIAN_KEYRINGS[config.distribution.family];
      if (expected && !fs.existsSync(expected)) {
        add(
          'warn',
          'keyring',
          `${expected} is missing: ${config.bootstrap.tool} cannot verify the ${config.distribution.family} archive without it`,
          `install ${config.distribution.family}-archive-keyring, or set distribution.keyring.path`,
        );
      }
    }
    if (workDirOk) {
      const disk = checkDisk(
        report.workDir,
        config,
        steps.map((s) => s.diskEstimateMb?.(config) ?? 0),
      );
      report.disk = disk;
      const where = `${disk.freeMb} MiB free in ${disk.measured}`;
      if (disk.freeMb < disk.firstNeedMb)
        add(
          'block',
          'disk',
          `${where}; the first step needs ${disk.firstNeedMb} MiB including the floor (resources.minFreeDiskMb ${disk.floorMb}); a build would pause at once`,
          'free some space or use another --work-dir',
        );
      else if (disk.freeMb < disk.peakNeedMb)
        add(
          'warn',
          'disk',
          `${where}; the biggest step may need ${disk.peakNeedMb} MiB including the floor: the build may pause for disk`,
          'free some space; a paused build continues with `ailinux resume`',
        );
      else add('ok', 'disk', where);
    }
  }

  report.sandbox = await checkSandbox(workPaths(report.workDir), runner, root);
  addSandboxFinding(report.sandbox, root, add);

  report.services = await checkServices(runner);
  if (!report.services.checked) add('ok', 'services', report.services.note);
  for (const u of report.services.units) {
    if (!u.healthy)
      add(
        'warn',
        'services',
        `${u.unit} is ${u.activeState} (${u.subState}); ailinux never starts, stops or restarts services`,
        `look at it yourself: systemctl status ${u.unit}`,
      );
  }
  if (report.services.checked && report.services.units.every((u) => u.healthy))
    add('ok', 'services', 'session-critical services are healthy (or not installed)');

  // every command a finding names (`ailinux resume`) carries the user's own -C, --work-dir and --config
  const flags = io.hintFlags ?? {};
  report.session = { ...session, note: renderHintText(session.note, flags) };
  for (const f of findings) {
    f.message = renderHintText(f.message, flags);
    if (f.fix !== undefined) f.fix = renderHintText(f.fix, flags);
  }
  report.blocked = findings.some((f) => f.level === 'block');
  return report;
}

/** What the work dir's lock means for a build: one held here or on another host blocks it (exit 3). */
export function lockFinding(lock: LockState, lockFile: string): Omit<Finding, 'topic'> | null {
  switch (lock.kind) {
    case 'free':
      return null;
    case 'held':
      return {
        level: 'block',
        message: lock.owner
          ? `another build holds ${lockFile}: pid ${lock.owner.pid}, started ${lock.owner.startedAt}, running "${lock.owner.command}"`
          : `another build holds ${lockFile} (it has not recorded its owner yet)`,
        fix: 'wait for it to finish',
      };
    case 'foreign':
      return {
        level: 'block',
        message: `a build on host ${lock.owner.host} holds ${lockFile}: pid ${lock.owner.pid}, started ${lock.owner.startedAt}, running "${lock.owner.command}"; ailinux cannot check a process on another host and never takes its lock over`,
        fix: `wait for it to finish; only if that build is gone for good, remove ${lockOwnerFile(lockFile)} by hand`,
      };
    case 'stale':
      return {
        level: 'ok',
        message: `a stale lock of pid ${lock.owner.pid} is left (${lock.why}); the next build takes it over`,
      };
    case 'unreadable':
      return { level: 'warn', message: `${lockFile} is unreadable (${lock.why}); the next build takes it over` };
  }
}

function renderLock(lock: StatusLock | null): string {
  if (lock === null) return '';
  switch (lock.state) {
    case 'held':
      return lock.pid === null ? ', lock held' : `, lock pid ${lock.pid} running`;
    case 'foreign':
      return `, lock pid ${lock.pid} on ${lock.host} (another host, cannot check)`;
    case 'stale':
      return `, lock pid ${lock.pid} stale`;
    case 'unreadable':
      return ', lock unreadable';
  }
}

export function renderDoctor(report: DoctorReport): string {
  const lines: string[] = [];
  lines.push(
    `session:   ${report.session.kind}${report.session.tty ? ` (${report.session.tty})` : ''}${report.session.evidence.length ? ` from ${report.session.evidence.join(', ')}` : ''}`,
  );
  lines.push(`ancestors: ${report.ancestors.map((a) => `${a.comm}[${a.pid}]`).join(' <- ') || '(none readable)'}`);
  lines.push(`user:      uid ${report.user.uid}${report.user.root ? ' (root)' : ''}`);
  lines.push(
    `work dir:  ${report.workDir} (${report.ownership ? `${report.ownership.kind}, ` : ''}build: ${report.build.state}${renderLock(report.build.lock)})`,
  );
  if (report.profile) lines.push(`profile:   ${report.profile}`);
  if (report.tools.length) {
    lines.push('', 'host tools:');
    for (const t of report.tools)
      lines.push(
        `  ${t.name.padEnd(13)} ${t.path === null ? 'MISSING' : `${t.path}${t.version ? `  ${t.version}` : '  (version not reported)'}`}`,
      );
  }
  lines.push('', `services:  ${report.services.note}`);
  for (const u of report.services.units)
    lines.push(`  ${u.unit.padEnd(26)} ${u.loadState}/${u.activeState}/${u.subState}`);
  if (report.disk)
    lines.push(
      '',
      `disk:      ${report.disk.freeMb} MiB free in ${report.disk.measured}; floor ${report.disk.floorMb} MiB; first step needs ${report.disk.firstNeedMb} MiB, the biggest ${report.disk.peakNeedMb} MiB`,
    );
  lines.push('');
  for (const f of report.findings) {
    lines.push(`${f.level === 'ok' ? 'ok   ' : f.level === 'warn' ? 'warn ' : 'BLOCK'} ${f.topic}: ${f.message}`);
    if (f.fix && f.level !== 'ok') lines.push(`      fix: ${f.fix}`);
  }
  lines.push('', report.blocked ? 'something blocks a build (exit 1)' : 'nothing blocks a build');
  return `${lines.join('\n')}\n`;
}

export async function runDoctorCommand(options: DoctorOptions, io: CliIO): Promise<number> {
  const report = await doctorReport(options, io);
  io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report));
  return report.blocked ? DOCTOR_EXIT.blocked : DOCTOR_EXIT.ok;
}
