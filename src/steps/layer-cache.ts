/**
 * Every layer step's sealed layer in the shared cache by its fingerprint (docs/performance.md#the-shared-deb-cache):
 * a new work dir whose step has the fingerprint another work dir's step had takes that layer (a tar, its sha256
 * checked against the cache's index) instead of running the step. The fingerprint chains the one of the step before
 * it, and covers the step's config fields, input files and trees, its version, SOURCE_DATE_EPOCH and the archive's
 * Release digests of the suites the package steps install from, so an unchanged fingerprint means the same layer
 * on the same layers below.
 *
 * A layer is shared only where that holds:
 * - the steps listed in SHARED_LAYER_STEPS alone, and none above a step that is not: a hook's script (or a
 *   registered step) may fetch or read anything, and what the steps above it make depends on it;
 * - not the packages step when packages.local is set: its run also makes the work dir's local repository that later
 *   package steps read (cache/local-repo), which a restored layer would not;
 * - not once a step up to it has a secret in its fingerprint (liveUser.password, a debconf password answer): that
 *   part is a keyed hash under the work dir's own key, so no other work dir can ask for it, and the layer holds the
 *   password's hash;
 * - not once a step up to it lacks its archive entries (--offline in a work dir with no earlier run): the fingerprint
 *   would then not say which archive state the layer was built from.
 * The bootstrap step takes and keeps its own layer (bootstrap.ts), after it has its archive keyring.
 */
import fs from 'node:fs';
import type { BuildConfig } from '../config/schema.js';
import { entryInLayers, readLayerFile, writeLayerFile } from '../runtime/layers.js';
import { ARCHIVE_KEY_PREFIX, suiteKey } from '../runtime/archive-release.js';
import type { Artifact, FingerprintMaterial } from '../types.js';
import { discardLayer, layerArtifact, ownLayerOf, prepareLayer } from './layer-step.js';
import { keepLayer, restoreLayer } from './shared-debs.js';
import type { StepContext, StepDef } from './types.js';

/** The layer steps whose layer the fingerprint determines (beside bootstrap, which does it itself). */
export const SHARED_LAYER_STEPS: ReadonlySet<string> = new Set([
  'overlay-early',
  'configure',
  'packages',
  'desktop',
  'installer',
  'branding',
  'packages-remove',
  'overlay-late',
  'identity',
  'chroot-cleanup',
]);

/**
 * The switch that keeps every layer out of the shared cache (the .debs stay shared): `AILINUX_LAYER_CACHE=off`. For a
 * build that must run every step (a from-scratch reproducibility check, a test that interrupts a step) and for a
 * user who wants the cache to hold .debs alone.
 */
export const LAYER_CACHE_ENV = 'AILINUX_LAYER_CACHE';

/** Why no layer is shared in this process, or null when the switch is not set to off. */
export function layerCacheSwitchedOff(env: NodeJS.ProcessEnv = process.env): string | null {
  return env[LAYER_CACHE_ENV] === 'off'
    ? `${LAYER_CACHE_ENV}=off: no layer is taken from or kept in the shared cache`
    : null;
}

interface PlannedStep {
  id: string;
  material: FingerprintMaterial;
}

/** What stands for a secret in a fingerprint's material (fingerprint.ts keyedHash). */
const KEYED = '"hmac-sha256:';

/**
 * For each step of the build (in order), why its layer is not shared, or null when it is. Steps without a layer of
 * their own get a reason too (no layer).
 */
