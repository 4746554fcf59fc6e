/**
 * ailinux clean: removes what builds left (layers, ISO tree, partial outputs, the ledger); --all also the caches,
 * logs, finished outputs, state/ and the mark. Only in a work dir ailinux marked (or adopts), only the entries it
 * makes, never through a symlink at the top, never across a mount point; it names everything it removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StateStore } from '../../../state/store.js';
import { UsageError } from '../../errors.js';
import { ExecaRunner } from '../../runtime/execa-runner.js';
import { lockOwnerFile } from '../../runtime/lock.js';
import { WORK_DIR_MARKER, type WorkDirEntry, workPaths } from '../../runtime/paths.js';
import { reapOrphans, workMarker } from '../../runtime/process-groups.js';
import {
  assertRemovable,
  BUILD_TREES,
  removeEmptyDir,
  removeStateEntries,
  removeWorkEntries,
} from '../../runtime/remove-work-entries.js';
import { removeTree } from '../../runtime/safe-remove.js';
import { enterWorkDirSandbox, requireSandbox } from '../../runtime/sandbox.js';
import { checkWorkDir } from '../../runtime/work-dir.js';
import { assertWorkDirUsable, claimAndLockWorkDir, inspectWorkDir, isMountPoint } from '../../engine/work-dir-owner.js';
import type { CliIO } from '../io.js';

/** What --all removes beyond the build trees, before state/ (which holds the lock) goes last, under the lock. */
const ALL_EXTRA: readonly WorkDirEntry[] = ['cache', 'output', 'logs'];

export async function runCleanCommand(options: { workDir: string; all?: boolean }, io: CliIO): Promise<number> {
  if (io.uid !== 0) {
    throw new UsageError('ailinux clean needs root: the layers it removes are owned by root', {
      hint: 'run it as root, with the same arguments',
      // the user's own command line under sudo; without it (a test's io), clean with their -C and -w
      hintArgv: ['sudo', 'ailinux', ...(io.argv ?? ['clean'])],
    });
  }
  requireSandbox('clean', io.env, io.argv);
  const workDir = checkWorkDir(options.workDir);
  const paths = workPaths(workDir);
  const ownership = inspectWorkDir(workDir);
  if (ownership.kind === 'missing' || ownership.kind === 'empty') {
    io.stdout.write(`nothing to clean: ${workDir} ${ownership.kind === 'missing' ? 'does not exist' : 'is empty'}\n`);
    return 0;
  }
  assertWorkDirUsable(workDir, ownership);
  const targets = [...BUILD_TREES, ...(options.all ? ALL_EXTRA : [])];
  // Refuse before removing anything: a symlink among the entries, or a mount under one, stops the whole clean.
  assertRemovable(workDir, [...targets, 'state']);
  const sandbox = await enterWorkDirSandbox(
    paths,
    new ExecaRunner(),
    (m) => io.stderr.write(`warning: ${m}\n`),
    io.env,
  );
  const { lock } = await claimAndLockWorkDir(workDir, ownership, {
    lockFile: paths.lockFile,
    command: io.commandLine,
    warn: (m) => io.stderr.write(`warning: ${m}\n`),
    notice: (m) => io.stderr.write(`${m}\n`),
    // clean frees space: on a full disk it holds the lock without writing its owner record
    ownerOptional: true,
  });
  const removed: string[] = [];
  let released = false;
  let markRemoved = false;
  try {
    const store = StateStore.open(paths.stateFile);
    let state = null;
    try {
      state = store.load();
    } catch (error) {
      io.stderr.write(`warning: ${(error as Error).message}\n`);
    }
    if (state) {
      const { killed } = await reapOrphans({ groups: state.processes, marker: workMarker(workDir, state) });
      if (killed.length)
        io.stderr.write(`ended ${killed.length} process(es) left by an earlier build: ${killed.join(', ')}\n`);
    }
    // The ledger goes first: a kill mid-removal must not leave checkpoints that trust half-deleted trees.
    if (store.exists()) {
      store.remove();
      removed.push('state/state.json');
    }
    for (const name of await removeWorkEntries(workDir, targets)) removed.push(`${name}/`);
    if (!options.all && fs.existsSync(paths.outputDir)) {
      for (const name of fs.readdirSync(paths.outputDir).filter((n) => n.endsWith('.partial'))) {
        await removeTree(path.join(paths.outputDir, name), { within: workDir });
        removed.push(`output/${name}`);
      }
    }
    if (options.all) {
      // state/ goes while the lock is ours: a build that takes it next starts with a state/ of its own, which
      // nothing here removes (only an empty state/ is removed below, once the lock is free)
      await removeStateEntries(workDir, [path.basename(paths.lockFile), path.basename(lockOwnerFile(paths.lockFile))]);
      // the mark too, under the lock: a build that claimed the work dir before finds it gone once it has the lock
      markRemoved = removeMarkIfAlone(workDir, io);
      released = true;
      lock.releaseRemovingFile();
    }
  } finally {
    if (!released) lock.release();
  }
  if (options.all) {
    if (removeEmptyDir(paths.stateDir)) removed.push('state/');
    else if (fs.existsSync(paths.stateDir))
      io.stderr.write(`kept ${paths.stateDir}: another build took the work dir's lock as clean --all ended\n`);
    if (markRemoved)
      removed.push(WORK_DIR_MARKER, ...removeWorkDirIfEmpty(workDir, io, sandbox.writable.includes(workDir)));
  }
  io.stdout.write(removed.length ? `removed: ${removed.join(', ')}\n` : 'nothing to remove\n');
  return 0;
}

/** --all, holding the lock: the mark goes when nothing but state/ (going next) is left; whether it went. */
function removeMarkIfAlone(workDir: string, io: CliIO): boolean {
  // a dedicated disk's lost+found is its own, not a reason to keep the mark
  const atMountRoot = isMountPoint(workDir);
  const left = fs
    .readdirSync(workDir)
    .filter((n) => n !== WORK_DIR_MARKER && n !== 'state' && !(atMountRoot && n === 'lost+found'));
  if (left.length > 0) {
    io.stderr.write(`kept the mark: ${workDir} still holds ${left.join(', ')}; the work dir stays marked\n`);
    return false;
  }
  fs.rmSync(path.join(workDir, WORK_DIR_MARKER), { force: true });
  return true;
}

/** --all, once the lock is free: the work dir itself, when it is empty and no mount point; what went, by name. */
function removeWorkDirIfEmpty(workDir: string, io: CliIO, boundBySandbox: boolean): string[] {
  if (boundBySandbox) {
    // the sandbox bound the work dir onto itself, writable, and made its parent read-only with the rest of the host
    io.stderr.write(
      `the empty work dir ${workDir} is kept: clean runs with everything outside the work dir read-only, so it cannot remove the directory itself; rmdir ${workDir} does\n`,
    );
    return [];
  }
  if (isMountPoint(workDir)) {
    // a dedicated disk or tmpfs stays mounted
    io.stderr.write(`the empty work dir ${workDir} is kept: it is a mount point; rmdir it yourself if you like\n`);
    return [];
  }
  return removeEmptyDir(workDir) ? [`the work dir ${workDir}`] : [];
}
