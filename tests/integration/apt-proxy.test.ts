/**
 * apt.proxy is used (issue 10, point 6): a tiny forwarding HTTP proxy on the loopback counts what reaches it, and
 * two real downloads of the build go through it, each by the code path a build takes:
 * - the bootstrap step's debootstrap (bootstrapStep.run with the real ExecaRunner), with a bogus http_proxy in the
 *   host's environment that the config's proxy must win over;
 * - apt-get update in a real chroot through runInChroot with `network: true` (the path of configure and the package
 *   steps), in a rootfs holding only apt-get, its http method and their libraries.
 * The proxy forwards InRelease to deb.debian.org and refuses the rest (403), so each download stops after a few
 * requests and the test stays small: what it proves is that they were made through the proxy. Needs root (the
 * namespaces and chroot); skipped otherwise. Run through scripts/sandboxed-test.sh.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import { bootstrapStep } from '../../src/steps/bootstrap.js';
import { runInChroot } from '../../src/steps/layer-step.js';
import { skipUnlessRoot } from '../helpers/root.js';
import { profileConfig, stepContext } from '../helpers/step-context.js';

let tmp = '';
let server: http.Server | null = null;
let proxyUrl = '';
/** Every request line the proxy saw: method and absolute URL. */
const seen: string[] = [];

/** Forwards a request for an InRelease file to its host; refuses anything else, so no download gets far. */
function startProxy(): Promise<void> {
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('the test proxy takes absolute URLs only\n');
      return;
    }
    if (!url.pathname.endsWith('/InRelease')) {
      res.writeHead(403).end('refused by the test proxy\n');
      return;
    }
    const upstream = http.request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.setTimeout(20_000, () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`${error.message}\n`);
    });
    req.pipe(upstream);
  });
  return new Promise((resolve) =>
    server!.listen(0, '127.0.0.1', () => {
      proxyUrl = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

/** apt-get, its http method and every library ldd names, copied under root at the same paths. */
function makeAptRootfs(root: string): void {
  const programs = ['/usr/bin/apt-get', '/usr/lib/apt/methods/http'];
  const files = new Set(programs);
  for (const program of programs) {
    const ldd = execFileSync('ldd', [program], { encoding: 'utf8' });
    for (const m of ldd.matchAll(/(\/\S+)\s+\(0x/g)) files.add(m[1]!);
  }
  for (const file of files) {
    const target = path.join(root, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), target);
    fs.chmodSync(target, 0o755);
  }
  for (const link of ['lib', 'lib64', 'bin'])
    if (!fs.existsSync(path.join(root, link)) && fs.existsSync(path.join(root, 'usr', link)))
      fs.symlinkSync(`usr/${link}`, path.join(root, link));
  for (const dir of [
    'etc/apt/apt.conf.d',
    'etc/apt/sources.list.d',
    'etc/apt/preferences.d',
    'var/lib/apt/lists/partial',
    'var/cache/apt/archives/partial',
    'var/lib/dpkg',
    'tmp',
    'dev',
    'proc',
    'sys',
  ])
    fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
  // apt reads dpkg's architecture tables
  for (const table of ['cputable', 'ostable', 'tupletable'])
    if (fs.existsSync(`/usr/share/dpkg/${table}`))
      fs.cpSync(`/usr/share/dpkg/${table}`, path.join(root, 'usr/share/dpkg', table));
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n');
  fs.writeFileSync(path.join(root, 'etc/apt/sources.list'), 'deb http://deb.debian.org/debian bookworm main\n');
}

function configWithProxy(): BuildConfig {
  return profileConfig('minimal', (c) => {
    c.apt.proxy = proxyUrl;
  });
}

beforeAll(async () => {
  if (skipUnlessRoot()) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-apt-proxy-'));
  await startProxy();
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
  seen.length = 0;
});

describe.skipIf(skipUnlessRoot())('apt.proxy carries the build downloads', () => {
  it("debootstrap (the bootstrap step) asks the proxy for the archive's InRelease, over the host's http_proxy", async () => {
    vi.stubEnv('http_proxy', 'http://host-proxy.invalid:3128');
    const workDir = path.join(tmp, 'bootstrap-work');
    fs.mkdirSync(workDir);
    const ctx = stepContext({ config: configWithProxy(), workDir, stepId: 'bootstrap' });
    const runner = new ExecaRunner({ baseEnv: {} });
    const error = await bootstrapStep.run({ ...ctx, runner }).catch((e: unknown) => e as Error);
    // the proxy refuses everything but InRelease, so debootstrap stops early
    expect(error).toBeInstanceOf(Error);
    expect(seen).toContain('GET http://deb.debian.org/debian/dists/bookworm/InRelease');
  }, 120_000);

  it('apt-get update in the chroot, run as configure runs it (runInChroot, network: true), goes through it', async () => {
    const workDir = path.join(tmp, 'apt-work');
    const root = path.join(workDir, 'layers', 'bootstrap', 'root');
    makeAptRootfs(root);
    const ctx = stepContext({ config: configWithProxy(), workDir, stepId: 'bootstrap' });
    const runner = new ExecaRunner({ baseEnv: {} });
    const error = await runInChroot({ ...ctx, runner }, ['apt-get', 'update'], { network: true }).catch(
      (e: unknown) => e as Error,
    );
    // InRelease forwarded, the indexes refused: apt-get update fails, after asking the proxy
    expect(
      seen.length,
      `apt-get update made no request through the proxy: ${String(error)} ${(error as { failure?: { stderrTail?: string } } | undefined)?.failure?.stderrTail ?? ''}`,
    ).toBeGreaterThan(0);
    expect(seen).toContain('GET http://deb.debian.org/debian/dists/bookworm/InRelease');
  }, 120_000);
});
