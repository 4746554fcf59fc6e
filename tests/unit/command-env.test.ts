/**
 * The environment of the commands a build runs (issue 9, finding 14): with LD_PRELOAD, a proxy, a locale and a stray
 * variable in the CLI's environment, a chroot command (cleanEnv, as runInChroot asks) gets exactly the allow-list,
 * the runner's markers and the host's mount namespace; a host command keeps the user's environment but never a
 * loader variable. Read from a real `env` run by the real ExecaRunner. Before the fix the runner spread
 * process.env into every command, so these fail on that code: LD_PRELOAD, http_proxy and LANG=xx reach `env`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CHROOT_ENV_ALLOWED, CHROOT_PATH, chrootEnv, keptHostEnv } from '../../src/runtime/command-env.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';

/** A library that does not exist: the loader would say so on stderr if it ever saw it. */
const PRELOAD = '/nonexistent/ailinux-test-preload.so';

beforeEach(() => {
  vi.stubEnv('LD_PRELOAD', PRELOAD);
  vi.stubEnv('LD_LIBRARY_PATH', '/nonexistent/lib');
  vi.stubEnv('http_proxy', 'http://host-proxy.invalid:3128');
  vi.stubEnv('HTTPS_PROXY', 'http://host-proxy.invalid:3128');
  vi.stubEnv('LANG', 'xx_XX.UTF-8');
  vi.stubEnv('LC_ALL', 'xx_XX.UTF-8');
  vi.stubEnv('AILINUX_TEST_STRAY', 'from the host');
  vi.stubEnv('AILINUX_CHROOT_ENV_KEEP', '');
});

afterEach(() => {
  vi.unstubAllEnvs();
});

/** `env` as the runner starts it, parsed; the runner's markers are in its base env. */
async function envOf(options: { cleanEnv?: boolean; env?: Record<string, string> }) {
  const runner = new ExecaRunner({ baseEnv: { AILINUX_WORK_ID: 'w-1' } });
  // a clean env has no host PATH: the program is named by its path, as the chroot's PATH would find it
  const result = await runner.run(['/usr/bin/env'], options);
  expect(result.stderr).toBe('');
  return Object.fromEntries(
    result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  ) as Record<string, string>;
}

describe('a chroot command', () => {
  it('gets env -i plus the allow-list with the config locale, the markers and the mount namespace, nothing else', async () => {
    const env = await envOf({ env: chrootEnv({ lang: 'de_DE.UTF-8' }) as Record<string, string>, cleanEnv: true });
    expect(env).toEqual({
      PATH: CHROOT_PATH,
      HOME: '/root',
      LANG: 'de_DE.UTF-8',
      LC_ALL: 'C.UTF-8',
      DEBIAN_FRONTEND: 'noninteractive',
      DEBCONF_NONINTERACTIVE_SEEN: 'true',
      DPKG_FORCE: 'security-mac,downgrade,unsafe-io',
      // update-mime-database's own unsafe-io: no fsync per file it writes
      PKGSYSTEM_ENABLE_FSYNC: '0',
      AILINUX_WORK_ID: 'w-1',
      AILINUX_HOST_MNTNS: expect.stringMatching(/^mnt:\[\d+\]$/),
    });
    for (const name of Object.keys(env))
      if (!name.startsWith('AILINUX_')) expect(CHROOT_ENV_ALLOWED as readonly string[]).toContain(name);
  });

  it("dpkg's unsafe-io keeps its built-in defaults (DPKG_FORCE replaces them); INITRD=No only when the initramfs is made later", () => {
    const forced = chrootEnv({ lang: 'C.UTF-8' })['DPKG_FORCE']!.split(',');
    // `dpkg --force-help` marks these [*]: on by default
    expect(forced).toEqual(['security-mac', 'downgrade', 'unsafe-io']);
    expect(chrootEnv({ lang: 'C.UTF-8' })).not.toHaveProperty('INITRD');
    expect(chrootEnv({ lang: 'C.UTF-8', deferInitramfs: false })).not.toHaveProperty('INITRD');
    expect(chrootEnv({ lang: 'C.UTF-8', deferInitramfs: true })).toMatchObject({ INITRD: 'No' });
  });

  it('gets a proxy only when the config names one', () => {
    expect(chrootEnv({ lang: 'C.UTF-8' })).not.toHaveProperty('http_proxy');
    expect(chrootEnv({ lang: 'C.UTF-8', proxy: { http: 'http://p:3142', noProxy: 'localhost' } })).toMatchObject({
      http_proxy: 'http://p:3142',
      no_proxy: 'localhost',
    });
  });

  it('AILINUX_CHROOT_ENV_KEEP keeps the named host variables (the tests keep PATH and FAKE_*), never a loader one', () => {
    expect(
      keptHostEnv({
        AILINUX_CHROOT_ENV_KEEP: 'PATH, FAKE_*,LD_PRELOAD',
        PATH: '/fake:/usr/bin',
        FAKE_X: '1',
        FAKEY: '2',
        LD_PRELOAD: PRELOAD,
        HOME: '/home/u',
      }),
    ).toEqual({ PATH: '/fake:/usr/bin', FAKE_X: '1' });
    expect(keptHostEnv({ PATH: '/usr/bin' })).toEqual({});
  });
});

describe('a host command', () => {
  it("keeps the user's environment but no loader variable", async () => {
    const env = await envOf({ env: { EXTRA: 'yes' } });
    expect(env).not.toHaveProperty('LD_PRELOAD');
    expect(env).not.toHaveProperty('LD_LIBRARY_PATH');
    expect(env).toMatchObject({
      LANG: 'xx_XX.UTF-8',
      http_proxy: 'http://host-proxy.invalid:3128',
      AILINUX_TEST_STRAY: 'from the host',
      EXTRA: 'yes',
      AILINUX_WORK_ID: 'w-1',
    });
  });
});
