/**
 * The live page's server, in process, against a work dir this test writes as a build would:
 * loopback only unless allowed, the static page and the API, server-sent events on every state
 * change (fs.watch, and the polling fallback alone), a Host check against DNS rebinding, a clean
 * close, and never a write to the work dir.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StateStore } from '../../state/store.js';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { createBuildMachine } from '../../machines/build-machine.js';
import { UsageError } from '../../src/errors.js';
import { InspectCollector, type InspectPayload, type StatusLike } from '../../src/inspect/collect.js';
import { checkBindHost, isLoopbackHost, startInspectServer, type InspectServer } from '../../src/inspect/server.js';
import { workPaths } from '../../src/runtime/paths.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';

const ORDER = ['bootstrap', 'configure', 'packages'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-inspect-srv-'));
const servers: InspectServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function definitionCount(): number {
  let n = 0;
  const walk = (s: { states: Record<string, unknown> }) => {
    n++;
    for (const c of Object.values(s.states)) walk(c as typeof s);
  };
  walk(createBuildMachine(ORDER).root as unknown as { states: Record<string, unknown> });
  return n;
}

function makeState(current: string | null, ledger: Ledger, outcome: StateFile['outcome'] = 'running'): StateFile {
  const now = new Date().toISOString();
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome,
    createdAt: now,
    updatedAt: now,
    order: ORDER,
    ledger,
    snapshot: current ? { status: 'active', value: { pipeline: { [current]: ledger[current]!.status } } } : null,
    current,
    interruptSignal: null,
    processes: [],
    history: [{ runId: 'r-1', command: 'build', startedAt: now, endedAt: null, outcome }],
  };
}

function ledgerAt(current: string): Ledger {
  const c = ORDER.indexOf(current);
  return Object.fromEntries(
    ORDER.map((id, i) => [
      id,
      {
        ...emptyLedgerEntry(id),
        runId: 'r-1',
        status: i < c ? 'done' : i === c ? 'running' : 'pending',
        attempts: i <= c ? 1 : 0,
        durationMs: i < c ? 1000 : null,
        startedAt: i <= c ? new Date().toISOString() : null,
      },
    ]),
  );
}

const liveStatus = (): StatusLike => ({ lock: { pid: process.pid, alive: true } });

async function serve(workDir: string, extra: { useFsWatch?: boolean; pollMs?: number } = {}): Promise<InspectServer> {
  const collector = new InspectCollector({
    workDir,
    statusReport: liveStatus,
    fallback: { title: 'minimal (as it would run)', order: ORDER },
  });
  const s = await startInspectServer({ host: '127.0.0.1', port: 0, collector, tickMs: 60_000, ...extra });
  servers.push(s);
  return s;
}

function request(
  url: string,
  options: http.RequestOptions = {},
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A server-sent events client: collects `state` events as they arrive. */
function subscribe(url: string) {
  const states: Array<{ at: number; data: InspectPayload }> = [];
  const pictures: Array<{ at: number; data: { key: string; svg: string; steps?: Record<string, string> | null } }> = [];
  let ended = false;
  let buffer = '';
  const req = http.get(`${url}api/events`, (res) => {
    res.on('data', (d: Buffer) => {
      buffer += d.toString();
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === 'state' && data) states.push({ at: Date.now(), data: JSON.parse(data) as InspectPayload });
        if (event === 'picture' && data)
          pictures.push({
            at: Date.now(),
            data: JSON.parse(data) as { key: string; svg: string; steps?: Record<string, string> | null },
          });
      }
    });
    res.on('end', () => (ended = true));
  });
  req.on('error', () => (ended = true));
  return { states, pictures, ended: () => ended, close: () => req.destroy() };
}

/** Polls until fn() gives a value; the deadline is generous because a loaded machine renders the picture slowly. */
async function waitFor<T>(what: string, fn: () => T | undefined | null | false, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = fs.statSync(p);
      out.push(`${path.relative(dir, p)} ${s.size} ${s.mtimeMs}`);
      if (s.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe('binding', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of [
      '0.0.0.0',
      '::',
      '192.168.1.10',
      '10.0.0.1',
      'example.org',
      'localhost.example.org',
      '::ffff:10.0.0.1',
      '',
    ])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('refuses a non-loopback host unless allowed, and warns when allowed', async () => {
    const warnings: string[] = [];
    expect(() => checkBindHost('0.0.0.0', false, (m) => warnings.push(m))).toThrow(UsageError);
    expect(() => checkBindHost('192.168.1.10', false, (m) => warnings.push(m))).toThrow(/not a loopback address/);
    expect(warnings).toEqual([]);
    checkBindHost('0.0.0.0', true, (m) => warnings.push(m));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/not a loopback address \(--allow-remote\).*no authentication/);
    checkBindHost('127.0.0.1', false, (m) => warnings.push(m));
    expect(warnings).toHaveLength(1);
    const collector = new InspectCollector({
      workDir: path.join(tmp, 'none'),
      statusReport: liveStatus,
      fallback: { title: 't', order: ORDER },
    });
    await expect(startInspectServer({ host: '0.0.0.0', port: 0, collector })).rejects.toThrow(UsageError);
  });
});

describe('the collector', () => {
  it('tells a running build from one whose process died', async () => {
    const work = path.join(tmp, 'dead');
    StateStore.open(workPaths(work).stateFile).save(makeState('configure', ledgerAt('configure')));
    const collect = (alive: boolean) =>
      new InspectCollector({
        workDir: work,
        statusReport: () => ({ lock: { pid: process.pid, alive } }),
        fallback: { title: 't', order: ORDER },
      }).collect();
    const live = await collect(true);
    expect(live.live).toBe(true);
    expect(live.marks['build.pipeline.configure.running']!.classes).toContain('active');
    expect(live.resources.build?.pid).toBe(process.pid);
    const dead = await collect(false);
    expect(dead.live).toBe(false);
    expect(dead.marks['build.pipeline.configure.running']!.classes).toEqual(['stale']);
    expect(dead.marks['build.pipeline.configure']!.classes).toContain('interrupted');
    expect(dead.resources.build).toBeNull();
  });
});

