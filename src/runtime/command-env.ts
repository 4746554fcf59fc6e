/**
 * The environment of the commands a build runs. A command in the chroot gets `env -i` plus an allow-list: a fixed
 * PATH, the config's locale, no prompts, dpkg's unsafe-io (and update-mime-database's), the build's SOURCE_DATE_EPOCH
 * and the proxy when one is configured; a host proxy, LD_PRELOAD or a locale never changes what a maintainer script does. A host command (debootstrap, mksquashfs) keeps the user's
 * environment, which finds its tools, but never a dynamic-loader variable.
 */

/** The PATH inside the chroot: Debian's for root, whatever the host's is. */
export const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Every variable a chroot command may get from ailinux (besides its own markers). The config's proxy (apt.proxy)
 * comes in through proxyEnv, for the commands that download; a new variable is added here first, so the list stays
 * the one place.
 */
export const CHROOT_ENV_ALLOWED = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'DEBIAN_FRONTEND',
  'DEBCONF_NONINTERACTIVE_SEEN',
  'SOURCE_DATE_EPOCH',
  'DPKG_FORCE',
  'PKGSYSTEM_ENABLE_FSYNC',
  'INITRD',
  'http_proxy',
  'https_proxy',
  'no_proxy',
] as const;
export type ChrootEnvName = (typeof CHROOT_ENV_ALLOWED)[number];

export interface ChrootEnvSettings {
  /** The image's LANG (config liveSystem.locale.lang). */
  lang: string;
  /**
   * The build's SOURCE_DATE_EPOCH, when set: shadow (useradd, chpasswd: the last-change day in /etc/shadow),
   * mkinitramfs (file times and cpio order in the initrd) and other maintainer scripts stamp it instead of the clock.
   */
  sourceDateEpoch?: number | null;
  /** Only when the config names one; never taken from the host. */
  proxy?: { http?: string; https?: string; noProxy?: string };
  /**
   * INITRD=No: a kernel's install makes no initramfs (Debian's and Ubuntu's /etc/kernel/postinst.d/initramfs-tools
   * and linux-update-symlinks read it), for a build whose chroot-cleanup makes it once at the end (casper).
   */
  deferInitramfs?: boolean;
}

/**
 * dpkg's force options for every command of the build (docs/performance.md#dpkg-and-apt-in-the-chroot): unsafe-io,
 * no fsync before each unpacked file's rename, which a crash would make matter only to a layer the build throws away
 * anyway. DPKG_FORCE (dpkg 1.19.5 and later; older ones ignore it) replaces dpkg's built-in defaults, so they are
 * named too. An environment variable, not a file in /etc/dpkg/dpkg.cfg.d: nothing is written into the image, so
 * nothing has to be removed from it, whatever step reruns, and a hook or `ailinux shell` never sees a leftover.
 */
export const DPKG_FORCE_BUILD = 'security-mac,downgrade,unsafe-io';

/**
 * The same for shared-mime-info's update-mime-database, which dpkg's unsafe-io does not reach: PKGSYSTEM_ENABLE_FSYNC=0
 * (which it reads: bookworm's 2.2 does, noble has 2.4) skips the fsync of each of the ~900 files it rewrites on every
 * run, its install's and each trigger's: the same files in about half the time
 * (docs/performance.md#dpkg-and-apt-in-the-chroot).
 */
export const MIME_FSYNC_BUILD = '0';

/**
 * The chroot command's whole environment. LC_ALL stays C.UTF-8 (present before any locale is generated, so tool
 * output and sort order are the same in every build); LANG carries the config's locale for scripts that record it.
 */
export function chrootEnv(settings: ChrootEnvSettings): Partial<Record<ChrootEnvName, string>> {
  const { proxy } = settings;
  return {
    PATH: CHROOT_PATH,
    HOME: '/root',
    LANG: settings.lang,
    LC_ALL: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    DEBCONF_NONINTERACTIVE_SEEN: 'true',
    DPKG_FORCE: DPKG_FORCE_BUILD,
    PKGSYSTEM_ENABLE_FSYNC: MIME_FSYNC_BUILD,
    ...(settings.deferInitramfs ? { INITRD: 'No' } : {}),
    ...(settings.sourceDateEpoch == null ? {} : { SOURCE_DATE_EPOCH: String(settings.sourceDateEpoch) }),
    ...(proxy?.http ? { http_proxy: proxy.http } : {}),
    ...(proxy?.https ? { https_proxy: proxy.https } : {}),
    ...(proxy?.noProxy ? { no_proxy: proxy.noProxy } : {}),
  };
}

/**
 * The variables that send a download through the config's proxy (apt.proxy): http_proxy and https_proxy, which
 * debootstrap's wget, mmdebstrap's apt and apt in the chroot all read. None without a proxy.
 */
export function proxyEnv(proxy: string | undefined): Record<string, string> {
  return proxy ? { http_proxy: proxy, https_proxy: proxy } : {};
}

/** Variables that make the dynamic loader run or find other code: never passed to any command. */
function isLoaderVariable(name: string): boolean {
  return name.startsWith('LD_') || name === 'GCONV_PATH' || name === 'MALLOC_CHECK_' || name === 'GLIBC_TUNABLES';
}

/** A host command's environment: the user's, without the dynamic-loader variables. */
export function hostCommandEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env))
    if (value !== undefined && !isLoaderVariable(name)) out[name] = value;
  return out;
}

/**
 * Host variables the user asked to pass into the chroot anyway: AILINUX_CHROOT_ENV_KEEP, comma-separated names, a
 * trailing * a prefix. The test suites keep PATH and their FAKE_* settings so their fake tools run; loader
 * variables are never kept.
 */
export const CHROOT_ENV_KEEP = 'AILINUX_CHROOT_ENV_KEEP';

export function keptHostEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const patterns = (env[CHROOT_ENV_KEEP] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || isLoaderVariable(name)) continue;
    if (patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p))) kept[name] = value;
  }
  return kept;
}
