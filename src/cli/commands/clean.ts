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
import { acquireLock } from '../../runtime/lock.js';
import { WORK_DIR_MARKER, type WorkDirEntry, workPaths } from '../../runtime/paths.js';
import { reapOrphans, workMarker } from '../../runtime/process-groups.js';
import { assertRemovable, BUILD_TREES, removeWorkEntries } from '../../runtime/remove-work-entries.js';
import { removeTree } from '../../runtime/safe-remove.js';
import { enterWorkDirSandbox, requireSandbox } from '../../runtime/sandbox.js';
import { checkWorkDir } from '../../runtime/work-dir.js';
import { assertWorkDirUsable, claimWorkDir, inspectWorkDir, isMountPoint } from '../../engine/work-dir-owner.js';
import type { CliIO } from '../io.js';

/** What --all removes beyond the build trees, before state/ (which holds the lock) goes last. */
const ALL_EXTRA: readonly WorkDirEntry[] = ['cache', 'output', 'logs'];

export async function runCleanCommand(options: { workDir: string; all?: boolean }, io: CliIO): Promise<number> {
  if (io.uid !== 0) {
    throw new UsageError('ailinux clean needs root: the layers it removes are owned by root', {
      hint: 'run it as root, e.g. sudo ailinux clean',
    });
  }
  requireSandbox('clean', io.env);
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
  await enterWorkDirSandbox(paths, new ExecaRunner(), (m) => io.stderr.write(`warning: ${m}\n`), io.env);
  claimWorkDir(workDir, ownership, (m) => io.stderr.write(`${m}\n`));
  fs.mkdirSync(paths.stateDir, { recursive: true });
  const lock = acquireLock(paths.lockFile, io.commandLine, (m) => io.stderr.write(`warning: ${m}\n`));
  const removed: string[] = [];
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
  } finally {
    lock.release();
  }
  if (options.all) {
    for (const name of await removeWorkEntries(workDir, ['state'])) removed.push(`${name}/`);
    removed.push(...removeMarkAndDir(workDir, io));
  }
  io.stdout.write(removed.length ? `removed: ${removed.join(', ')}\n` : 'nothing to remove\n');
  return 0;
}

/** After --all: the mark, then the work dir, when nothing else is left in it; what was removed, by name. */
function removeMarkAndDir(workDir: string, io: CliIO): string[] {
  const atMountRoot = isMountPoint(workDir);
  // a dedicated disk's lost+found is its own, not a reason to keep the mark
  const left = fs.readdirSync(workDir).filter((n) => n !== WORK_DIR_MARKER && !(atMountRoot && n === 'lost+found'));
  if (left.length > 0) {
    io.stderr.write(`kept what ailinux did not make in ${workDir}: ${left.join(', ')}; the work dir stays marked\n`);
    return [];
  }
  fs.rmSync(path.join(workDir, WORK_DIR_MARKER), { force: true });
  const removed = [WORK_DIR_MARKER];
  if (atMountRoot) {
    // in the sandbox the work dir is a mount and its parent read-only; a dedicated disk stays mounted
    io.stderr.write(`the empty work dir ${workDir} is kept: it is a mount point; rmdir it yourself if you like\n`);
  } else if (fs.readdirSync(workDir).length === 0) {
    fs.rmdirSync(workDir);
    removed.push(`the work dir ${workDir}`);
  }
  return removed;
}
