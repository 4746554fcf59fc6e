/**
 * Overlays through the real CLI (bin/ailinux.js, as root) with the fake host tools first on PATH (tests/fixtures/bin)
 * and the real unshare, overlayfs and ailinux-ns-run: a minimal config with an early and a late overlay builds, the
 * files are in their layers and in the squashfs input; then a change to one overlay file is what `plan` names, and
 * the next build reruns from that overlay's step on, reusing every step before it. Needs root; skipped otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolsEnv, runCli } from '../helpers/cli.js';
import { hostMountinfo, mountPointsUnder, prepareBuildTest, readWorkState } from '../helpers/host.js';
import { isRoot } from '../helpers/root.js';

interface State {
  outcome: string;
  ledger: Record<string, { status: string; runId: string | null }>;
  history: Array<{ runId: string }>;
}

let tmp = '';
let mountinfoBefore = '';
let project = '';
let config = '';
let work = '';

const env = () => fakeToolsEnv(tmp, { SOURCE_DATE_EPOCH: '1700000000', FAKE_TOOL_DELAY: '0.02' });
const cli = (args: string[]) => runCli(args, { env: env(), cwd: project });

function write(rel: string, content: string, mode = 0o644): void {
  const file = path.join(project, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
}

/** The steps the last build ran (not skipped): each ledger entry whose runId is that build's. */
function ranInLastBuild(state: State): string[] {
  const last = state.history.at(-1)!.runId;
  return Object.values(state.ledger)
    .filter((e) => e.runId === last && e.status === 'done')
    .map((e) => (e as unknown as { id: string }).id);
}

describe.skipIf(!isRoot)('overlays with the fake tools', () => {
  beforeAll(() => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-overlays-it-'));
    project = path.join(tmp, 'project');
    work = path.join(tmp, 'work');
    config = path.join(project, 'ailinux.config.json');
    write('early/etc/apt/apt.conf.d/99ailinux-test', 'Acquire::Retries "3";\n');
    write('late/etc/motd', 'first motd\n');
    write('late/usr/local/bin/hello', '#!/bin/sh\necho hello\n', 0o755);
    fs.mkdirSync(path.join(project, 'late/var/lib/empty'), { recursive: true });
    fs.symlinkSync('hello', path.join(project, 'late/usr/local/bin/hi'));
    fs.writeFileSync(
      config,
      JSON.stringify({
        extends: 'minimal',
        retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
        overlays: { early: ['early'], late: ['late'] },
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

  it('a missing overlay directory is exit 2 before the work dir is made', async () => {
    const bad = path.join(project, 'bad.config.json');
    fs.writeFileSync(bad, JSON.stringify({ extends: 'minimal', overlays: { early: ['nope'] } }));
    const badWork = path.join(tmp, 'bad-work');
    const build = await cli(['build', '-c', bad, '-w', badWork]);
    expect(build.code, build.output).toBe(2);
    expect(build.stderr).toContain('overlays.early.0: the overlay directory nope does not exist');
    expect(fs.existsSync(badWork)).toBe(false);
  });

  it('builds with both overlays in their places', async () => {
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).toBe(0);
    const state = readWorkState<State>(work)!;
    expect(state.outcome).toBe('succeeded');
    expect(Object.keys(state.ledger).slice(0, 6)).toEqual([
      'bootstrap',
      'overlay-early',
      'configure',
      'packages',
      'overlay-late',
      'identity',
    ]);
    const early = path.join(work, 'layers/overlay-early/upper');
    const late = path.join(work, 'layers/overlay-late/upper');
    expect(fs.readFileSync(path.join(early, 'etc/apt/apt.conf.d/99ailinux-test'), 'utf8')).toContain('Retries');
    expect(fs.readFileSync(path.join(late, 'etc/motd'), 'utf8')).toBe('first motd\n');
    expect(fs.statSync(path.join(late, 'usr/local/bin/hello')).mode & 0o7777).toBe(0o755);
    expect(fs.readlinkSync(path.join(late, 'usr/local/bin/hi'))).toBe('hello');
    expect(fs.statSync(path.join(late, 'var/lib/empty')).isDirectory()).toBe(true);
    expect(fs.readdirSync(path.join(work, 'cache'))).toContain('input-hashes.json');
  });

  it('a changed overlay file is what plan names, and the next build reruns from that step only', async () => {
    write('late/etc/motd', 'second motd\n');
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    expect(plan.stdout).toContain('overlay file etc/motd changed');
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).toBe(0);
    const state = readWorkState<State>(work)!;
    const ran = ranInLastBuild(state);
    expect(ran[0]).toBe('overlay-late');
    for (const kept of ['bootstrap', 'overlay-early', 'configure', 'packages']) expect(ran).not.toContain(kept);
    expect(ran).toContain('identity');
    const late = path.join(work, 'layers/overlay-late/upper');
    expect(fs.readFileSync(path.join(late, 'etc/motd'), 'utf8')).toBe('second motd\n');
  });

  it('a change to the early overlay reruns the package steps after it', async () => {
    write('early/etc/apt/apt.conf.d/99ailinux-test', 'Acquire::Retries "5";\n');
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.stdout).toContain('overlay file etc/apt/apt.conf.d/99ailinux-test changed');
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).toBe(0);
    const ran = ranInLastBuild(readWorkState<State>(work)!);
    expect(ran.slice(0, 4)).toEqual(['overlay-early', 'configure', 'packages', 'overlay-late']);
    expect(ran).not.toContain('bootstrap');
  });
});
