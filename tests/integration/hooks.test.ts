/**
 * Hooks through the real CLI (bin/ailinux.js, as root) with the fake host tools first on PATH (tests/fixtures/bin)
 * and the real unshare, overlayfs and ailinux-ns-run: a minimal config with a chroot hook after packages and a binary
 * hook after bootloaders. The chroot hook fails first: the build fails at it, with every step before it done and none
 * after it run; once the script is fixed, `resume` reruns the hook and the steps after it and nothing before. Then
 * plan names a changed hook, and status and inspect show the hook steps. Needs root; skipped otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolsEnv, runCli } from '../helpers/cli.js';
import { hostMountinfo, mountPointsUnder, prepareBuildTest, readWorkState } from '../helpers/host.js';
import { isRoot } from '../helpers/root.js';

interface Entry {
  id: string;
  status: string;
  runId: string | null;
  error: { message: string } | null;
}
interface State {
  outcome: string;
  current: string | null;
  ledger: Record<string, Entry>;
  history: Array<{ runId: string }>;
}

let tmp = '';
let mountinfoBefore = '';
let project = '';
let config = '';
let work = '';

const env = () => fakeToolsEnv(tmp, { SOURCE_DATE_EPOCH: '1700000000', FAKE_TOOL_DELAY: '0.02' });
const cli = (args: string[]) => runCli(args, { env: env(), cwd: project });

function write(rel: string, content: string, mode = 0o755): void {
  const file = path.join(project, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
}

const FAILING = '#!/bin/sh\necho "the hook fails on purpose" >&2\nexit 7\n';
const FIXED = '#!/bin/sh\nset -e\necho "Built with a hook" >> "${FAKE_ROOT:-}/etc/issue"\n';

/** The steps the last build ran: each ledger entry whose runId is that build's. */
function ranInLastBuild(state: State): string[] {
  const last = state.history.at(-1)!.runId;
  return Object.values(state.ledger)
    .filter((e) => e.runId === last && e.status === 'done')
    .map((e) => e.id);
}

describe.skipIf(!isRoot)('hooks with the fake tools', () => {
  beforeAll(() => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-hooks-it-'));
    project = path.join(tmp, 'project');
    work = path.join(tmp, 'work');
    config = path.join(project, 'ailinux.config.json');
    write('hooks/issue.sh', FAILING);
    write(
      'hooks/medium.sh',
      '#!/bin/sh\nset -e\n[ -f "$1/boot/grub/grub.cfg" ]\necho "made by ailinux" > "$2/README.txt"\n',
    );
    fs.writeFileSync(
      config,
      JSON.stringify({
        extends: 'minimal',
        retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
        hooks: [
          { name: 'issue', after: 'packages', script: 'hooks/issue.sh' },
          { name: 'medium', after: 'bootloaders', script: 'hooks/medium.sh', binary: true },
        ],
        steps: [
          'bootstrap',
          'configure',
          'packages',
          'identity',
          'chroot-cleanup',
          'squashfs',
          'bootloaders',
          'iso',
          'checksums',
          'report',
        ],
      }),
    );
  });
  afterAll(() => {
    if (tmp) {
      expect(mountPointsUnder(tmp, hostMountinfo())).toEqual(mountPointsUnder(tmp, mountinfoBefore));
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('an unknown after is exit 2 with the nearest step, before the work dir is made', async () => {
    const bad = path.join(project, 'bad.config.json');
    fs.writeFileSync(
      bad,
      JSON.stringify({ extends: 'minimal', hooks: [{ name: 'x', after: 'pakages', script: 'hooks/issue.sh' }] }),
    );
    const badWork = path.join(tmp, 'bad-work');
    const build = await cli(['build', '-c', bad, '-w', badWork]);
    expect(build.code, build.output).toBe(2);
    expect(build.stderr).toContain('hooks.0.after: hook "x" runs after "pakages", which is no step of this config');
    expect(build.stderr).toContain('did you mean "packages"?');
    expect(fs.existsSync(badWork)).toBe(false);
  });

  it('a failing hook leaves the build failed at that hook, nothing after it run', async () => {
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).not.toBe(0);
    expect(build.output).toContain('the hook fails on purpose');
    const state = readWorkState<State>(work)!;
    expect(state.outcome).toBe('failed');
    expect(state.current).toBe('hook-issue');
    expect(state.ledger['hook-issue']!.status).toBe('failed');
    expect(state.ledger['hook-issue']!.error!.message).toContain('exited with code 7');
    for (const id of ['bootstrap', 'configure', 'packages']) expect(state.ledger[id]!.status).toBe('done');
    for (const id of ['identity', 'squashfs', 'hook-medium', 'iso'])
      expect(state.ledger[id]?.status ?? 'pending').toBe('pending');
    // its own log, and its layer thrown away by the recovery's undo
    expect(fs.readFileSync(path.join(work, 'logs/steps/hook-issue.log'), 'utf8')).toContain(
      'the hook fails on purpose',
    );
    expect(fs.existsSync(path.join(work, 'layers/hook-issue'))).toBe(false);
  });

  it('resume, once the script is fixed, reruns only the hook and what follows', async () => {
    write('hooks/issue.sh', FIXED);
    const plan = await cli(['plan', '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    expect(plan.stdout).toMatch(/run {3}hook-issue .*\n\s+- it failed last time/);
    const resume = await cli(['resume', '-w', work]);
    expect(resume.code, resume.output).toBe(0);
    const state = readWorkState<State>(work)!;
    expect(state.outcome).toBe('succeeded');
    const ran = ranInLastBuild(state);
    expect(ran[0]).toBe('hook-issue');
    for (const kept of ['bootstrap', 'configure', 'packages']) expect(ran).not.toContain(kept);
    for (const after of ['identity', 'chroot-cleanup', 'squashfs', 'bootloaders', 'hook-medium', 'iso'])
      expect(ran).toContain(after);
    expect(fs.readFileSync(path.join(work, 'layers/hook-issue/upper/etc/issue'), 'utf8')).toBe('Built with a hook\n');
    expect(fs.existsSync(path.join(work, 'layers/hook-issue/upper/tmp/ailinux-hook-issue'))).toBe(false);
    // the binary hook added a file to the ISO tree, read the tree it was given
    expect(fs.readFileSync(path.join(work, 'iso/README.txt'), 'utf8')).toBe('made by ailinux\n');
  });

  it('plan names a changed hook; status and inspect show the hook steps in their places', async () => {
    write('hooks/issue.sh', `${FIXED}echo again >> "\${FAKE_ROOT:-}/etc/issue"\n`);
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    expect(plan.stdout).toContain('hook issue changed (its script hooks/issue.sh)');
    expect(plan.stdout).toMatch(/skip {2}packages /);
    const status = await cli(['status', '-w', work]);
    expect(status.code, status.output).toBe(0);
    expect(status.stdout).toMatch(/hook-issue/);
    expect(status.stdout).toMatch(/hook-medium/);
    const inspect = await cli(['inspect', '-w', work, '--format', 'dot']);
    expect(inspect.code, inspect.output).toBe(0);
    expect(inspect.stdout).toContain('"build.pipeline.packages" -> "build.pipeline.hook-issue"');
    expect(inspect.stdout).toContain('"build.pipeline.hook-issue" -> "build.pipeline.identity"');
    expect(inspect.stdout).toContain('"build.pipeline.hook-medium" -> "build.pipeline.iso"');
  });
});
