/** Measures 1 to 4a on the minimal profile: ailinux against live-build, a no-op build, resume, a hostname change. */
import fs from 'node:fs';
import path from 'node:path';
import { minimalProfile } from '../../src/config/profiles/minimal.js';
import { ratio, summarize } from './stats.js';
import { liveBuild, liveBuildInstalled } from './live-build.js';
import type { Row } from './results.js';
import {
  type BenchContext,
  type BuiltWorkDir,
  ailinux,
  ailinuxOk,
  ailinuxWarmMeaning,
  buildIn,
  cacheEnv,
  cacheSizes,
  duBytes,
  isoOf,
  MeasureFailed,
  type MeasureOutput,
  needRealBuilds,
  ran,
  SkipMeasure,
  stepTimes,
  tail,
  timed,
  warmWorkDir,
  writeConfig,
} from './run.js';

const NO_BOOT = { extends: 'minimal', verify: { boot: false } };
const WITH_BOOT = { extends: 'minimal' };

const stepsDetail = (b: BuiltWorkDir) => Object.fromEntries(Object.entries(ran(b.steps)).map(([id, ms]) => [id, ms]));

const WARM_NOTES = [
  'cold: a new work dir (ailinux) or config dir (live-build) and an empty cache; every .deb comes from deb.debian.org.',
  "warm, live-build: a new config dir holding a copy of the cold run's cache/: its .debs and, by its default --cache-stages bootstrap, the bootstrapped chroot as a stage it unpacks instead of running debootstrap. The copy is not timed.",
];

/** The minimal profile built cold without its boot check, once per run: the base of measures 2, 3 and 4a. */
export async function minimalBase(ctx: BenchContext, rows: Row[]): Promise<BuiltWorkDir> {
  if (ctx.shared.minimal) return ctx.shared.minimal;
  const config = writeConfig(ctx, 'minimal-no-boot', NO_BOOT);
  const built = await buildIn(ctx, 'minimal-base', config, path.join(ctx.root, 'minimal-base'));
  rows.push({
    case: 'the base: minimal cold, no boot check',
    ms: built.ms,
    detail: { steps: stepsDetail(built) },
  });
  ctx.shared.minimal = built;
  return built;
}

