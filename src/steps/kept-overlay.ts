/**
 * `ailinux shell --keep DIR`: what a shell session changed, saved as an overlay directory (src/steps/overlays.ts,
 * docs/custom-profile.md) the user can add to `overlays.late`. The session's throwaway overlayfs upper is walked
 * once the session has ended (every process of it gone): files, directories and symlinks are copied with their
 * permission bits; owners other than root:root go into the overlay's manifest (.ailinux-overlay.yaml).
 *
 * What an overlay cannot say is reported, never dropped in silence:
 * - a deletion (an overlayfs whiteout): an overlay only adds and replaces, so each deleted path is printed and
 *   listed in a comment of the manifest (packages.remove or a hook removes things);
 * - a setuid or setgid bit: a root-owned setid program in the user's directory would be one on this host too, so the
 *   copy goes without the bit, and the manifest's comment says how to keep it in the image;
 * - a device, FIFO or socket (an overlay holds none).
 * A directory the session only passed through (copied up with its mode and owner as below) is left out unless
 * something kept lies under it. A directory removed and made again in the session hides what it held below
 * (overlayfs marks it opaque in an extended attribute, which node cannot read): its old entries are not listed as
 * deleted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { entryInLayers, type RootfsLayers } from '../runtime/layers.js';
import { OVERLAY_MANIFEST } from './overlays.js';

const SETID = 0o6000;

export interface KeptOverlay {
  /** Each path kept, without a leading "/", parents first. */
  kept: string[];
  /** Paths the session deleted, which an overlay cannot delete. */
  deleted: string[];
  /** Setuid/setgid bits left off the copies. */
  setidDropped: string[];
  /** Entries an overlay cannot hold, with why. */
  skipped: Array<{ rel: string; why: string }>;
  /** Whether a manifest was written (owners other than root, or something to report). */
  manifest: boolean;
}

interface ManifestPath {
  owner?: string;
}

/** An overlayfs whiteout: a character device 0:0. */
function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * Copies the session's upper dir into dest (an empty directory) as an overlay. `sealed`: the layers below the
 * session, topmost first, to tell a passed-through directory from a changed one.
 */
export function keepSessionChanges(upper: string, sealed: readonly string[], dest: string): KeptOverlay {
  const below: RootfsLayers = { own: null, below: [...sealed], mountPoint: '' };
  const out: KeptOverlay = { kept: [], deleted: [], setidDropped: [], skipped: [], manifest: false };
  const paths: Record<string, ManifestPath> = {};
  const ownerOf = (st: fs.Stats, rel: string) => {
    if (st.uid !== 0 || st.gid !== 0) paths[rel] = { owner: `${st.uid}:${st.gid}` };
  };

  /** Copies dir's entries; whether anything was kept under it. */
  const walk = (rel: string): boolean => {
    const from = rel === '' ? upper : path.join(upper, rel);
    let keptAny = false;
    for (const name of fs.readdirSync(from).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (r === OVERLAY_MANIFEST) {
        out.skipped.push({ rel: r, why: 'the name of the overlay manifest itself' });
        continue;
      }
      const src = path.join(upper, r);
      const to = path.join(dest, r);
      const st = fs.lstatSync(src);
      const bits = st.mode & 0o7777;
      if (isWhiteout(st)) {
        out.deleted.push(r);
      } else if (st.isDirectory()) {
        const lower = entryInLayers(below, r);
        const lowerSt = lower?.type === 'dir' ? fs.lstatSync(lower.hostPath) : null;
        const changed =
          lowerSt === null || (lowerSt.mode & 0o7777) !== bits || lowerSt.uid !== st.uid || lowerSt.gid !== st.gid;
        fs.mkdirSync(to);
        const inner = walk(r);
        if (!changed && !inner) {
          fs.rmdirSync(to);
          continue;
        }
        fs.chmodSync(to, bits & ~SETID);
        if (bits & SETID) out.setidDropped.push(r);
        // a directory the rootfs has keeps its own mode and owner unless the manifest names it
        if (changed && lowerSt !== null) paths[r] = { owner: `${st.uid}:${st.gid}` };
        else ownerOf(st, r);
        out.kept.push(r);
        keptAny = true;
      } else if (st.isFile()) {
        fs.copyFileSync(src, to, fs.constants.COPYFILE_EXCL);
        fs.chmodSync(to, bits & ~SETID);
        if (bits & SETID) out.setidDropped.push(r);
        ownerOf(st, r);
        out.kept.push(r);
        keptAny = true;
      } else if (st.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(src), to);
        ownerOf(st, r);
        out.kept.push(r);
        keptAny = true;
      } else {
        out.skipped.push({ rel: r, why: 'a device, FIFO or socket, which an overlay cannot hold' });
      }
    }
    return keptAny;
  };
  walk('');
  // parents first, as an overlay lists them
  out.kept.sort();

  const notes: string[] = [];
  if (out.deleted.length > 0) {
    notes.push(
      'Deleted in the session; an overlay cannot delete (packages.remove or a hook can):',
      ...out.deleted.map((r) => `  /${r}`),
    );
  }
  if (out.setidDropped.length > 0) {
    notes.push(
      'Setuid/setgid bits left off these copies (a root-owned setid file here would be one on this host);',
      'to keep one in the image: chmod it back here and add   <path>: { keepSetid: true }   under paths:',
      ...out.setidDropped.map((r) => `  /${r}`),
    );
  }
  if (out.skipped.length > 0) notes.push('Not kept:', ...out.skipped.map((s) => `  /${s.rel}: ${s.why}`));
  if (notes.length > 0 || Object.keys(paths).length > 0) {
    const header = ['Written by ailinux shell --keep.', ...notes].map((l) => `# ${l}`.trimEnd()).join('\n');
    const body = Object.keys(paths).length > 0 ? stringifyYaml({ paths }) : 'paths: {}\n';
    fs.writeFileSync(path.join(dest, OVERLAY_MANIFEST), `${header}\n${body}`, { mode: 0o644 });
    out.manifest = true;
  }
  return out;
}
