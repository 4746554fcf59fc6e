/**
 * examples/custom, built as a user builds it (issue 10: "examples/ holds a worked config directory that CI builds with
 * the fake tools"): the directory copied whole to a temp dir, its local package made by its own make-debs.sh (the real
 * dpkg-deb), then `ailinux build` run inside it, finding ./ailinux.config.yaml, through the real CLI (bin/ailinux.js,
 * as root) with the fake host tools first on PATH (tests/fixtures/bin) and the real unshare, overlayfs, ailinux-ns-run
 * and dpkg-scanpackages. One change to the copy: its steps without verify, whose qemu boot a fake ISO cannot pass.
 *
 * Each part of the example is checked where the build put it: the overlays' files in their layers with their modes,
 * link and owners, both hooks as steps of the ledger and their effects, the local repository and its source entry
 * (gone after chroot-cleanup), the purge and the debconf answers as the fake chroot tools received them. Then a change
 * to an overlay file is what `plan` names. A part dropped from the example fails this test.
 * Needs root and dpkg-deb/dpkg-scanpackages; skipped otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { LOCAL_REPO_IN_IMAGE, LOCAL_SOURCE_FILE, LOCAL_SOURCE_LINE } from '../../src/steps/local-packages.js';
import { fakeToolsEnv, REPO, runCli } from '../helpers/cli.js';
import { hostMountinfo, mountPointsUnder, prepareBuildTest, readWorkState } from '../helpers/host.js';
import { isRoot } from '../helpers/root.js';

const EXAMPLE = path.join(REPO, 'examples', 'custom');
const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const toolsHere = have('dpkg-deb') && have('dpkg-scanpackages');

interface Entry {
  id: string;
  status: string;
  runId: string | null;
}
interface State {
  outcome: string;
  ledger: Record<string, Entry>;
  history: Array<{ runId: string }>;
}

let tmp = '';
let mountinfoBefore = '';
let project = '';
let work = '';
/** The example's config as it is in the checkout. */
const example = YAML.parse(fs.readFileSync(path.join(EXAMPLE, 'ailinux.config.yaml'), 'utf8')) as {
  packages: { remove: string[]; local: string };
  hooks: Array<{ name: string }>;
};

const env = () =>
  fakeToolsEnv(tmp, {
    SOURCE_DATE_EPOCH: '1700000000',
    FAKE_TOOL_DELAY: '0.02',
    // the fake base has only five packages; a real Debian minbase has tzdata (Priority: required), which the example
    // removes
    FAKE_DEBOOTSTRAP_EXTRA_PACKAGES: 'tzdata',
  });
const cli = (args: string[]) => runCli(args, { env: env(), cwd: project });
const layer = (step: string, rel = '') => path.join(work, 'layers', step, 'upper', rel);
const stepLog = (step: string) => fs.readFileSync(path.join(work, 'logs', 'steps', `${step}.log`), 'utf8');
const installed = (status: string) => [...status.matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]!);

