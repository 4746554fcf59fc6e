/**
 * The chroot environment through a real chroot (issue 9, finding 14): a rootfs holding only /usr/bin/env and the
 * libraries it needs, entered the way runInChroot enters one (unshare, libexec/ailinux-ns-run, chroot) by the real
 * ExecaRunner, with LD_PRELOAD, a proxy, LANG=xx and a stray variable in the test's own environment. The command
 * sees the allow-list and ailinux's own variables, and nothing that bash, which runs the namespace wrapper, adds.
 * Needs root; skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { CHROOT_ENV_ALLOWED, chrootEnv } from '../../src/runtime/command-env.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import { chrootArgv, type RootfsLayers } from '../../src/runtime/layers.js';

let tmp = '';
let root = '';

/** /usr/bin/env and every library ldd names, copied under root at the same paths. */
function makeEnvRootfs(dir: string): void {
  const files = ['/usr/bin/env'];
  const ldd = execFileSync('ldd', ['/usr/bin/env'], { encoding: 'utf8' });
  for (const m of ldd.matchAll(/(\/\S+)\s+\(0x/g)) files.push(m[1]!);
  for (const file of files) {
    const target = path.join(dir, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), target);
    fs.chmodSync(target, 0o755);
  }
  // merged /usr: the loader's path in the ELF header may be /lib64/...
  for (const link of ['lib', 'lib64', 'bin'])
    if (!fs.existsSync(path.join(dir, link)) && fs.existsSync(path.join(dir, 'usr', link)))
      fs.symlinkSync(`usr/${link}`, path.join(dir, link));
}

beforeAll(() => {
  if (skipUnlessRoot()) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-chroot-env-'));
  root = path.join(tmp, 'layers', 'base', 'root');
  makeEnvRootfs(root);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe.skipIf(skipUnlessRoot())('a command in a real chroot', () => {
  it('sees env -i plus the allow-list and our own markers, nothing of the host', async () => {
    vi.stubEnv('LD_PRELOAD', '/nonexistent/ailinux-test-preload.so');
    vi.stubEnv('http_proxy', 'http://host-proxy.invalid:3128');
    vi.stubEnv('LANG', 'xx_XX.UTF-8');
    vi.stubEnv('AILINUX_TEST_STRAY', 'from the host');
    vi.stubEnv('AILINUX_CHROOT_ENV_KEEP', '');
    const layers: RootfsLayers = {
      own: { stepId: 'base', dir: path.dirname(root), upper: root, work: null },
      below: [],
      mountPoint: path.join(tmp, 'mnt', 'base'),
    };
    const runner = new ExecaRunner({ baseEnv: { AILINUX_WORK_ID: 'w-1' } });
    const result = await runner.run(chrootArgv(layers, ['/usr/bin/env']), {
      env: chrootEnv({ lang: 'de_DE.UTF-8' }) as Record<string, string>,
      cleanEnv: true,
    });
    const env = Object.fromEntries(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env).toMatchObject({ LANG: 'de_DE.UTF-8', LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' });
    expect(env['PATH']).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    // nothing else reached it: libexec/ailinux-ns-run is a bash script, and bash would add PWD, SHLVL and _ (the
    // program's path) to what it execs, and OLDPWD once it has changed directory; the wrapper drops them
    const others = Object.keys(env).filter(
      (name) => !(CHROOT_ENV_ALLOWED as readonly string[]).includes(name) && !name.startsWith('AILINUX_'),
    );
    expect(others).toEqual([]);
    expect(env).not.toHaveProperty('AILINUX_TEST_STRAY');
    expect(
      Object.keys(env)
        .filter((n) => n.startsWith('AILINUX_'))
        .sort(),
    ).toEqual(['AILINUX_HOST_MNTNS', 'AILINUX_WORK_ID']);
  });
});
