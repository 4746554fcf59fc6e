/**
 * overlays: directory trees of the user's, copied into the rootfs at two points (docs/custom-profile.md):
 * overlay-early right after bootstrap, before the package steps (apt and dpkg configuration, like mkosi's skeleton
 * trees), and overlay-late after the last package step, before the live user is made (like mkosi's extra trees and
 * live-build's includes.chroot). Neither is listed in a profile's steps: each joins the list when its field has a
 * directory (autoPlace), and a profile that lists one keeps it where it stands.
 *
 * Copy rules: regular files, directories (empty ones too) and symlinks, with their permission bits; a symlink is
 * copied as a link, its text unchanged, never followed on either side. Owners are root:root unless the overlay's
 * manifest (.ailinux-overlay.yaml at its top, never copied) gives numeric ones; setuid and setgid bits are dropped,
 * with a line in the step log, unless the manifest keeps them for that path. A directory the rootfs already has
 * keeps its mode and owner unless the manifest names it. Several directories at one point are laid on in order, a
 * later one's entry replacing an earlier one's.
 *
 * The host side is read by descriptors from the config file's directory down, never through a symlink; the
 * fingerprint covers every path, its kind, mode, owner, link text and content hash (through the engine's input hash
 * cache), and the copy hashes what it writes and refuses a file that no longer has the fingerprinted bytes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { BuildConfig } from '../config/schema.js';
import { ConfigError, StepError } from '../errors.js';
import {
  errnoCode,
  fdPath,
  openDirAt,
  openDirUnder,
  openEntryAt,
  readLinkAt,
  readRegularFile,
} from '../runtime/dir-fd.js';
import { entryInLayers, readFileInLayers, writeLayerNode } from '../runtime/layers.js';
import { discardLayer, layerArtifact, prepareLayer } from './layer-step.js';
import type { HostFileHasher, StepContext, StepDef } from './types.js';

export const OVERLAY_MANIFEST = '.ailinux-overlay.yaml';
/** Entries one point may have: each is a line of the fingerprint's material in the state file. */
export const MAX_OVERLAY_ENTRIES = 20_000;
/** The prefix of an overlay entry's key in a fingerprint's `files` (the planner reads it back). */
export const OVERLAY_KEY_PREFIX = 'overlay:';
const SETID = 0o6000;
const CHUNK = 1024 * 1024;

export type OverlayPoint = 'early' | 'late';

export interface OverlayEntry {
  /** The path in the rootfs, without a leading "/". */
  rel: string;
  kind: 'file' | 'dir' | 'symlink';
  /** Permission bits as they go into the image (setuid and setgid already dropped unless kept). */
  mode: number;
  uid: number;
  gid: number;
  /** setuid/setgid bits the overlay had and the image will not (no keepSetid in the manifest). */
  droppedSetid: number;
  /** The manifest names this path: a directory the rootfs has takes this mode and owner too. */
  named: boolean;
  target?: string;
  sha256?: string;
  /** Which directory of the point's list it comes from (index), and that directory as configured. */
  from: number;
  dir: string;
}

/** The kind, mode, owner and content of an entry, in one line: a fingerprint's value for it. */
export function describeEntry(e: OverlayEntry): string {
  const mode = e.mode.toString(8).padStart(4, '0');
  if (e.kind === 'dir') return `dir ${mode} ${e.uid}:${e.gid}${e.named ? ' named' : ''}`;
  if (e.kind === 'symlink') return `symlink ${e.uid}:${e.gid} -> ${e.target}`;
  return `file ${mode} ${e.uid}:${e.gid} sha256:${e.sha256}`;
}

const ownerText = z
  .string()
  .regex(/^\d{1,10}:\d{1,10}$/, 'a numeric "uid:gid", e.g. "0:0" or "1000:1000"')
  .refine((s) => s.split(':').every((n) => Number(n) <= 0xfffffffe), 'ids up to 4294967294');
