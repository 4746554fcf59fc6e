/**
 * Real mounts, made only inside private mount namespaces by libexec/ailinux-ns-run: overlay layers,
 * fresh proc/sysfs/devpts, teardown order, and proof that the host's mount table never changes.
 * Needs root; skipped otherwise.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import {
  chrootArgv,
  chrootKernelMounts,
  findInLayers,
  layersFor,
  namespaceArgv,
  ownLayer,
  readLayerFile,
  rootfsMount,
  viewArgv,
  writeLayerFile,
  type LayerStep,
  type RootfsLayers,
} from '../../src/runtime/layers.js';
import { mountsUnder, parseMountinfo, readMountinfo } from '../../src/runtime/mountinfo.js';
import { nsRunPath } from '../../src/runtime/package-root.js';
import { readProcStat } from '../../src/runtime/proc-stat.js';
import { removeTree } from '../../src/runtime/safe-remove.js';

const HOST_MNTNS = fs.readlinkSync('/proc/self/ns/mnt');
/** A kernel without CONFIG_MAGIC_SYSRQ has no /proc/sysrq-trigger, and the chroot then has nothing to bind there. */
const HAS_SYSRQ = fs.existsSync('/proc/sysrq-trigger');
const env = { ...process.env, AILINUX_HOST_MNTNS: HOST_MNTNS };

const STEPS: LayerStep[] = [
  { id: 'base', layer: 'base' },
  { id: 'one', layer: 'overlay' },
  { id: 'two', layer: 'overlay' },
  { id: 'look', layer: 'none' },
];

let work = '';
let layersDir = '';
let mntDir = '';
let hostMountinfo = '';

function hostTable(): string {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8');
}

function layers(stepId: string, steps: readonly LayerStep[] = STEPS): RootfsLayers {
  return layersFor(
    steps,
    steps.findIndex((s) => s.id === stepId),
    layersDir,
    mntDir,
  );
}

function run(argv: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const result = spawnSync(argv[0]!, argv.slice(1), {
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return result;
}

function runOk(argv: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): string {
  const result = run(argv, extraEnv);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

/** Copies a host binary and the libraries ldd names into a rootfs, at the paths the loader looks for. */
function copyBinary(root: string, binary: string): void {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' });
  const files = [binary];
  for (const line of ldd.stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) files.push(m[1]!);
  }
  for (const file of files) {
    const dest = path.join(root, file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), dest);
    fs.chmodSync(dest, 0o755);
  }
}

/** A tiny merged-/usr rootfs: sh, cat, rm, sleep, and a few files to shadow and delete. */
function makeBase(root: string): void {
  for (const dir of ['usr/bin', 'usr/lib', 'usr/lib64', 'etc', 'proc', 'sys', 'dev/pts', 'tmp']) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
  }
  fs.symlinkSync('usr/bin', path.join(root, 'bin'));
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  fs.symlinkSync('usr/lib64', path.join(root, 'lib64'));
  for (const bin of ['/bin/sh', '/usr/bin/cat', '/usr/bin/rm', '/usr/bin/sleep']) copyBinary(root, bin);
  // debootstrap makes /dev/ptmx a character device; the chroot binds the new devpts ptmx over it
  const mknod = spawnSync('mknod', ['-m', '666', path.join(root, 'dev/ptmx'), 'c', '5', '2'], { encoding: 'utf8' });
  expect(mknod.status, mknod.stderr).toBe(0);
  fs.writeFileSync(path.join(root, 'etc/hostname'), 'base-host\n');
  fs.writeFileSync(path.join(root, 'etc/base-only'), 'from base\n');
  fs.writeFileSync(path.join(root, 'etc/shadowed'), 'base version\n');
  // an absolute symlink must resolve inside the rootfs, never on the host (which has no such file)
  fs.writeFileSync(path.join(root, 'etc/ailinux-test-name'), 'inside the rootfs\n');
  fs.symlinkSync('/etc/ailinux-test-name', path.join(root, 'etc/hostlink'));
  fs.mkdirSync(path.join(root, 'etc/secret'), { mode: 0o750 });
  fs.chmodSync(path.join(root, 'etc/secret'), 0o750);
  fs.chownSync(path.join(root, 'etc/secret'), 1000, 1000);
}

function makeLayerDirs(step: LayerStep): void {
  const own = ownLayer(layersDir, step)!;
  fs.mkdirSync(own.upper, { recursive: true });
  if (own.work) fs.mkdirSync(own.work, { recursive: true });
}

/** Every path in a tree, relative, sorted, with a type letter: d dir, f file, l link, w whiteout. */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) {
        out.push(`d ${r}`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`l ${r}`);
      else if (st.isCharacterDevice() && st.rdev === 0) out.push(`w ${r}`);
      else if (st.isCharacterDevice()) out.push(`c ${r}`);
      else out.push(`f ${r}`);
    }
  };
  walk('');
  return out.sort();
}