/** 1. Minimal cold and warm, ailinux (with and without its boot check) against live-build, one after the other. */
export async function minimalVsLiveBuild(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  if (!liveBuildInstalled())
    throw new SkipMeasure('live-build is not installed: bash scripts/install-host-tools.sh --with-bench');
  const noBoot = writeConfig(ctx, 'minimal-no-boot', NO_BOOT);
  const withBoot = writeConfig(ctx, 'minimal-with-boot', WITH_BOOT);
  // what was measured before a failure stays in the results
  const partial: Row[] = [];
  const step = async <T extends { ms: number }>(name: string, run: () => Promise<T>): Promise<T> => {
    try {
      const r = await run();
      partial.push({ case: name, ms: r.ms });
      return r;
    } catch (error) {
      throw new MeasureFailed(error, partial);
    }
  };
  const coldNoBoot = await step('ailinux cold, no boot check', () =>
    buildIn(ctx, 'ailinux-cold', noBoot, path.join(ctx.root, 'ailinux-cold')),
  );
  const lbCold = await step('live-build cold', () => liveBuild(ctx, 'lb-cold', minimalProfile));
  // warm: a new work dir, the cold build's shared deb cache (and a copy of its per-work-dir one: see ailinuxWarmMeaning)
  const warm = (name: string) => ({ cacheDir: coldNoBoot.cacheDir, work: warmWorkDir(ctx, name, coldNoBoot.work) });
  const warmNoBoot = await step('ailinux warm, no boot check', () => {
    const w = warm('ailinux-warm');
    return buildIn(ctx, 'ailinux-warm', noBoot, w.work, { cacheDir: w.cacheDir });
  });
  const lbWarm = await step('live-build warm', () => liveBuild(ctx, 'lb-warm', minimalProfile, lbCold.dir));
  const coldBoot = await step('ailinux cold, with boot check', () =>
    buildIn(ctx, 'ailinux-cold-boot', withBoot, path.join(ctx.root, 'ailinux-cold-boot')),
  );
  const warmBoot = await step('ailinux warm, with boot check', () => {
    const w = warm('ailinux-warm-boot');
    return buildIn(ctx, 'ailinux-warm-boot', withBoot, w.work, { cacheDir: w.cacheDir });
  });
  ctx.shared.minimal ??= coldNoBoot;
  const iso = (b: BuiltWorkDir) => fs.statSync(isoOf(b.work)).size;
  const lbCacheBytes = duBytes(path.join(lbCold.dir, 'cache'));
  const row = (name: string, b: BuiltWorkDir, lb: { ms: number }, to: string): Row => ({
    case: name,
    ms: b.ms,
    ratio: { to, value: ratio(b.ms, lb.ms) },
    detail: { isoBytes: iso(b), ...cacheSizes(b), steps: stepsDetail(b) },
  });
  return {
    rows: [
      row('ailinux cold, no boot check', coldNoBoot, lbCold, 'live-build cold'),
      { case: 'live-build cold', ms: lbCold.ms, detail: { isoBytes: lbCold.isoBytes, cacheBytes: lbCacheBytes } },
      row('ailinux warm, no boot check', warmNoBoot, lbWarm, 'live-build warm'),
      { case: 'live-build warm', ms: lbWarm.ms, detail: { isoBytes: lbWarm.isoBytes } },
      row('ailinux cold, with boot check', coldBoot, lbCold, 'live-build cold'),
      row('ailinux warm, with boot check', warmBoot, lbWarm, 'live-build warm'),
    ],
    notes: [
      ...WARM_NOTES,
      ailinuxWarmMeaning(coldNoBoot),
      `live-build's cache/ after its cold run: ${(lbCacheBytes / 1048576).toFixed(1)} MiB.`,
      'with boot check: the profile as shipped, whose verify step boots the ISO in qemu (BIOS) to the login prompt; live-build has no boot check, so those ratios compare unlike work.',
      'live-build: the Debian package (lb config; lb build), bookworm amd64 main with -updates and -security from deb.debian.org, minbase, live-boot systemd-sysv zstd and linux-image-amd64, no recommends, no firmware, squashfs zstd level 3; bootloaders its default for amd64 (syslinux, grub-efi) where ailinux uses GRUB for both.',
    ],
  };
}

/** 3. A no-op build on the finished minimal work dir, against a bare `node -e 0` in the same run. */
export async function noOp(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  const rows: Row[] = [];
  const base = await minimalBase(ctx, rows);
  const runs = Math.max(3, Math.min(ctx.args.runs, 11));
  const times: Record<string, number[]> = { node: [], online: [], offline: [], full: [] };
  for (let i = 0; i < runs; i++) {
    times['node']!.push((await timed(ctx, process.execPath, ['-e', '0'], { name: 'node-e-0' })).ms);
    const env = cacheEnv(base.cacheDir);
    times['online']!.push(
      (await ailinuxOk(ctx, ['build', '-c', base.config, '-w', base.work], { name: 'no-op', env })).ms,
    );
    times['offline']!.push(
      (await ailinuxOk(ctx, ['build', '-c', base.config, '-w', base.work, '--offline'], { name: 'no-op-offline', env }))
        .ms,
    );
    // the same no-op without the fast path (src/cli/build-fast.ts): config, steps, machine, lock, sandbox, state
    times['full']!.push(
      (
        await ailinuxOk(ctx, ['build', '-c', base.config, '-w', base.work], {
          name: 'no-op-full',
          env: { ...env, AILINUX_NO_FAST_PATH: '1' },
        })
      ).ms,
    );
  }
  const steps = await stepTimes(ctx, base.work);
  const reran = Object.keys(ran(steps));
  if (reran.length) throw new Error(`the no-op build ran steps: ${reran.join(', ')}`);
  const node = summarize(times['node']!);
  const online = summarize(times['online']!);
  const offline = summarize(times['offline']!);
  const fullPath = summarize(times['full']!);
  rows.push(
    { case: 'node -e 0', ms: node.medianMs, detail: { ...node } },
    {
      case: 'no-op build',
      ms: online.medianMs,
      ratio: { to: 'node -e 0', value: ratio(online.medianMs, node.medianMs) },
      detail: { ...online },
    },
    {
      case: 'no-op build --offline',
      ms: offline.medianMs,
      ratio: { to: 'node -e 0', value: ratio(offline.medianMs, node.medianMs) },
      detail: { ...offline },
    },
    {
      case: 'no-op build, full path (AILINUX_NO_FAST_PATH=1)',
      ms: fullPath.medianMs,
      ratio: { to: 'node -e 0', value: ratio(fullPath.medianMs, node.medianMs) },
      detail: { ...fullPath },
    },
  );
  return {
    rows,
    notes: [
      `medians of ${runs} interleaved runs; the whole CLI process. The no-op is decided by the fast path (src/cli/build-fast.ts: the no-op digest, the lock, the input files re-hashed, the state written); the full path loads the config, the steps and the machine, enters the read-only sandbox and fingerprints every step.`,
      'no-op build: reads the Release files of bookworm, bookworm-updates and bookworm-security from deb.debian.org (three small requests), the freshness check; --offline skips it.',
    ],
  };
}

