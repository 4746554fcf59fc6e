/**
 * Debian's live-build, configured for the same minimal ISO as ailinux's minimal profile (src/config/profiles/minimal.ts):
 * bookworm amd64 from deb.debian.org with bookworm-updates and bookworm-security, main only, debootstrap's minbase,
 * the same package list (live-boot systemd-sysv zstd and linux-image-amd64, no recommends, no firmware), and a
 * zstd level 3 squashfs. It runs as root in the bench's sandbox (a private mount namespace, the host read-only),
 * in a config dir under the bench's temp dir; its chroot's proc, sys and devpts mounts live in that namespace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { ConfigInput } from '../../src/config/schema.js';
import { type BenchContext, copyTree, tail, timed } from './run.js';

/** lb config's arguments for a profile shaped like minimal. */
export function lbConfigArgs(profile: ConfigInput): string[] {
  const d = profile.distribution!;
  const mirror = d.mirror!;
  const security =
    d.sources?.find((s) => s.suites.some((x) => x.endsWith('-security')))?.uri ??
    'http://deb.debian.org/debian-security';
  const squashfs = profile.squashfs!;
  return [
    'config',
    '--mode',
    'debian',
    '--distribution',
    d.suite!,
    '--architectures',
    profile.architecture ?? 'amd64',
    '--archive-areas',
    (d.components ?? ['main']).join(' '),
    '--mirror-bootstrap',
    mirror,
    '--mirror-chroot',
    mirror,
    '--mirror-binary',
    mirror,
    '--mirror-chroot-security',
    security,
    '--mirror-binary-security',
    security,
    '--security',
    'true',
    '--updates',
    'true',
    '--debootstrap-options',
    `--variant=${profile.bootstrap?.variant ?? 'minbase'}`,
    '--apt-recommends',
    String(profile.packages?.installRecommends ?? false),
    '--firmware-chroot',
    'false',
    '--firmware-binary',
    'false',
    '--linux-flavours',
    'amd64',
    '--chroot-squashfs-compression-type',
    squashfs.compression!,
    '--chroot-squashfs-compression-level',
    String(squashfs.level),
    '--binary-images',
    'iso-hybrid',
    '--debian-installer',
    'none',
    '--memtest',
    'none',
    '--zsync',
    'false',
    '--iso-volume',
    profile.iso?.volumeLabel ?? 'LIVE',
  ];
}

/**
 * The package list, written as config/package-lists/live.list.chroot before lb config: lb config then adds no
 * live-config of its own (it writes that file only when there is none), so the image holds what minimal's does.
 */
export function lbPackageList(profile: ConfigInput): string {
  const p = profile.packages!;
  const names = [...(p.live ?? []), ...(p.extra ?? [])];
  return `${names.join('\n')}\n`;
}

export function liveBuildInstalled(): boolean {
  return spawnSync('lb', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * One live-build run in a new config dir: lb config, then lb build, timed together. With fromCache, the config dir
 * starts with a copy of that earlier run's cache/ (live-build's own: the .debs it fetched and, by its default
 * --cache-stages bootstrap, the bootstrapped chroot) - live-build's "warm".
 */
export async function liveBuild(
  ctx: BenchContext,
  name: string,
  profile: ConfigInput,
  fromCache?: string,
): Promise<{ dir: string; ms: number; isoBytes: number | null }> {
  const dir = path.join(ctx.root, name);
  fs.mkdirSync(path.join(dir, 'config', 'package-lists'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config', 'package-lists', 'live.list.chroot'), lbPackageList(profile));
  if (fromCache) copyTree(path.join(fromCache, 'cache'), path.join(dir, 'cache'));
  const env = {
    ...process.env,
    NO_COLOR: '1',
    LC_ALL: 'C.UTF-8',
    SOURCE_DATE_EPOCH: process.env['SOURCE_DATE_EPOCH'] ?? '',
  };
  if (!env.SOURCE_DATE_EPOCH) delete (env as Record<string, string | undefined>)['SOURCE_DATE_EPOCH'];
  // lb mounts the chroot's proc and devpts with x-gvfs-hide, a userspace option mount(8) records in libmount's utab,
  // /run/mount/utab: read-only in the sandbox, where mount then exits 16 and lb stops. A utab of its own instead.
  (env as Record<string, string>)['LIBMOUNT_UTAB'] = path.join(ctx.root, `${name}.utab`);
  ctx.log(`${name}: lb config && lb build in ${dir}${fromCache ? " (with the cold run's cache/)" : ''}`);
  const config = await timed(ctx, 'lb', lbConfigArgs(profile), { env, cwd: dir, name: `${name}-config` });
  if (config.code !== 0)
    throw new Error(`lb config exited ${config.code} (log ${config.logFile}):\n${tail(config.logFile)}`);
  const build = await timed(ctx, 'lb', ['build'], { env, cwd: dir, name: `${name}-build` });
  const iso = fs.readdirSync(dir).find((f) => f.endsWith('.iso'));
  if (build.code !== 0 || !iso)
    throw new Error(
      `lb build exited ${build.code}${iso ? '' : ' without an ISO'} (log ${build.logFile}):\n${tail(build.logFile)}`,
    );
  const ms = config.ms + build.ms;
  ctx.log(`${name}: ${(ms / 1000).toFixed(1)} s`);
  return { dir, ms, isoBytes: fs.statSync(path.join(dir, iso)).size };
}
