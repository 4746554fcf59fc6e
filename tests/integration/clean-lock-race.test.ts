/**
 * clean --all against builds that start while it runs (issue 9, the lock): clean used to release the work dir's
 * lock and only then remove state/, so a build that took the lock in between lost its state file and its lock
 * file (a third build could then lock a new file beside it). Now state/ goes while clean holds the lock, the lock
 * file last, and a taker checks that the path still names what it locked. The real CLI (bin/ailinux, as root: clean
 * needs it) runs clean --all again and again while "builds" (tests/fixtures/clean-race/build-taker.mjs: claim,
 * lock, write the state, the compiled modules of dist/) loop on the same work dir; no hold may lose its lock file or
 * its state. Needs root; `npm run build` first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { StartedProcesses, waitFor } from '../helpers/processes.js';
import { cliEnv, makeTmp, REPO, runCli } from '../fixtures/safety/harness.js';

const FIXTURE = path.join(REPO, 'tests/fixtures/clean-race/build-taker.mjs');
const DIST = process.env['CLEAN_RACE_DIST'] ?? path.join(REPO, 'dist');
const CLEANS = Number(process.env['CLEAN_RACE_CLEANS'] ?? '6');
const TAKERS = Number(process.env['CLEAN_RACE_TAKERS'] ?? '3');

const tmp = makeTmp('ailinux-clean-race-');
const started = new StartedProcesses();
afterEach(() => started.killAll());
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

describe.skipIf(skipUnlessRoot())('clean --all while builds take the lock', () => {
  it(`${CLEANS} clean --all runs that take the lock, against ${TAKERS} looping builds: no build loses its lock file or its state`, {
    timeout: 900_000,
  }, async () => {
    const work = path.join(tmp, 'w');
    const stop = path.join(tmp, 'stop');
    const outs = Array.from({ length: TAKERS }, (_, i) => path.join(tmp, `taker${i}`));
    const takers = outs.map((out) =>
      started.child(
        spawn(process.execPath, [FIXTURE], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, DIST, WORK_DIR: work, OUT_FILE: out, STOP_FILE: stop },
        }),
      ),
    );
    const exits = takers.map(exitOf);
    expect(await waitFor(() => outs.every((o) => fs.existsSync(`${o}.ready`)), 120_000)).toBe(true);
    const cleans: Array<{ code: number | null; output: string }> = [];
    // clean refuses (exit 3) while a build holds the lock: it runs until CLEANS of its runs took it
    while (cleans.filter((c) => c.code === 0).length < CLEANS && cleans.length < 4 * CLEANS) {
      // a work dir the builds have used: a clean of a missing or empty one removes nothing
      await waitFor(() => fs.existsSync(path.join(work, 'state', 'state.json')), 30_000);
      const r = await runCli(tmp, ['clean', '--all', '-w', work], cliEnv(tmp));
      cleans.push({ code: r.code, output: r.output });
    }
    fs.writeFileSync(stop, '');
    for (const { code, stderr } of await Promise.all(exits)) expect(code, stderr).toBe(0);

    const lines = outs.flatMap((o) => fs.readFileSync(o, 'utf8').trim().split('\n').filter(Boolean));
    const count = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).length;
    const refusals = new Map<string, number>();
    for (const l of lines.filter((x) => x.startsWith('refused '))) {
      // the reason, without the temp dir's name
      const why = l.split(`${work}`).join('W').slice(0, 160);
      refusals.set(why, (refusals.get(why) ?? 0) + 1);
    }
    const removedState = cleans.filter((c) => /removed: .*state\/state\.json/.test(c.output)).length;
    console.log(
      `clean --all race: ${cleans.length} cleans (exit codes ${cleans.map((c) => c.code).join(' ')}; ${removedState} removed a build's state), ` +
        `${TAKERS} builds: ${count('held')} holds, ${count('busy')} busy, ${count('violation')} violations; ` +
        `refused ${JSON.stringify(Object.fromEntries(refusals))}`,
    );
    // it raced: the builds held the lock, and clean removed the state a build had written, many times
    expect(count('held')).toBeGreaterThan(CLEANS);
    expect(removedState).toBe(CLEANS);
    for (const c of cleans) expect([0, 3], c.output).toContain(c.code);
    expect(lines.filter((l) => l.startsWith('violation')).slice(0, 5)).toEqual([]);
  });
});
