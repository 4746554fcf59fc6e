/**
 * packages.local: a directory of .deb files of the user's (relative to the config file, like the overlays), installed
 * by the packages step with the rest (docs/custom-profile.md, "Packages of your own").
 *
 * On the host, the step copies the .deb files into the work dir (cache/local-repo, never the user's directory) and
 * indexes them with dpkg-scanpackages into a flat apt repository. In the chroot, that directory is bound read-only
 * on LOCAL_REPO_IN_IMAGE during every package step (packages, desktop, installer), and ailinux writes its own source
 * entry, `deb [trusted=yes] file:/var/lib/ailinux-local-packages ./`, never user input. The packages step installs
 * every package of the directory in its first apt call, beside packages.live, firmware and extra; apt picks each
 * package's version as it always does (the highest, archive and local alike, at the same priority), so a local
 * package replaces an archive package of the same name when its version is higher. chroot-cleanup removes the source
 * entry, its apt lists and the mount point, so the shipped image has no trace of the repository.
 *
 * The fingerprint of the packages step covers each .deb by name and sha256 (through the engine's input hash cache:
 * read once, then reused while its size and times hold), so `plan` says `local package foo_1.0_all.deb changed`.
 * A missing directory, one without a .deb, or a file that is no .deb archive is a config error (exit 2) before the
 * build writes anything; the copy refuses a file whose bytes are not the ones fingerprinted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { ConfigError, StepError } from '../errors.js';
import { errnoCode, fdPath, openDirUnder, openEntryAt } from '../runtime/dir-fd.js';
import { type ChrootOptions, entryInLayers } from '../runtime/layers.js';
import { removeTree } from '../runtime/safe-remove.js';
import { writeNewFileWhole } from '../runtime/new-file.js';
import type { WorkPaths } from '../runtime/paths.js';
import type { HostFileHasher, HostTool, StepContext } from './types.js';

/** Where the repository is bound inside the chroot during the package steps (chroot-cleanup removes it). */
export const LOCAL_REPO_IN_IMAGE = '/var/lib/ailinux-local-packages';
/** ailinux's own source entry for it, in the rootfs (chroot-cleanup removes it). */
export const LOCAL_SOURCE_FILE = 'etc/apt/sources.list.d/ailinux-local-packages.list';
/** The line of that file: ailinux's own, never user input. */
export const LOCAL_SOURCE_LINE = `deb [trusted=yes] file:${LOCAL_REPO_IN_IMAGE} ./`;
/** The prefix of apt's list files for the repository (apt names them after the URI: / becomes _). */
export const LOCAL_LISTS_GLOB = `${LOCAL_REPO_IN_IMAGE.replace(/\//g, '_')}_*`;
/** The prefix of a local package's key in a fingerprint's `files` (the planner reads it back). */
export const LOCAL_PACKAGE_KEY_PREFIX = 'local-package:';
/** .deb files the directory may hold. */
export const MAX_LOCAL_PACKAGES = 500;
/** A file name that goes into the Packages index as it is: what dpkg-deb --build names, nothing that needs quoting. */
const DEB_NAME = /^[A-Za-z0-9][A-Za-z0-9._+~-]*\.deb$/;
const FIELD = 'packages.local';
const HINT = 'packages.local is a directory of .deb files, relative to the config file (docs/custom-profile.md)';
const CHUNK = 1024 * 1024;

export const dpkgScanpackagesTool: HostTool = {
  name: 'dpkg-scanpackages',
  pkg: 'dpkg-dev',
  why: 'indexes the .deb files of packages.local into a local apt repository',
  versionArgs: ['--version'],
};

/** The work dir's copy of the repository (bound into the chroot). */
export function localRepoDir(paths: Pick<WorkPaths, 'cacheDir'>): string {
  return path.join(paths.cacheDir, 'local-repo');
}

export interface LocalDeb {
  /** The file name in the directory (and in the repository). */
  name: string;
  sha256: string;
}

function refuse(problem: string, hint = HINT, value?: string): never {
  throw new ConfigError(
    `${FIELD}: ${problem}`,
    value === undefined
      ? []
      : [{ path: FIELD, value, expected: "a directory of .deb files inside the config file's directory" }],
    undefined,
    { hint },
  );
}

