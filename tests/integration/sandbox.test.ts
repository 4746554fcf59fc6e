/**
 * The read-only host (docs/safety.md § Sandbox): the real CLI as root, started as users start it (bin/ailinux),
 * runs a throwaway step (tests/fixtures/sandbox/decoy-steps.mjs, preloaded into this run only) that writes to and
 * removes decoy files in a temp dir outside the work dir, from node and from an escaped command that first tries
 * to remount the decoys' mount writable. Every attempt meets EROFS (the remount: no CAP_SYS_ADMIN), the build fails
 * naming the path, the decoys are byte for byte as they were, the work dir was written, and the process that ran
 * the step has the pid this test spawned, in a mount namespace of its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolsEnv, killRunningClis, REPO, startCli } from '../helpers/cli.js';
import { hostMountinfo } from '../helpers/host.js';
import { prepareBuildTest } from '../helpers/host.js';
import { skipUnlessRoot } from '../helpers/root.js';

const DECOY_STEPS = path.join(REPO, 'tests', 'fixtures', 'sandbox', 'decoy-steps.mjs');

let tmp: string;
let mountinfoBefore: string;

/** Every file and directory under dir, with each file's content and each entry's mode. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const key = path.relative(dir, p);
      if (st.isDirectory()) {
        out[`${key}/`] = st.mode.toString(8);
        walk(p);
      } else
        out[key] =
          `${st.mode.toString(8)} ${st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : fs.readFileSync(p, 'utf8')}`;
    }
  };
  walk(dir);
  return out;
}

/** A decoy dir outside the work dir: a file to overwrite and remove, and a tree to remove. */
function plantDecoys(name: string): { dir: string; before: Record<string, string> } {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, 'keep', 'nested'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'victim.txt'), 'the user file\n', { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'keep', 'nested', 'passwd'), 'root:x:0:0::/root:/bin/sh\n', { mode: 0o600 });
  return { dir, before: snapshot(dir) };
}

function writeConfig(step: string): string {
  const file = path.join(tmp, `${step}.json`);
  fs.writeFileSync(file, JSON.stringify({ extends: 'minimal', steps: [step] }));
  return file;
}

async function buildWithDecoyStep(step: string, decoyDir: string) {
  const work = path.join(tmp, `work-${step}`);
  const env = fakeToolsEnv(tmp, { NODE_OPTIONS: `--import ${DECOY_STEPS}`, DECOY_DIR: decoyDir });
  const run = startCli(['build', '--config', writeConfig(step), '-w', work], {
    env,
    logDir: tmp,
    killAfterMs: 120_000,
  });
  const result = await run.done;
  return { work, pid: run.pid, result };
}

describe.skipIf(skipUnlessRoot())('the read-only host around a build', () => {
  beforeAll(() => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-sandbox-'));
  });

  afterAll(() => {
    killRunningClis();
    // the sandbox's mounts lived and died with the build's namespace
    expect(hostMountinfo()).toBe(mountinfoBefore);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a step that writes to and removes files outside the work dir gets EROFS; the decoys survive, the work dir is written, the pid is the one spawned', async () => {
    const decoys = plantDecoys('decoys-node');
    const { work, pid, result } = await buildWithDecoyStep('decoy-node', decoys.dir);

    expect(snapshot(decoys.dir), 'the decoys after the step').toEqual(decoys.before);
    const report = JSON.parse(fs.readFileSync(path.join(work, 'tmp', 'decoy-node.json'), 'utf8')) as {
      pid: number;
      mntns: string;
      attempts: Array<{ op: string; code: string }>;
    };
    expect(report.attempts.map((a) => `${a.op}: ${a.code}`)).toEqual([
      'overwrite: EROFS',
      'append: EROFS',
      'create: EROFS',
      'unlink: EROFS',
      'remove tree: EROFS',
      'rename: EROFS',
      'chmod: EROFS',
      'mkdir: EROFS',
      'symlink: EROFS',
    ]);
    // the pid the user started is the build's (bin/ailinux execs, never forks), in a mount namespace of its own
    expect(report.pid).toBe(pid);
    expect(report.mntns).not.toBe(fs.readlinkSync('/proc/self/ns/mnt'));

    expect(result.code, result.output).toBe(1);
    const victim = path.join(decoys.dir, 'victim.txt');
    expect(result.output).toContain(
      `build failed at step decoy-node: ${victim} is on the read-only host; ailinux only writes inside its work dir (${work})`,
    );
    // the work dir took the state and the logs as ever
    const state = JSON.parse(fs.readFileSync(path.join(work, 'state', 'state.json'), 'utf8'));
    expect(state.outcome).toBe('failed');
    expect(state.ledger['decoy-node'].error.code).toBe('UNSAFE');
  });

  it('an escaped command cannot remount the host writable (no CAP_SYS_ADMIN), and its writes and removals get EROFS', async () => {
    const decoys = plantDecoys('decoys-command');
    const { work, result } = await buildWithDecoyStep('decoy-command', decoys.dir);

    expect(snapshot(decoys.dir), 'the decoys after the command').toEqual(decoys.before);
    expect(result.code, result.output).toBe(1);
    const victim = path.join(decoys.dir, 'victim.txt');
    expect(result.output).toMatch(/mount: .*permission denied/);
    expect(result.output).toMatch(
      new RegExp(`${victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*Read-only file system`),
    );
    expect(result.output).toContain(
      `fix: ${victim} is on the read-only host; ailinux only writes inside its work dir (${work})`,
    );
  });
});