export function unsharedLayerReasons(
  steps: readonly StepDef[],
  planned: readonly PlannedStep[],
  config: BuildConfig,
): Map<string, string | null> {
  const out = new Map<string, string | null>();
  const material = new Map(planned.map((p) => [p.id, p.material]));
  let chain: string | null = layerCacheSwitchedOff();
  for (const step of steps) {
    const m = material.get(step.id);
    if (chain === null && m !== undefined) {
      if (JSON.stringify(m.config).includes(KEYED))
        chain = `${step.id}'s fingerprint holds a secret as a hash under this work dir's own key`;
      else {
        const missing = (step.archiveSuites?.(config) ?? []).find(
          (s) => m.files[`${ARCHIVE_KEY_PREFIX}${suiteKey(s)}`] === undefined,
        );
        if (missing) chain = `${step.id}'s fingerprint has no archive state for ${suiteKey(missing)} (--offline)`;
      }
    }
    // a layer its fingerprint does not determine leaves the layers above it undetermined too (an initramfs of them)
    if (chain === null && step.layer !== 'none' && step.id !== 'bootstrap' && !SHARED_LAYER_STEPS.has(step.id))
      chain = `${step.id} is not known to make the same layer for the same fingerprint (a hook may fetch anything)`;
    let reason: string | null = chain;
    if (step.layer === 'none') reason = 'no layer';
    else if (reason === null && step.id === 'packages' && config.packages.local !== undefined)
      reason = 'packages.local is set: the packages step also makes the work dir’s local repository';
    out.set(step.id, reason);
  }
  return out;
}

/** The step's run, or its layer from the shared cache when one of its fingerprint is kept there and checks out. */
export async function runOrRestoreLayer(step: StepDef, ctx: StepContext): Promise<Artifact[]> {
  if (step.layer === 'overlay' && ctx.debs && ctx.fingerprint && ctx.unsharedLayer === undefined) {
    prepareLayer(ctx);
    try {
      if (await restoreLayer(ctx, ownLayerOf(ctx).upper)) {
        refreshHostResolvConf(ctx);
        return [layerArtifact(ctx)];
      }
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      // the cache is where, not what: a layer that will not come out whole is thrown away and the step runs
      ctx.log.info(
        `${step.id} layer not restored from the shared cache: ${(error as Error).message}; running the step`,
      );
      await discardLayer(ctx);
    }
  }
  return step.run(ctx);
}

/**
 * The one file of a layer before chroot-cleanup that is the host's, not the fingerprint's: /etc/resolv.conf as the
 * host had it when the layer was made (configure copies it in, runInChroot's ensureResolvConf may), so that apt in
 * the chroot resolves names. A restored layer that has it as a file of its own gets this host's, as a run now would;
 * chroot-cleanup puts the image's own in its place, so the image is the same either way.
 */
function refreshHostResolvConf(ctx: StepContext): void {
  const steps = ctx.config.steps;
  const own = ownLayerOf(ctx);
  const cleanup = steps.indexOf('chroot-cleanup');
  if (cleanup === -1 || steps.indexOf(own.stepId) === -1 || steps.indexOf(own.stepId) > cleanup) return;
  const mine = { ...ctx.layers, below: [] };
  if (entryInLayers(mine, 'etc/resolv.conf')?.type !== 'file') return;
  const host = fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '';
  if (readLayerFile(mine, 'etc/resolv.conf') === host) return;
  writeLayerFile(ctx.layers, 'etc/resolv.conf', host, 0o644);
  ctx.log.info(`${own.stepId} layer: /etc/resolv.conf is this host's again (chroot-cleanup replaces it)`);
}

/** After the step's verify: its layer kept in the shared cache by its fingerprint, unless it is there already. */
export async function keepVerifiedLayer(step: StepDef, ctx: StepContext): Promise<void> {
  if (step.layer !== 'overlay' || !ctx.debs || !ctx.fingerprint) return;
  if (ctx.unsharedLayer !== undefined) {
    // the switch is the user's own choice: no line per step for it
    if (ctx.unsharedLayer !== layerCacheSwitchedOff())
      ctx.log.info(`${step.id} layer not kept in the shared cache: ${ctx.unsharedLayer}`);
    return;
  }
  try {
    if (ctx.debs.cache.hasLayer(ctx.debs.key, step.id, ctx.fingerprint)) return;
  } catch (error) {
    ctx.log.info(`${step.id} layer not kept in the shared cache: ${(error as Error).message}`);
    return;
  }
  await keepLayer(ctx, ownLayerOf(ctx).upper, { needsIndex: false });
}