const manifestSchema = z
  .object({
    paths: z
      .record(
        z.string().min(1),
        z
          .object({
            owner: ownerText.optional().describe('Numeric owner of this path in the image'),
            keepSetid: z.boolean().optional().describe('Keep its setuid and setgid bits'),
          })
          .strict(),
      )
      .default({}),
  })
  .strict();

interface Manifest {
  /** Every path the manifest names. */
  named: Set<string>;
  owners: Map<string, { uid: number; gid: number }>;
  keepSetid: Set<string>;
}

function cleanOverlayRel(p: string): string | null {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.length === 0 || parts.includes('..')) return null;
  return parts.join('/');
}

/** The overlay's manifest, read through its handle at the overlay's top; none is an empty one. */
function readManifest(rootFd: number, where: string, field: string): Manifest {
  const empty: Manifest = { named: new Set(), owners: new Map(), keepSetid: new Set() };
  let handle: number;
  try {
    handle = openEntryAt(rootFd, OVERLAY_MANIFEST);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return empty;
    throw error;
  }
  const file = path.join(where, OVERLAY_MANIFEST);
  let data: Buffer | null;
  try {
    data = readRegularFile(handle);
  } finally {
    fs.closeSync(handle);
  }
  const refuse = (problem: string): never => {
    throw new ConfigError(`${field}: the overlay manifest ${file} ${problem}`, [], undefined, {
      hint: `see "Files of your own: overlays" in docs/custom-profile.md for ${OVERLAY_MANIFEST}`,
    });
  };
  if (data === null) return refuse('is not a regular file');
  let raw: unknown;
  try {
    raw = parseYaml(data.toString('utf8'));
  } catch (error) {
    return refuse(`is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = manifestSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return refuse(`is not valid: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const out = empty;
  for (const [p, v] of Object.entries(parsed.data.paths)) {
    const rel = cleanOverlayRel(p);
    if (rel === null) refuse(`names "${p}", which is no path inside the overlay`);
    if (v.owner !== undefined) {
      const [uid, gid] = v.owner.split(':').map(Number) as [number, number];
      out.owners.set(rel!, { uid, gid });
    }
    if (v.keepSetid) out.keepSetid.add(rel!);
    out.named.add(rel!);
  }
  return out;
}

/** Opens the overlay directory (relative to the config's directory) one component at a time, never by a symlink. */
function openOverlayRoot(baseDir: string, dir: string, field: string): { fd: number; where: string } {
  return openDirUnder(baseDir, dir, ({ where, problem, base }) => {
    if (base) throw new ConfigError(`${field}: the config file's directory ${where} ${problem}`);
    throw new ConfigError(
      `${field}: the overlay directory ${dir} ${problem} (looked for ${where})`,
      [{ path: field, value: dir, expected: "a directory inside the config file's directory, no symlink on the way" }],
      undefined,
      { hint: 'overlay paths are relative to the config file; create the directory or fix the path' },
    );
  });
}

type Hasher = (handle: number, hostPath: string) => string;

/** sha256 of the file behind an O_PATH handle, read through its own inode (no cache: the step's own check). */
function hashHandleDirect(handle: number): string {
  const fd = fs.openSync(fdPath(handle), fs.constants.O_RDONLY);
  try {
    const hash = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let n = fs.readSync(fd, buf, 0, CHUNK, null); n > 0; n = fs.readSync(fd, buf, 0, CHUNK, null))
      hash.update(buf.subarray(0, n));
    return hash.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/** Every entry of one overlay directory, walked by descriptors (never through a symlink), parents first. */
function scanOne(baseDir: string, dir: string, from: number, field: string, hash: Hasher): OverlayEntry[] {
  const { fd: rootFd, where } = openOverlayRoot(baseDir, dir, field);
  const out: OverlayEntry[] = [];
  try {
    const manifest = readManifest(rootFd, where, field);
    const refuse = (rel: string, problem: string): never => {
      throw new ConfigError(`${field}: ${path.join(where, rel)} ${problem}`, [], undefined, {
        hint: 'an overlay holds regular files, directories and symlinks only',
      });
    };
    const walk = (dirFd: number, prefix: string) => {
      const names = fs.readdirSync(fdPath(dirFd)).sort();
      for (const name of names) {
        if (prefix === '' && name === OVERLAY_MANIFEST) continue;
        const rel = prefix === '' ? name : `${prefix}/${name}`;
        if (out.length >= MAX_OVERLAY_ENTRIES)
          throw new ConfigError(`${field}: ${dir} has more than ${MAX_OVERLAY_ENTRIES} entries`, [], undefined, {
            hint: 'an overlay is for configuration; ship large trees as a package (packages.local)',
          });
        const handle = openEntryAt(dirFd, name);
        try {
          const st = fs.fstatSync(handle);
          const owner = manifest.owners.get(rel) ?? { uid: 0, gid: 0 };
          const bits = st.mode & 0o7777;
          const keep = manifest.keepSetid.has(rel);
          const base = { rel, ...owner, named: manifest.named.has(rel), from, dir };
          const modeOf = () => ({ mode: keep ? bits : bits & ~SETID, droppedSetid: keep ? 0 : bits & SETID });
          if (st.isDirectory()) {
            out.push({ ...base, kind: 'dir', ...modeOf() });
            const sub = openDirAt(dirFd, name);
            try {
              walk(sub, rel);
            } finally {
              fs.closeSync(sub);
            }
          } else if (st.isFile()) {
            let sha256: string;
            try {
              sha256 = hash(handle, path.join(where, rel));
            } catch (error) {
              return refuse(rel, `cannot be read (${errnoCode(error) ?? (error as Error).message})`);
            }
            out.push({ ...base, kind: 'file', ...modeOf(), sha256 });
          } else if (st.isSymbolicLink()) {
            out.push({ ...base, kind: 'symlink', mode: 0o777, droppedSetid: 0, target: readLinkAt(dirFd, name) });
          } else {
            refuse(rel, 'is a device, FIFO or socket');
          }
        } finally {
          fs.closeSync(handle);
        }
      }
    };
    walk(rootFd, '');
    const seen = new Set(out.map((e) => e.rel));
    for (const named of manifest.named) {
      if (!seen.has(named))
        throw new ConfigError(
          `${field}: the overlay manifest ${path.join(where, OVERLAY_MANIFEST)} names ${named}, which ${dir} does not have`,
          [],
          undefined,
          { hint: 'fix the path in the manifest (relative to the overlay directory, e.g. usr/local/bin/tool)' },
        );
    }
    return out;
  } finally {
    fs.closeSync(rootFd);
  }
}

/** The tree a point lays onto the rootfs: its directories in order, merged; parents before children. */
export function scanOverlays(config: BuildConfig, baseDir: string, point: OverlayPoint, hash: Hasher): OverlayEntry[] {
  const field = `overlays.${point}`;
  const merged = new Map<string, OverlayEntry>();
  config.overlays[point].forEach((dir, i) => {
    for (const entry of scanOne(baseDir, dir, i, `${field}.${i}`, hash)) {
      const before = merged.get(entry.rel);
      if (before && (before.kind === 'dir') !== (entry.kind === 'dir'))
        throw new ConfigError(
          `${field}: ${entry.rel} is a ${before.kind} in ${before.dir} but a ${entry.kind} in ${dir}`,
          [
            {
              path: `${field}.${i}`,
              value: dir,
              expected: 'the same kind (directory or not) at a path in every overlay',
            },
          ],
        );
      merged.set(entry.rel, entry);
    }
    if (merged.size > MAX_OVERLAY_ENTRIES)
      throw new ConfigError(`${field}: the overlays have more than ${MAX_OVERLAY_ENTRIES} entries together`);
  });
  const byParts = (a: OverlayEntry, b: OverlayEntry) => {
    const pa = a.rel.split('/');
    const pb = b.rel.split('/');
    for (let i = 0; i < Math.min(pa.length, pb.length); i++) if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
    return pa.length - pb.length;
  };
  return [...merged.values()].sort(byParts);
}

/** What the fingerprint saw of each point, per loaded config: the step copies exactly these bytes or refuses. */
const fingerprinted = new WeakMap<BuildConfig, Map<OverlayPoint, OverlayEntry[]>>();

function overlayMaterial(point: OverlayPoint) {
  return (config: BuildConfig, baseDir: string, hashFile: HostFileHasher): Record<string, string> => {
    const entries = scanOverlays(config, baseDir, point, hashFile);
    // a walk that hashed nothing (checkInputTrees) is no fingerprint to copy against
    if (entries.some((e) => e.kind === 'file' && !/^[0-9a-f]{64}$/.test(e.sha256 ?? '')))
      return Object.fromEntries(entries.map((e) => [`${OVERLAY_KEY_PREFIX}${e.rel}`, describeEntry(e)]));
    const seen = fingerprinted.get(config) ?? new Map<OverlayPoint, OverlayEntry[]>();
    seen.set(point, entries);
    fingerprinted.set(config, seen);
    return Object.fromEntries(entries.map((e) => [`${OVERLAY_KEY_PREFIX}${e.rel}`, describeEntry(e)]));
  };
}

/** Streams the file at rel of the overlay into fd, hashing it; the sha256 of what was written. */
function copyOverlayFile(baseDir: string, entry: OverlayEntry, field: string, out: number): string {
  const { fd: rootFd } = openOverlayRoot(baseDir, entry.dir, field);
  let dirFd = rootFd;
  try {
    const parts = entry.rel.split('/');
    for (const part of parts.slice(0, -1)) {
      const next = openDirAt(dirFd, part);
      fs.closeSync(dirFd);
      dirFd = next;
    }
    const handle = openEntryAt(dirFd, parts[parts.length - 1]!);
    try {
      if (!fs.fstatSync(handle).isFile()) throw new Error('it is no longer a regular file');
      const src = fs.openSync(fdPath(handle), fs.constants.O_RDONLY);
      try {
        const hash = crypto.createHash('sha256');
        const buf = Buffer.allocUnsafe(CHUNK);
        for (let n = fs.readSync(src, buf, 0, CHUNK, null); n > 0; n = fs.readSync(src, buf, 0, CHUNK, null)) {
          hash.update(buf.subarray(0, n));
          for (let off = 0; off < n; ) off += fs.writeSync(out, buf, off, n - off);
        }
        return hash.digest('hex');
      } finally {
        fs.closeSync(src);
      }
    } finally {
      fs.closeSync(handle);
    }
  } finally {
    fs.closeSync(dirFd);
  }
}

const setidWords = (bits: number) =>
  [bits & 0o4000 ? 'setuid' : '', bits & 0o2000 ? 'setgid' : ''].filter(Boolean).join(' and ');

function baseDirOf(ctx: Pick<StepContext, 'baseDir'>): string {
  return ctx.baseDir ?? process.cwd();
}

async function runOverlay(ctx: StepContext, stepId: string, point: OverlayPoint): Promise<void> {
  prepareLayer(ctx);
  const field = `overlays.${point}`;
  const dirs = ctx.config.overlays[point];
  if (dirs.length === 0) {
    ctx.log.info(`${field} is empty: nothing to copy`);
    return;
  }
  const entries =
    fingerprinted.get(ctx.config)?.get(point) ??
    scanOverlays(ctx.config, baseDirOf(ctx), point, (handle) => hashHandleDirect(handle));
  const counts = { file: 0, dir: 0, symlink: 0 };
  for (const e of entries) {
    if (e.droppedSetid)
      ctx.log.info(
        `${e.rel}: its ${setidWords(e.droppedSetid)} bit dropped (${e.dir}/${OVERLAY_MANIFEST} can keep it: paths: { "${e.rel}": { keepSetid: true } })`,
      );
    try {
      if (e.kind === 'dir') {
        writeLayerNode(ctx.layers, e.rel, { kind: 'dir', mode: e.mode, uid: e.uid, gid: e.gid, force: e.named });
      } else if (e.kind === 'symlink') {
        writeLayerNode(ctx.layers, e.rel, { kind: 'symlink', target: e.target!, uid: e.uid, gid: e.gid });
      } else {
        writeLayerNode(ctx.layers, e.rel, {
          kind: 'file',
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          write: (fd) => {
            const got = copyOverlayFile(baseDirOf(ctx), e, `${field}.${e.from}`, fd);
            if (got !== e.sha256)
              throw new StepError(
                stepId,
                `overlay file ${e.rel} (in ${e.dir}) changed after the build fingerprinted it: it has sha256 ${got}, not ${e.sha256}`,
                { hint: 'leave the overlay alone while a build runs, then run `ailinux resume`' },
              );
          },
        });
      }
    } catch (error) {
      if (error instanceof StepError) throw error;
      throw new StepError(stepId, `overlay ${e.kind} ${e.rel} (in ${e.dir}): ${(error as Error).message}`, {
        cause: error,
      });
    }
    counts[e.kind]++;
  }
  ctx.log.info(
    `copied ${counts.file} files, ${counts.dir} directories and ${counts.symlink} symlinks from ${field} (${dirs.join(', ')})`,
  );
}

function verifyOverlay(ctx: StepContext, stepId: string, point: OverlayPoint): void {
  const entries = fingerprinted.get(ctx.config)?.get(point);
  if (!entries) return; // nothing fingerprinted in this process: run checked each file's bytes as it wrote them
  for (const e of entries) {
    const found = entryInLayers(ctx.layers, e.rel);
    const wrong = (what: string): never => {
      throw new StepError(stepId, `overlay ${e.kind} ${e.rel} is not in the rootfs as copied: ${what}`);
    };
    if (found === null) wrong('it is missing');
    const kind = found!.type === 'dir' ? 'dir' : found!.type === 'symlink' ? 'symlink' : 'file';
    if (kind !== e.kind || found!.type === 'other') wrong(`it is a ${found!.type}`);
    if (e.kind === 'symlink' && found!.link !== e.target) wrong(`it points to ${found!.link}`);
    if (e.kind === 'file') {
      if (found!.mode !== e.mode) wrong(`its mode is ${found!.mode.toString(8)}, not ${e.mode.toString(8)}`);
      const data = readFileInLayers(ctx.layers, e.rel)?.data;
      const sha = data ? crypto.createHash('sha256').update(data).digest('hex') : null;
      if (sha !== e.sha256) wrong('its content differs');
    }
  }
}

/** Where an overlay step joins a profile's steps when it does not list it. */
function placeAfter(point: OverlayPoint) {
  return (config: BuildConfig, listed: readonly StepDef[]): number | null => {
    if (config.overlays[point].length === 0) return null;
    const base = listed.findIndex((s) => s.layer === 'base');
    if (point === 'early') return base + 1; // 0 without a base step, which resolveSteps then refuses by name
    // after the last step that installs packages (phases 3 to 7) that comes after the base
    let at = base + 1;
    listed.forEach((s, i) => {
      if (i > base && s.layer === 'overlay' && s.phase <= 7) at = i + 1;
    });
    return at;
  };
}

function overlayStep(point: OverlayPoint): StepDef {
  const id = `overlay-${point}`;
  return {
    id,
    title:
      point === 'early'
        ? 'Copy the early overlays into the rootfs (before the packages)'
        : 'Copy the late overlays into the rootfs (after the packages)',
    version: 1,
    layer: 'overlay',
    phase: point === 'early' ? 3 : 7,
    needs: ['bootstrap'],
    configFields: [`overlays.${point}`],
    autoPlace: placeAfter(point),
    inputTree: overlayMaterial(point),
    async run(ctx) {
      await runOverlay(ctx, id, point);
      return [layerArtifact(ctx)];
    },
    async verify(ctx) {
      verifyOverlay(ctx, id, point);
    },
    async undo(ctx) {
      await discardLayer(ctx);
    },
  };
}

export const overlayEarlyStep = overlayStep('early');
export const overlayLateStep = overlayStep('late');
