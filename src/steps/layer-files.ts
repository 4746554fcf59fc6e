/** Reading files out of the sealed rootfs layers from the host, as the merged rootfs shows them. */
import fs from 'node:fs';
import path from 'node:path';
import { findInLayers, writeLayerFile, type RootfsLayers } from '../runtime/layers.js';

const MAX_LINKS = 40;

/**
 * The host path of the file rel names in the merged rootfs, following symlinks inside the
 * rootfs (never out to the host's own files), or null when there is none.
 */
export function resolveInLayers(layers: RootfsLayers, rel: string): string | null {
  let current = rel.replace(/^\/+/, '');
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const found = findInLayers(layers, current);
    if (found === null) return null;
    const st = fs.lstatSync(found);
    if (!st.isSymbolicLink()) return found;
    const link = fs.readlinkSync(found);
    current = link.startsWith('/') ? link.slice(1) : path.posix.join(path.posix.dirname(current), link);
    current = path.posix.normalize(`/${current}`).slice(1);
  }
  throw new Error(`too many levels of symbolic links resolving ${rel} in the rootfs layers`);
}

/** Whether the merged rootfs has rel (a file, directory or symlink). */
export function existsInLayers(layers: RootfsLayers, rel: string): boolean {
  return findInLayers(layers, rel) !== null;
}

/** The first of rels the merged rootfs has, as a regular file (symlinks followed). */
export function firstFileInLayers(
  layers: RootfsLayers,
  rels: readonly string[],
): { rel: string; hostPath: string } | null {
  for (const rel of rels) {
    const hostPath = resolveInLayers(layers, rel);
    if (hostPath !== null && fs.statSync(hostPath).isFile()) return { rel, hostPath };
  }
  return null;
}

/** Writes bytes into the step's own layer, as writeLayerFile writes text (never through a symlink). */
export function writeLayerBytes(layers: RootfsLayers, rel: string, data: Uint8Array, mode: number): string {
  return writeLayerFile(layers, rel, data, mode);
}
