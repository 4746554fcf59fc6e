/**
 * The host's kernel settings are read-only in a real chroot (issue 9, point 1): /proc/sys, /proc/sysrq-trigger and
 * sysfs hold host-global state (hostname, core_pattern, drop_caches, a reboot) that root may write without
 * CAP_SYS_ADMIN. A rootfs of /bin/sh and cat, entered through chrootArgv, opens each file for appending and closes it
 * without writing a byte (so the test never changes a host setting, before the fix or after): every open gets EROFS,
 * and reads still work. Nor can it reach a host process's root through /proc/<pid>/root (the same pid namespace),
 * which is the host's writable mount namespace: no CAP_SYS_PTRACE. Needs root; skipped otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { chrootArgv, type RootfsLayers } from '../../src/runtime/layers.js';

let tmp = '';
let layers: RootfsLayers;

/** Kernel files a package script could write as root; a sysfs file is added when the host has one of them. */
const PROBES = [
  '/proc/sys/kernel/core_pattern',
  '/proc/sys/kernel/hostname',
  '/proc/sys/vm/drop_caches',
  // absent from a kernel without CONFIG_MAGIC_SYSRQ (this test machine's), and then nothing to protect
  ...['/proc/sysrq-trigger'].filter((f) => fs.existsSync(f)),
  ...['/sys/kernel/mm/transparent_hugepage/enabled', '/sys/power/state', '/sys/kernel/uevent_helper']
    .filter((f) => fs.existsSync(f))
    .slice(0, 1),
];

/** Copies a host binary and the libraries ldd names into a rootfs, at the paths the loader looks for. */
function copyBinary(root: string, binary: string): void {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' });
  const files = [binary];
  for (const m of ldd.stdout.matchAll(/(\/\S+)\s+\(0x/g)) files.push(m[1]!);
  for (const file of files) {
    const dest = path.join(root, file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), dest);
    fs.chmodSync(dest, 0o755);
  }
}

function makeRootfs(root: string): void {
  for (const dir of ['usr/bin', 'usr/lib', 'usr/lib64', 'proc', 'sys', 'dev/pts']) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
  }
  for (const link of ['bin', 'lib', 'lib64']) fs.symlinkSync(`usr/${link}`, path.join(root, link));
  for (const bin of ['/bin/sh', '/usr/bin/cat']) copyBinary(root, bin);
  const mknod = spawnSync('mknod', ['-m', '666', path.join(root, 'dev/ptmx'), 'c', '5', '2'], { encoding: 'utf8' });
  expect(mknod.status, mknod.stderr).toBe(0);
}

function inChroot(script: string): { status: number | null; stdout: string; stderr: string } {
  const argv = chrootArgv(layers, ['/bin/sh', '-c', script]);
  const result = spawnSync(argv[0]!, argv.slice(1), {
    env: { ...process.env, AILINUX_HOST_MNTNS: fs.readlinkSync('/proc/self/ns/mnt') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return result;
}

beforeAll(() => {
  if (skipUnlessRoot()) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-chroot-kernel-'));
  const root = path.join(tmp, 'layers', 'base', 'root');
  makeRootfs(root);
  layers = {
    own: { stepId: 'base', dir: path.dirname(root), upper: root, work: null },
    below: [],
    mountPoint: path.join(tmp, 'mnt', 'base'),
  };
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skipUnlessRoot())("a chroot command and the host's kernel settings", () => {
  it('gets EROFS opening /proc/sys, /proc/sysrq-trigger and sysfs files for writing, and can still read them', () => {
    const corePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    // `: >>` opens with O_WRONLY|O_APPEND and closes without a write(2): a sysctl only acts on a write
    const script = PROBES.map((f) => `echo "${f}: $( (: >>${f}) 2>&1 )"`).join('\n');
    const result = inChroot(`${script}\ncat /proc/sys/kernel/ostype`);
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('Linux');
    for (const [i, file] of PROBES.entries())
      expect(lines[i]).toMatch(new RegExp(`^${file}: .*Read-only file system$`));
    expect(PROBES.length).toBeGreaterThanOrEqual(4);
    expect(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).toBe(corePattern);
  });

  it('sees /proc/sys, /proc/sysrq-trigger and /sys mounted read-only, and /proc itself writable', () => {
    const result = inChroot('cat /proc/self/mountinfo');
    expect(result.status, result.stderr).toBe(0);
    const options = new Map(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split(' '))
        .map((f) => [f[4]!, f[5]!.split(',')] as const),
    );
    const readOnly = ['/proc/sys', '/sys', ...['/proc/sysrq-trigger'].filter((f) => fs.existsSync(f))];
    for (const mount of readOnly) expect(options.get(mount), mount).toContain('ro');
    expect(options.get('/proc')).toContain('rw');
  });
});

describe.skipIf(skipUnlessRoot())("a chroot command and the host's processes", () => {
  it("cannot open a host process's root or cwd through /proc/<pid> (no CAP_SYS_PTRACE)", async () => {
    const marker = path.join(tmp, 'host-marker');
    fs.writeFileSync(marker, 'a host file\n');
    // a process of the host's: root, all capabilities, its root the test's own (the host's mounts)
    const host = spawn('sleep', ['60'], { cwd: tmp, stdio: 'ignore' });
    try {
      const pid = host.pid!;
      const result = inChroot(`cat /proc/${pid}/root${marker}; cat /proc/${pid}/cwd/host-marker; exit 0`);
      expect(result.stdout).toBe('');
      const denied = result.stderr.trimEnd().split('\n');
      expect(denied).toHaveLength(2);
      for (const line of denied) expect(line).toMatch(/Permission denied$/);
    } finally {
      host.kill('SIGKILL');
    }
  });
});
