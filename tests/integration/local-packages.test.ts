/**
 * packages.local with the real tools (issue 10, point 3): .deb files built here with dpkg-deb --build, the
 * repository made by the real dpkg-scanpackages through the packages step's own code, and the real apt reading it
 * through ailinux's own source line at the very path the chroot binds it on. apt runs in a private mount namespace
 * on a tmpfs over /var/lib there (the host's is never touched), against an apt root of its own (-o Dir=).
 * Run as root through scripts/sandboxed-test.sh; the apt half skips without root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { checkInputTrees, fingerprintSteps } from '../../src/engine/fingerprint.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import {
  buildLocalRepo,
  LOCAL_LISTS_GLOB,
  LOCAL_REPO_IN_IMAGE,
  LOCAL_SOURCE_FILE,
  LOCAL_SOURCE_LINE,
  LOCAL_UPDATE_ARGV,
  parsePackagesIndex,
} from '../../src/steps/local-packages.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { fakeToolsEnv, runCli } from '../helpers/cli.js';
import { hostMountinfo, mountPointsUnder, prepareBuildTest, readWorkState } from '../helpers/host.js';
import { isRoot } from '../helpers/root.js';
import { profileConfig, stepContext } from '../helpers/step-context.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const toolsHere = have('dpkg-deb') && have('dpkg-scanpackages');
const asRoot = process.getuid?.() === 0;
const canUnshare = asRoot && spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0;

let tmp: string;
let project: string;
let work: string;

/** A tiny package built by dpkg-deb --build: one file, /usr/share/<name>/version. */
function buildDeb(dir: string, name: string, version: string, arch = 'all', note = ''): string {
  const root = path.join(tmp, `src-${name}-${version}`);
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'DEBIAN', 'control'),
    `Package: ${name}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: ailinux tests <t@example.org>\nDescription: a package of the local-packages test\n`,
  );
  fs.mkdirSync(path.join(root, 'usr/share', name), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr/share', name, 'version'), `${version}\n${note}`);
  const out = path.join(dir, `${name}_${version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', root, out], { stdio: 'pipe' });
  return out;
}

function config(): BuildConfig {
  return profileConfig('minimal', (c) => {
    c.packages.local = 'debs';
  });
}

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-local-packages-')));
  project = path.join(tmp, 'project');
  work = path.join(tmp, 'work');
  fs.mkdirSync(path.join(project, 'debs'), { recursive: true });
  fs.mkdirSync(work);
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function makeRepo(c: BuildConfig) {
  fingerprintSteps(resolveSteps(c), c, project, { sourceDateEpoch: null });
  const ctx = stepContext({ config: c, workDir: work, stepId: 'packages' });
  const real = { ...ctx, runner: new ExecaRunner({ graceMs: 1000 }), baseDir: project };
  return buildLocalRepo(real, 'packages');
}

describe.skipIf(!toolsHere)('the repository, made by the real dpkg-scanpackages', () => {
  it('indexes .deb files built by dpkg-deb --build: one stanza each, the file beside it, nothing left in the user directory', async () => {
    buildDeb(path.join(project, 'debs'), 'hello-local', '1.0');
    buildDeb(path.join(project, 'debs'), 'tool-local', '2.1-1', 'amd64');
    const before = fs.readdirSync(path.join(project, 'debs')).sort();
    const index = await makeRepo(config());
    expect(index.map((e) => [e.package, e.version, e.architecture, e.filename])).toEqual([
      ['hello-local', '1.0', 'all', 'hello-local_1.0_all.deb'],
      ['tool-local', '2.1-1', 'amd64', 'tool-local_2.1-1_amd64.deb'],
    ]);
    const repo = path.join(work, 'cache', 'local-repo');
    expect(fs.readdirSync(repo).sort()).toEqual(['Packages', 'hello-local_1.0_all.deb', 'tool-local_2.1-1_amd64.deb']);
    const text = fs.readFileSync(path.join(repo, 'Packages'), 'utf8');
    expect(parsePackagesIndex(text)).toEqual(index);
    expect(text).toMatch(/^Filename: \.\/hello-local_1\.0_all\.deb$/m);
    expect(text).toMatch(/^SHA256: [0-9a-f]{64}$/m);
    expect(fs.readdirSync(path.join(project, 'debs')).sort()).toEqual(before);
    expect(fs.readdirSync(path.join(work, 'cache')).sort()).toEqual(['local-repo']);
  });

  it('a .deb for another architecture fails the step naming it; dpkg-deb --info would refuse a text file, and so does the load', async () => {
    buildDeb(path.join(project, 'debs'), 'armonly', '1.0', 'arm64');
    await expect(makeRepo(config())).rejects.toThrow(
      'local package armonly_1.0_arm64.deb (in debs) is for arm64; the image is amd64',
    );
    expect(fs.existsSync(path.join(work, 'cache', 'local-repo'))).toBe(false);
    fs.rmSync(path.join(project, 'debs', 'armonly_1.0_arm64.deb'));
    const fake = path.join(project, 'debs', 'fake_1.0_all.deb');
    fs.writeFileSync(fake, 'text\n');
    expect(spawnSync('dpkg-deb', ['--info', fake]).status).not.toBe(0);
    const c = config();
    expect(() => checkInputTrees(resolveSteps(c), c, project)).toThrow(ConfigError);
    expect(() => checkInputTrees(resolveSteps(c), c, project)).toThrow(`${fake} is not a .deb archive`);
  });

  it.skipIf(!canUnshare || !have('apt-get'))(
    "apt reads it through ailinux's own source line at the chroot's path, and picks the higher version, local or not",
    async () => {
      buildDeb(path.join(project, 'debs'), 'hello-local', '2.0');
      buildDeb(path.join(project, 'debs'), 'older-local', '0.5');
      await makeRepo(config());
      // an "archive" beside it: hello-local 1.0 (lower than the local 2.0) and older-local 1.0 (higher than 0.5)
      const archive = path.join(tmp, 'archive');
      fs.mkdirSync(archive);
      buildDeb(archive, 'hello-local', '1.0');
      buildDeb(archive, 'older-local', '1.0');
      execFileSync('sh', ['-c', 'dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null'], {
        cwd: archive,
      });
      // an apt root of its own, with ailinux's source file as the packages step writes it
      const aptRoot = path.join(tmp, 'aptroot');
      for (const d of [
        'etc/apt/apt.conf.d',
        'etc/apt/preferences.d',
        'var/lib/apt/lists/partial',
        'var/cache/apt/archives/partial',
        'var/lib/dpkg',
      ])
        fs.mkdirSync(path.join(aptRoot, d), { recursive: true });
      fs.writeFileSync(path.join(aptRoot, 'var/lib/dpkg/status'), '');
      fs.mkdirSync(path.dirname(path.join(aptRoot, LOCAL_SOURCE_FILE)), { recursive: true });
      fs.writeFileSync(path.join(aptRoot, LOCAL_SOURCE_FILE), `${LOCAL_SOURCE_LINE}\n`);
      fs.writeFileSync(path.join(aptRoot, 'etc/apt/sources.list'), `deb [trusted=yes] file:${archive} ./\n`);
      const aptOpts = [
        '-o',
        `Dir=${aptRoot}`,
        '-o',
        'APT::Sandbox::User=root',
        '-o',
        `Dir::State::status=${aptRoot}/var/lib/dpkg/status`,
      ];
      const [apt, update, ...rest] = LOCAL_UPDATE_ARGV;
      const script = [
        'set -e',
        // a private namespace: a tmpfs over /var/lib there, the repository bound read-only where the chroot has it
        'mount -t tmpfs tmpfs /var/lib',
        `mkdir -p ${LOCAL_REPO_IN_IMAGE}`,
        `mount --bind "$1" ${LOCAL_REPO_IN_IMAGE}`,
        `mount -o remount,bind,ro ${LOCAL_REPO_IN_IMAGE}`,
        'shift',
        // the packages step's update: the local source alone
        `${apt} "$@" ${update} ${rest.join(' ')} >/dev/null`,
        `ls ${aptRoot}/var/lib/apt/lists > ${tmp}/lists-after-local`,
        // then the full update any later apt would make (the archive's and the local source), and the policy
        `${apt} "$@" update >/dev/null`,
        `apt-cache "$@" policy hello-local older-local > ${tmp}/policy`,
      ].join('\n');
      const r = spawnSync(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          '--',
          'bash',
          '-c',
          script,
          'bash',
          path.join(work, 'cache', 'local-repo'),
          ...aptOpts,
        ],
        { encoding: 'utf8' },
      );
      expect(r.stderr).not.toMatch(/^E:/m);
      expect(r.status).toBe(0);
      const glob = new RegExp(`^${LOCAL_LISTS_GLOB.replace(/[.+]/g, '\\$&').replace('*', '.*')}$`);
      // the local update fetched the local source's list and nothing else
      const localLists = fs
        .readFileSync(path.join(tmp, 'lists-after-local'), 'utf8')
        .split('\n')
        .filter((n) => n.includes('Packages'));
      expect(localLists.length).toBe(1);
      expect(localLists[0]).toMatch(glob);
      const policy = fs.readFileSync(path.join(tmp, 'policy'), 'utf8');
      const candidate = (pkg: string) =>
        new RegExp(`^${pkg}:\\n(?:.*\\n)*?\\s+Candidate: (\\S+)`, 'm').exec(policy)?.[1];
      expect(candidate('hello-local')).toBe('2.0'); // the local package, higher: it replaces the archive's
      expect(candidate('older-local')).toBe('1.0'); // the archive's, higher: apt keeps it
      expect(policy).toContain(`file:${LOCAL_REPO_IN_IMAGE} ./ Packages`);
      // the host's /var/lib never saw any of it
      expect(fs.existsSync(LOCAL_REPO_IN_IMAGE)).toBe(false);
    },
  );
});

/**
 * Through the real CLI (bin/ailinux.js, as root) with the fake host tools first on PATH, the real unshare, overlayfs,
 * ailinux-ns-run (its read-only bind of the repository) and dpkg-scanpackages: the local package is installed, the
 * source entry is in the packages layer and gone after chroot-cleanup; a changed .deb is what plan names, and the
 * next build reruns from the packages step.
 */
describe.skipIf(!isRoot || !toolsHere)('packages.local in a build with the fake tools', () => {
  let itTmp = '';
  let mountinfoBefore = '';
  let itProject = '';
  let itWork = '';
  let itConfig = '';
  const env = () => fakeToolsEnv(itTmp, { SOURCE_DATE_EPOCH: '1700000000', FAKE_TOOL_DELAY: '0.02' });
  const cli = (args: string[]) => runCli(args, { env: env(), cwd: itProject });

  beforeAll(() => {
    ({ tmp: itTmp, mountinfoBefore } = prepareBuildTest('ailinux-local-packages-it-'));
    itProject = path.join(itTmp, 'project');
    itWork = path.join(itTmp, 'work');
    itConfig = path.join(itProject, 'ailinux.config.json');
    fs.mkdirSync(path.join(itProject, 'debs'), { recursive: true });
    tmp = itTmp;
    buildDeb(path.join(itProject, 'debs'), 'ailinux-local-marker', '1.0');
    fs.writeFileSync(
      itConfig,
      JSON.stringify({
        extends: 'minimal',
        retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
        packages: { local: 'debs' },
        steps: ['bootstrap', 'configure', 'packages', 'identity', 'chroot-cleanup'],
      }),
    );
  });
  afterAll(() => {
    if (itTmp) {
      expect(mountPointsUnder(itTmp, hostMountinfo())).toEqual(mountPointsUnder(itTmp, mountinfoBefore));
      fs.rmSync(itTmp, { recursive: true, force: true });
    }
  });

  it('a directory without a .deb is exit 2 before the work dir is made', async () => {
    fs.mkdirSync(path.join(itProject, 'none'));
    const bad = path.join(itProject, 'bad.config.json');
    fs.writeFileSync(bad, JSON.stringify({ extends: 'minimal', packages: { local: 'none' } }));
    const badWork = path.join(itTmp, 'bad-work');
    const build = await cli(['build', '-c', bad, '-w', badWork]);
    expect(build.code, build.output).toBe(2);
    expect(build.stderr).toContain(`packages.local: ${path.join(itProject, 'none')} holds no .deb file`);
    expect(fs.existsSync(badWork)).toBe(false);
  });

  it('installs the local package; chroot-cleanup leaves no source entry and no mount point', async () => {
    const build = await cli(['build', '-c', itConfig, '-w', itWork]);
    expect(build.code, build.output).toBe(0);
    const packages = path.join(itWork, 'layers/packages/upper');
    expect(fs.readFileSync(path.join(packages, LOCAL_SOURCE_FILE), 'utf8')).toBe(`${LOCAL_SOURCE_LINE}\n`);
    expect(fs.statSync(path.join(packages, LOCAL_REPO_IN_IMAGE)).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(packages, 'var/lib/dpkg/status'), 'utf8')).toContain(
      'Package: ailinux-local-marker\n',
    );
    const log = fs.readFileSync(path.join(itWork, 'logs/steps/packages.log'), 'utf8');
    expect(log).toMatch(/--bind-ro \S+\/cache\/local-repo \S+\/mnt\/packages\/var\/lib\/ailinux-local-packages /);
    // both deleted in chroot-cleanup's layer: overlayfs whiteouts (0:0 character devices) there
    const cleanup = path.join(itWork, 'layers/chroot-cleanup/upper');
    for (const rel of [LOCAL_SOURCE_FILE, LOCAL_REPO_IN_IMAGE.slice(1)]) {
      const st = fs.lstatSync(path.join(cleanup, rel));
      expect(st.isCharacterDevice() && st.rdev === 0, rel).toBe(true);
    }
  });

  it('a changed .deb is what plan names, and the next build reruns from the packages step', async () => {
    buildDeb(path.join(itProject, 'debs'), 'ailinux-local-marker', '1.0', 'all', 'rebuilt\n');
    fs.writeFileSync(path.join(itProject, 'debs', 'README'), 'not a package\n');
    const plan = await cli(['plan', '-c', itConfig, '-w', itWork]);
    expect(plan.code, plan.output).toBe(0);
    expect(plan.stdout).toContain('local package ailinux-local-marker_1.0_all.deb changed');
    const build = await cli(['build', '-c', itConfig, '-w', itWork]);
    expect(build.code, build.output).toBe(0);
    const state = readWorkState<{
      ledger: Record<string, { runId: string | null }>;
      history: Array<{ runId: string }>;
    }>(itWork)!;
    const last = state.history.at(-1)!.runId;
    const ran = Object.entries(state.ledger)
      .filter(([, e]) => e.runId === last)
      .map(([id]) => id);
    expect(ran).toEqual(['packages', 'identity', 'chroot-cleanup']);
  });
});
