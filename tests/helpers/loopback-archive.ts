/**
 * A loopback Debian archive: an HTTP server on 127.0.0.1 that serves dists/<suite>/InRelease from a map the caller
 * changes, to simulate the archive publishing updates (issue 11, point 5). Used by the archive-update integration
 * test and by the benchmark's archive-update measure (scripts/bench), with the fake host tools: it serves Release
 * files and, when asked to, Packages indexes (by path and by hash), no .debs.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';

export interface LoopbackArchive {
  /** The archive's URL, http://127.0.0.1:<port>/debian. */
  base: string;
  /** What the archive serves, by path (/debian/dists/<suite>/InRelease); change it between runs. */
  published: Map<string, string | Buffer>;
  /** Every request the archive answered: method and path, in order. */
  requests: string[];
  /**
   * Publishes a Release of this date for the suite (its InRelease); with `packages` (component -> the text of its
   * binary-amd64 Packages), the Release's SHA256 section lists them, and they are served by path and by hash.
   */
  publish(suite: string, date: string, packages?: Record<string, string>): void;
  /** Stops serving the suite: its InRelease answers 404. */
  withdraw(suite: string): void;
  close(): Promise<void>;
}

/** A Release file's fields, as the archive check reads them; `files` (path -> bytes) are its SHA256 section. */
export const releaseText = (suite: string, date: string, files: Record<string, Buffer> = {}): string =>
  `Origin: Debian\nLabel: Debian\nSuite: ${suite}\nCodename: ${suite}\nDate: ${date}\nAcquire-By-Hash: yes\nArchitectures: amd64\nComponents: main\n${
    Object.keys(files).length === 0
      ? ''
      : `SHA256:\n${Object.entries(files)
          .map(([p, b]) => ` ${sha256(b)} ${b.length} ${p}\n`)
          .join('')}`
  }`;

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** Starts the archive on an ephemeral port of 127.0.0.1. */
export async function startLoopbackArchive(): Promise<LoopbackArchive> {
  const published = new Map<string, string | Buffer>();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const body = published.get(req.url ?? '');
    if (body === undefined) res.writeHead(404).end('not here\n');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
  const inRelease = (suite: string) => `/debian/dists/${suite}/InRelease`;
  return {
    base,
    published,
    requests,
    publish: (suite, date, packages = {}) => {
      const files: Record<string, Buffer> = {};
      for (const [component, text] of Object.entries(packages)) {
        const dir = `${component}/binary-amd64`;
        files[`${dir}/Packages`] = Buffer.from(text);
        files[`${dir}/Packages.gz`] = zlib.gzipSync(Buffer.from(text));
      }
      for (const [p, b] of Object.entries(files)) {
        published.set(`/debian/dists/${suite}/${p}`, b);
        published.set(`/debian/dists/${suite}/${path.posix.dirname(p)}/by-hash/SHA256/${sha256(b)}`, b);
      }
      published.set(inRelease(suite), releaseText(suite, date, files));
    },
    withdraw: (suite) => published.delete(inRelease(suite)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The config both use: minimal from the loopback archive (bookworm and bookworm-updates), without the verify step
 * (fake tools make no bootable ISO) and without retries.
 */
export function loopbackArchiveConfig(base: string): Record<string, unknown> {
  return {
    extends: 'minimal',
    retry: { maxAttempts: 1, backoffMs: 0, backoffFactor: 1 },
    distribution: {
      mirror: base,
      sources: [{ uri: base, suites: ['bookworm', 'bookworm-updates'], components: ['main'] }],
    },
    steps: [
      'bootstrap',
      'configure',
      'packages',
      'identity',
      'chroot-cleanup',
      'squashfs',
      'bootloaders',
      'iso',
      'checksums',
      'report',
    ],
  };
}
