/**
 * The user's own files (branding assets, helper files) are named relative to the config file and must stay in its
 * directory: the schema refuses "/" and "..", and this check, at load time, refuses a symlink on the way that leads
 * out, so a host file (/etc/shadow) can never end up in the image. Repository keys and the keyring are host paths
 * (absolute paths are allowed there, and each key is pinned by sha256), so they are not held to this.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { BuildConfig } from './schema.js';

export interface OwnFile {
  /** The dotted config field, e.g. `helper.files.0.source`. */
  field: string;
  /** The path the field names, relative to the config file's directory. */
  rel: string;
}

/** Every config field that names one of the user's own files, with the path relative to the config's directory. */
export function ownFiles(config: BuildConfig): OwnFile[] {
  const out: OwnFile[] = [];
  const b = config.branding;
  if (b.dir !== undefined) {
    out.push({ field: 'branding.dir', rel: b.dir });
    for (const role of ['logo', 'welcome', 'splash', 'wallpaper'] as const) {
      const name = b[role];
      if (name !== undefined) out.push({ field: `branding.${role}`, rel: path.join(b.dir, name) });
    }
  }
  config.helper?.files.forEach((f, i) => {
    out.push({ field: `helper.files.${i}.source`, rel: f.source });
  });
  return out;
}

const MAX_LINKS = 40;

/** Where a path really leads: realpath of what exists, a dangling link followed by its text, the rest appended. */
function realPathOf(abs: string, depth = 0): string {
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest);
    } catch {
      // not there (yet), or a dangling or looping link: look at this component itself
    }
    let target: string | null = null;
    try {
      if (fs.lstatSync(cur).isSymbolicLink()) target = fs.readlinkSync(cur);
    } catch {
      target = null;
    }
    if (target !== null && depth < MAX_LINKS)
      return realPathOf(path.join(path.resolve(path.dirname(cur), target), ...rest), depth + 1);
    const parent = path.dirname(cur);
    if (parent === cur) return path.join(cur, ...rest);
    rest.unshift(path.basename(cur));
    cur = parent;
  }
}

/** The symlinks on the way from dir to dir/rel, each with the text it points to. */
function linksOnTheWay(dir: string, rel: string): Array<{ link: string; target: string }> {
  const found: Array<{ link: string; target: string }> = [];
  let cur = dir;
  for (const part of rel.split(/[\\/]+/).filter(Boolean)) {
    cur = path.join(cur, part);
    try {
      if (fs.lstatSync(cur).isSymbolicLink()) found.push({ link: cur, target: fs.readlinkSync(cur) });
    } catch {
      break;
    }
  }
  return found;
}

/** Refuses (exit 2, naming the field and where the link points) an own file whose real path leaves baseDir. */
export function checkOwnFilesInside(config: BuildConfig, baseDir: string, file: string | null = null): void {
  const root = realPathOf(path.resolve(baseDir));
  for (const { field, rel } of ownFiles(config)) {
    const real = realPathOf(path.resolve(baseDir, rel));
    if (real === root || real.startsWith(`${root}${path.sep}`)) continue;
    const links = linksOnTheWay(path.resolve(baseDir), rel);
    const via = links.map((l) => `${path.relative(baseDir, l.link)} -> ${l.target}`).join(', ');
    throw new ConfigError(
      `${field}: ${rel} leads out of the config file's directory ${root}: it resolves to ${real}${via ? ` (symlink ${via})` : ''}`,
      [
        {
          path: field,
          value: rel,
          expected: `a path inside ${root}; ${via ? `the symlink ${via} points outside it` : 'this path leaves it'}`,
        },
      ],
      file ?? undefined,
      { hint: 'copy the file into the config directory instead of linking to it' },
    );
  }
}
