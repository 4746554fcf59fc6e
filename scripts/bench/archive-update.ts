/**
 * 9. An archive update: the loopback archive of tests/integration/archive-update.test.ts (tests/helpers/loopback-
 * archive.ts) republishes bookworm-updates; time `plan`, which names the change, and the build that reruns the package
 * steps. With the fake host tools (the loopback archive serves Release files, no packages), so the figures are
 * ailinux's own work: the archive check, fingerprints, state, and the steps' bookkeeping around tools that do nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loopbackArchiveConfig, startLoopbackArchive } from '../../tests/helpers/loopback-archive.js';
import { fakeEnv } from './fake-build.js';
import {
  type BenchContext,
  ailinuxOk,
  type MeasureOutput,
  needRealBuilds,
  ran,
  stepTimes,
  writeConfig,
} from './run.js';

export async function archiveUpdate(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  const archive = await startLoopbackArchive();
  try {
    archive.publish('bookworm', 'Sat, 11 Jul 2026 10:16:37 UTC');
    archive.publish('bookworm-updates', 'Sun, 01 Nov 2026 09:00:00 UTC');
    const config = writeConfig(ctx, 'archive-loopback', loopbackArchiveConfig(archive.base));
    const work = path.join(ctx.root, 'archive-work');
    const env = fakeEnv(ctx, { AILINUX_ARCHIVE_RELEASE_FILE: '' });
    const first = await ailinuxOk(ctx, ['build', '-c', config, '-w', work], { env, name: 'archive-first' });
    const noChange = await ailinuxOk(ctx, ['plan', '-c', config, '-w', work], { env, name: 'archive-plan-same' });
    archive.publish('bookworm-updates', 'Mon, 07 Dec 2026 02:14:57 UTC');
    const plan = await ailinuxOk(ctx, ['plan', '-c', config, '-w', work], { env, name: 'archive-plan' });
    const planText = fs.readFileSync(plan.logFile, 'utf8');
    if (!planText.includes('archive bookworm-updates changed'))
      throw new Error(`plan did not name the republished suite (log ${plan.logFile})`);
    const rebuild = await ailinuxOk(ctx, ['build', '-c', config, '-w', work], { env, name: 'archive-rebuild' });
    const steps = ran(await stepTimes(ctx, work));
    if (!('packages' in steps) || 'bootstrap' in steps)
      throw new Error(`the rebuild after the archive update ran ${Object.keys(steps).join(', ')}`);
    return {
      rows: [
        { case: 'first build (fake tools)', ms: first.ms },
        { case: 'plan, archive unchanged', ms: noChange.ms },
        { case: 'plan, bookworm-updates republished', ms: plan.ms },
        { case: 'rebuild (fake tools)', ms: rebuild.ms, detail: { ran: steps } },
        { case: 'plan plus rebuild', ms: plan.ms + rebuild.ms },
      ],
      notes: [
        "the loopback archive on 127.0.0.1 serves each suite's InRelease; republishing bookworm-updates changes the fingerprints of the steps that install from it (configure, packages and after), and bootstrap's layer is kept.",
        "fake host tools (tests/fixtures/bin, no delay): the figures hold ailinux's own work only, no download, unpack or compression.",
      ],
    };
  } finally {
    await archive.close();
  }
}
