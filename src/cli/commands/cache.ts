/**
 * ailinux cache: the shared deb cache (src/runtime/deb-cache.ts): where it is, how large, its files per
 * distribution, suite and architecture, its limit; `cache prune` removes the least recently used files down to the
 * limit or --max-size. The location is the one a build here would use: AILINUX_CACHE_DIR, else the config's
 * cache.dir (the config found as `build` finds it, or -c/-p), else the user's cache home.
 */
import fs from 'node:fs';
import { UsageError } from '../../errors.js';
import { loadBuildConfig } from '../../engine/build.js';
import {
  CACHE_DIR_ENV,
  type CacheLocation,
  type CacheStats,
  DebCache,
  DEFAULT_CACHE_MAX_SIZE,
  parseSize,
  resolveCacheDir,
} from '../../runtime/deb-cache.js';
import { formatBytes } from '../../runtime/format-bytes.js';
import { terminalLine } from '../../runtime/terminal-text.js';
import { withDiscoveredConfig } from '../config-discovery.js';
import { EXIT } from '../exit-codes.js';
import type { CliIO } from '../io.js';

export const CACHE_ACTIONS = ['show', 'prune'] as const;
export type CacheAction = (typeof CACHE_ACTIONS)[number];

export interface CacheCommandOptions {
  config?: string;
  profile?: string;
  json?: boolean;
  maxSize?: string;
}

function sourceWords(location: CacheLocation): string {
  if (location.source === 'env') return `from ${CACHE_DIR_ENV}`;
  if (location.source === 'config') return 'from cache.dir';
  return 'the default';
}

function statsLines(stats: CacheStats): string[] {
  const share = stats.maxBytes > 0 ? ` (${Math.round((100 * stats.bytes) / stats.maxBytes)} %)` : '';
  const lines = [
    `size: ${formatBytes(stats.bytes)} of ${formatBytes(stats.maxBytes)}${share}, ${stats.entries} file(s)`,
  ];
  const width = Math.max(0, ...stats.keys.map((k) => k.key.length));
  for (const k of stats.keys)
    lines.push(
      `  ${terminalLine(k.key).padEnd(width)}  ${String(k.entries).padStart(6)} file(s)  ${formatBytes(k.bytes)}${k.layers > 0 ? ` (${k.layers} kept layer${k.layers === 1 ? '' : 's'}, ${formatBytes(k.layerBytes)}: ${k.layerSteps.map(terminalLine).join(', ')})` : ''}`,
    );
  return lines;
}

export function runCacheCommand(action: string | undefined, options: CacheCommandOptions, io: CliIO): number {
  const chosenAction = action ?? 'show';
  if (!(CACHE_ACTIONS as readonly string[]).includes(chosenAction))
    throw new UsageError(`cache takes show or prune, not ${chosenAction}`, {
      hint: 'run ailinux cache or ailinux cache prune',
    });
  if (options.maxSize !== undefined && chosenAction !== 'prune')
    throw new UsageError('--max-size is an option of cache prune', {
      hint: `run ailinux cache prune --max-size ${options.maxSize}`,
    });
  const pruneTo = options.maxSize === undefined ? undefined : parseSize(options.maxSize);
  if (pruneTo === null)
    throw new UsageError(`--max-size ${options.maxSize} is not a size`, {
      hint: 'give a size such as 5GiB, 500M or 0 (empty the cache)',
    });
  const chosen = withDiscoveredConfig(options, io, null);
  const loaded = loadBuildConfig({ configFile: chosen.config ?? null, profile: chosen.profile ?? null, cwd: io.cwd });
  const location = resolveCacheDir({
    configured: loaded.config.cache.dir,
    baseDir: loaded.baseDir,
    env: io.env,
    cwd: io.cwd,
  });
  if (location === null)
    throw new UsageError('no cache dir: neither HOME nor XDG_CACHE_HOME names a cache home', {
      hint: `set ${CACHE_DIR_ENV} or cache.dir`,
    });
  const maxBytes = parseSize(loaded.config.cache.maxSize) ?? parseSize(DEFAULT_CACHE_MAX_SIZE)!;
  const where = `deb cache: ${terminalLine(location.dir)} (${sourceWords(location)})`;
  if (!fs.existsSync(location.dir)) {
    // show and prune read or remove only: a cache that is not there is not made
    if (options.json)
      io.stdout.write(
        `${JSON.stringify({ dir: location.dir, source: location.source, exists: false, bytes: 0, entries: 0, maxBytes, keys: [], removed: [] }, null, 2)}\n`,
      );
    else io.stdout.write(`${where}\nit does not exist yet: the first build makes it\n`);
    return EXIT.ok;
  }
  const cache = DebCache.open(location, { maxBytes });
  const removed = chosenAction === 'prune' ? cache.prune(pruneTo ?? maxBytes) : [];
  const stats = cache.stats();
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ ...stats, source: location.source, exists: true, removed }, null, 2)}\n`);
    return EXIT.ok;
  }
  const lines = [where, ...statsLines(stats)];
  if (chosenAction === 'prune')
    lines.push(
      removed.length > 0
        ? `pruned to ${formatBytes(pruneTo ?? maxBytes)}: removed ${removed.length} file(s), least recently used first`
        : `nothing to prune: the cache is within ${formatBytes(pruneTo ?? maxBytes)}`,
    );
  io.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
