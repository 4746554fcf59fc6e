/** Artifact records: what a step made, with size and sha256, so reuse can be checked and reported. */
import fs from 'node:fs';
import path from 'node:path';
import type { Artifact } from '../types.js';
import { fileDigests } from './file-digests.js';

/** Through the build's digest memo: a file a step hashed before, unchanged since, is not read again. */
export async function sha256File(file: string): Promise<string> {
  return (await fileDigests.digests(file, ['sha256'])).sha256;
}

export async function fileArtifact(workDir: string, file: string): Promise<Artifact> {
  const st = fs.statSync(file);
  return { path: path.relative(workDir, file), kind: 'file', size: st.size, sha256: await sha256File(file) };
}

/** Whether a recorded artifact is still there as it was made (existence and size; contents are not rehashed). */
export function artifactPresent(workDir: string, artifact: Artifact): boolean {
  const st = fs.statSync(path.join(workDir, artifact.path), { throwIfNoEntry: false });
  if (!st) return false;
  if (artifact.kind === 'dir') return st.isDirectory();
  return st.isFile() && (artifact.size === undefined || st.size === artifact.size);
}
