/**
 * The archive as an input (issue 11, point 5), end to end through the real CLI (bin/ailinux.js, as root) with the fake
 * host tools first on PATH: a loopback archive (tests/helpers/loopback-archive.ts, an HTTP server on 127.0.0.1) serves
 * dists/<suite>/InRelease for the config's mirror and sources. A build reads each suite once; when the test
 * republishes bookworm-updates, `plan` names the suite and both Release dates, and the next build reruns the package
 * steps but keeps the bootstrap layer (its suite did not change); `--offline` keeps every layer and says so; with the
 * archive gone, plan and build stop with exit 69 naming the URL and write nothing. Needs root; skipped otherwise.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolsEnv, runCli } from '../helpers/cli.js';
import { hostMountinfo, mountPointsUnder, prepareBuildTest, readWorkState } from '../helpers/host.js';
import { type LoopbackArchive, loopbackArchiveConfig, startLoopbackArchive } from '../helpers/loopback-archive.js';
import { isRoot } from '../helpers/root.js';

interface State {
  outcome: string;
  ledger: Record<string, { id: string; status: string; runId: string | null }>;
  history: Array<{ runId: string }>;
  archive?: {
    mode: string;
    suites: Array<{
      suite: string;
      url: string;
      date: string | null;
      sha256: string;
      packages?: Record<string, string>;
    }>;
  };
}

let tmp = '';
let mountinfoBefore = '';
let work = '';
let config = '';
/** The loopback archive (tests/helpers/loopback-archive.ts); the test changes what it publishes between runs. */
let archive: LoopbackArchive | null = null;
let base = '';

// the empty AILINUX_ARCHIVE_RELEASE_FILE turns the fixed Release of the test env off: the CLI reads the archive
const env = () =>
  fakeToolsEnv(tmp, { SOURCE_DATE_EPOCH: '1700000000', FAKE_TOOL_DELAY: '0.02', AILINUX_ARCHIVE_RELEASE_FILE: '' });
const cli = (args: string[]) => runCli(args, { env: env(), cwd: tmp });

/** The steps the last build ran (not skipped). */
function ranInLastBuild(state: State): string[] {
  const last = state.history.at(-1)!.runId;
  return Object.values(state.ledger)
    .filter((e) => e.runId === last && e.status === 'done')
    .map((e) => e.id);
}

/** The requests made since `from`, sorted. */
const since = (from: number) => archive!.requests.slice(from).sort();

