/**
 * The archive as an input (issue 11, point 5), end to end through the real CLI (bin/ailinux.js, as root) with the fake
 * host tools first on PATH: a loopback archive (an HTTP server on 127.0.0.1 in this test) serves
 * dists/<suite>/InRelease for the config's mirror and sources. A build reads each suite once; when the test
 * republishes bookworm-updates, `plan` names the suite and both Release dates, and the next build reruns the package
 * steps but keeps the bootstrap layer (its suite did not change); `--offline` keeps every layer and says so; with the
 * archive gone, plan and build stop with exit 69 naming the URL and write nothing. Needs root; skipped otherwise.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolsEnv, runCli } from '../helpers/cli.js';
import { hostMountinfo, mountPointsUnder, prepareBuildTest, readWorkState } from '../helpers/host.js';
import { isRoot } from '../helpers/root.js';

interface State {
  outcome: string;
  ledger: Record<string, { id: string; status: string; runId: string | null }>;
  history: Array<{ runId: string }>;
  archive?: { mode: string; suites: Array<{ suite: string; url: string; date: string | null; sha256: string }> };
}

let tmp = '';
let mountinfoBefore = '';
let work = '';
let config = '';
let server: http.Server | null = null;
let base = '';
/** What the loopback archive serves, by path; the test changes it between runs. */
const published = new Map<string, string>();
/** Every request the archive answered: method and path. */
const requests: string[] = [];

const release = (suite: string, date: string) =>
  `Origin: Debian\nLabel: Debian\nSuite: ${suite}\nCodename: ${suite}\nDate: ${date}\nArchitectures: amd64\nComponents: main\n`;

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
const since = (from: number) => requests.slice(from).sort();

describe.skipIf(!isRoot)('an archive update, against a loopback archive', () => {
  beforeAll(async () => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-archive-it-'));
    server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      const body = published.get(req.url ?? '');
      if (body === undefined) res.writeHead(404).end('not here\n');
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
    published.set('/debian/dists/bookworm/InRelease', release('bookworm', 'Sat, 11 Jul 2026 10:16:37 UTC'));
    published.set(
      '/debian/dists/bookworm-updates/InRelease',
      release('bookworm-updates', 'Sun, 01 Nov 2026 09:00:00 UTC'),
    );
    work = path.join(tmp, 'work');
    config = path.join(tmp, 'ailinux.config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        extends: 'minimal',
        retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
        distribution: {
          mirror: base,
          sources: [{ uri: base, suites: ['bookworm', 'bookworm-updates'], components: ['main'] }],
        },
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
  afterAll(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(null)));
    if (tmp) {
      expect(mountPointsUnder(tmp, hostMountinfo())).toEqual(mountPointsUnder(tmp, mountinfoBefore));
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a build reads each suite once and records what it read', async () => {
    const from = requests.length;
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
    published.set(
      '/debian/dists/bookworm-updates/InRelease',
      release('bookworm-updates', 'Mon, 07 Dec 2026 02:14:57 UTC'),
    );
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
    const from = requests.length;
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

  it('an archive that does not answer is exit 69 naming the URL, and nothing is written', async () => {
    published.delete('/debian/dists/bookworm-updates/InRelease');
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
