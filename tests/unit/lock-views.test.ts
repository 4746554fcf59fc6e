/**
 * How `status` and `doctor` show the work dir's lock, from the one lockState(): a lock held from
 * another host is held (it may be running there), never dead; neither command touches the lock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StateStore } from '../../state/store.js';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { lockFinding, renderDoctor, type DoctorReport } from '../../src/cli/commands/doctor.js';
import { renderStatus, statusLock, statusReport } from '../../src/cli/commands/status.js';
import type { LockOwner } from '../../src/errors.js';
import { acquireLock, isLockHeld, lockOwnerFile, lockState } from '../../src/runtime/lock.js';
import { workPaths } from '../../src/runtime/paths.js';
import { readProcStartTicks } from '../../src/runtime/process-groups.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';

const ORDER = ['bootstrap', 'configure', 'packages'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-lock-views-'));
const children: ChildProcess[] = [];
let dirs = 0;
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A work dir whose state says the build is running configure, with an owner record left (none when null). */
function runningWorkDir(owner: Partial<LockOwner> | null): { workDir: string; lockFile: string } {
  const workDir = path.join(tmp, `w${++dirs}`);
  const paths = workPaths(workDir);
  const now = new Date().toISOString();
  const ledger: Ledger = Object.fromEntries(
    ORDER.map((id, i) => [
      id,
      { ...emptyLedgerEntry(id), runId: 'r-1', status: i === 0 ? 'done' : i === 1 ? 'running' : 'pending' },
    ]),
  );
  const state: StateFile = {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'running',
    createdAt: now,
    updatedAt: now,
    order: ORDER,
    ledger,
    snapshot: { status: 'active', value: { pipeline: { configure: 'running' } } },
    current: 'configure',
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'r-1', command: 'build', startedAt: now, endedAt: null, outcome: 'running' }],
  };
  StateStore.open(paths.stateFile).save(state);
  if (owner !== null) {
    const full: LockOwner = {
      pid: process.pid,
      host: os.hostname(),
      startedAt: '2024-01-02T03:04:05.000Z',
      command: 'ailinux build --profile minimal',
      procStart: readProcStartTicks(owner.pid ?? process.pid),
      ...owner,
    };
    fs.writeFileSync(lockOwnerFile(paths.lockFile), JSON.stringify(full));
  }
  return { workDir, lockFile: paths.lockFile };
}

