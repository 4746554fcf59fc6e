/**
 * The archive as an input of the build (docs/architecture.md#the-archive-is-an-input): each suite's InRelease (or
 * Release, where there is no InRelease) is fetched once per run, one small request per suite, and its sha256 and
 * `Date:` go into the fingerprints of the steps that install from it. Plain node:http(s) with a timeout; through
 * the config's apt.proxy when it names one, as apt would: a plain-proxy GET (absolute URL) for http://, a CONNECT
 * tunnel for https://. A failure is an error naming the URL, never a silent reuse of what was fetched before.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { AilinuxError } from '../errors.js';
import { packagesDigests } from './release-checksums.js';

/** One suite of one archive: `<uri>/dists/<suite>/InRelease`. */
export interface ArchiveSuite {
  uri: string;
  suite: string;
  /** The components and architecture the build uses from it: their Packages digests go into the fingerprints. */
  components?: readonly string[] | undefined;
  arch?: string | undefined;
}

/** What one suite's Release file says, as fetched this run. */
export interface ReleaseInfo extends ArchiveSuite {
  /** The URL that answered. */
  url: string;
  file: 'InRelease' | 'Release';
  /** sha256 of the file's bytes. */
  sha256: string;
  /** Its Date: field as an ISO 8601 time (seconds), or null when it has none that parses. */
  date: string | null;
  /**
   * The Release's sha256 of each Packages index of the suite's components and architecture, by path
   * (`main/binary-amd64/Packages`; src/runtime/apt-lists.ts). Absent where the suite named none.
   */
  packages?: Record<string, string>;
}

export interface ArchiveReadOptions {
  /** apt.proxy: an http:// proxy URL. */
  proxy?: string | undefined;
  signal?: AbortSignal | undefined;
  /** The largest answer taken (a Release file's cap when unset). */
  maxBytes?: number | undefined;
}

/** The port the engine reads the archive through (tests pass a fixed one, as they pass a FakeRunner). */
export interface ArchiveReader {
  read(suites: readonly ArchiveSuite[], options: ArchiveReadOptions): Promise<ReleaseInfo[]>;
}

/** The archive could not be read; `url` is the one that failed. Exit 69 (the CLI's EXIT.unavailable). */
export class ArchiveUnreachableError extends AilinuxError {
  readonly url: string;
  constructor(url: string, why: string, options: { cause?: unknown } = {}) {
    super('ARCHIVE', `cannot read the archive's Release file ${url}: ${why}`, {
      ...options,
      hint: 'check the network, the mirror and apt.proxy; or add --offline (build, resume, plan) to keep the layers as built, without reading the archive',
    });
    this.url = url;
  }
}

/** The key a suite has in maps and in fingerprint material: `<uri> <suite>`, the URI without a trailing slash. */
export function suiteKey(s: ArchiveSuite): string {
  return `${s.uri.replace(/\/+$/, '')} ${s.suite}`;
}

/** The prefix of a suite's entry in a step's fingerprint material: `archive:<uri> <suite>`. */
export const ARCHIVE_KEY_PREFIX = 'archive:';

/**
 * The prefix of a Packages index's entry in a step's fingerprint material: `packages:<uri> <suite> <path>`, the path
 * as the Release lists it (`main/binary-amd64/Packages`), the entry `sha256:<hex>`.
 */
export const PACKAGES_KEY_PREFIX = 'packages:';

/** A suite's entry: `InRelease sha256:<hex> date:2026-12-07T08:15:02Z` (the planner and the report read it back). */
export function archiveEntry(r: ReleaseInfo): string {
  return `${r.file} sha256:${r.sha256} date:${r.date ?? 'unknown'}`;
}

