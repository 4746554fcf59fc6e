/**
 * The live page of `ailinux inspect --serve` in real headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core, which cannot download a browser here). A build runs with the fake
 * host tools (slowed by FAKE_TOOL_DELAY, its first debootstrap failing transiently so the bootstrap
 * step is retried); the page, opened before the build starts, must show the current step change
 * without a reload. Screenshots go to test-artifacts/; with INSPECT_SCREENSHOTS_DIR set (npm run
 * screenshots), the README's images are written there too, from a second build that reuses the
 * first one's checkpoints. Also: the server refuses a non-loopback host, ends cleanly on SIGINT
 * and SIGTERM, and neither it nor `status`/`inspect` (run as nobody) writes to the state.
 * The browser part needs root (the build does) and /usr/bin/chromium; it is skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, missingRoot, skipWithout } from '../helpers/root.js';
import { CLI, REPO, startCli, type CliRun } from '../helpers/cli.js';

const FAKE_BIN = path.join(REPO, 'tests', 'fixtures', 'bin');
const CONFIG = path.join(REPO, 'tests', 'fixtures', 'crash.config.json');
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'test-artifacts');
const DOCS_DIR = process.env['INSPECT_SCREENSHOTS_DIR']
  ? path.resolve(REPO, process.env['INSPECT_SCREENSHOTS_DIR'])
  : null;
const FAKE_TOOL_DELAY = process.env['INSPECT_FAKE_TOOL_DELAY'] ?? '0.6';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const NOBODY = 65534;

const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(
    `inspect-browser.test.ts: browser test skipped: ${CHROMIUM} is missing (apt-get install -y --no-install-recommends chromium)`,
  );
else if (!isRoot) console.warn('inspect-browser.test.ts: browser test skipped: the build it watches needs root');
const browserTierMissing = haveChromium ? missingRoot() : `${CHROMIUM} is missing (apt-get install chromium)`;

let tmp = '';

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('AILINUX_') || key.startsWith('FAKE_')) delete env[key];
  // the fake chroot on PATH is kept in the chroot's env -i, as tests/helpers/cli.ts does
  const keep = { AILINUX_CHROOT_ENV_KEEP: 'PATH,FAKE_*' };
  return { ...env, NO_COLOR: '1', SOURCE_DATE_EPOCH: '1700000000', ...keep, ...extra };
}

/** The CLI on pipes, its output read while it runs. */
function start(args: string[], env: NodeJS.ProcessEnv = cliEnv()): CliRun {
  return startCli(args, { env });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, fn: () => T | null | undefined | false, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `inspect --serve` and waits until it says where it serves. */
async function serve(workDir: string, port: number, extra: string[] = []): Promise<CliRun & { url: string }> {
  const p = start(['inspect', '--serve', '--port', String(port), '-w', workDir, ...extra]);
  const url = await waitFor('the server to start', () => /serving .* at (http:\/\/\S+)/.exec(p.output())?.[1]);
  return { ...p, url };
}

/** Names and mtimes of everything under dir: what "never writes to the state" compares. */
function listing(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => {
      const s = fs.statSync(path.join(dir, name));
      return `${name} ${s.size} ${s.mtimeMs}`;
    });
}

