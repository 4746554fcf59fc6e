/**
 * The live page's server: node:http on 127.0.0.1 by default. It serves the static page from
 * web/, the current picture and data (/api/state, /api/picture.svg, /api/log, /api/resources),
 * and pushes changes through server-sent events (/api/events). It never writes to the work dir.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { InspectCollector, InspectPayload, StatusLike } from './collect.js';
import { resourceFigures, stepLogTail } from './figures.js';
import { webDir } from './html.js';
import { svgDocument } from './svg.js';
import { watchWorkDir, type WorkDirWatcher } from './watch.js';

export interface ServerOptions<S extends StatusLike> {
  host: string;
  port: number;
  /** Bind a non-loopback address; without it such a host is refused. */
  allowRemote?: boolean;
  collector: InspectCollector<S>;
  /** How often resources are pushed and a running build's timeline is extended (ms). */
  tickMs?: number;
  /** Polling fallback interval (ms). */
  pollMs?: number;
  useFsWatch?: boolean;
  warn?: (message: string) => void;
}

export interface InspectServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
  /** Publishes so far (for tests and measurements). */
  stats(): { publishes: number; clients: number; watching: boolean; lastCollectMs: number; listening: boolean };
}

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/expand.js': { file: 'expand.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // the page and its data come from this server only; inline styles are the SVG's and the timeline's
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
};

/** 127.0.0.0/8, ::1 (also as IPv4-mapped) and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  const v = net.isIP(h);
  if (v === 4) return h.startsWith('127.');
  if (v === 6) return h === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./i.test(h);
  return false;
}

/** Refuses a non-loopback bind unless allowed; warns when allowed. */
export function checkBindHost(host: string, allowRemote: boolean, warn: (m: string) => void): void {
  if (isLoopbackHost(host)) return;
  if (!allowRemote) {
    throw new UsageError(
      `refusing to serve on ${host}: it is not a loopback address, and the page shows build logs and paths to anyone who can reach it`,
      {
        hint: 'leave --host at 127.0.0.1 and use an SSH tunnel (ssh -L 7357:127.0.0.1:7357 host), or add --allow-remote if you really mean it',
      },
    );
  }
  warn(
    `serving on ${host}, which is not a loopback address (--allow-remote): anyone who can reach it sees this build's logs and paths; the server has no authentication`,
  );
}

interface Client {
  res: http.ServerResponse;
  pictureKey: string | null;
}

function hashPayload(p: InspectPayload<StatusLike>): string {
  // what the page shows, without the figures that change on every sample; the picture by its key
  const { generatedAt: _g, resources: _r, status, picture, ...rest } = p;
  const s = status as Record<string, unknown> | null;
  return crypto
    .createHash('sha1')
    .update(JSON.stringify({ ...rest, picture: picture.key, lockAlive: s?.['lock'] ?? null }))
    .digest('hex');
}

