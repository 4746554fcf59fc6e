/**
 * ailinux clean: removes what builds left (layers, ISO tree, partial outputs, the ledger); --all also
 * the caches, logs and finished outputs. Never across a mount point; never anything it did not make.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StateStore } from '../../../state/store.js';
import { WORK_ID_ENV } from '../../engine/build.js';
import { UsageError } from '../../errors.js';
import { acquireLock } from '../../runtime/lock.js';
import { workPaths } from '../../runtime/paths.js';
import { reapOrphans } from '../../runtime/process-groups.js';
import { assertNoMountsUnder, removeTree } from '../../runtime/safe-remove.js';
import { checkWorkDir } from '../../runtime/work-dir.js';
import type { CliIO } from '../io.js';

export async function runCleanCommand(options: { workDir: string; all?: boolean }, io: CliIO): Promise<number> {
  if (io.uid !== 0) {
    throw new UsageError('ailinux clean needs root: the layers it removes are owned by root', {
      hint: 'run it as root, e.g. sudo ailinux clean',
    });
  }
  const workDir = checkWorkDir(options.workDir);
  const paths = workPaths(workDir);
  if (!fs.existsSync(workDir)) {
    io.stdout.write(`nothing to clean: ${workDir} does not exist\n`);
    return 0;
  }
  if (!fs.existsSync(paths.stateDir) && !fs.existsSync(paths.layersDir)) {
    throw new UsageError(`${workDir} does not look like an ailinux work dir (no state/ or layers/)`, {
      hint: 'check --work-dir',
    });
  }
  // Refuse before removing anything: a mount anywhere under the work dir stops the whole clean.
  assertNoMountsUnder(workDir);
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
      const { killed } = await reapOrphans({
        groups: state.processes,
        marker: { name: WORK_ID_ENV, value: state.workId },
      });
      if (killed.length)
        io.stderr.write(`ended ${killed.length} process(es) left by an earlier build: ${killed.join(', ')}\n`);
    }
    // The ledger goes first: a kill mid-removal must not leave checkpoints that trust half-deleted trees.
    if (store.exists()) {
      store.remove();
      removed.push('state/state.json');
    }
    const targets = [paths.layersDir, paths.mntDir, paths.isoDir, paths.tmpDir];
    if (options.all) targets.push(paths.cacheDir, paths.outputDir, paths.logsDir);
    for (const t of targets) {
      if (!fs.existsSync(t)) continue;
      await removeTree(t, { within: workDir });
      removed.push(path.relative(workDir, t));
    }
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
    await removeTree(paths.stateDir, { within: workDir });
    // Only an empty work dir is removed: anything else in it is not ours.
    if (fs.readdirSync(workDir).length === 0) fs.rmdirSync(workDir);
  }
  io.stdout.write(removed.length ? `removed: ${removed.join(', ')}\n` : 'nothing to remove\n');
  return 0;
}