/** What a step's material says of one suite: its key `archive:<uri> <suite>` and entry read back; null if not one. */
export function parseArchiveEntry(
  key: string,
  value: string,
): { uri: string; suite: string; file: string; sha256: string | null; date: string | null } | null {
  if (!key.startsWith(ARCHIVE_KEY_PREFIX)) return null;
  const rest = key.slice(ARCHIVE_KEY_PREFIX.length);
  const space = rest.lastIndexOf(' ');
  if (space <= 0) return null;
  const sha = /\bsha256:([0-9a-f]+)/.exec(value)?.[1] ?? null;
  const date = /\bdate:(\S+)/.exec(value)?.[1];
  return {
    uri: rest.slice(0, space),
    suite: rest.slice(space + 1),
    file: value.split(' ')[0] ?? '',
    sha256: sha,
    date: date === undefined || date === 'unknown' ? null : date,
  };
}

export function releaseUrl(s: ArchiveSuite, file: 'InRelease' | 'Release'): string {
  return `${s.uri.replace(/\/+$/, '')}/dists/${s.suite}/${file}`;
}

/** The Date: field of a Release file (RFC 2822, UTC) as `2026-12-07T08:15:02Z`; null when missing or not a date. */
export function releaseDate(text: string): string | null {
  const raw = /^Date:[ \t]*(.+?)[ \t]*$/m.exec(text)?.[1];
  if (!raw) return null;
  const ms = Date.parse(raw.replace(/\bUTC$/, 'GMT'));
  return Number.isNaN(ms) ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The bytes each ReleaseInfo of this run was made from (not recorded: the lists fetch reads them). */
const bodies = new WeakMap<ReleaseInfo, Buffer>();

/** The Release bytes `info` was made from this run; undefined for a copy (as read back from the state). */
export function releaseBody(info: ReleaseInfo): Buffer | undefined {
  return bodies.get(info);
}

export function releaseInfo(s: ArchiveSuite, file: 'InRelease' | 'Release', url: string, body: Buffer): ReleaseInfo {
  const text = body.toString('latin1');
  const info: ReleaseInfo = {
    uri: s.uri.replace(/\/+$/, ''),
    suite: s.suite,
    url,
    file,
    sha256: crypto.createHash('sha256').update(body).digest('hex'),
    date: releaseDate(text),
    ...(s.components && s.arch ? { packages: packagesDigests(text, s.components, s.arch) } : {}),
  };
  bodies.set(info, body);
  return info;
}

const TIMEOUT_MS = 30_000;
/** A Release file of a large archive is a few hundred KiB; anything far bigger is not one. */
const MAX_BYTES = 16 * 1024 * 1024;

type Fetched = { status: number; body: Buffer };

/** The network reader: one GET per suite (a second, for Release, only where InRelease is 404), all at once. */
export const networkArchiveReader: ArchiveReader = {
  read(suites, options) {
    return Promise.all(suites.map((s) => readSuite(s, options)));
  },
};

async function readSuite(s: ArchiveSuite, options: ArchiveReadOptions): Promise<ReleaseInfo> {
  for (const file of ['InRelease', 'Release'] as const) {
    const url = releaseUrl(s, file);
    const got = await get(url, options);
    if (got.status === 200) return releaseInfo(s, file, url, got.body);
    if (got.status !== 404 || file === 'Release')
      throw new ArchiveUnreachableError(
        url,
        got.status === 404 ? 'not found (404), nor InRelease' : `HTTP ${got.status}`,
      );
  }
  throw new Error('unreachable');
}

/** GET with a timeout, a size cap and the proxy; file:// reads the file (404 when it is not there). */
export async function get(url: string, options: ArchiveReadOptions): Promise<Fetched> {
  const target = new URL(url);
  if (target.protocol === 'file:') {
    try {
      return { status: 200, body: fs.readFileSync(fileURLToPath(target)) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 404, body: Buffer.alloc(0) };
      throw new ArchiveUnreachableError(url, (error as Error).message, { cause: error });
    }
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw new ArchiveUnreachableError(url, `${target.protocol} is not a protocol ailinux reads archives over`);
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const why = (error: unknown) =>
    timeout.aborted
      ? `no answer within ${TIMEOUT_MS / 1000} s${options.proxy ? ` (through the proxy ${options.proxy})` : ''}`
      : `${(error as Error).message}${options.proxy ? ` (through the proxy ${options.proxy})` : ''}`;
  try {
    return await request(target, options.proxy, signal, options.maxBytes ?? MAX_BYTES);
  } catch (error) {
    if (error instanceof ArchiveUnreachableError) throw error;
    throw new ArchiveUnreachableError(url, why(error), { cause: error });
  }
}

function request(target: URL, proxy: string | undefined, signal: AbortSignal, maxBytes: number): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const headers = { 'user-agent': 'ailinux', accept: '*/*' };
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          res.destroy(new ArchiveUnreachableError(target.href, `larger than ${maxBytes} bytes, more than expected`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    let req: http.ClientRequest;
    if (!proxy) {
      const mod = target.protocol === 'https:' ? https : http;
      req = mod.get(target, { headers, signal }, onResponse);
    } else if (target.protocol === 'http:') {
      // a plain-proxy GET: the absolute URL as the path, to the proxy
      const p = new URL(proxy);
      req = http.get(
        {
          host: p.hostname.replace(/^\[|\]$/g, ''),
          port: p.port || 80,
          path: target.href,
          headers: { ...headers, host: target.host },
          signal,
        },
        onResponse,
      );
    } else {
      // https through the proxy: a CONNECT tunnel, then TLS to the archive inside it
      const p = new URL(proxy);
      const port = target.port || '443';
      const connect = http.request({
        host: p.hostname.replace(/^\[|\]$/g, ''),
        port: p.port || 80,
        method: 'CONNECT',
        path: `${target.hostname}:${port}`,
        headers: { host: `${target.hostname}:${port}` },
        signal,
      });
      connect.on('connect', (res: http.IncomingMessage, socket: Socket) => {
        if (res.statusCode !== 200) {
          socket.destroy();
          reject(new Error(`the proxy refused CONNECT with HTTP ${res.statusCode}`));
          return;
        }
        const inner = https.get(
          target,
          {
            headers,
            signal,
            createConnection: () => tls.connect({ socket, servername: target.hostname }),
          } as https.RequestOptions,
          onResponse,
        );
        inner.on('error', reject);
      });
      connect.on('error', reject);
      connect.end();
      return;
    }
    req.on('error', reject);
  });
}

/**
 * A reader that answers every suite with the same fixed bytes: for builds that must not reach the network (the
 * fake-tools tests set AILINUX_ARCHIVE_RELEASE_FILE to such a file). The fingerprints carry its digest like any other.
 */
export function fixedArchiveReader(body: Buffer, source: string): ArchiveReader {
  return {
    async read(suites) {
      return suites.map((s) => releaseInfo(s, 'InRelease', `${source} (for ${releaseUrl(s, 'InRelease')})`, body));
    },
  };
}

/** The env knob of the fixed reader (tests only; docs/architecture.md#the-archive-is-an-input). */
export const ARCHIVE_RELEASE_FILE_ENV = 'AILINUX_ARCHIVE_RELEASE_FILE';

/** The reader a build or plan uses: the network, or the fixed file AILINUX_ARCHIVE_RELEASE_FILE names. */
export function defaultArchiveReader(env: NodeJS.ProcessEnv = process.env): ArchiveReader {
  const file = env[ARCHIVE_RELEASE_FILE_ENV];
  if (!file) return networkArchiveReader;
  return {
    async read(suites, options) {
      let body: Buffer;
      try {
        body = fs.readFileSync(file);
      } catch (error) {
        throw new ArchiveUnreachableError(`file://${file}`, `${ARCHIVE_RELEASE_FILE_ENV}: ${(error as Error).message}`);
      }
      return fixedArchiveReader(body, file).read(suites, options);
    },
  };
}
