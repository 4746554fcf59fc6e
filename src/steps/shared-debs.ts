/**
 * The steps' side of the shared deb cache (src/runtime/deb-cache.ts, docs/performance.md#the-shared-deb-cache):
 * before an apt call, the work dir's apt archives dir (bound on the chroot's /var/cache/apt/archives) gets the cached
 * .debs that the rootfs's Packages indexes vouch for; after it, what apt downloaded there is checked and moved into
 * the cache. debootstrap gets the cache's files in its --cache-dir, checks each itself against the index it fetches,
 * and what it downloaded is moved in the same way once it has run.
 */
import fs from 'node:fs';
import type { AbsorbResult, SharedDebs, StageResult } from '../runtime/deb-cache.js';
import { describeKey } from '../runtime/deb-cache.js';
import { formatBytes } from '../runtime/format-bytes.js';
import { findInLayers, namesInLayersDir, readLayerFile, type RootfsLayers } from '../runtime/layers.js';
import { debFileName, PackagesIndex, parsePackagesEntries } from '../runtime/packages-index.js';
import type { StepContext } from './types.js';

const LISTS = 'var/lib/apt/lists';
const DPKG_STATUS = 'var/lib/dpkg/status';
/** The name under which the cache records the files of the last bootstrap's base system. */
const BOOTSTRAP_SET = 'bootstrap';

/** A list file parsed earlier in this run, by where it is and its size and mtime: each is parsed once. */
const parsed = new Map<string, { size: number; mtimeMs: number; entries: ReturnType<typeof parsePackagesEntries> }>();

