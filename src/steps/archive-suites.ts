/**
 * Which archive suites a step installs from, and where they are read: the config's mirror and sources, or, with
 * `distribution.snapshot`, the same archives as the distribution's snapshot service kept them at that moment
 * (snapshot.debian.org, snapshot.ubuntu.com). The engine fetches each suite's Release once per run and puts its
 * digest into the fingerprints of the steps that declare the suite (StepDef.archiveSuites).
 */
import type { BuildConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { ArchiveSuite } from '../runtime/archive-release.js';

/** `20240301T000000Z`: the form both snapshot services take in their URLs. */
export const SNAPSHOT_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * The archives each service keeps, by the last part of the mirror's path, and the service's URL for one of them at
 * a moment. Debian's: http://snapshot.debian.org/archive/<archive>/<timestamp>/ (plain http serves apt, as the
 * service documents); Ubuntu's: https://snapshot.ubuntu.com/<archive>/<timestamp> (archive.ubuntu.com and
 * security.ubuntu.com are both the `ubuntu` archive there).
 */
const SERVICES = {
  debian: {
    hosts: /(^|\.)debian\.org$/,
    archives: ['debian', 'debian-security', 'debian-ports', 'debian-debug'],
    url: (archive: string, ts: string) => `http://snapshot.debian.org/archive/${archive}/${ts}`,
  },
  ubuntu: {
    hosts: /(^|\.)ubuntu\.com$/,
    archives: ['ubuntu', 'ubuntu-ports'],
    url: (archive: string, ts: string) => `https://snapshot.ubuntu.com/${archive}/${ts}`,
  },
} as const;

/**
 * The snapshot service's URL for `uri` at `timestamp`. `field` names where the URI is in the config, for the error
 * when the service does not keep that archive (a mirror it does not know: use its own host, or drop the snapshot).
 */
export function snapshotUri(
  uri: string,
  family: BuildConfig['distribution']['family'],
  timestamp: string,
  field: string,
): string {
  const service = SERVICES[family];
  let url: URL | null = null;
  try {
    url = new URL(uri);
  } catch {
    url = null;
  }
  const archive = url?.pathname.replace(/\/+$/, '').split('/').pop() ?? '';
  if (url && service.hosts.test(url.hostname) && (service.archives as readonly string[]).includes(archive))
    return service.url(archive, timestamp);
  throw new ConfigError(
    `distribution.snapshot: ${uri} (${field}) is not an archive the ${family} snapshot service keeps`,
    [
      {
        path: field,
        value: uri,
        expected: `a ${family} archive on its own host (${service.archives.map((a) => `…/${a}`).join(', ')} on ${family === 'debian' ? 'deb.debian.org or security.debian.org' : 'archive.ubuntu.com or security.ubuntu.com'})`,
      },
    ],
    undefined,
    { hint: "point it at the distribution's own archive, or remove distribution.snapshot" },
  );
}

/** The mirror debootstrap reads: the config's, or its snapshot. */
export function bootstrapMirror(config: BuildConfig): string {
  const d = config.distribution;
  return d.snapshot ? snapshotUri(d.mirror, d.family, d.snapshot, 'distribution.mirror') : d.mirror;
}

/** The distribution's apt sources as the build writes them: with a snapshot, each URI is the service's. */
export function buildSources(config: BuildConfig): BuildConfig['distribution']['sources'] {
  const d = config.distribution;
  const snapshot = d.snapshot;
  if (!snapshot) return d.sources;
  return d.sources.map((s, i) => ({
    ...s,
    uri: snapshotUri(s.uri, d.family, snapshot, `distribution.sources.${i}.uri`),
  }));
}

/** The suite debootstrap installs from, with its components and the architecture (their Packages digests). */
export function bootstrapSuites(config: BuildConfig): ArchiveSuite[] {
  const d = config.distribution;
  return [{ uri: bootstrapMirror(config), suite: d.suite, components: d.components, arch: config.architecture }];
}

/**
 * Every suite apt installs from in the chroot: each line of the sources and of the extra repositories, once, with
 * the components of every line that names it and the architecture.
 */
export function aptSuites(config: BuildConfig): ArchiveSuite[] {
  const arch = config.architecture;
  const all = [
    ...buildSources(config).flatMap((s) => s.suites.map((suite) => ({ uri: s.uri, suite, components: s.components }))),
    ...config.distribution.extraRepositories.flatMap((r) =>
      r.suites.map((suite) => ({ uri: r.uri, suite, components: r.components })),
    ),
  ];
  return mergeSuites(all.map((s) => ({ ...s, arch })));
}

/** Suites by `<uri> <suite>`, each once, in order; the components of all that name it, each once. */
export function mergeSuites(all: readonly ArchiveSuite[]): ArchiveSuite[] {
  const seen = new Map<string, ArchiveSuite>();
  for (const s of all) {
    const key = `${s.uri.replace(/\/+$/, '')} ${s.suite}`;
    const had = seen.get(key);
    if (!had) seen.set(key, { ...s, ...(s.components ? { components: [...s.components] } : {}) });
    else if (s.components) had.components = [...new Set([...(had.components ?? []), ...s.components])];
  }
  return [...seen.values()];
}