export async function startInspectServer<S extends StatusLike>(options: ServerOptions<S>): Promise<InspectServer> {
  const warn = options.warn ?? (() => {});
  checkBindHost(options.host, options.allowRemote === true, warn);
  const { collector } = options;
  const root = webDir();
  const clients = new Set<Client>();
  let latest: InspectPayload<S> | null = null;
  let latestHash = '';
  let publishes = 0;
  let lastCollectMs = 0;
  let publishing: Promise<void> | null = null;
  let dirty = false;
  let closed = false;

  const collect = async () => {
    const started = performance.now();
    const p = await collector.collect({ waitForPicture: false });
    lastCollectMs = performance.now() - started;
    return p;
  };

  const send = (client: Client, event: string, data: unknown) => {
    client.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  const sendState = (client: Client, payload: InspectPayload<S>) => {
    // the SVGs (the picture and its steps') only travel when they changed for this client (a picture still rendering follows as a `picture` event)
    if (payload.picture.svg === null) return send(client, 'state', payload);
    const same = client.pictureKey === payload.picture.key;
    client.pictureKey = payload.picture.key;
    send(client, 'state', same ? { ...payload, picture: { ...payload.picture, svg: null, steps: null } } : payload);
  };

  /** Sends a picture that was still rendering when its state went out, once Graphviz is done. */
  const followPicture = (key: string) => {
    collector.pictureFor(key).then(
      (pic) => {
        if (!pic || closed) return;
        if (latest?.picture.key === pic.key) latest.picture = pic;
        for (const c of clients) {
          if (c.pictureKey === pic.key) continue;
          c.pictureKey = pic.key;
          send(c, 'picture', pic);
        }
      },
      (error: unknown) => warn(`inspect: could not render the picture: ${(error as Error).message}`),
    );
  };

  /** The latest payload with its picture rendered (for plain HTTP requests and new event streams). */
  const withPicture = async (): Promise<InspectPayload<S>> => {
    for (let i = 0; i < 5; i++) {
      await publish();
      const p = latest!;
      if (p.picture.svg !== null) return p;
      const pic = await collector.pictureFor(p.picture.key);
      if (pic) {
        if (latest?.picture.key === pic.key) latest.picture = pic;
        return { ...p, picture: pic };
      }
    }
    return (await collector.collect()) as InspectPayload<S>;
  };

  const publish = async (): Promise<void> => {
    if (publishing) {
      dirty = true;
      return publishing;
    }
    publishing = (async () => {
      do {
        dirty = false;
        let payload: InspectPayload<S>;
        try {
          payload = await collect();
          if (payload.picture.svg === null) followPicture(payload.picture.key);
        } catch (error) {
          warn(`inspect: could not read the work dir: ${(error as Error).message}`);
          return;
        }
        if (closed) return;
        const h = hashPayload(payload as InspectPayload<StatusLike>);
        latest = payload;
        if (h !== latestHash) {
          latestHash = h;
          publishes++;
          for (const c of clients) sendState(c, payload);
        }
      } while (dirty && !closed);
    })().finally(() => {
      publishing = null;
    });
    return publishing;
  };

  let debounce: NodeJS.Timeout | null = null;
  const onChange = () => {
    if (debounce || closed) return;
    debounce = setTimeout(() => {
      debounce = null;
      void publish();
    }, 25);
  };

  const watcher: WorkDirWatcher = watchWorkDir(collector.paths, onChange, {
    pollMs: options.pollMs ?? 1000,
    useFsWatch: options.useFsWatch !== false,
  });
  const tick = setInterval(() => {
    if (clients.size === 0) return;
    const resources = resourceFigures(
      collector.paths.workDir,
      latest?.status?.lock?.alive ? latest.status.lock.pid : null,
    );
    for (const c of clients) send(c, 'resources', resources);
    // a running step's bar grows with time
    if (latest?.outcome === 'running' && latest.live) void publish();
  }, options.tickMs ?? 2000);
  tick.unref();
  const keepAlive = setInterval(() => {
    for (const c of clients) c.res.write(': keep-alive\n\n');
  }, 15_000);
  keepAlive.unref();

  const hostAllowed = (req: http.IncomingMessage): boolean => {
    if (options.allowRemote) return true;
    // a loopback server answers loopback names only (no DNS rebinding)
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    return isLoopbackHost(host);
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      ...SECURITY_HEADERS,
    });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!hostAllowed(req))
      return json(res, 403, { error: 'this server answers requests for localhost / 127.0.0.1 only' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', ...SECURITY_HEADERS });
      return res.end();
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const asset = STATIC[url.pathname];
    if (asset) {
      let body: Buffer;
      try {
        body = fs.readFileSync(path.join(root, asset.file));
      } catch {
        return json(res, 500, { error: `the page's ${asset.file} is missing from ${root}` });
      }
      res.writeHead(200, { 'Content-Type': asset.type, 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    switch (url.pathname) {
      case '/api/state':
        return json(res, 200, await withPicture());
      case '/api/picture.svg': {
        const p = await withPicture();
        res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
        return res.end(svgDocument(p.picture.svg ?? ''));
      }
      case '/api/resources':
        return json(
          res,
          200,
          resourceFigures(collector.paths.workDir, latest?.status?.lock?.alive ? latest.status.lock.pid : null),
        );
      case '/api/log': {
        await publish();
        const step = url.searchParams.get('step') ?? latest?.logTail?.step ?? null;
        const lines = Math.min(500, Math.max(1, Number(url.searchParams.get('lines') ?? 50) || 50));
        if (step !== null && !latest!.order.includes(step))
          return json(res, 404, { error: `no step ${step} in this build` });
        return json(res, 200, stepLogTail(collector.paths.stepLogsDir, step, lines));
      }
      case '/api/events': {
        res.writeHead(200, {
          'Content-Type': 'text/event-stream; charset=utf-8',
          'Cache-Control': 'no-store',
          Connection: 'keep-alive',
          ...SECURITY_HEADERS,
        });
        res.write('retry: 1000\n\n');
        const client: Client = { res, pictureKey: null };
        let gone = false;
        req.on('close', () => {
          gone = true;
          clients.delete(client);
        });
        // the first state goes out whole (picture rendered); only then does the client get broadcasts
        const first = await withPicture();
        if (gone || closed) return;
        sendState(client, first);
        clients.add(client);
        if (
          latest &&
          hashPayload(latest as InspectPayload<StatusLike>) !== hashPayload(first as InspectPayload<StatusLike>)
        )
          sendState(client, latest);
        return;
      }
      default:
        return json(res, 404, { error: `no such page: ${url.pathname}` });
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: (error as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(
          new UsageError(`port ${options.port} on ${options.host} is in use`, {
            hint: 'pick another with --port, or --port 0 for any free one',
          }),
        );
      else reject(error);
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${shownHost}:${address.port}/`,
    host: address.address,
    port: address.port,
    stats: () => ({
      publishes,
      clients: clients.size,
      watching: watcher.watching,
      lastCollectMs,
      listening: server.listening,
    }),
    async close() {
      closed = true;
      if (debounce) clearTimeout(debounce);
      clearInterval(tick);
      clearInterval(keepAlive);
      watcher.close();
      for (const c of clients) c.res.end();
      clients.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await publishing?.catch(() => undefined);
    },
  };
}