describe('serving a work dir', () => {
  it('serves the page, the API and the picture; refuses other methods, paths and Host names', async () => {
    const work = path.join(tmp, 'static');
    const s = await serve(work);
    const page = await request(s.url);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.body).toContain('id="current-step"');
    expect(page.body).not.toMatch(/https?:\/\//);
    expect((await request(`${s.url}app.js`)).type).toMatch(/javascript/);
    expect((await request(`${s.url}style.css`)).body).toContain('.tl-seg');
    const state = JSON.parse((await request(`${s.url}api/state`)).body) as InspectPayload;
    expect(state.source).toBe('profile');
    expect(state.outcome).toBeNull();
    expect(state.graph.nodes).toHaveLength(definitionCount());
    expect(state.picture.svg?.startsWith('<svg')).toBe(true);
    const svg = await request(`${s.url}api/picture.svg`);
    expect(svg.type).toBe('image/svg+xml');
    expect(svg.body).toMatch(/^<\?xml[^>]*>\n<svg/);
    expect((await request(`${s.url}../package.json`)).status).toBe(404);
    expect((await request(`${s.url}web/app.js`)).status).toBe(404);
    expect((await request(`${s.url}api/log?step=../../etc/passwd`)).status).toBe(404);
    expect((await request(`${s.url}api/state`, { method: 'POST' })).status).toBe(405);
    expect((await request(`${s.url}api/state`, { headers: { Host: `attacker.example:${s.port}` } })).status).toBe(403);
    expect((await request(`${s.url}api/state`, { headers: { Host: `localhost:${s.port}` } })).status).toBe(200);
    expect(fs.existsSync(work), 'serving a missing work dir does not create it').toBe(false);
  });

  for (const mode of ['fs.watch', 'polling only'] as const) {
    it(`pushes each state change over server-sent events (${mode}), and writes nothing`, {
      timeout: 120_000,
    }, async () => {
      const work = path.join(tmp, mode === 'fs.watch' ? 'watch' : 'poll');
      const paths = workPaths(work);
      const store = StateStore.open(paths.stateFile);
      store.save(makeState('bootstrap', ledgerAt('bootstrap')));
      const s = await serve(work, mode === 'fs.watch' ? {} : { useFsWatch: false, pollMs: 100 });
      expect(s.stats().watching).toBe(mode === 'fs.watch');
      const sub = subscribe(s.url);
      const first = await waitFor('the first state event', () => sub.states[0]);
      expect(first.data.current).toBe('bootstrap');
      expect(first.data.activeStates).toEqual(['build.pipeline.bootstrap.running']);
      expect(first.data.picture.svg).toContain('<svg');

      const lags: number[] = [];
      for (const step of ['configure', 'packages']) {
        const n = sub.states.length;
        const t0 = Date.now();
        store.save(makeState(step, ledgerAt(step)));
        const got = await waitFor(`a state event for ${step}`, () =>
          sub.states.slice(n).find((e) => e.data.current === step),
        );
        lags.push(got.at - t0);
        expect(got.data.activeStates).toEqual([`build.pipeline.${step}.running`]);
        expect(got.data.marks['build.pipeline.bootstrap']!.classes).toContain('done');
        // the new picture travels with the state, or right after it once rendered
        const svg =
          got.data.picture.svg ??
          (await waitFor('the new picture', () => sub.pictures.find((p) => p.data.key === got.data.picture.key))).data
            .svg;
        // the compact picture: the step's node is the current one; its sub-states, drawn for the click that expands it, say where in it
        expect(svg).toMatch(
          new RegExp(`id="build\\.pipeline\\.${step}" class="node state step active in(-|&#45;)flight"`),
        );
        const steps =
          got.data.picture.steps ??
          (await waitFor('the new picture', () => sub.pictures.find((p) => p.data.key === got.data.picture.key))).data
            .steps;
        expect(steps?.[`build.pipeline.${step}`]).toContain(
          `id="detail:build.pipeline.${step}.running" class="node state atomic active"`,
        );
      }
      console.log(`server push latency (${mode}): ${lags.join(', ')} ms after the state write`);

      // a new log line of the current step is pushed too; the unchanged picture is not sent again
      const n = sub.states.length;
      fs.mkdirSync(paths.stepLogsDir, { recursive: true });
      fs.writeFileSync(path.join(paths.stepLogsDir, 'packages.log'), '  Setting up bash (5.2) ...\n');
      const logged = await waitFor('the log line', () =>
        sub.states.slice(n).find((e) => e.data.logTail?.lines.includes('  Setting up bash (5.2) ...')),
      );
      expect(logged.data.picture.svg).toBeNull();

      // reading, serving and pushing leave the work dir as it was
      const before = listing(work);
      for (let i = 0; i < 5; i++) await request(`${s.url}api/state`);
      await request(`${s.url}api/log?step=packages&lines=5`);
      await new Promise((r) => setTimeout(r, 300));
      expect(listing(work)).toEqual(before);

      await s.close();
      servers.splice(servers.indexOf(s), 1);
      await waitFor('the event stream to end on close', () => sub.ended());
      // closed: not listening, no client left. (Not "the port refuses": once free, the port can go at once to a
      // server another test file opens with port 0, which made this test fail on a loaded machine.)
      expect(s.stats()).toMatchObject({ listening: false, clients: 0 });
    });
  }
});
