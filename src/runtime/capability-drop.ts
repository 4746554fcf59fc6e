/**
 * Capabilities a build's commands give up before they run (docs/safety.md). libexec/ailinux-ns-run drops
 * CAP_SYS_ADMIN and these for every command it runs after its mounts; a host command that runs without it uses
 * withoutCaps.
 */

/**
 * Powers over the host that no build command needs: load modules, reboot, set the clock, and trace other users'
 * processes or fuller ones (CAP_SYS_PTRACE), which would open /proc/<pid>/root of a host process, its root in the
 * host's writable mount namespace, past the read-only sandbox.
 */
export const HOST_CAPS = ['sys_module', 'sys_boot', 'sys_time', 'sys_ptrace'] as const;

/** What ailinux-ns-run drops: the host powers, and mount/remount/umount (CAP_SYS_ADMIN). */
export const CHROOT_DROPPED_CAPS = ['sys_admin', ...HOST_CAPS] as const;

/**
 * argv that runs command without the given capabilities, nor any program it execs: setpriv (util-linux) clears them
 * from the bounding set, so an exec cannot gain them back, and from the inheritable set.
 */
export function withoutCaps(caps: readonly string[], command: readonly string[]): string[] {
  const drop = caps.map((cap) => `-${cap}`).join(',');
  return ['setpriv', '--bounding-set', drop, '--inh-caps', drop, '--', ...command];
}
