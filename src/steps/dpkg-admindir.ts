/**
 * dpkg-query reads the rootfs's package database from the host by path (--admindir), so it follows symlinks there
 * against the host's root: an absolute var/lib/dpkg link in a layer would put the host's package list into the
 * image's manifest. The database and the files dpkg-query reads in it must be real entries of the rootfs.
 */
import { StepError } from '../errors.js';
import { entryInLayers, type LayerEntryInfo, namesInLayersDir, type RootfsLayers } from '../runtime/layers.js';

/** The admin dir's path in the rootfs: each of its components must be a directory, none a symlink. */
export const DPKG_ADMINDIR = 'var/lib/dpkg';

interface Wanted {
  rel: string;
  type: 'file' | 'dir';
  /** false: it may be absent. */
  required: boolean;
}

/** The admin dir's components, then what dpkg-query -W opens in it. */
const WANTED: readonly Wanted[] = [
  ...['var', 'var/lib', DPKG_ADMINDIR].map((rel): Wanted => ({ rel, type: 'dir', required: true })),
  { rel: `${DPKG_ADMINDIR}/status`, type: 'file', required: true },
  { rel: `${DPKG_ADMINDIR}/updates`, type: 'dir', required: false },
  { rel: `${DPKG_ADMINDIR}/arch`, type: 'file', required: false },
  { rel: `${DPKG_ADMINDIR}/available`, type: 'file', required: false },
];

function describeEntry(entry: LayerEntryInfo): string {
  if (entry.type === 'symlink') return `is a symlink (to ${entry.link})`;
  return `is a ${entry.type === 'file' ? 'regular file' : entry.type === 'dir' ? 'directory' : 'special file'}`;
}

/** Refuses (StepError of stepId) unless var, var/lib, var/lib/dpkg and what dpkg-query reads there are real entries. */
export function checkDpkgAdmindir(layers: RootfsLayers, stepId: string): void {
  const journal = (namesInLayersDir(layers, `${DPKG_ADMINDIR}/updates`) ?? []).map(
    // dpkg-query reads each pending journal entry there as status records
    (name): Wanted => ({ rel: `${DPKG_ADMINDIR}/updates/${name}`, type: 'file', required: false }),
  );
  for (const { rel, type, required } of [...WANTED, ...journal]) {
    const entry = entryInLayers(layers, rel);
    if (entry === null && !required) continue;
    if (entry?.type === type) continue;
    if (entry === null) throw new StepError(stepId, `the rootfs has no /${rel}, so no package manifest can be made`);
    throw new StepError(
      stepId,
      `the rootfs's /${rel} ${describeEntry(entry)}, not a ${type === 'dir' ? 'directory' : 'regular file'}: ` +
        "dpkg-query would read it on the host's side, so the package manifest is not made from it",
    );
  }
}
