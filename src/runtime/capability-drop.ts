/**
 * Capabilities a build's commands give up before they run (docs/safety.md). libexec/ailinux-ns-run drops
 * CAP_SYS_ADMIN and these for every command it runs after its mounts; a host command that runs without it uses
 * withoutCaps.
 */

/** Powers over the host's kernel that no build command needs: load modules, reboot, set the clock. */
export const HOST_KERNEL_CAPS = ['sys_module', 'sys_boot', 'sys_time'] as const;

/** What ailinux-ns-run drops: the host-kernel powers, and mount/remount/umount (CAP_SYS_ADMIN). */
export const CHROOT_DROPPED_CAPS = ['sys_admin', ...HOST_KERNEL_CAPS] as const;

/**
 * argv that runs command without the given capabilities, nor any program it execs: setpriv (util-linux) clears them
 * from the bounding set, so an exec cannot gain them back, and from the inheritable set.
 */
export function withoutCaps(caps: readonly string[], command: readonly string[]): string[] {
  const drop = caps.map((cap) => `-${cap}`).join(',');
  return ['setpriv', '--bounding-set', drop, '--inh-caps', drop, '--', ...command];
}
