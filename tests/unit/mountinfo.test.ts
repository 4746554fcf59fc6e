import { describe, expect, it } from 'vitest';
import {
  isAtOrUnder,
  mountContaining,
  mountsUnder,
  parseMountinfo,
  type MountEntry,
} from '../../src/runtime/mountinfo.js';

// Captured on the build machine (kernel 6.18) inside `unshare --mount --propagation private`,
// after mounting tmpfs on paths with a space, a tab and a backslash, and an ailinux-ns-run chroot.
const SAMPLE = `43 42 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
44 43 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
45 43 0:21 / /proc rw,relatime - proc proc rw
46 43 0:22 / /sys rw,relatime - sysfs sysfs rw
47 46 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
48 47 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
57 47 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
58 43 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755
59 58 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
60 59 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
61 58 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
62 61 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
63 43 0:39 / /tmp/mi.f3Rl/with\\040space rw,relatime - tmpfs my\\040src rw
64 43 0:40 / /tmp/mi.f3Rl/tab\\011dir rw,relatime - tmpfs t rw
65 43 0:41 / /tmp/mi.f3Rl/back\\134slash rw,relatime - tmpfs t rw
66 43 0:39 / /tmp/nsx.cGhe/mnt/s rw,relatime - overlay overlay rw,lowerdir=/tmp/nsx.cGhe/base,upperdir=/tmp/nsx.cGhe/l1/upper,workdir=/tmp/nsx.cGhe/l1/work,uuid=on
67 66 0:41 / /tmp/nsx.cGhe/mnt/s/proc rw,relatime - proc proc rw
68 66 0:22 / /tmp/nsx.cGhe/mnt/s/sys rw,relatime - sysfs sysfs rw
69 66 0:42 / /tmp/nsx.cGhe/mnt/s/dev/pts rw,relatime - devpts devpts rw,mode=620,ptmxmode=666
70 66 0:42 /ptmx /tmp/nsx.cGhe/mnt/s/dev/ptmx rw,relatime - devpts devpts rw,mode=620,ptmxmode=666
`;

function entry(id: number, mountPoint: string): MountEntry {
  return {
    id,
    parentId: 1,
    majorMinor: '0:1',
    root: '/',
    mountPoint,
    options: 'rw',
    optionalFields: [],
    fsType: 'tmpfs',
    source: 'tmpfs',
    superOptions: 'rw',
  };
}

describe('parseMountinfo', () => {
  const entries = parseMountinfo(SAMPLE);

  it('parses every line of a real sample', () => {
    expect(entries).toHaveLength(20);
    expect(entries[0]).toEqual({
      id: 43,
      parentId: 42,
      majorMinor: '254:0',
      root: '/',
      mountPoint: '/',
      options: 'rw,relatime',
      optionalFields: [],
      fsType: 'ext4',
      source: '/dev/vda',
      superOptions: 'rw,discard,resv_strict,resuid=65534,resgid=65534',
    });
  });

  it('reads overlay super options and a bind mount root', () => {
    const overlay = entries.find((e) => e.fsType === 'overlay')!;
    expect(overlay.mountPoint).toBe('/tmp/nsx.cGhe/mnt/s');
    expect(overlay.source).toBe('overlay');
    expect(overlay.superOptions).toContain('upperdir=/tmp/nsx.cGhe/l1/upper');
    const ptmx = entries.find((e) => e.mountPoint.endsWith('/dev/ptmx'))!;
    expect(ptmx.root).toBe('/ptmx');
    expect(ptmx.parentId).toBe(66);
  });

  it('decodes octal escapes for space, tab and backslash', () => {
    const points = entries.map((e) => e.mountPoint);
    expect(points).toContain('/tmp/mi.f3Rl/with space');
    expect(points).toContain('/tmp/mi.f3Rl/tab\tdir');
    expect(points).toContain('/tmp/mi.f3Rl/back\\slash');
    expect(entries.find((e) => e.id === 63)!.source).toBe('my src');
  });

  it('keeps optional fields apart from the filesystem type', () => {
    const [e] = parseMountinfo('30 25 0:27 / /run rw,nosuid shared:12 master:3 - tmpfs tmpfs rw,mode=755\n');
    expect(e!.optionalFields).toEqual(['shared:12', 'master:3']);
    expect(e!.fsType).toBe('tmpfs');
    expect(e!.source).toBe('tmpfs');
    expect(e!.superOptions).toBe('rw,mode=755');
  });

  it('rejects a malformed line', () => {
    expect(() => parseMountinfo('1 2 3\n')).toThrow(/malformed/);
    expect(() => parseMountinfo('x 1 0:1 / / rw - tmpfs t rw\n')).toThrow(/numeric/);
  });
});

describe('mountsUnder', () => {
  it('is path-boundary aware', () => {
    const entries = [entry(1, '/a/b'), entry(2, '/a/bc'), entry(3, '/a/b/c'), entry(4, '/a'), entry(5, '/a/b c')];
    expect(mountsUnder('/a/b', entries).map((e) => e.id)).toEqual([3, 1]);
    expect(mountsUnder('/a/b/', entries).map((e) => e.id)).toEqual([3, 1]);
    expect(mountsUnder('/a/bc', entries).map((e) => e.id)).toEqual([2]);
    expect(mountsUnder('/a/b/c/d', entries)).toEqual([]);
    expect(isAtOrUnder('/a/bc', '/a/b')).toBe(false);
    expect(isAtOrUnder('/a/b', '/a/b')).toBe(true);
    expect(isAtOrUnder('/anything', '/')).toBe(true);
  });

  it('orders deepest first, and the topmost of a stack first', () => {
    const entries = parseMountinfo(SAMPLE);
    expect(mountsUnder('/tmp/nsx.cGhe', entries).map((e) => e.mountPoint)).toEqual([
      '/tmp/nsx.cGhe/mnt/s/dev/ptmx',
      '/tmp/nsx.cGhe/mnt/s/dev/pts',
      '/tmp/nsx.cGhe/mnt/s/sys',
      '/tmp/nsx.cGhe/mnt/s/proc',
      '/tmp/nsx.cGhe/mnt/s',
    ]);
    const dev = mountsUnder('/dev', entries).map((e) => e.id);
    expect(dev).toEqual([62, 61, 60, 59, 58]);
  });

  it('finds the mount that holds a path', () => {
    const entries = parseMountinfo(SAMPLE);
    expect(mountContaining('/tmp/nsx.cGhe/mnt/s/etc', entries)!.id).toBe(66);
    expect(mountContaining('/home/user', entries)!.id).toBe(43);
    expect(mountContaining('/dev/pts/3', entries)!.id).toBe(62);
  });
});
