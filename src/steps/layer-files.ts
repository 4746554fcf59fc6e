/** Reading files out of the sealed rootfs layers from the host, as the merged rootfs shows them. */
import { findInLayers, readFileInLayers, writeLayerFile, type RootfsLayers } from '../runtime/layers.js';

/** Whether the merged rootfs has rel (a file, directory or symlink). */
export function existsInLayers(layers: RootfsLayers, rel: string): boolean {
  return findInLayers(layers, rel) !== null;
}

/** A file read out of the layers: its bytes, read through the descriptor the lookup opened, and where it lay. */
export interface LayerFile {
  rel: string;
  hostPath: string;
  data: Buffer;
}

/**
 * The first of rels the merged rootfs has as a regular file (symlinks followed inside the rootfs, never out to the
 * host's own files), read whole: copy these bytes, never the host path, which a swapped directory could redirect.
 */
export function firstFileInLayers(layers: RootfsLayers, rels: readonly string[]): LayerFile | null {
  for (const rel of rels) {
    const found = readFileInLayers(layers, rel);
    if (found !== null) return { rel, ...found };
  }
  return null;
}

/** Writes bytes into the step's own layer, as writeLayerFile writes text (never through a symlink). */
export function writeLayerBytes(layers: RootfsLayers, rel: string, data: Uint8Array, mode: number): string {
  return writeLayerFile(layers, rel, data, mode);
}
