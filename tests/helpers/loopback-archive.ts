/**
 * A loopback Debian archive: an HTTP server on 127.0.0.1 that serves dists/<suite>/InRelease from a map the caller
 * changes, to simulate the archive publishing updates (issue 11, point 5). Used by the archive-update integration
 * test and by the benchmark's archive-update measure (scripts/bench), with the fake host tools: it serves Release
 * files only, no packages.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoopbackArchive {
  /** The archive's URL, http://127.0.0.1:<port>/debian. */
  base: string;
  /** What the archive serves, by path (/debian/dists/<suite>/InRelease); change it between runs. */
  published: Map<string, string>;
  /** Every request the archive answered: method and path, in order. */
  requests: string[];
  /** Publishes a Release of this date for the suite (its InRelease). */
  publish(suite: string, date: string): void;
  /** Stops serving the suite: its InRelease answers 404. */
  withdraw(suite: string): void;
  close(): Promise<void>;
}

/** A Release file's fields, as the archive check reads them. */
export const releaseText = (suite: string, date: string): string =>
  `Origin: Debian\nLabel: Debian\nSuite: ${suite}\nCodename: ${suite}\nDate: ${date}\nArchitectures: amd64\nComponents: main\n`;

/** Starts the archive on an ephemeral port of 127.0.0.1. */
export async function startLoopbackArchive(): Promise<LoopbackArchive> {
  const published = new Map<string, string>();
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
    publish: (suite, date) => published.set(inRelease(suite), releaseText(suite, date)),
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
