/**
 * Conventions of the command line (issue 13, point 5), through bin/ailinux with the fake host tools, as root:
 * `ailinux -C DIR build` builds in DIR (in the private mount namespace: build refuses to run outside it); `ailinux
 * log -f squashfs`, run from inside the work dir (found by walking up to its mark), waits for the step, prints its
 * output while the step runs (held by a slow fake mksquashfs) and exits 0 when it is done; Ctrl-C ends another
 * follower with 130; `ailinux --work-dir DIR clean` cleans (in the namespace too).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_BIN, fakeToolsEnv, killRunningClis, REPO, runCli, startCli } from '../helpers/cli.js';
import { hostMountinfo, prepareBuildTest } from '../helpers/host.js';
import { skipUnlessRoot } from '../helpers/root.js';

const CONFIG = path.join(REPO, 'tests', 'fixtures', 'crash.config.json');

let tmp: string;
let mountinfoBefore: string;

async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skipUnlessRoot())('-C, --work-dir, the work dir found from inside it, and log -f', () => {
  beforeAll(() => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-conventions-'));
  });

  afterAll(() => {
    killRunningClis();
    expect(hostMountinfo()).toBe(mountinfoBefore);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('builds with -C, follows the slow step from inside the work dir, and cleans with --work-dir', async () => {
    const project = path.join(tmp, 'project');
    fs.mkdirSync(project);
    const work = path.join(project, 'ailinux-build');
    // mksquashfs prints a line, then waits for the test's go-ahead: the squashfs step runs as long as the test wants
    const slowBin = path.join(tmp, 'slow-bin');
    const go = path.join(slowBin, '.go');
    fs.mkdirSync(slowBin);
    fs.writeFileSync(
      path.join(slowBin, 'mksquashfs'),
      `#!/bin/bash\necho "packing: first half"\nfor ((i = 0; i < 2400; i++)); do [ -e "${go}" ] && break; sleep 0.05; done\necho "packing: second half"\nexec "${FAKE_BIN}/mksquashfs" "$@"\n`,
      { mode: 0o755 },
    );
    const env = fakeToolsEnv(tmp, { PATH: `${slowBin}:${FAKE_BIN}:${process.env['PATH'] ?? '/usr/bin:/bin'}` });

    // -C before the command, from another directory: the default work dir is the project's
    const build = startCli(['-C', project, 'build', '--config', CONFIG], { cwd: tmp, env, killAfterMs: 180_000 });
    await waitFor('the work dir', () => fs.existsSync(path.join(work, 'logs')));

    // from inside the work dir, before the step starts: found by its mark, and waited for
    const inside = path.join(work, 'logs');
    const follower = startCli(['log', '-f', 'squashfs'], { cwd: inside, env, killAfterMs: 180_000 });
    await waitFor('the first half in log -f', () => follower.output().includes('packing: first half'));
    const stepLog = path.join(work, 'logs', 'steps', 'squashfs.log');
    // the step is still running (held by mksquashfs), and the follower is too
    expect(fs.readFileSync(stepLog, 'utf8')).not.toContain('second half');
    expect(follower.child.exitCode).toBeNull();

    // another follower, ended by Ctrl-C while the step runs
    const stopped = startCli(['-w', work, 'log', '-f', 'squashfs'], { cwd: tmp, env, killAfterMs: 60_000 });
    await waitFor('the second follower', () => stopped.output().includes('packing: first half'));
    stopped.child.kill('SIGINT');
    const stoppedExit = await stopped.done;
    expect(stoppedExit.code, stoppedExit.output).toBe(130);
    expect(stoppedExit.stderr).toContain('stopped following (Ctrl-C); the build goes on');

    fs.writeFileSync(go, '');
    const built = await build.done;
    expect(built.code, built.output).toBe(0);
    expect(built.stdout.trim()).toBe(path.join(work, 'output', 'ailinux-minimal-amd64.iso'));

    const followed = await follower.done;
    expect(followed.code, followed.output).toBe(0);
    expect(followed.stderr).toContain(
      `ailinux: the current directory is inside the work dir ${work}; using it (-w chooses another)`,
    );
    expect(followed.stderr).toContain('ailinux: step squashfs done');
    // all of the step's log, once, in order
    expect(followed.stdout).toBe(fs.readFileSync(stepLog, 'utf8'));
    expect(followed.stdout).toContain('packing: second half');

    // inside the work dir, status finds it too (it used to say "no build in …/ailinux-build/ailinux-build")
    const status = await runCli(['status'], { cwd: inside, env });
    expect(status.code, status.output).toBe(0);
    expect(status.stdout).toContain(`work dir: ${work}`);
    expect(status.stdout).toContain('outcome:  succeeded');

    // --work-dir before clean: clean runs only in the namespace, so its success shows bin/ailinux entered it
    const cleaned = await runCli(['--work-dir', work, 'clean'], { cwd: tmp, env });
    expect(cleaned.code, cleaned.output).toBe(0);
    expect(fs.existsSync(path.join(work, 'layers'))).toBe(false);
  });
});
