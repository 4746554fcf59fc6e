/**
 * The work dir's lock under real concurrency (issue 9, finding 3): many processes started at once try to take the
 * same lock, over a stale owner left by a dead build, and hold it for short random times; their in/out records
 * must never overlap, and a reader asking lockState() meanwhile must never see a half-written owner. A holder
 * killed with SIGKILL frees the lock at once (the kernel releases it), and a command it started does not keep it.
 *
 * The takers import the compiled lock (dist/, `npm run build` first); LOCK_MODULE points them at another build of
 * it, which is how the old rename-and-read-back lock was shown to fail this (see docs/safety.md).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { acquireLock, isLockHeld, lockOwnerFile, lockState } from '../../src/runtime/lock.js';
import { isRunning, StartedProcesses, waitFor } from '../helpers/processes.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURE = path.join(ROOT, 'tests/fixtures/lock-taker.mjs');
const LOCK_MODULE = process.env['LOCK_MODULE'] ?? path.join(ROOT, 'dist/src/runtime/lock.js');
const TRIALS = Number(process.env['LOCK_TRIALS'] ?? '10');
const TAKERS = Number(process.env['LOCK_TAKERS'] ?? '12');
const WINDOW_MS = 2000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-lock-race-'));
const started = new StartedProcesses();
afterEach(() => started.killAll());
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function startTaker(env: Record<string, string>): ChildProcess {
  return started.child(
    spawn(process.execPath, [FIXTURE], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } }),
  );
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

/** A lock left by a build that was killed: an owner whose pid is gone, where old and new code read it. */
async function leaveStaleOwner(lockFile: string): Promise<void> {
  const dead = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => dead.once('exit', r));
  const owner = {
    pid: dead.pid,
    host: os.hostname(),
    startedAt: '2024-01-02T03:04:05.000Z',
    command: 'x',
    procStart: 1,
  };
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  fs.writeFileSync(lockFile, JSON.stringify(owner));
  fs.writeFileSync(lockOwnerFile(lockFile), JSON.stringify(owner));
}

interface Trial {
  holds: Array<{ taker: number; inNs: bigint; outNs: bigint }>;
  overlaps: number;
  /** What the reader saw, by kind ("held -" is a held lock whose owner was not written yet). */
  seen: Map<string, number>;
  halfWritten: string[];
}

async function runTrial(n: number): Promise<Trial> {
  const dir = path.join(tmp, `t${n}`);
  const lockFile = path.join(dir, 'state', 'lock');
  await leaveStaleOwner(lockFile);
  const goFile = path.join(dir, 'go');
  const common = { LOCK_MODULE, LOCK_FILE: lockFile, GO_FILE: goFile, WINDOW_MS: String(WINDOW_MS) };
  const outs = Array.from({ length: TAKERS }, (_, i) => path.join(dir, `taker${i}`));
  const readerOut = path.join(dir, 'reader');
  const children = [
    ...outs.map((out) => startTaker({ ...common, MODE: 'take', OUT_FILE: out })),
    startTaker({ ...common, MODE: 'read', OUT_FILE: readerOut }),
  ];
  const exits = children.map(exitOf);
  const ready = [...outs, readerOut].map((o) => `${o}.ready`);
  expect(await waitFor(() => ready.every((f) => fs.existsSync(f)), 120_000)).toBe(true);
  fs.writeFileSync(goFile, String(Date.now() + 50));
  for (const { code, stderr } of await Promise.all(exits)) expect(code, stderr).toBe(0);

  const holds: Trial['holds'] = [];
  outs.forEach((out, taker) => {
    const lines = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim().split('\n').filter(Boolean) : [];
    for (let i = 0; i < lines.length; i += 2) {
      const [inLine, outLine] = [lines[i]!, lines[i + 1]];
      expect(inLine.startsWith('in ') && outLine?.startsWith('out '), `${out}: ${inLine} / ${outLine}`).toBe(true);
      holds.push({ taker, inNs: BigInt(inLine.slice(3)), outNs: BigInt(outLine!.slice(4)) });
    }
  });
  holds.sort((a, b) => (a.inNs < b.inNs ? -1 : a.inNs > b.inNs ? 1 : 0));
  let overlaps = 0;
  let lastOut = -1n;
  for (const h of holds) {
    if (h.inNs < lastOut) overlaps++;
    if (h.outNs > lastOut) lastOut = h.outNs;
  }
  const seen = new Map<string, number>();
  const halfWritten: string[] = [];
  for (const line of fs.readFileSync(readerOut, 'utf8').trim().split('\n').filter(Boolean)) {
    const kind = line.split(' ')[0]!;
    const key = line.startsWith('held -') ? 'held -' : kind;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (kind === 'unreadable') halfWritten.push(line);
  }
  return { holds, overlaps, seen, halfWritten };
}