/** 2. Resume after a failure injected in the ISO step: a failing xorriso first on PATH, as tests/e2e/minimal.test.ts does. */
export async function resumeIso(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  const rows: Row[] = [];
  const base = await minimalBase(ctx, rows);
  const failing = path.join(ctx.root, 'failing-bin');
  fs.mkdirSync(failing, { recursive: true });
  fs.writeFileSync(
    path.join(failing, 'xorriso'),
    '#!/bin/sh\necho "xorriso : FAILURE : injected by the bench" >&2\nexit 5\n',
    {
      mode: 0o755,
    },
  );
  // without its output the ISO step must run again (the rest is kept); xorriso fails it
  fs.rmSync(isoOf(base.work));
  const failed = await ailinux(ctx, ['build', '-c', base.config, '-w', base.work, '--offline'], {
    name: 'build-failing-iso',
    env: { ...cacheEnv(base.cacheDir), PATH: `${failing}:${process.env['PATH']}` },
  });
  if (failed.code !== 1 || !fs.readFileSync(failed.logFile, 'utf8').includes('build failed at step iso'))
    throw new Error(
      `the injected xorriso failure did not fail the ISO step (exit ${failed.code}):\n${tail(failed.logFile)}`,
    );
  const resumed = await ailinuxOk(ctx, ['resume', '-w', base.work, '--offline'], {
    name: 'resume',
    env: cacheEnv(base.cacheDir),
  });
  const steps = await stepTimes(ctx, base.work);
  rows.push(
    { case: 'build that fails in the ISO step', ms: failed.ms, note: 'exit 1' },
    { case: 'resume', ms: resumed.ms, detail: { ran: ran(steps) } },
  );
  return {
    rows,
    notes: [
      'the ISO was removed from output/ and a failing xorriso put first on PATH, so the build reruns only the ISO step and fails there; resume then runs iso, checksums, verify (static checks, no boot) and report with the real xorriso.',
      '--offline on both: the layers are kept whatever deb.debian.org published meanwhile, so the figure does not move with the archive.',
    ],
  };
}

/** 4a. A hostname change on minimal, to a statically verified ISO. */
export async function hostnameMinimal(ctx: BenchContext): Promise<MeasureOutput> {
  needRealBuilds(ctx);
  const rows: Row[] = [];
  const base = await minimalBase(ctx, rows);
  const changed = writeConfig(ctx, 'minimal-no-boot-hostname', { ...NO_BOOT, hostname: 'ailinux-bench' });
  const r = await ailinuxOk(ctx, ['build', '-c', changed, '-w', base.work, '--offline'], {
    name: 'hostname-minimal',
    env: cacheEnv(base.cacheDir),
  });
  const steps = await stepTimes(ctx, base.work);
  rows.push({ case: 'build after a hostname change', ms: r.ms, detail: { ran: ran(steps) } });
  return {
    rows,
    notes: [
      'the finished minimal work dir, its config changed in hostname only; the build reruns the steps whose fingerprint covers it and verifies the ISO statically (no boot check). --offline: the layers stand whatever deb.debian.org published meanwhile.',
    ],
  };
}