function expectHostUntouched(): void {
  const now = hostTable();
  expect(now).toBe(hostMountinfo);
  expect(mountsUnder(work, readMountinfo())).toEqual([]);
  expect(now).not.toContain(work);
}

describe.skipIf(skipUnlessRoot())('chroot commands in a private mount namespace', () => {
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-ns-test-'));
    layersDir = path.join(work, 'layers');
    mntDir = path.join(work, 'mnt');
    hostMountinfo = hostTable();
  });

  beforeEach(async () => {
    // every test starts from a fresh base and empty overlay layers
    await removeTree(layersDir, { within: work });
    makeBase(ownLayer(layersDir, STEPS[0]!)!.upper);
    for (const step of STEPS.slice(1)) if (step.layer === 'overlay') makeLayerDirs(step);
  });

  afterAll(async () => {
    if (!work) return;
    expectHostUntouched();
    // removeTree refuses if anything were still mounted in there: one more check that nothing leaked
    await removeTree(work, { within: os.tmpdir() });
  });

  it('mounts overlay, proc, sysfs and devpts inside the namespace only', () => {
    const l = layers('one');
    const own = l.own!;
    const mounts = [rootfsMount(l), ...chrootKernelMounts(l.mountPoint)];
    const inside = parseMountinfo(runOk(namespaceArgv(mounts, ['cat', '/proc/self/mountinfo'])));
    const byPoint = new Map(inside.map((e) => [e.mountPoint, e]));
    const root = byPoint.get(l.mountPoint);
    expect(root?.fsType).toBe('overlay');
    expect(root?.superOptions).toContain(`upperdir=${own.upper}`);
    expect(root?.superOptions).toContain(`lowerdir=${ownLayer(layersDir, STEPS[0]!)!.upper}`);
    expect(byPoint.get(path.join(l.mountPoint, 'proc'))?.fsType).toBe('proc');
    expect(byPoint.get(path.join(l.mountPoint, 'sys'))?.fsType).toBe('sysfs');
    // the host's kernel settings: read-only (sysctls, sysfs; sysrq-trigger when this kernel has one)
    expect(byPoint.get(path.join(l.mountPoint, 'sys'))?.options.split(',')).toContain('ro');
    const procSys = byPoint.get(path.join(l.mountPoint, 'proc/sys'));
    expect(procSys?.options.split(',')).toContain('ro');
    expect(procSys?.parentId).toBe(byPoint.get(path.join(l.mountPoint, 'proc'))?.id);
    expect(byPoint.has(path.join(l.mountPoint, 'proc/sysrq-trigger'))).toBe(HAS_SYSRQ);
    const pts = byPoint.get(path.join(l.mountPoint, 'dev/pts'));
    expect(pts?.fsType).toBe('devpts');
    expect(pts?.superOptions).toContain('ptmxmode=666');
    // a fresh devpts instance, not the host's
    const hostPts = readMountinfo()
      .filter((e) => e.fsType === 'devpts')
      .map((e) => e.majorMinor);
    expect(hostPts).not.toContain(pts!.majorMinor);
    const ptmx = byPoint.get(path.join(l.mountPoint, 'dev/ptmx'));
    expect(ptmx?.root).toBe('/ptmx');
    expect(ptmx?.majorMinor).toBe(pts!.majorMinor);
    // the merged view's mounts are children of the overlay, made in order
    const children = mountsUnder(l.mountPoint, inside).filter(
      (e) => e !== root && !e.mountPoint.startsWith(`${l.mountPoint}/proc/`),
    );
    expect(children).toHaveLength(4);
    expect(children.filter((e) => e.parentId !== root!.id)).toEqual([]);
    expectHostUntouched();
  });

  it('shows the chroot its own mounts through chrootArgv', () => {
    const l = layers('one');
    const inside = parseMountinfo(runOk(chrootArgv(l, ['/bin/cat', '/proc/self/mountinfo'])));
    // inside the chroot the kernel reports paths relative to the new root, and hides the rest
    expect(inside.map((e) => `${e.fsType} ${e.mountPoint}`)).toEqual([
      'overlay /',
      'proc /proc',
      'proc /proc/sys',
      ...(HAS_SYSRQ ? ['proc /proc/sysrq-trigger'] : []),
      'sysfs /sys',
      'devpts /dev/pts',
      'devpts /dev/ptmx',
    ]);
    expect(runOk(chrootArgv(l, ['/bin/cat', '/etc/hostname']))).toBe('base-host\n');
    expectHostUntouched();
  });

  it('lands writes in the own upper layer and deletions as whiteouts', () => {
    const one = layers('one');
    runOk(
      chrootArgv(one, ['/bin/sh', '-c', 'echo new > /etc/new && echo layer one > /etc/shadowed && rm /etc/base-only']),
    );
    const base = ownLayer(layersDir, STEPS[0]!)!.upper;
    const upper = one.own!.upper;
    expect(listTree(upper)).toEqual(['d etc', 'f etc/new', 'f etc/shadowed', 'w etc/base-only']);
    // the base layer is untouched
    expect(fs.existsSync(path.join(base, 'etc/new'))).toBe(false);
    expect(fs.readFileSync(path.join(base, 'etc/base-only'), 'utf8')).toBe('from base\n');
    expect(fs.readFileSync(path.join(base, 'etc/shadowed'), 'utf8')).toBe('base version\n');
    expect(fs.readFileSync(path.join(upper, 'etc/new'), 'utf8')).toBe('new\n');

    for (const l of [one, layers('two'), layers('look')]) {
      expect(findInLayers(l, 'etc/base-only')).toBeNull();
      expect(readLayerFile(l, 'etc/base-only')).toBeNull();
      expect(readLayerFile(l, 'etc/new')).toBe('new\n');
      expect(readLayerFile(l, 'etc/shadowed')).toBe('layer one\n');
      expect(findInLayers(l, 'etc/shadowed')).toBe(path.join(upper, 'etc/shadowed'));
    }
    // the step above sees the same thing through the kernel's overlay
    const two = layers('two');
    expect(
      runOk(chrootArgv(two, ['/bin/sh', '-c', 'cat /etc/new /etc/shadowed; test -e /etc/base-only || echo gone'])),
    ).toBe('new\nlayer one\ngone\n');
    expect(listTree(two.own!.upper)).toEqual([]);
    expectHostUntouched();
  });

  it('refuses writes through a read-only view', () => {
    const base = ownLayer(layersDir, STEPS[0]!)!.upper;
    const before = listTree(base);
    // several sealed layers: an overlay with lower dirs only
    const look = layers('look');
    expect(look.own).toBeNull();
    const r1 = run(viewArgv(look, ['sh', '-c', `echo x > ${look.mountPoint}/etc/x`]));
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/Read-only file system/);
    // one sealed layer: a read-only bind
    const short: LayerStep[] = [STEPS[0]!, { id: 'peek', layer: 'none' }];
    const peek = layers('peek', short);
    expect(rootfsMount(peek)).toMatchObject({ bind: true, readonly: true });
    const r2 = run(
      viewArgv(peek, ['sh', '-c', `echo x > ${peek.mountPoint}/etc/x; rm ${peek.mountPoint}/etc/hostname`]),
    );
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toMatch(/Read-only file system/);
    expect(listTree(base)).toEqual(before);
    for (const l of ['one', 'two'])
      expect(listTree(ownLayer(layersDir, STEPS.find((s) => s.id === l)!)!.upper)).toEqual([]);
    // reading works
    expect(runOk(viewArgv(peek, ['cat', `${peek.mountPoint}/etc/hostname`]))).toBe('base-host\n');
    expectHostUntouched();
  });

  it('ailinux-ns-run refuses to run in the host namespace or without knowing it', () => {
    // no mount arguments here: if the guard were broken, nothing may be mounted on the host
    const direct = run([nsRunPath(), '--', 'echo', 'ran']);
    expect(direct.status).toBe(125);
    expect(direct.stdout).toBe('');
    expect(direct.stderr).toMatch(/host's mount namespace/);

    const { AILINUX_HOST_MNTNS: _, ...withoutHost } = env;
    const unset = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', '--fork', '--', nsRunPath(), '--', 'echo', 'ran'],
      {
        env: withoutHost,
        encoding: 'utf8',
      },
    );
    expect(unset.status).toBe(125);
    expect(unset.stdout).toBe('');
    expect(unset.stderr).toMatch(/AILINUX_HOST_MNTNS is not set/);

    // and it does run once both conditions hold
    expect(runOk(namespaceArgv([], ['echo', 'ran']))).toBe('ran\n');
    expectHostUntouched();
  });

  it('unmounts deepest first, in the reverse order of mounting', () => {
    const l = layers('one');
    const argv = chrootArgv(l, ['/bin/sh', '-c', 'exit 3'], { aptArchives: path.join(work, 'apt-archives') });
    fs.mkdirSync(path.join(work, 'apt-archives'), { recursive: true });
    const result = run(argv, { AILINUX_NS_RUN_TRACE: '1' });
    expect(result.status).toBe(3); // the command's exit code survives the teardown
    const lines = result.stderr.trim().split('\n');
    const made = lines.filter((s) => /^ailinux-ns-run: (mount|bind) /.test(s)).map((s) => s.split(' ').at(-1)!);
    const unmade = lines
      .filter((s) => s.startsWith('ailinux-ns-run: umount '))
      .map((s) => s.slice('ailinux-ns-run: umount '.length));
    const m = l.mountPoint;
    expect(made).toEqual([
      m,
      `${m}/proc`,
      `${m}/proc/sys`,
      ...(HAS_SYSRQ ? [`${m}/proc/sysrq-trigger`] : []),
      `${m}/sys`,
      `${m}/dev/pts`,
      `${m}/dev/ptmx`,
      `${m}/var/cache/apt/archives`,
    ]);
    expect(unmade).toEqual([...made].reverse());
    // every umount comes before the umount of any mount it lies beneath
    for (let i = 0; i < unmade.length; i++) {
      expect(unmade.slice(i + 1).filter((p) => p.startsWith(`${unmade[i]!}/`))).toEqual([]);
    }
    expect(lines.filter((s) => /could not unmount/.test(s))).toEqual([]);
    expectHostUntouched();
  });

  it('leaves nothing mounted on the host when the namespace is killed mid-command', async () => {
    const l = layers('one');
    const argv = chrootArgv(l, ['/bin/sh', '-c', 'echo ready; exec /bin/sleep 30']);
    const child = spawn(argv[0]!, argv.slice(1), { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pgid = child.pid!;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('ready')) resolve();
        });
        child.on('exit', () => reject(new Error(`exited before it was ready: ${out}`)));
      });
      // the sleep runs in our process group, in a namespace that has the overlay mounted
      const members = processesInGroup(pgid);
      const inNs = members.find((pid) => readNs(pid) !== null && readNs(pid) !== HOST_MNTNS);
      expect(inNs).toBeDefined();
      const nsTable = readMountinfo(inNs!);
      expect(nsTable.some((e) => e.fsType === 'overlay')).toBe(true);
      expect(mountsUnder(l.mountPoint, readMountinfo())).toEqual([]);
    } finally {
      process.kill(-pgid, 'SIGKILL'); // our own group, started above
    }
    expect((await exited).signal).toBe('SIGKILL');
    await waitFor(() => processesInGroup(pgid).length === 0, 30_000);
    expectHostUntouched();
    // no mount pins the layer: it can be thrown away
    await removeTree(l.own!.dir, { within: work });
    expect(fs.existsSync(l.own!.dir)).toBe(false);
  });

  it('writeLayerFile gives new parent dirs the mode and owner from below, and follows merged-/usr links', () => {
    const one = layers('one');
    const upper = one.own!.upper;
    const file = writeLayerFile(one, 'etc/secret/deep/key', 'k\n', 0o600);
    expect(file).toBe(path.join(upper, 'etc/secret/deep/key'));
    const secret = fs.statSync(path.join(upper, 'etc/secret'));
    expect(secret.mode & 0o7777).toBe(0o750);
    expect([secret.uid, secret.gid]).toEqual([1000, 1000]);
    const deep = fs.statSync(path.join(upper, 'etc/secret/deep'));
    expect(deep.mode & 0o7777).toBe(0o755);
    expect(deep.uid).toBe(0);
    expect(fs.statSync(file).mode & 0o7777).toBe(0o600);

    // lib -> usr/lib in the base: the file goes to usr/lib, the link stays a link
    const conf = writeLayerFile(one, 'lib/ailinux/x.conf', 'x\n', 0o644);
    expect(conf).toBe(path.join(upper, 'usr/lib/ailinux/x.conf'));
    expect(fs.existsSync(path.join(upper, 'lib'))).toBe(false);
    expect(readLayerFile(layers('two'), 'lib/ailinux/x.conf')).toBe('x\n');
    // an absolute symlink resolves inside the rootfs
    expect(fs.existsSync('/etc/ailinux-test-name')).toBe(false);
    expect(readLayerFile(one, 'etc/hostlink')).toBe('inside the rootfs\n');
    expect(findInLayers(one, 'etc/hostlink')).toBe(path.join(ownLayer(layersDir, STEPS[0]!)!.upper, 'etc/hostlink'));

    // the kernel's merged view agrees
    const m = one.mountPoint;
    const seen = runOk(
      viewArgv(one, [
        'sh',
        '-c',
        `stat -c '%a %u %g' ${m}/etc/secret ${m}/etc/secret/deep/key; test -L ${m}/lib && cat ${m}/lib/ailinux/x.conf`,
      ]),
    );
    expect(seen).toBe('750 1000 1000\n600 0 0\nx\n');
    expectHostUntouched();
  });
});

function readNs(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

function processesInGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    // zombies are gone for our purpose
    if (stat !== null && stat.pgrp === pgid && stat.state !== 'Z') out.push(Number(name));
  }
  return out;
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
