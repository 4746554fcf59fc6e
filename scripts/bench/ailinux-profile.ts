/** Measures 6, 4b and 5 on the ailinux profile (full run only: its builds take 20 minutes and more each). */
import path from 'node:path';
import { ailinuxProfile } from '../../src/config/profiles/ailinux.js';
import { ratio } from './stats.js';
import type { Row } from './results.js';
import {
  type BenchContext,
  type BuiltWorkDir,
  ailinuxOk,
  ailinuxWarmMeaning,
  buildIn,
  cacheEnv,
  type MeasureOutput,
  needRealBuilds,
  ran,
  stepTimes,
  warmWorkDir,
  writeConfig,
} from './run.js';

/** The targets exclude the boot check: no qemu boot, no installer check; the static checks stay. */
const NO_BOOT = { extends: 'ailinux', verify: { boot: false, installerCheck: false } };

/** The ailinux profile built cold without its boot check, once per run: the base of 4b and 5. */
async function ailinuxBase(ctx: BenchContext, rows: Row[]): Promise<BuiltWorkDir> {
  if (ctx.shared.ailinux) return ctx.shared.ailinux;
  const config = writeConfig(ctx, 'ailinux-no-boot', NO_BOOT);
  const built = await buildIn(ctx, 'ailinux-profile-cold', config, path.join(ctx.root, 'ailinux-profile-cold'));
  rows.push({
    case: 'the base: ailinux profile cold, no boot check',
    ms: built.ms,
    detail: { steps: ran(built.steps) },
  });
  ctx.shared.ailinux = built;
  return built;
}

/** 6. The ailinux profile cold, then warm in a new work dir with the cold build's deb caches, each step timed. */
export async function ailinuxProfileColdWarm(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  const rows: Row[] = [];
  const cold = await ailinuxBase(ctx, rows);
  const warm = await buildIn(
    ctx,
    'ailinux-profile-warm',
    cold.config,
    warmWorkDir(ctx, 'ailinux-profile-warm', cold.work),
    {
      cacheDir: cold.cacheDir,
    },
  );
  rows.length = 0;
  rows.push(
    { case: 'cold, no boot check', ms: cold.ms },
    { case: 'warm, no boot check', ms: warm.ms, ratio: { to: 'cold', value: ratio(warm.ms, cold.ms) } },
  );
  for (const [id, c] of Object.entries(cold.steps)) {
    const w = warm.steps[id];
    rows.push(
      { case: `  cold ${id}`, ms: c.ms },
      { case: `  warm ${id}`, ms: w?.ms ?? null, ratio: { to: 'cold', value: ratio(w?.ms, c.ms) } },
    );
  }
  return {
    rows,
    notes: [
      ailinuxWarmMeaning(cold),
      'no layers are kept: the warm build runs every step.',
      'no boot check and no installer check (verify.boot and verify.installerCheck false): the targets exclude them.',
    ],
  };
}

/** 4b. A hostname change on the finished ailinux profile work dir. */
export async function hostnameAilinux(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  const rows: Row[] = [];
  const base = await ailinuxBase(ctx, rows);
  const changed = writeConfig(ctx, 'ailinux-no-boot-hostname', { ...NO_BOOT, hostname: 'ailinux-bench' });
  const r = await ailinuxOk(ctx, ['build', '-c', changed, '-w', base.work, '--offline'], {
    name: 'hostname-ailinux',
    env: cacheEnv(base.cacheDir),
  });
  rows.push({ case: 'build after a hostname change', ms: r.ms, detail: { ran: ran(await stepTimes(ctx, base.work)) } });
  return {
    rows,
    notes: [
      'to a statically verified ISO (no boot); --offline keeps the layers whatever the archive published meanwhile.',
    ],
  };
}

/** A small package none of the profile's lists has. */
export function extraPackage(lists: readonly string[]): string {
  const pick = ['tree', 'ncdu', 'pv', 'sl'].find((p) => !lists.includes(p));
  if (!pick) throw new Error('every candidate package is already in the profile');
  return pick;
}

/** 5. One package added to packages.extra on the finished ailinux profile work dir (after 4b, with its hostname). */
export async function extraPackageAilinux(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  const rows: Row[] = [];
  const base = await ailinuxBase(ctx, rows);
  const p = ailinuxProfile.packages!;
  const all = Object.values(p).flatMap((v) => (Array.isArray(v) ? v : []));
  const pkg = extraPackage(all);
  // the hostname of 4b when it ran: only the package differs from the work dir's last build
  const hostname = ctx.args.measures.includes('hostname-ailinux') ? { hostname: 'ailinux-bench' } : {};
  const changed = writeConfig(ctx, 'ailinux-no-boot-extra', {
    ...NO_BOOT,
    ...hostname,
    packages: { extra: [...(p.extra ?? []), pkg] },
  });
  const r = await ailinuxOk(ctx, ['build', '-c', changed, '-w', base.work], {
    name: 'extra-package',
    env: cacheEnv(base.cacheDir),
  });
  rows.push({
    case: `build after adding ${pkg} to packages.extra`,
    ms: r.ms,
    detail: { ran: ran(await stepTimes(ctx, base.work)) },
  });
  return {
    rows,
    notes: [
      'online: the packages step downloads the new package, so the archive check runs against deb.debian.org and archive.ubuntu.com; a republished suite would rerun more steps, and the detail lists the steps that ran.',
    ],
  };
}