async function deadPid(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

function livePid(): number {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

/** statusReport, checking that it left the lock, its owner record and the state dir as they were. */
async function readOnlyStatus(workDir: string, lockFile: string) {
  const stateDir = path.dirname(lockFile);
  const ownerFile = lockOwnerFile(lockFile);
  const snapshot = () => ({
    files: fs.readdirSync(stateDir).sort(),
    owner: fs.existsSync(ownerFile) ? fs.readFileSync(ownerFile, 'utf8') : null,
    held: isLockHeld(lockFile),
  });
  const before = snapshot();
  const report = await statusReport(workDir);
  expect(snapshot()).toEqual(before);
  return report;
}

describe('status and the lock', () => {
  it('a lock from another host: the build may run there, so it is neither stopped nor interrupted', async () => {
    const { workDir, lockFile } = runningWorkDir({ pid: await deadPid(), host: 'elsewhere.invalid', procStart: 1 });
    const report = await readOnlyStatus(workDir, lockFile);
    expect(report.lock).toMatchObject({ state: 'foreign', host: 'elsewhere.invalid', alive: false, why: null });
    expect(report.steps.find((s) => s.id === 'configure')).toMatchObject({ status: 'running', note: null });
    const text = renderStatus(report);
    expect(text).toContain('outcome:  running (at configure)');
    expect(text).toContain(
      `lock:     held by pid ${report.lock!.pid} on elsewhere.invalid since 2024-01-02T03:04:05.000Z`,
    );
    expect(text).toContain('another host');
    expect(text).not.toContain('stopped');
    expect(text).not.toContain('running:  pid');
  });

  it('a live owner here: running, with its pid', async () => {
    const { workDir, lockFile } = runningWorkDir(null);
    const handle = acquireLock(lockFile, 'ailinux build', () => {});
    try {
      const report = await readOnlyStatus(workDir, lockFile);
      expect(report.lock).toMatchObject({ state: 'held', pid: process.pid, alive: true });
      expect(renderStatus(report)).toContain(`running:  pid ${process.pid} on ${os.hostname()} since`);
      expect(report.details?.resources.build?.pid).toBe(process.pid);
    } finally {
      handle.release();
    }
  });

  it('a record naming a live process that does not hold the lock: stopped, the record is stale', async () => {
    const { workDir, lockFile } = runningWorkDir({ pid: process.pid });
    const report = await readOnlyStatus(workDir, lockFile);
    expect(report.lock).toMatchObject({ state: 'stale', pid: process.pid, alive: false });
    expect(renderStatus(report)).toContain('outcome:  stopped');
  });

  it('a stale lock here: the build stopped, its step was interrupted, and the lock is left for the next build', async () => {
    const pid = await deadPid();
    const { workDir, lockFile } = runningWorkDir({ pid, procStart: 1 });
    const report = await readOnlyStatus(workDir, lockFile);
    expect(report.lock).toMatchObject({ state: 'stale', pid, alive: false, why: 'that process is gone' });
    expect(report.steps.find((s) => s.id === 'configure')).toMatchObject({
      status: 'interrupted',
      note: 'the build process died during this step',
    });
    const text = renderStatus(report);
    expect(text).toContain('outcome:  stopped (the build process is gone)');
    expect(text).toContain('next:     ailinux resume\n');
    expect(text).toContain(`lock:     stale, left by pid ${pid} (that process is gone); the next build takes it over`);
  });

  it('a pid that now runs another process is stale, not running', async () => {
    const pid = livePid();
    const { workDir, lockFile } = runningWorkDir({ pid, procStart: readProcStartTicks(pid)! - 1 });
    const report = await readOnlyStatus(workDir, lockFile);
    expect(report.lock).toMatchObject({ state: 'stale', pid, alive: false });
    expect(renderStatus(report)).toContain('outcome:  stopped');
  });

  it('an unreadable lock is shown as such, and the build counts as stopped', async () => {
    const { workDir, lockFile } = runningWorkDir(null);
    fs.writeFileSync(lockOwnerFile(lockFile), '{"pid": 1');
    const report = await readOnlyStatus(workDir, lockFile);
    expect(report.lock).toEqual({
      state: 'unreadable',
      pid: null,
      host: null,
      startedAt: null,
      command: null,
      alive: false,
      why: 'it is not valid JSON',
    });
    expect(renderStatus(report)).toContain('lock:     unreadable (it is not valid JSON)');
    expect(renderStatus(report)).toContain('outcome:  stopped');
  });

  it('no lock: null, and a running state counts as stopped', async () => {
    const { workDir } = runningWorkDir(null);
    const report = await statusReport(workDir);
    expect(report.lock).toBeNull();
    expect(renderStatus(report)).not.toContain('lock:');
    expect(renderStatus(report)).toContain('outcome:  stopped');
  });
});

describe('doctor and the lock', () => {
  const lockFile = '/w/state/lock';
  const owner = (o: Partial<LockOwner> = {}): LockOwner => ({
    pid: 4242,
    host: os.hostname(),
    startedAt: '2024-01-02T03:04:05.000Z',
    command: 'ailinux build',
    procStart: 7,
    ...o,
  });

  it('blocks on a lock held here or from another host, and says the other host cannot be checked', () => {
    expect(lockFinding({ kind: 'held', owner: owner() }, lockFile)).toEqual({
      level: 'block',
      message: `another build holds ${lockFile}: pid 4242, started 2024-01-02T03:04:05.000Z, running "ailinux build"`,
      fix: 'wait for it to finish',
    });
    expect(lockFinding({ kind: 'held', owner: null }, lockFile)).toEqual({
      level: 'block',
      message: `another build holds ${lockFile} (it has not recorded its owner yet)`,
      fix: 'wait for it to finish',
    });
    expect(statusLock({ kind: 'held', owner: null })).toMatchObject({ state: 'held', pid: null, alive: true });
    const foreign = lockFinding({ kind: 'foreign', owner: owner({ host: 'elsewhere.invalid' }) }, lockFile);
    expect(foreign?.level).toBe('block');
    expect(foreign?.message).toContain(`a build on host elsewhere.invalid holds ${lockFile}: pid 4242`);
    expect(foreign?.message).toContain('cannot check a process on another host and never takes its lock over');
    expect(foreign?.fix).toContain(`remove ${lockFile}.owner by hand`);
  });

  it('notes a stale lock, warns about an unreadable one, and says nothing without one', () => {
    expect(lockFinding({ kind: 'stale', owner: owner(), why: 'that process is gone' }, lockFile)).toEqual({
      level: 'ok',
      message: 'a stale lock of pid 4242 is left (that process is gone); the next build takes it over',
    });
    expect(lockFinding({ kind: 'unreadable', why: 'it is not valid JSON' }, lockFile)).toEqual({
      level: 'warn',
      message: `${lockFile} is unreadable (it is not valid JSON); the next build takes it over`,
    });
    expect(lockFinding({ kind: 'free' }, lockFile)).toBeNull();
  });

  it("renders another host's lock as held there, from the real lock file", async () => {
    const { lockFile: file } = runningWorkDir({ pid: await deadPid(), host: 'elsewhere.invalid', procStart: 1 });
    const found = lockState(file);
    const finding = lockFinding(found, file)!;
    const report: DoctorReport = {
      session: { kind: 'none', tty: null, evidence: [], note: '' },
      ancestors: [],
      user: { uid: 0, root: true },
      workDir: '/w',
      ownership: null,
      profile: null,
      build: { state: 'running', lock: null },
      tools: [],
      services: { checked: false, note: 'not checked', units: [] },
      disk: null,
      findings: [{ topic: 'lock', ...finding }],
      blocked: true,
    };
    report.build.lock = statusLock(found);
    const text = renderDoctor(report);
    expect(text).toMatch(
      /work dir: {2}\/w \(build: running, lock pid \d+ on elsewhere\.invalid \(another host, cannot check\)\)/,
    );
    expect(text).toContain('BLOCK lock: a build on host elsewhere.invalid holds');
  });
});