describe.skipIf(!isRoot || !toolsHere)('examples/custom, built with the fake tools', () => {
  beforeAll(() => {
    ({ tmp, mountinfoBefore } = prepareBuildTest('ailinux-examples-it-'));
    project = path.join(tmp, 'custom');
    work = path.join(tmp, 'work');
    // the directory as a user copies it: symlinks as links, without what a build or make-debs.sh left in the checkout
    fs.cpSync(EXAMPLE, project, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !['debs', 'ailinux-build'].includes(path.relative(EXAMPLE, src)),
    });
    execFileSync(path.join(project, 'make-debs.sh'), { stdio: 'pipe', env: { ...process.env, TMPDIR: tmp } });
    // the one change: the minimal profile's steps without verify (a qemu boot of the fake ISO cannot pass)
    const configFile = path.join(project, 'ailinux.config.yaml');
    const text = fs.readFileSync(configFile, 'utf8');
    expect(text).not.toMatch(/^steps:/m);
    fs.writeFileSync(
      configFile,
      `${text}\nsteps: [bootstrap, configure, packages, identity, chroot-cleanup, squashfs, bootloaders, iso, checksums, report]\n`,
    );
  });
  afterAll(() => {
    if (tmp) {
      expect(mountPointsUnder(tmp, hostMountinfo())).toEqual(mountPointsUnder(tmp, mountinfoBefore));
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('make-debs.sh builds the local package from its source tree with dpkg-deb', () => {
    expect(fs.readdirSync(path.join(project, 'debs'))).toEqual(['example-hello_1.0_all.deb']);
    const info = execFileSync('dpkg-deb', ['--field', path.join(project, 'debs/example-hello_1.0_all.deb')], {
      encoding: 'utf8',
    });
    expect(info).toMatch(/^Package: example-hello$/m);
    // its debconf question, asked by config and read by postinst
    const control = execFileSync('dpkg-deb', ['--info', path.join(project, 'debs/example-hello_1.0_all.deb')], {
      encoding: 'utf8',
    });
    for (const member of ['templates', 'config', 'postinst'])
      expect(control, member).toMatch(new RegExp(`\\b${member}\\b`));
    const files = execFileSync('dpkg-deb', ['--contents', path.join(project, 'debs/example-hello_1.0_all.deb')], {
      encoding: 'utf8',
    });
    expect(files).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/bin\/example-hello$/m);
  });

  it('builds from inside the directory, finding ./ailinux.config.yaml; each hook is a step in its place', async () => {
    const build = await cli(['build', '-w', work]);
    expect(build.code, build.output).toBe(0);
    expect(build.stderr).toContain('using ./ailinux.config.yaml');
    const state = readWorkState<State>(work)!;
    expect(state.outcome).toBe('succeeded');
    expect(Object.keys(state.ledger)).toEqual([
      'bootstrap',
      'overlay-early',
      'configure',
      'packages',
      'hook-issue',
      'packages-remove',
      'overlay-late',
      'identity',
      'chroot-cleanup',
      'squashfs',
      'bootloaders',
      'hook-medium',
      'iso',
      'checksums',
      'report',
    ]);
    for (const entry of Object.values(state.ledger)) expect(entry.status, entry.id).toBe('done');
    expect(example.hooks.map((h) => h.name)).toEqual(['issue', 'medium']);
  });

  it('the early overlay is in its layer: apt and dpkg configuration, in place before configure', () => {
    const retries = layer('overlay-early', 'etc/apt/apt.conf.d/80example-retries');
    expect(fs.readFileSync(retries, 'utf8')).toMatch(/^Acquire::Retries "3";$/m);
    expect(fs.statSync(retries).mode & 0o7777).toBe(0o644);
    expect(fs.readFileSync(layer('overlay-early', 'etc/dpkg/dpkg.cfg.d/01example-nodoc'), 'utf8')).toMatch(
      /^path-exclude \/usr\/share\/man\/\*$/m,
    );
  });

  it('the late overlay is in its layer: files, the unit and its enabling link, owners from the manifest', () => {
    expect(fs.readFileSync(layer('overlay-late', 'etc/motd'), 'utf8')).toBe(
      fs.readFileSync(path.join(EXAMPLE, 'overlays/late/etc/motd'), 'utf8'),
    );
    const unit = layer('overlay-late', 'etc/systemd/system/example-hello.service');
    expect(fs.readFileSync(unit, 'utf8')).toMatch(/^ExecStart=\/usr\/bin\/example-hello$/m);
    const link = layer('overlay-late', 'etc/systemd/system/multi-user.target.wants/example-hello.service');
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(link)).toBe('/etc/systemd/system/example-hello.service');
    for (const rel of ['srv/example', 'srv/example/README']) {
      const st = fs.lstatSync(layer('overlay-late', rel));
      expect([st.uid, st.gid], rel).toEqual([1000, 1000]);
    }
    expect(fs.lstatSync(layer('overlay-late', 'etc/motd')).uid).toBe(0);
    // the manifest is read, never copied
    expect(fs.existsSync(layer('overlay-late', '.ailinux-overlay.yaml'))).toBe(false);
  });

  it('the chroot hook changed the image in its own layer; the binary hook added a file to the medium', () => {
    expect(fs.readFileSync(layer('hook-issue', 'etc/issue'), 'utf8')).toContain(
      'example-custom: built from examples/custom of ailinux',
    );
    expect(fs.existsSync(layer('hook-issue', 'tmp/ailinux-hook-issue'))).toBe(false);
    expect(stepLog('hook-issue')).toContain('hook issue: running hooks/issue.sh');
    expect(fs.readFileSync(path.join(work, 'iso/README.txt'), 'utf8')).toMatch(/^example-custom: a live image/);
    expect(stepLog('hook-medium')).toContain('binary hook medium: added 1 entries to the medium');
  });

  it("the local package is indexed and installed through ailinux's source entry, which chroot-cleanup removes", () => {
    expect(example.packages.local).toBe('debs');
    expect(fs.readFileSync(path.join(work, 'cache/local-repo/Packages'), 'utf8')).toMatch(
      /^Package: example-hello\n(?:.*\n)*?Version: 1\.0$/m,
    );
    expect(fs.readFileSync(layer('packages', LOCAL_SOURCE_FILE), 'utf8')).toBe(`${LOCAL_SOURCE_LINE}\n`);
    expect(installed(fs.readFileSync(layer('packages', 'var/lib/dpkg/status'), 'utf8'))).toContain('example-hello');
    expect(stepLog('packages')).toMatch(/--bind-ro \S+\/cache\/local-repo \S+\/var\/lib\/ailinux-local-packages /);
    // deleted in chroot-cleanup's layer: overlayfs whiteouts (0:0 character devices)
    for (const rel of [LOCAL_SOURCE_FILE, LOCAL_REPO_IN_IMAGE.slice(1)]) {
      const st = fs.lstatSync(layer('chroot-cleanup', rel));
      expect(st.isCharacterDevice() && st.rdev === 0, rel).toBe(true);
    }
  });

  it('the removed package is purged with autoremove after the package steps', () => {
    expect(example.packages.remove).toEqual(['tzdata']);
    const log = stepLog('packages-remove');
    expect(log).toMatch(/chroot \S+ apt-get purge -y tzdata$/m);
    expect(log).toMatch(/chroot \S+ apt-get autoremove --purge -y$/m);
    expect(installed(fs.readFileSync(layer('packages', 'var/lib/dpkg/status'), 'utf8'))).toContain('tzdata');
    const after = installed(fs.readFileSync(layer('packages-remove', 'var/lib/dpkg/status'), 'utf8'));
    expect(after).not.toContain('tzdata');
    expect(after).toContain('example-hello');
  });

  it("the debconf answer to the local package's question reaches debconf-set-selections before the first apt call", () => {
    expect(fs.readFileSync(layer('configure', 'var/cache/debconf/fake-selections'), 'utf8')).toBe(
      'example-hello example-hello/greeting string hello from examples/custom\n',
    );
    const log = stepLog('configure');
    const preseed = log.indexOf('debconf-set-selections');
    expect(preseed).toBeGreaterThan(-1);
    expect(log.indexOf('apt-get', preseed)).toBeGreaterThan(preseed);
    expect(log.slice(0, preseed)).not.toMatch(/chroot \S+ apt-get/);
  });

  it('a changed overlay file is what plan names: overlay-late and what follows rerun, nothing before', async () => {
    fs.appendFileSync(path.join(project, 'overlays/late/etc/motd'), 'Changed by the examples test.\n');
    const plan = await cli(['plan', '-w', work]);
    expect(plan.code, plan.output).toBe(0);
    expect(plan.stdout).toMatch(/^run {3}overlay-late .*\n\s+- overlay file etc\/motd changed$/m);
    for (const kept of ['bootstrap', 'overlay-early', 'configure', 'packages', 'hook-issue', 'packages-remove'])
      expect(plan.stdout, kept).toMatch(new RegExp(`^skip  ${kept} `, 'm'));
    expect(plan.stdout).toMatch(/^run {3}identity .*\n\s+- an earlier step \(overlay-late\) runs again$/m);
  });
});