/** Opens the directory (relative to the config's directory) one component at a time, never through a symlink. */
function openLocalDir(baseDir: string, dir: string): { fd: number; where: string } {
  return openDirUnder(baseDir, dir, ({ where, problem, base }) =>
    base
      ? refuse(`the config file's directory ${where} ${problem}`)
      : refuse(
          `the directory ${dir} ${problem} (looked for ${where})`,
          'packages.local is relative to the config file; create the directory and put your .deb files in it, or fix the path',
          dir,
        ),
  );
}

/**
 * Why the file behind a handle is no .deb archive (null when its ar structure is one: "!<arch>", debian-binary with
 * a 2.x format first, then control.tar and data.tar members whose sizes add up to the file's exact length, so a
 * truncated download is caught too). dpkg-scanpackages reads the control data later, in the step.
 */
export function debProblem(handle: number): string | null {
  const fd = fs.openSync(fdPath(handle), fs.constants.O_RDONLY);
  try {
    const size = fs.fstatSync(fd).size;
    const read = (pos: number, len: number): Buffer => {
      const buf = Buffer.alloc(len);
      const n = fs.readSync(fd, buf, 0, len, pos);
      return buf.subarray(0, n);
    };
    if (read(0, 8).toString('latin1') !== '!<arch>\n') return 'is not a .deb archive (no "!<arch>" ar header)';
    const members: string[] = [];
    let pos = 8;
    while (pos < size) {
      const header = read(pos, 60);
      if (header.length < 60 || header.subarray(58, 60).toString('latin1') !== '`\n')
        return `is not a valid .deb archive (a broken ar member header at byte ${pos}; truncated?)`;
      const name = header.subarray(0, 16).toString('latin1').trim().replace(/\/$/, '');
      const length = Number(header.subarray(48, 58).toString('latin1').trim());
      if (!Number.isSafeInteger(length) || length < 0)
        return `is not a valid .deb archive (member ${name} has no size)`;
      if (members.length === 0) {
        if (name !== 'debian-binary') return 'is not a .deb archive (its first member is not debian-binary)';
        if (!/^2\.\d+\n/.test(read(pos + 60, Math.min(length, 16)).toString('latin1')))
          return 'is not a .deb archive of format 2.x (debian-binary)';
      }
      members.push(name);
      pos += 60 + length + (length % 2);
      if (pos > size + 1) return `is truncated (member ${name} runs past the end of the file)`;
    }
    if (!members.some((m) => m.startsWith('control.tar'))) return 'is not a valid .deb archive (no control.tar member)';
    if (!members.some((m) => m.startsWith('data.tar'))) return 'is not a valid .deb archive (no data.tar member)';
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** The .deb files of the directory, by name, each checked and hashed; every other entry is left alone. */
export function scanLocalPackages(config: BuildConfig, baseDir: string, hash: HostFileHasher): LocalDeb[] {
  const dir = config.packages.local;
  if (dir === undefined) return [];
  const { fd, where } = openLocalDir(baseDir, dir);
  try {
    const debs: LocalDeb[] = [];
    const names = fs
      .readdirSync(fdPath(fd))
      .filter((n) => n.endsWith('.deb'))
      .sort();
    if (names.length > MAX_LOCAL_PACKAGES)
      refuse(`${where} has ${names.length} .deb files; at most ${MAX_LOCAL_PACKAGES} are taken`);
    for (const name of names) {
      const file = path.join(where, name);
      if (!DEB_NAME.test(name))
        refuse(
          `${file}: the name ${JSON.stringify(name)} has characters a Packages index cannot carry`,
          'rename it to letters, digits and . _ + ~ - (dpkg-deb --build names it package_version_arch.deb)',
        );
      const handle = openEntryAt(fd, name);
      try {
        const st = fs.fstatSync(handle);
        if (st.isSymbolicLink())
          refuse(`${file} is a symlink`, 'put the .deb file itself in the directory, not a link to it');
        if (!st.isFile())
          refuse(`${file} is not a regular file`, 'put only .deb files under names ending in .deb there');
        let problem: string | null;
        try {
          problem = debProblem(handle);
        } catch (error) {
          return refuse(`${file} cannot be read (${errnoCode(error) ?? (error as Error).message})`);
        }
        if (problem !== null)
          refuse(
            `${file} ${problem}`,
            'replace it with a package built by dpkg-deb --build (check it with dpkg-deb --info), or remove it',
          );
        debs.push({ name, sha256: hash(handle, file) });
      } finally {
        fs.closeSync(handle);
      }
    }
    if (debs.length === 0)
      refuse(
        `${where} holds no .deb file`,
        'put the .deb files to install there (built with dpkg-deb --build), or remove packages.local',
        dir,
      );
    return debs;
  } finally {
    fs.closeSync(fd);
  }
}

/** What the fingerprint saw, per loaded config: the copy installs exactly these bytes or refuses. */
const fingerprinted = new WeakMap<BuildConfig, LocalDeb[]>();

/** The packages step's input tree: one entry per .deb, `local-package:<name>` -> `deb sha256:<hex>`. */
export function localPackagesMaterial(
  config: BuildConfig,
  baseDir: string,
  hashFile: HostFileHasher,
): Record<string, string> {
  const debs = scanLocalPackages(config, baseDir, hashFile);
  if (debs.every((d) => /^[0-9a-f]{64}$/.test(d.sha256))) fingerprinted.set(config, debs);
  return Object.fromEntries(debs.map((d) => [`${LOCAL_PACKAGE_KEY_PREFIX}${d.name}`, `deb sha256:${d.sha256}`]));
}

function hashDirect(handle: number): string {
  const fd = fs.openSync(fdPath(handle), fs.constants.O_RDONLY);
  try {
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let n = fs.readSync(fd, buf, 0, CHUNK, null); n > 0; n = fs.readSync(fd, buf, 0, CHUNK, null))
      h.update(buf.subarray(0, n));
    return h.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/** Copies name out of the directory into dest (a new file), hashing what it writes; its sha256. */
function copyDeb(baseDir: string, dir: string, name: string, dest: string): string {
  const { fd } = openLocalDir(baseDir, dir);
  try {
    const handle = openEntryAt(fd, name);
    try {
      if (!fs.fstatSync(handle).isFile()) throw new Error('it is no longer a regular file');
      const src = fs.openSync(fdPath(handle), fs.constants.O_RDONLY);
      const out = fs.openSync(
        dest,
        fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
        0o644,
      );
      try {
        const h = crypto.createHash('sha256');
        const buf = Buffer.allocUnsafe(CHUNK);
        for (let n = fs.readSync(src, buf, 0, CHUNK, null); n > 0; n = fs.readSync(src, buf, 0, CHUNK, null)) {
          h.update(buf.subarray(0, n));
          for (let off = 0; off < n; ) off += fs.writeSync(out, buf, off, n - off);
        }
        fs.fchmodSync(out, 0o644);
        return h.digest('hex');
      } finally {
        fs.closeSync(out);
        fs.closeSync(src);
      }
    } finally {
      fs.closeSync(handle);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export interface IndexEntry {
  package: string;
  version: string;
  architecture: string;
  filename: string;
}

/** The stanzas of a Packages index: package, version, architecture and file of each. */
export function parsePackagesIndex(text: string): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}: *(.+)$`, 'm').exec(stanza)?.[1]?.trim();
    const pkg = field('Package');
    if (!pkg) continue;
    out.push({
      package: pkg,
      version: field('Version') ?? '',
      architecture: field('Architecture') ?? '',
      filename: (field('Filename') ?? '').replace(/^\.\//, ''),
    });
  }
  return out;
}

/** The packages of the repository the packages step built (its Packages index), or null when there is none. */
export function readLocalIndex(paths: Pick<WorkPaths, 'cacheDir'>): IndexEntry[] | null {
  try {
    return parsePackagesIndex(fs.readFileSync(path.join(localRepoDir(paths), 'Packages'), 'utf8'));
  } catch {
    return null;
  }
}

/** The names of the local packages, each once, in index order. */
export function localPackageNames(index: readonly IndexEntry[]): string[] {
  return [...new Set(index.map((e) => e.package))];
}

/**
 * Builds the repository in the work dir: the fingerprinted .deb files copied (each checked against its hash), indexed
 * by dpkg-scanpackages, the index checked (one stanza per file, an architecture the image can install), and the
 * whole directory renamed over the one before. The entries of the index.
 */
export async function buildLocalRepo(ctx: StepContext, stepId: string): Promise<IndexEntry[]> {
  const dir = ctx.config.packages.local!;
  const baseDir = ctx.baseDir ?? process.cwd();
  const debs = fingerprinted.get(ctx.config) ?? scanLocalPackages(ctx.config, baseDir, (h) => hashDirect(h));
  const repo = localRepoDir(ctx.paths);
  const temp = `${repo}.tmp`;
  await removeTree(temp, { within: ctx.paths.workDir });
  fs.mkdirSync(ctx.paths.cacheDir, { recursive: true });
  fs.mkdirSync(temp, { mode: 0o755 });
  fs.chmodSync(temp, 0o755);
  try {
    for (const deb of debs) {
      let got: string;
      try {
        got = copyDeb(baseDir, dir, deb.name, path.join(temp, deb.name));
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        throw new StepError(
          stepId,
          `local package ${deb.name} (in ${dir}) cannot be copied: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      if (got !== deb.sha256)
        throw new StepError(
          stepId,
          `local package ${deb.name} (in ${dir}) changed after the build fingerprinted it: it has sha256 ${got}, not ${deb.sha256}`,
          { hint: 'leave packages.local alone while a build runs, then run `ailinux resume`' },
        );
    }
    ctx.log.info(`indexing ${debs.length} local package file(s) from ${dir} with dpkg-scanpackages`);
    const result = await ctx.runner.run(['dpkg-scanpackages', '--multiversion', '.', '/dev/null'], {
      cwd: temp,
      signal: ctx.signal,
      onLine: (stream, text) => {
        if (stream === 'stderr') ctx.log.line(stream, text);
      },
    });
    const index = parsePackagesIndex(result.stdout);
    const wanted = new Set([ctx.config.architecture, 'all']);
    for (const deb of debs) {
      const entry = index.find((e) => e.filename === deb.name);
      if (!entry)
        throw new StepError(
          stepId,
          `local package ${deb.name} (in ${dir}) is not in the index dpkg-scanpackages wrote: its control data cannot be read`,
          {
            hint: `check it with dpkg-deb --info ${path.join(dir, deb.name)}; replace or remove it`,
          },
        );
      if (!wanted.has(entry.architecture))
        throw new StepError(
          stepId,
          `local package ${deb.name} (in ${dir}) is for ${entry.architecture}; the image is ${ctx.config.architecture}`,
          { hint: `use a build of ${entry.package} for ${ctx.config.architecture} or all, or remove it` },
        );
    }
    writeNewFileWhole(path.join(temp, 'Packages'), result.stdout, 0o644);
    await removeTree(repo, { within: ctx.paths.workDir });
    fs.renameSync(temp, repo);
    return index;
  } catch (error) {
    await removeTree(temp, { within: ctx.paths.workDir });
    throw error;
  }
}

/**
 * The options of an apt call in a package step: the deb cache, the network, and the local repository when the rootfs
 * has ailinux's source entry for it (the packages step wrote it) and the work dir has the repository. It reads no
 * config field: the desktop and installer steps bind what the packages step made, and rerun when it reruns.
 */
export function packageAptOptions(ctx: Pick<StepContext, 'paths' | 'layers'>): ChrootOptions & { network: boolean } {
  const repo = localRepoDir(ctx.paths);
  const bind = entryInLayers(ctx.layers, LOCAL_SOURCE_FILE) !== null && fs.existsSync(path.join(repo, 'Packages'));
  return {
    aptArchives: ctx.paths.aptArchives,
    network: true,
    ...(bind ? { readOnlyBinds: [{ source: repo, target: LOCAL_REPO_IN_IMAGE }] } : {}),
  };
}

/**
 * `apt-get update` of the local source alone (its list relative to Dir::Etc, /etc/apt/; no source parts), so it needs
 * no network; the archive's lists that configure fetched are kept as they are (no list cleanup).
 */
export const LOCAL_UPDATE_ARGV = [
  'apt-get',
  'update',
  '-o',
  `Dir::Etc::SourceList=${path.posix.relative('etc/apt', LOCAL_SOURCE_FILE)}`,
  '-o',
  'Dir::Etc::SourceParts=/dev/null',
  '-o',
  'APT::Get::List-Cleanup=0',
];
