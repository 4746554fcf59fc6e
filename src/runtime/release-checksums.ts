/**
 * A Release file's SHA256 section as the build reads it: which Packages indexes of a suite the build uses and their
 * digests (src/runtime/apt-lists.ts fetches them; the fingerprints carry the digests). Dependency-free, so the
 * archive check and the fingerprints load it without the fetch.
 */

/** One line of a Release file's SHA256 section. */
export interface ReleaseChecksum {
  sha256: string;
  size: number;
}

/**
 * The text a clear-signed InRelease signs (RFC 4880 §7): the lines between the armor headers' blank line and
 * `-----BEGIN PGP SIGNATURE-----`, dash-escaping undone; anything before or after the signed part is dropped, so
 * what the build reads of it is only what its signature covers. A Release (not clear-signed) is its whole text.
 */
export function signedText(text: string): string {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const begin = lines.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
  if (begin === -1) return text;
  const blank = lines.indexOf('', begin + 1);
  if (blank === -1) return '';
  const end = lines.indexOf('-----BEGIN PGP SIGNATURE-----', blank + 1);
  if (end === -1) return '';
  return lines
    .slice(blank + 1, end)
    .map((l) => (l.startsWith('- ') ? l.slice(2) : l))
    .join('\n');
}

/**
 * The SHA256 section of a Release (of an InRelease, its signed text alone): each listed path with its digest and
 * size.
 */
export function releaseChecksums(text: string): Map<string, ReleaseChecksum> {
  const out = new Map<string, ReleaseChecksum>();
  let inSection = false;
  for (const line of signedText(text).split('\n')) {
    if (/^SHA256:\s*$/.test(line)) {
      inSection = true;
      continue;
    }
    if (!inSection) continue;
    // the section is its indented lines; the next field (or the signature) ends it
    if (line[0] !== ' ' && line[0] !== '\t') {
      inSection = false;
      continue;
    }
    const m = /^\s+([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (m) out.set(m[3]!, { sha256: m[1]!.toLowerCase(), size: Number(m[2]) });
  }
  return out;
}

/** Whether the Release says its indexes may be fetched by hash (`Acquire-By-Hash: yes`). */
export function acquireByHash(text: string): boolean {
  return /^Acquire-By-Hash:[ \t]*yes[ \t]*$/im.test(signedText(text));
}

/** The index path of a component's Packages for an architecture, relative to dists/<suite>/. */
export function packagesPath(component: string, arch: string): string {
  return `${component}/binary-${arch}/Packages`;
}

/**
 * The digests of the Packages indexes a build uses, by path: the plain file's entry, else the .gz's (by its own
 * path). A component the Release does not list for the architecture is left out: the key says which were there.
 */
export function packagesDigests(text: string, components: readonly string[], arch: string): Record<string, string> {
  const sums = releaseChecksums(text);
  const out: Record<string, string> = {};
  for (const component of components) {
    const plain = packagesPath(component, arch);
    for (const p of [plain, `${plain}.gz`]) {
      const entry = sums.get(p);
      if (entry) {
        out[p] = entry.sha256;
        break;
      }
    }
  }
  return out;
}