describe('the work dir lock under concurrent takers', () => {
  it(`${TAKERS} processes at once, ${TRIALS} trials, over a stale owner: one holder at a time, no half-written owner`, {
    timeout: 900_000,
  }, async () => {
    let overlappingTrials = 0;
    let overlaps = 0;
    let holds = 0;
    const holdsPerTrial: number[] = [];
    const takersThatHeld = new Set<string>();
    const seen = new Map<string, number>();
    const halfWritten: string[] = [];
    for (let n = 0; n < TRIALS; n++) {
      const trial = await runTrial(n);
      if (trial.overlaps > 0) overlappingTrials++;
      overlaps += trial.overlaps;
      holds += trial.holds.length;
      holdsPerTrial.push(trial.holds.length);
      for (const h of trial.holds) takersThatHeld.add(`${n}/${h.taker}`);
      for (const [k, v] of trial.seen) seen.set(k, (seen.get(k) ?? 0) + v);
      halfWritten.push(...trial.halfWritten);
    }
    console.log(
      `lock race (${LOCK_MODULE}): ${TRIALS} trials x ${TAKERS} takers, ${holds} holds by ${takersThatHeld.size} takers; ` +
        `overlapping trials ${overlappingTrials}, overlaps ${overlaps}; reader saw ${JSON.stringify(Object.fromEntries(seen))}`,
    );
    // the test must have raced: every trial had a holder, and the lock changed hands
    expect(
      holdsPerTrial.every((h) => h > 0),
      `holds per trial: ${holdsPerTrial.join(', ')}`,
    ).toBe(true);
    expect(holds).toBeGreaterThan(TRIALS);
    expect(seen.get('held') ?? 0).toBeGreaterThan(0);
    expect({ overlappingTrials, overlaps }).toEqual({ overlappingTrials: 0, overlaps: 0 });
    expect(halfWritten.slice(0, 5)).toEqual([]);
  });
});

describe('a holder that dies', () => {
  it('SIGKILL frees the lock at once, though a command it started lives on', async () => {
    const dir = path.join(tmp, 'killed');
    const lockFile = path.join(dir, 'state', 'lock');
    const out = path.join(dir, 'holder');
    fs.mkdirSync(dir, { recursive: true });
    const holder = startTaker({ LOCK_MODULE, LOCK_FILE: lockFile, OUT_FILE: out, MODE: 'hold' });
    const exited = exitOf(holder);
    expect(await waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').endsWith('\n'), 60_000)).toBe(true);
    const sleeper = started.remember(Number(fs.readFileSync(out, 'utf8').split(' ')[1]));
    expect(lockState(lockFile)).toMatchObject({ kind: 'held', owner: { pid: holder.pid } });
    // the command the holder started has no descriptor on the lock file (node opens it O_CLOEXEC)
    const fds = fs.readdirSync(`/proc/${sleeper}/fd`).map((fd) => fs.readlinkSync(`/proc/${sleeper}/fd/${fd}`));
    expect(fds).not.toContain(lockFile);

    holder.kill('SIGKILL');
    await exited;
    expect(isRunning(sleeper)).toBe(true);
    expect(isLockHeld(lockFile)).toBe(false);
    expect(lockState(lockFile)).toMatchObject({
      kind: 'stale',
      owner: { pid: holder.pid },
      why: 'that process is gone',
    });
    const warnings: string[] = [];
    const handle = acquireLock(lockFile, 'ailinux resume', (m) => warnings.push(m));
    expect(warnings).toEqual([expect.stringContaining(`taking over a stale lock left by pid ${holder.pid}`)]);
    expect(lockState(lockFile)).toEqual({ kind: 'held', owner: handle.owner });
    handle.release();
    expect(lockState(lockFile)).toEqual({ kind: 'free' });
  });
});
