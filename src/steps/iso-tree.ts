/** Files in the ISO tree: fixed times under SOURCE_DATE_EPOCH, and the md5sum.txt the live system's medium check reads. */
import fs from 'node:fs';
import path from 'node:path';
import { fileDigests } from './file-digests.js';

/** Gives files written into the ISO tree the SOURCE_DATE_EPOCH time, so a rebuild makes the same tree. */
export function pinMtimes(files: readonly string[], sourceDateEpoch: number | null): void {
  if (sourceDateEpoch === null) return;
  for (const f of files) fs.utimesSync(f, sourceDateEpoch, sourceDateEpoch);
}

/** Every regular file under dir, as sorted paths relative to it with / separators. */
export function listTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listTree(dir, child));
    else if (entry.isFile()) out.push(child);
  }
  return out.sort();
}

/** Through the build's digest memo: the squashfs step hashed its images (md5 too) as it recorded them. */
async function md5Of(file: string): Promise<string> {
  return (await fileDigests.digests(file, ['md5'])).md5;
}

/**
 * /md5sum.txt in the format casper's integrity-check and live-boot's verify-checksums read
 * ("<md5>  ./path"). Files xorriso changes on the way into the ISO (boot images patched with a
 * boot-info table) or leaves out are not listed, since their sums could not match.
 */
export async function renderMd5sums(isoDir: string, exclude: ReadonlySet<string>): Promise<string> {
  const lines: string[] = [];
  for (const rel of listTree(isoDir)) {
    if (rel === 'md5sum.txt' || exclude.has(rel)) continue;
    lines.push(`${await md5Of(path.join(isoDir, rel))}  ./${rel}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