beforeAll(() => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-inspect-'));
  // nobody must be able to read the work dir for the no-root checks
  fs.chmodSync(tmp, 0o755);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(() => {
  if (tmp && process.env['INSPECT_KEEP'] !== '1') fs.rmSync(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`inspect test: kept ${tmp}`);
});

describe('inspect --serve: binding and signals', () => {
  it('refuses a non-loopback host without --allow-remote, and writes nothing', async () => {
    const w = path.join(tmp, 'refuse');
    const p = start(['inspect', '--serve', '--host', '0.0.0.0', '--port', String(await freePort()), '-w', w]);
    const { code } = await p.done;
    expect(code, p.output()).toBe(2);
    expect(p.output()).toMatch(/refusing to serve on 0\.0\.0\.0: it is not a loopback address/);
    expect(p.output()).toMatch(/--allow-remote/);
    expect(fs.existsSync(w)).toBe(false);
  });

  it('writes one picture in the format its file name says, never into the state directory', () => {
    const out = path.join(tmp, 'minimal.mmd');
    const r = spawnSync(process.execPath, [CLI, 'inspect', '-p', 'minimal', '-o', out], {
      cwd: tmp,
      env: cliEnv(),
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toMatch(/^stateDiagram-v2\n/);
    const w = path.join(tmp, 'guarded');
    fs.mkdirSync(path.join(w, 'state'), { recursive: true });
    const bad = spawnSync(
      process.execPath,
      [CLI, 'inspect', '-p', 'minimal', '-w', w, '-o', path.join(w, 'state', 'x.svg')],
      { cwd: tmp, env: cliEnv(), encoding: 'utf8' },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/inside the work dir's state directory/);
    expect(fs.readdirSync(path.join(w, 'state'))).toEqual([]);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // a server that waited for the open event stream would never end: the test's timeout catches that
    it(`ends cleanly on ${signal} while a page is connected to its event stream`, { timeout: 60_000 }, async () => {
      const w = path.join(tmp, `signal-${signal}`);
      const s = await serve(w, await freePort());
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(s.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('id="current-step"');
      const events = await fetch(`${s.url}api/events`);
      expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
      const reader = events.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toContain('retry:');
      const t0 = Date.now();
      s.child.kill(signal);
      const { code } = await s.done;
      const ms = Date.now() - t0;
      expect(code, s.output()).toBe(0);
      expect(s.output()).toContain(`${signal}: stopped serving`);
      console.log(`inspect test: ${signal} -> exit 0 after ${ms} ms with an event stream open`);
      await reader.cancel().catch(() => undefined);
      expect(fs.existsSync(w), 'serving a missing work dir does not create it').toBe(false);
    });
  }
});

describe.skipIf(skipWithout(browserTierMissing))('inspect --serve in headless Chromium during a build', () => {
  it('draws the ailinux profile compact: one node per step, cleanup and the final states', async () => {
    const { chromium } = await import('playwright-core');
    const server = await serve(path.join(tmp, 'no-build-yet'), await freePort(), ['-p', 'ailinux']);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      await page.goto(server.url);
      await page.waitForSelector('#picture > svg g.node.step');
      if (DOCS_DIR) fs.mkdirSync(DOCS_DIR, { recursive: true });
      const counts = await compactPicture(page, 'inspect-compact-ailinux.png');
      const order = await page.evaluate(
        async () => ((await (await fetch('/api/state')).json()) as { order: string[] }).order,
      );
      expect(order).toHaveLength(15);
      expect(counts).toEqual({ nodes: order.length + 5, steps: order.length });
      console.log(`inspect test: ailinux profile drawn with ${counts.nodes} nodes (${counts.steps} steps)`);
    } finally {
      await browser.close();
      server.child.kill('SIGINT');
      await server.done;
    }
  });

  it('shows the current step change without a reload, and writes nothing to the state', async () => {
    const { chromium } = await import('playwright-core');
    const work = path.join(tmp, 'w');
    // the first debootstrap fails like a mirror hiccup, so the bootstrap step is retried (attempts: 2); it notes
    // that in the work dir's logs/, as the rest is read-only to the build (its sandbox)
    const flakyBin = path.join(tmp, 'flaky-bin');
    const failedOnce = path.join(work, 'logs', 'flaky-debootstrap-failed-once');
    fs.mkdirSync(flakyBin);
    fs.writeFileSync(
      path.join(flakyBin, 'debootstrap'),
      `#!/bin/bash\nif [ ! -e "${failedOnce}" ]; then : >"${failedOnce}"; sleep 0.3; echo "E: Failed getting release file: Temporary failure resolving 'deb.debian.org'" >&2; exit 1; fi\nexec "${FAKE_BIN}/debootstrap" "$@"\n`,
      { mode: 0o755 },
    );
    // the squashfs step's mksquashfs waits for the test's go-ahead, so the page is checked mid-build at a known step
    const squashfsGo = path.join(flakyBin, '.squashfs-go');
    fs.writeFileSync(
      path.join(flakyBin, 'mksquashfs'),
      `#!/bin/bash\nfor ((i = 0; i < 2400; i++)); do [ -e "${squashfsGo}" ] && break; sleep 0.05; done\nexec "${FAKE_BIN}/mksquashfs" "$@"\n`,
      { mode: 0o755 },
    );
    const buildEnv = cliEnv({
      PATH: `${flakyBin}:${FAKE_BIN}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      FAKE_TOOL_DELAY,
    });

    const server = await serve(work, await freePort());
    const userData = fs.mkdtempSync(path.join(tmp, 'chromium-profile-'));
    const context = await chromium.launchPersistentContext(userData, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 900 },
    });
    let build: CliRun | null = null;
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      let navigations = 0;
      page.on('framenavigated', (f) => {
        if (f === page.mainFrame()) navigations++;
      });
      await page.goto(server.url);
      await page.waitForFunction(() => document.body.dataset['appliedAt'] !== undefined);
      expect(await page.textContent('#outcome')).toBe('no build yet');
      // every step the page displays, with when it displayed it and what state write it came from
      await page.evaluate(() => {
        const w = window as unknown as { seen: Array<[string, number, string]> };
        w.seen = [];
        const el = document.getElementById('current-step')!;
        new MutationObserver(() =>
          w.seen.push([el.textContent ?? '', Date.now(), document.body.dataset['stateUpdatedAt'] ?? '']),
        ).observe(el, { childList: true, characterData: true, subtree: true });
      });

      const started = Date.now();
      build = start(['build', '--config', CONFIG, '-w', work], buildEnv);
      await page.waitForFunction(() => (window as unknown as { seen: unknown[] }).seen.length >= 1, undefined, {
        timeout: 60_000,
      });
      const firstShown = Date.now() - started;

      // mid-build, held in the squashfs step: bootstrap is done after a retry, and the picture follows the state
      // it belongs to (it may arrive a moment after the step name)
      await page.waitForFunction(
        () =>
          document.getElementById('current-step')!.textContent === 'squashfs' &&
          document.querySelector('#picture svg g.node.active')?.getAttribute('id') === 'build.pipeline.squashfs',
        undefined,
        { timeout: 120_000 },
      );
      const mid = await page.evaluate(() => ({
        current: document.getElementById('current-step')!.textContent,
        active: document.querySelector('#picture svg g.node.active')?.getAttribute('id') ?? null,
        bootstrapClass:
          document.querySelector('#picture svg g[id="build.pipeline.bootstrap"]')?.getAttribute('class') ?? null,
        squashfsText: document.querySelector('#picture svg g[id="build.pipeline.squashfs"]')?.textContent ?? '',
      }));
      await page.screenshot({ path: path.join(ARTIFACTS, 'inspect-page.png') });
      if (DOCS_DIR === null) console.log('inspect test: screenshot in test-artifacts/inspect-page.png');
      const compactMinimal = await compactPicture(page, 'inspect-compact-minimal.png');
      const expansion = await expandStep(page, 'build.pipeline.bootstrap', 'inspect-expanded.png');
      fs.writeFileSync(squashfsGo, '');

      const result = await build.done;
      expect(result.code, build.output()).toBe(0);
      await page.waitForFunction(() => document.getElementById('outcome')!.textContent === 'succeeded', undefined, {
        timeout: 60_000,
      });
      await page.screenshot({ path: path.join(ARTIFACTS, 'inspect-page-final.png'), fullPage: true });

      const seen = await page.evaluate(() => (window as unknown as { seen: Array<[string, number, string]> }).seen);
      const steps = [...new Set(seen.map(([s]) => s).filter((s) => s !== '–' && s !== ''))];
      const order = JSON.parse(fs.readFileSync(path.join(work, 'state', 'state.json'), 'utf8')).order as string[];
      // latency: from the state write the page shows to the page showing it
      const lags = seen
        .filter(([, , u]) => u !== '')
        .map(([, at, u]) => at - Date.parse(u))
        .sort((a, b) => a - b);
      console.log(
        [
          `inspect test: build took ${result.code === 0 ? Date.now() - started : '?'} ms; first step on the page after ${firstShown} ms`,
          `  steps the page showed, in order: ${steps.join(' → ')}`,
          `  page update latency after a state write: median ${lags[Math.floor(lags.length / 2)]} ms, max ${lags[lags.length - 1]} ms over ${lags.length} changes`,
          `  mid-build: current ${mid.current}, active state ${mid.active}, bootstrap ${mid.bootstrapClass}`,
        ].join('\n'),
      );

      expect(navigations, 'the page never reloaded').toBe(1);
      expect(steps.length, `the page showed several steps: ${steps.join(', ')}`).toBeGreaterThanOrEqual(3);
      for (const s of steps) expect(order).toContain(s);
      // shown in build order
      expect(steps.map((s) => order.indexOf(s))).toEqual([...steps.map((s) => order.indexOf(s))].sort((a, b) => a - b));
      expect(mid).toMatchObject({ current: 'squashfs', active: 'build.pipeline.squashfs' });
      expect(mid.squashfsText).toContain('now: running');
      // the compact picture: the 11 steps of this minimal config, cleanup and 4 final states
      expect(compactMinimal.nodes).toBe(order.length + 5);
      expect(compactMinimal.steps).toBe(order.length);
      // a click put the bootstrap step's sub-states in the page beside it, a second (Enter) took them out
      expect(expansion).toEqual({
        before: 0,
        opened: 10,
        beside: true,
        retrying: expect.stringContaining('1×') as unknown as string,
        expanded: 'true',
        after: 0,
        collapsed: 'false',
      });
      expect(mid.bootstrapClass).toContain('done');
      expect(mid.bootstrapClass).toContain('retried');
      expect(await page.textContent('#picture svg g[id="build.pipeline.bootstrap"]')).toContain('2 attempts');
      expect(await page.textContent('#timeline')).toContain('2 attempts');
      expect(await page.textContent('#resources')).toMatch(/disk free/);

      // the HTML report beside the JSON and text reports: the final picture and the timeline, self-contained
      const html = fs.readFileSync(path.join(work, 'output', 'ailinux-minimal-amd64.report.html'), 'utf8');
      expect(html).toContain('<svg');
      expect(html).toContain('id="build.succeeded"');
      expect(html).toContain('class="timeline"');
      // one inline script (web/expand.js), nothing loaded from elsewhere: no script src, no <link>, no src= or href=
      // to another host, no CSS url() or @import of one (the archive state names the archive's URL as text)
      expect(html.match(/<script/g)).toHaveLength(1);
      expect(html).not.toMatch(
        /<script[^>]*\ssrc=|<link|\s(src|href)\s*=\s*["']?(https?:)?\/\/|url\(\s*["']?(https?:)?\/\/|@import/,
      );
      expect(html).toContain('<td class="mono">http://deb.debian.org/debian</td>');
      // opened from the output folder, the report expands a step on click too
      const report = await context.newPage();
      await report.goto(`file://${path.join(work, 'output', 'ailinux-minimal-amd64.report.html')}`);
      const reportStates = () =>
        document.querySelectorAll('details.step-detail[data-step="build.pipeline.packages"] > svg g.node').length;
      expect(await report.evaluate(reportStates)).toBe(0);
      await report.locator('.picture > svg g.node.step[id="build.pipeline.packages"]').click();
      expect(await report.evaluate(reportStates)).toBe(10);
      await report.close();

      // never writes to the state: the server (still serving) nor status/inspect run as nobody
      const before = listing(path.join(work, 'state'));
      await new Promise((r) => setTimeout(r, 2500));
      const api = (await (await fetch(`${server.url}api/state`)).json()) as { outcome: string; activeStates: string[] };
      expect(api.outcome).toBe('succeeded');
      expect(api.activeStates).toEqual(['build.succeeded']);
      for (const args of [
        ['status', '-w', work],
        ['status', '--json', '-w', work],
        ['inspect', '-w', work, '-f', 'dot'],
        ['inspect', '-w', work, '-f', 'html'],
      ]) {
        const r = spawnSync(process.execPath, [CLI, ...args], {
          cwd: tmp,
          env: cliEnv(),
          encoding: 'utf8',
          uid: NOBODY,
          gid: NOBODY,
        });
        expect(r.status, `ailinux ${args.join(' ')} as nobody: ${r.stderr}`).toBe(0);
      }
      expect(listing(path.join(work, 'state'))).toEqual(before);

      if (DOCS_DIR) await docsImages(context, server.url, work, buildEnv);
    } finally {
      fs.writeFileSync(squashfsGo, '');
      if (build && build.child.exitCode === null) build.child.kill('SIGKILL');
      await context.close();
      server.child.kill('SIGINT');
      const { code } = await server.done;
      expect(code, server.output()).toBe(0);
    }
  });
});

/**
 * The compact picture on the page, whole (the viewport made tall enough for it): saved in test-artifacts/ and,
 * with INSPECT_SCREENSHOTS_DIR, beside the README's images. Returns how many nodes and step nodes it drew.
 */
async function compactPicture(
  page: import('playwright-core').Page,
  file: string,
): Promise<{ nodes: number; steps: number }> {
  const viewport = page.viewportSize();
  await page.setViewportSize({ width: 1440, height: 1600 });
  const picture = page.locator('#picture > svg');
  await picture.screenshot({ path: path.join(ARTIFACTS, file) });
  if (DOCS_DIR) {
    fs.mkdirSync(DOCS_DIR, { recursive: true });
    fs.copyFileSync(path.join(ARTIFACTS, file), path.join(DOCS_DIR, file));
  }
  const counts = await page.evaluate(() => ({
    nodes: document.querySelectorAll('#picture > svg g.node').length,
    steps: document.querySelectorAll('#picture > svg g.node.step').length,
  }));
  if (viewport) await page.setViewportSize(viewport);
  return counts;
}

/**
 * Clicks a step's node and checks that its sub-states entered the page beside it (and were not there before);
 * saves the picture with them open; then closes them with Enter on the focused node, as a keyboard user would.
 */
async function expandStep(page: import('playwright-core').Page, stepNode: string, file: string) {
  const inPanel = (id: string) =>
    document.querySelectorAll(`#picture details.step-detail[data-step="${id}"] > svg g.node`).length;
  const before = await page.evaluate(inPanel, stepNode);
  const node = page.locator(`#picture > svg g.node.step[id="${stepNode}"]`);
  await node.click();
  await page.waitForFunction(inPanel, stepNode);
  const opened = await page.evaluate((id) => {
    const panel = document.querySelector(`#picture details.step-detail[data-step="${id}"]`)!;
    const n = document.querySelector(`#picture > svg g.node.step[id="${id}"]`)!;
    const p = panel.getBoundingClientRect();
    const r = n.getBoundingClientRect();
    return {
      opened: panel.querySelectorAll('svg g.node').length,
      // beside the node: to its right, level with it, and shown
      beside: p.width > 0 && p.left >= r.right && Math.abs(p.top - r.top) < 2,
      retrying: panel.querySelector(`[id="detail:${id}.retrying"]`)?.textContent ?? '',
      expanded: n.getAttribute('aria-expanded'),
    };
  }, stepNode);
  const viewport = page.viewportSize();
  await page.setViewportSize({ width: 1440, height: 1600 });
  await page.evaluate(() =>
    (window as unknown as { ailinuxExpand?: { sync(box: Element): void } }).ailinuxExpand?.sync(
      document.getElementById('picture')!,
    ),
  );
  await page.locator('#picture').screenshot({ path: path.join(ARTIFACTS, file) });
  if (DOCS_DIR) {
    fs.mkdirSync(DOCS_DIR, { recursive: true });
    fs.copyFileSync(path.join(ARTIFACTS, file), path.join(DOCS_DIR, file));
  }
  if (viewport) await page.setViewportSize(viewport);
  await node.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    (id) => document.querySelectorAll(`#picture details.step-detail[data-step="${id}"] > svg`).length === 0,
    stepNode,
  );
  const after = await page.evaluate(inPanel, stepNode);
  return { before, ...opened, after, collapsed: await node.getAttribute('aria-expanded') };
}

/**
 * The README's images: a second build with another hostname reuses the first build's checkpoints
 * (skipped), reruns the rest, and is caught mid-way; the page and the machine picture are saved.
 */
async function docsImages(
  context: import('playwright-core').BrowserContext,
  url: string,
  work: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const dir = DOCS_DIR!;
  fs.mkdirSync(dir, { recursive: true });
  const config = path.join(tmp, 'hostname-changed.json');
  fs.writeFileSync(
    config,
    JSON.stringify({ ...JSON.parse(fs.readFileSync(CONFIG, 'utf8')), hostname: 'ailinux-docs' }),
  );
  const page = await context.newPage();
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto(url);
  const build = start(['build', '--config', config, '-w', work], env);
  // bootloaders runs about 3 s with the fake tools: time for both pictures to show the same moment
  await page.waitForFunction(
    () =>
      document.getElementById('current-step')!.textContent === 'bootloaders' &&
      document.querySelector('#picture svg g.node.active')?.getAttribute('id') === 'build.pipeline.bootloaders',
    undefined,
    { timeout: 60_000 },
  );
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(dir, 'inspect-page.png') });
  const svg = await (await fetch(`${url}api/picture.svg`)).text();
  fs.writeFileSync(path.join(dir, 'inspect-machine.svg'), svg);
  const pic = await context.newPage();
  await pic.setViewportSize({ width: 1000, height: 800 });
  await pic.setContent(
    `<!doctype html><body style="margin:0;background:white">${svg.slice(svg.indexOf('<svg'))}</body>`,
  );
  await pic
    .locator('svg')
    .first()
    .screenshot({ path: path.join(dir, 'inspect-machine.png') });
  const { code } = await build.done;
  expect(code, build.output()).toBe(0);
  console.log(
    `inspect test: wrote ${['inspect-page.png', 'inspect-machine.png', 'inspect-machine.svg'].map((f) => path.join(dir, f)).join(', ')}`,
  );
}
