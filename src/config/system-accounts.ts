/**
 * The system accounts of base-passwd (its passwd.master), which every Debian and Ubuntu image has: a live user of
 * one of these names would make useradd fail minutes into a build, or (root) hand the live session to root.
 * Checked against /usr/share/base-passwd/passwd.master of base-passwd 3.6.1 on Debian 12 (bookworm); gnats is kept
 * from older releases (3.6.1 stopped creating it, and upgraded systems still have it).
 */
export const SYSTEM_ACCOUNTS: ReadonlySet<string> = new Set([
  'root',
  'daemon',
  'bin',
  'sys',
  'sync',
  'games',
  'man',
  'lp',
  'mail',
  'news',
  'uucp',
  'proxy',
  'www-data',
  'backup',
  'list',
  'irc',
  '_apt',
  'gnats',
  'nobody',
]);
