/**
 * man-db's index made once, at the end (docs/performance.md#dpkg-and-apt-in-the-chroot). man-db's install builds its
 * whole index (`mandb -c`) and its trigger updates it after every later apt call that brings manual pages; in a build
 * whose layers are sealed step by step that is one full build plus one update per later apt call, all thrown away
 * but the last. So configure answers debconf's `man-db/auto-update` false before any package is installed (man-db's
 * own switch, the one Debian's chroot builders use: its postinst then removes /var/lib/man-db/auto-update, and both
 * its install and its trigger skip mandb), and chroot-cleanup answers true and reconfigures man-db, whose postinst
 * then makes the flag file and the index as an install would.
 */
import type { BuildConfig } from '../config/schema.js';

/** man-db's debconf question, and the file its postinst keeps in step with it (the trigger reads the file). */
export const MAN_DB_QUESTION = 'man-db/auto-update';
export const MAN_DB_FLAG = 'var/lib/man-db/auto-update';

/** The step that answers false, before any package, and the one that answers true again and makes the index. */
const OFF_STEP = 'configure';
const ON_STEP = 'chroot-cleanup';

/**
 * Whether the build defers man-db's index to chroot-cleanup: it has configure and, after it, chroot-cleanup, and the
 * config's own debconf answers leave man-db/auto-update alone (an answer of the user's is theirs to keep).
 */
export function manIndexMadeLater(config: Pick<BuildConfig, 'steps' | 'debconf'>): boolean {
  const off = config.steps.indexOf(OFF_STEP);
  const on = config.steps.indexOf(ON_STEP);
  return off >= 0 && on > off && !config.debconf.some((s) => s.question === MAN_DB_QUESTION);
}

/** debconf-set-selections' input for the build's switch. */
export function manDbSelection(autoUpdate: boolean): string {
  return `man-db ${MAN_DB_QUESTION} boolean ${autoUpdate}\n`;
}

/** A command in the chroot, with what it reads on stdin (no shell: the steps never run one). */
export interface ChrootCall {
  argv: string[];
  input?: string;
}

/**
 * chroot-cleanup's commands that undo configure's answer. With man-db installed: the answer true again, then
 * `dpkg-reconfigure man-db`, whose postinst makes /var/lib/man-db/auto-update and, finding no index, runs `mandb -cq`
 * as user man (a whole index from scratch: the same for the same pages whatever order the steps installed them in).
 * Without man-db: the question configure's answer made (with debconf-set-selections' placeholder template) is
 * purged, which leaves the image's debconf database as it was before the answer (checked on bookworm's debconf).
 */
export function manIndexCommands(manDbInstalled: boolean): ChrootCall[] {
  if (manDbInstalled)
    return [
      { argv: ['debconf-set-selections'], input: manDbSelection(true) },
      // an index made before configure's answer (a bootstrap with man-db) would only be updated
      { argv: ['rm', '-f', '/var/cache/man/index.db'] },
      { argv: ['dpkg-reconfigure', 'man-db'] },
    ];
  return [{ argv: ['debconf-communicate', 'man-db'], input: 'PURGE\n' }];
}
