/** checksums: sha256 and md5 files beside the ISO, in the format sha256sum -c and md5sum -c read. */
import fs from 'node:fs';
import path from 'node:path';
import { StepError } from '../errors.js';
import { removeTree } from '../runtime/safe-remove.js';
import { fileArtifact } from './artifacts.js';
import { fileDigests } from './file-digests.js';
import type { StepContext, StepDef } from './types.js';

export function isoPath(ctx: StepContext): string {
  return path.join(ctx.paths.outputDir, `${ctx.config.iso.outputName}.iso`);
}

/** Through the build's digest memo: the iso step read the ISO once for both, unchanged since unless its times moved. */
async function hashIso(file: string): Promise<{ sha256: string; md5: string }> {
  return fileDigests.digests(file, ['sha256', 'md5']);
}

function checksumFiles(ctx: StepContext) {
  const iso = isoPath(ctx);
  return { iso, sha256: `${iso}.sha256`, md5: `${iso}.md5` };
}

export const checksumsStep: StepDef = {
  id: 'checksums',
  title: 'Write sha256 and md5 checksum files',
  version: 1,
  layer: 'none',
  phase: 12,
  needs: ['iso'],
  configFields: ['iso.outputName'],
  async run(ctx) {
    const f = checksumFiles(ctx);
    const name = path.basename(f.iso);
    const sums = await hashIso(f.iso);
    fs.writeFileSync(f.sha256, `${sums.sha256}  ${name}\n`);
    fs.writeFileSync(f.md5, `${sums.md5}  ${name}\n`);
    return [await fileArtifact(ctx.paths.workDir, f.sha256), await fileArtifact(ctx.paths.workDir, f.md5)];
  },
  async verify(ctx) {
    const f = checksumFiles(ctx);
    const sums = await fileDigests.digests(f.iso, ['sha256']);
    const recorded = fs.readFileSync(f.sha256, 'utf8').split(/\s+/)[0];
    if (recorded !== sums.sha256) throw new StepError('checksums', `${f.sha256} does not match ${f.iso}`);
  },
  async undo(ctx) {
    const f = checksumFiles(ctx);
    for (const file of [f.sha256, f.md5]) await removeTree(file, { within: ctx.paths.workDir });
  },
};