describe.skipIf(!isRoot)('an archive update, against a loopback archive', () => {
  beforeAll(async () => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-archive-it-'));
    archive = await startLoopbackArchive();
    base = archive.base;
    archive.publish('bookworm', 'Sat, 11 Jul 2026 10:16:37 UTC');
    archive.publish('bookworm-updates', 'Sun, 01 Nov 2026 09:00:00 UTC');
    work = path.join(tmp, 'work');
    config = path.join(tmp, 'ailinux.config.json');
    fs.writeFileSync(config, JSON.stringify(loopbackArchiveConfig(base)));
  });
  afterAll(async () => {
    await archive?.close();
    if (tmp) {
      expect(mountPointsUnder(tmp, hostMountinfo())).toEqual(mountPointsUnder(tmp, mountinfoBefore));
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a build reads each suite once and records what it read', async () => {
    const from = archive!.requests.length;
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).toBe(0);
    // bookworm is debootstrap's and a sources line: one request for it all the same
    expect(since(from)).toEqual([
      'GET /debian/dists/bookworm-updates/InRelease',
      'GET /debian/dists/bookworm/InRelease',
    ]);
    const state = readWorkState<State>(work)!;
    expect(state.outcome).toBe('succeeded');
    expect(state.archive?.mode).toBe('checked');
    expect(state.archive?.suites.map((s) => [s.suite, s.date, s.url])).toEqual([
      ['bookworm', '2026-07-11T10:16:37Z', `${base}/dists/bookworm/InRelease`],
      ['bookworm-updates', '2026-11-01T09:00:00Z', `${base}/dists/bookworm-updates/InRelease`],
    ]);
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    expect(plan.stdout).toContain(
      'archive: read 2 Release file(s): bookworm of 2026-07-11T10:16:37Z, bookworm-updates of 2026-11-01T09:00:00Z',
    );
    expect(plan.stdout).toContain('0 step(s) to run, 10 to skip');
  });

  it('when the archive publishes updates, plan names the suite and its dates, and the package steps rerun', async () => {
    archive!.publish('bookworm-updates', 'Mon, 07 Dec 2026 02:14:57 UTC');
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    const reason = 'archive bookworm-updates changed (Release of 2026-11-01T09:00:00Z -> 2026-12-07T02:14:57Z)';
    const lines = plan.stdout.split('\n');
    const after = (step: string) => lines[lines.findIndex((l) => new RegExp(`^\\w+ +${step} `).test(l)) + 1];
    expect(lines.find((l) => / bootstrap /.test(l))).toMatch(/^skip/);
    expect(lines.find((l) => / configure /.test(l))).toMatch(/^run/);
    expect(after('configure')).toBe(`      - ${reason}`);
    expect(after('packages')).toBe(`      - ${reason}`);
    expect(plan.stdout).toContain('9 step(s) to run, 1 to skip');

    // --offline: nothing read, every layer kept, and it says so
    const from = archive!.requests.length;
    const offlinePlan = await cli(['plan', '-c', config, '-w', work, '--offline']);
    expect(offlinePlan.code, offlinePlan.output).toBe(0);
    expect(offlinePlan.stdout).toContain('archive: not checked (--offline)');
    expect(offlinePlan.stdout).toContain('0 step(s) to run, 10 to skip');
    const offline = await cli(['build', '-c', config, '-w', work, '--offline']);
    expect(offline.code, offline.output).toBe(0);
    expect(offline.stderr).toContain('archive: not checked (--offline)');
    expect(since(from)).toEqual([]);
    const kept = readWorkState<State>(work)!;
    expect(ranInLastBuild(kept)).toEqual([]);
    expect(kept.archive?.mode).toBe('offline');

    // online again: the package steps and those after them rerun; the bootstrap layer is kept
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).toBe(0);
    const state = readWorkState<State>(work)!;
    expect(ranInLastBuild(state)).toEqual([
      'configure',
      'packages',
      'identity',
      'chroot-cleanup',
      'squashfs',
      'bootloaders',
      'iso',
      'checksums',
      'report',
    ]);
    expect(state.archive?.suites.find((s) => s.suite === 'bookworm-updates')?.date).toBe('2026-12-07T02:14:57Z');
    const again = await cli(['plan', '-c', config, '-w', work]);
    expect(again.stdout).toContain('0 step(s) to run, 10 to skip');
  });

  it('a republished Packages index: plan names the index and its digests, and the state records them', async () => {
    const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
    const first = 'Package: base-files\nVersion: 12.4\nArchitecture: amd64\n';
    archive!.publish('bookworm-updates', 'Tue, 08 Dec 2026 01:00:00 UTC', { main: first });
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).toBe(0);
    const built = readWorkState<State>(work)!;
    expect(built.archive?.suites.find((s) => s.suite === 'bookworm-updates')?.packages).toEqual({
      'main/binary-amd64/Packages': sha(first),
    });

    const second = `${first}\nPackage: tzdata\nVersion: 2026a-0+deb12u1\nArchitecture: all\n`;
    archive!.publish('bookworm-updates', 'Tue, 08 Dec 2026 02:00:00 UTC', { main: second });
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    const lines = plan.stdout.split('\n');
    expect(lines.find((l) => / bootstrap /.test(l))).toMatch(/^skip/);
    const reasons = (step: string) => {
      const at = lines.findIndex((l) => new RegExp(`^\\w+ +${step} `).test(l));
      const out: string[] = [];
      for (let i = at + 1; lines[i]?.startsWith('      - '); i++) out.push(lines[i]!.slice(8));
      return out;
    };
    const index = `archive bookworm-updates: main/binary-amd64/Packages changed (sha256 ${sha(first).slice(0, 12)} -> ${sha(second).slice(0, 12)})`;
    expect(lines.find((l) => / configure /.test(l))).toMatch(/^run/);
    expect(reasons('configure')).toContain(index);
    expect(reasons('packages')).toContain(index);
  });

  it('an archive that does not answer is exit 69 naming the URL, and nothing is written', async () => {
    archive!.withdraw('bookworm-updates');
    const stateFile = path.join(work, 'state', 'state.json');
    const before = fs.readFileSync(stateFile, 'utf8');
    const plan = await cli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.output).toBe(69);
    expect(plan.stderr).toContain(
      `cannot read the archive's Release file ${base}/dists/bookworm-updates/Release: not found (404), nor InRelease`,
    );
    expect(plan.stderr).toContain('--offline');
    const build = await cli(['build', '-c', config, '-w', work]);
    expect(build.code, build.output).toBe(69);
    expect(build.stderr).toContain(`${base}/dists/bookworm-updates/Release`);
    expect(fs.readFileSync(stateFile, 'utf8')).toBe(before);
    // --offline still builds: nothing to run, nothing read
    const offline = await cli(['build', '-c', config, '-w', work, '--offline']);
    expect(offline.code, offline.output).toBe(0);
  });
});