/** The archive's Packages indexes as the rootfs has them (apt-get update's, or debootstrap's); null when none. */
export function packagesIndexOf(layers: RootfsLayers): PackagesIndex | null {
  const names = (namesInLayersDir(layers, LISTS) ?? []).filter((n) => n.endsWith('_Packages'));
  const entries: ReturnType<typeof parsePackagesEntries> = [];
  let files = 0;
  for (const name of names) {
    const rel = `${LISTS}/${name}`;
    const host = findInLayers(layers, rel);
    if (host === null) continue;
    const st = fs.lstatSync(host, { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    let seen = parsed.get(host);
    if (!seen || seen.size !== st.size || seen.mtimeMs !== st.mtimeMs) {
      const text = readLayerFile(layers, rel);
      if (text === null) continue;
      seen = { size: st.size, mtimeMs: st.mtimeMs, entries: parsePackagesEntries(text) };
      parsed.set(host, seen);
    }
    files++;
    for (const e of seen.entries) entries.push(e);
  }
  return files === 0 ? null : new PackagesIndex(entries);
}

/** The .deb file names of the packages dpkg has installed in the rootfs (what an apt call used). */
export function installedDebNames(layers: RootfsLayers): Set<string> {
  const out = new Set<string>();
  const text = readLayerFile(layers, DPKG_STATUS);
  if (text === null) return out;
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}: *(.+)$`, 'm').exec(stanza)?.[1]?.trim();
    const pkg = field('Package');
    const version = field('Version');
    const architecture = field('Architecture');
    const status = field('Status');
    if (pkg && version && architecture && status && / installed$/.test(status))
      out.add(debFileName({ package: pkg, version, architecture }));
  }
  return out;
}

function describeStaged(shared: SharedDebs, r: StageResult, checked: boolean): string {
  const parts = [
    `deb cache ${shared.cache.dir} (${describeKey(shared.key)}): ${r.staged.length} file(s), ${formatBytes(r.bytes)}, ${checked ? 'checked against the Packages index and ' : ''}linked for the download`,
  ];
  if (r.unknown > 0) parts.push(`${r.unknown} left out (not in this archive's index)`);
  if (r.dropped.length > 0)
    parts.push(
      `removed ${r.dropped.length} whose bytes were not the index's: ${r.dropped.map((d) => `${d.name} (${d.reason})`).join(', ')}`,
    );
  return parts.join('; ');
}

function describeAbsorbed(r: AbsorbResult): string {
  const parts = [`deb cache: ${r.added.length} new file(s) stored`];
  if (r.rejected.length > 0)
    parts.push(`${r.rejected.length} not stored: ${r.rejected.map((d) => `${d.name} (${d.reason})`).join(', ')}`);
  if (r.evicted.length > 0) parts.push(`${r.evicted.length} least recently used evicted for the size limit`);
  return parts.join('; ');
}

/**
 * Runs an apt call with the shared cache around it: `run` gets the archives dir to bind on /var/cache/apt/archives.
 * With a cache and an index to check against, that is a staging dir inside the cache (hard links work only within
 * one mount, and the sandbox binds the cache and the work dir each as a mount of its own), filled with the checked
 * files, its downloads stored and the dir removed after the call. Without a cache, or before the rootfs has any
 * Packages index, it is the work dir's dir, as before.
 */
export async function withSharedDebs<T>(
  ctx: StepContext,
  workArchives: string,
  run: (archives: string) => Promise<T>,
): Promise<T> {
  const shared = ctx.debs;
  const before = shared ? packagesIndexOf(ctx.layers) : null;
  if (!shared || before === null) return run(workArchives);
  const { cache, key } = shared;
  // what the work dir's own dir holds from builds before the shared cache goes in first (checked like any other)
  cache.absorb(key, workArchives, before);
  const staging = cache.stagingDir(ctx.paths.workDir, ctx.layers.own?.stepId ?? 'apt');
  try {
    const staged = cache.stage(key, staging, before);
    ctx.log.info(describeStaged(shared, staged, true));
    try {
      return await run(staging);
    } finally {
      // the cache is where, not what: a download it cannot store is said, and the build goes on
      try {
        storeDownloads(ctx, shared, staging, new Set(staged.staged));
      } catch (error) {
        ctx.log.info(`deb cache: the downloads could not be stored: ${(error as Error).message}`);
      }
    }
  } finally {
    cache.removeStaging(staging);
  }
}

/** After a download: its new .debs checked and moved in, and those of the staged files dpkg installed marked used. */
function storeDownloads(ctx: StepContext, shared: SharedDebs, staging: string, staged: ReadonlySet<string>): void {
  const index = packagesIndexOf(ctx.layers);
  if (index === null) return;
  const installed = installedDebNames(ctx.layers);
  const used = new Set([...staged].filter((n) => installed.has(n)));
  ctx.log.info(describeAbsorbed(shared.cache.absorb(shared.key, staging, index, used)));
}

/**
 * debootstrap's --cache-dir filled from the cache (debootstrap checks each file against the index it fetches): the
 * files of the last bootstrap's base system, or every file of the key the first time.
 */
export function stageForDebootstrap(ctx: StepContext, staging: string): ReadonlySet<string> {
  const shared = ctx.debs;
  if (!shared) return new Set();
  // the base system of the last bootstrap alone: the copies cross a mount (the work dir's and the cache's)
  const staged = shared.cache.stage(shared.key, staging, null, shared.cache.readSet(shared.key, BOOTSTRAP_SET));
  // an empty cache (the first build of the key) says nothing here: what it stores afterwards is said
  if (staged.staged.length > 0) ctx.log.info(describeStaged(shared, staged, false));
  return new Set(staged.staged);
}

/** After debootstrap: cached files its index disowns removed, its downloads checked and moved in. */
export function storeDebootstrapDownloads(ctx: StepContext, staging: string, staged: ReadonlySet<string>): void {
  const shared = ctx.debs;
  if (!shared) return;
  const index = packagesIndexOf(ctx.layers);
  if (index === null) {
    ctx.log.info('deb cache: the bootstrapped tree has no Packages index, so nothing it downloaded is stored');
    return;
  }
  const dropped = shared.cache.sweep(shared.key, index);
  if (dropped.length > 0)
    ctx.log.info(
      `deb cache: removed ${dropped.length} whose bytes were not the index's: ${dropped.map((d) => `${d.name} (${d.reason})`).join(', ')}`,
    );
  storeDownloads(ctx, shared, staging, staged);
  shared.cache.writeSet(shared.key, BOOTSTRAP_SET, installedDebNames(ctx.layers));
}

/** How a layer's tree goes into a tar and out again whole: xattrs (file capabilities), ACLs, numeric owners. */
const LAYER_TAR_OPTIONS = ['--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner'] as const;

/**
 * The step's layer from the shared cache, by the step's fingerprint (the same config fields, archive Release digest,
 * input files and step version), its tar checked against the sha256 recorded when it was stored; extracted into the
 * empty layer dir. false: no cache, no fingerprint, nothing kept for it, or the kept one failed its check (removed).
 */
export async function restoreLayer(ctx: StepContext, target: string): Promise<boolean> {
  const shared = ctx.debs;
  const fingerprint = ctx.fingerprint;
  const stepId = ctx.layers.own?.stepId;
  if (!shared || !fingerprint || !stepId || ctx.unsharedLayer !== undefined) return false;
  if (fs.readdirSync(target).length > 0) return false;
  const found = shared.cache.findLayer(shared.key, stepId, fingerprint);
  if (found === null) return false;
  ctx.log.info(
    `${stepId} layer from the deb cache by the step's fingerprint ${fingerprint.slice(0, 12)}: ${found.file} (${formatBytes(found.size)}, sha256 checked)`,
  );
  await ctx.runner.run(
    [
      'tar',
      '--extract',
      `--file=${found.file}`,
      `--directory=${target}`,
      ...LAYER_TAR_OPTIONS,
      '--preserve-permissions',
      '--same-owner',
    ],
    { signal: ctx.signal, onLine: ctx.log.line },
  );
  return true;
}

/**
 * Keeps the step's finished layer in the shared cache by its fingerprint, for the next work dir, unless the engine
 * said why it may not be shared (layer-cache.ts). With needsIndex (the bootstrap), only a tree with the archive's
 * Packages index (a real bootstrap: its packages can be checked) is kept.
 */
export async function keepLayer(
  ctx: StepContext,
  target: string,
  options: { needsIndex: boolean } = { needsIndex: true },
): Promise<void> {
  const shared = ctx.debs;
  const fingerprint = ctx.fingerprint;
  const stepId = ctx.layers.own?.stepId;
  if (!shared || !fingerprint || !stepId || ctx.unsharedLayer !== undefined) return;
  if (options.needsIndex && packagesIndexOf(ctx.layers) === null) return;
  try {
    await shared.cache.storeLayer(shared.key, stepId, fingerprint, async (temp) => {
      await ctx.runner.run(
        [
          'tar',
          '--create',
          `--file=${temp}`,
          `--directory=${target}`,
          ...LAYER_TAR_OPTIONS,
          '--sort=name',
          '--format=posix',
          '.',
        ],
        { signal: ctx.signal, onLine: ctx.log.line },
      );
    });
    ctx.log.info(`${stepId} layer kept in the deb cache by the step's fingerprint ${fingerprint.slice(0, 12)}`);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    // the cache is where, not what: a layer it cannot keep is said, and the build goes on
    ctx.log.info(`${stepId} layer not kept in the deb cache: ${(error as Error).message}`);
  }
}
