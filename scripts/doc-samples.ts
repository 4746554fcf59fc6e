/**
 * The output samples in the docs, made by the CLI itself (issue 13, point 6), so they cannot drift: builds of the
 * minimal profile with the tests' fake host tools (tests/fixtures/bin first on PATH) in a temp dir, through the
 * ailinux command (bin/ailinux, the compiled CLI in dist/), one for each outcome, and the commands people run on them.
 * Times, dates, run ids, the temp dir and the host's figures are normalised (normaliseSample), so a rerun gives the
 * same text. Each sample replaces the code block between `<!-- sample:NAME -->` and `<!-- /sample -->` in a doc.
 *
 *   npm run docs:samples              rebuild (npm run build) and rewrite the samples in docs/
 *   npx tsx scripts/doc-samples.ts --check   exit 1 and print a diff when a doc differs
 *
 * Needs root (a build runs unshare, overlay mounts and chroot, with fake tools) and takes one to four minutes: the
 * heartbeat sample needs a step that runs for more than 30 s. The terminal samples (build-tty, build-tty-done) run
 * a build in a pane of a tmux server of their own and read the screen with `tmux capture-pane`, so tmux must be
 * installed. tests/integration/doc-samples.test.ts runs --check.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LAUNCHER = path.join(REPO, 'bin', 'ailinux');
const FAKE_BIN = path.join(REPO, 'tests', 'fixtures', 'bin');
/** The Release every suite answers with (src/runtime/archive-release.ts): plan's archive line is the same on every run. */
const FIXED_RELEASE = path.join(REPO, 'tests', 'fixtures', 'archive', 'Release');
const DOCS = path.join(REPO, 'docs');
/** Where the samples say they ran: the temp dir is shown as this. */
export const SHOWN_DIR = '/var/tmp/ai';
/** Where the samples say ailinux is installed: the checkout is shown as this. */
export const SHOWN_REPO = '/usr/lib/node_modules/ailinux';

/** A duration as formatDuration prints it: `0.4 s`, `1 min 10 s`. */
const DURATION = /\b\d+ min \d+ s\b|\b\d+\.\d s\b/g;

/**
 * Text that is the same on every run: the temp dir as SHOWN_DIR, every date 2026-12-01 12:00:00 UTC, run ids alike,
 * every duration 1.0 s (the column kept as wide), but a heartbeat's elapsed time rounded down to its 30 s, and the
 * host's load, memory and free disk as fixed figures.
 */
export function normaliseSample(text: string, tmp: string): string {
  let out = text.split(tmp).join(SHOWN_DIR);
  out = out
    // ISO 8601 (the state, the logs) and pino-pretty's `2026-12-01 12:00:00.000`, each kept in its own form
    .replace(
      /\b\d{4}-\d\d-\d\d([T ])\d\d:\d\d:\d\d(\.\d+)?(Z?)/g,
      (_, sep: string, ms: string | undefined, z: string) => `2026-12-01${sep}12:00:00${ms ? '.000' : ''}${z}`,
    )
    .replace(/\b\d{8}T\d{6}-[0-9a-f]{6}\b/g, '20261201T120000-d0c5a1')
    .replace(/\b\d{8}T\d{6}\b/g, '20261201T120000');
  out = out
    .split('\n')
    .map((line) => {
      // a heartbeat comes every 30 s: its elapsed time is the multiple of 30 s it fired at, whatever the load
      if (/^· \S+\s+running\s/.test(line))
        return line.replace(DURATION, (d) => {
          const s = Math.floor(seconds(d) / 30) * 30;
          const shown = s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
          return shown.padStart(d.length);
        });
      // a duration in a column keeps the column's width
      return line.replace(/( *)(\b\d+ min \d+ s\b|\b\d+\.\d s\b)/g, (_, lead: string, d: string) =>
        lead.length > 1 ? '1.0 s'.padStart(lead.length + d.length) : `${lead}1.0 s`,
      );
    })
    .join('\n');
  return (
    redrawTimelines(out)
      .split(REPO)
      .join(SHOWN_REPO)
      // the plan's and the rows' expected times, from the durations of earlier runs on this host
      .replace(/~\d+:\d\d(:\d\d)?/g, '~0:01')
      .replace(/\bload \d+\.\d+ \d+\.\d+ \d+\.\d+ on \d+ CPUs?/g, 'load 0.50 0.40 0.30 on 2 CPUs')
      .replace(/memory \d+(\.\d+)? \w+ available of \d+(\.\d+)? \w+/g, 'memory 6.0 GiB available of 8.0 GiB')
      .replace(/disk \d+(\.\d+)? \w+ free in/g, 'disk 40.0 GiB free in')
      .replace(/\bhas \d+ MiB free\b/g, 'has 40960 MiB free')
      // a command's time in milliseconds, in the event log's fields
      .replace(/"ms":\d+/g, '"ms":1000')
      .replace(/\bpid \d+/g, 'pid 4242')
      .replace(/\b\d+(\.\d+)? MiB resident\b/g, '80.0 MiB resident')
      .split(` on ${os.hostname()} `)
      .join(' on buildhost ')
  );
}

/**
 * A terminal's live line (`▶ [3/10] packages  0:05 / ~1:20  Reading…`) shows its clock as of the moment the screen
 * was read: the elapsed time becomes 0:01, and the expected time ~0:01 as normaliseSample makes every expected time.
 */
export function normaliseLiveLines(screen: string): string {
  return screen
    .split('\n')
    .map((l) =>
      /^▶ \[\d+\/\d+\] /.test(l)
        ? l.replace(/\b\d+:\d\d(:\d\d)?( \/ ~\d+:\d\d(:\d\d)?)?/, (_, _h?: string, exp?: string) =>
            exp ? '0:01 / ~0:01' : '0:01',
          )
        : l,
    )
    .join('\n');
}

const TIMELINE_ROW = /^( {2}\S+\s+\[)([#=~x·]+)(\])$/;

/**
 * A timeline's bars are drawn to the scale of the run's real times: they are redrawn with every step that ran given
 * the same width, one after the other, run (#) first, then backoff (~) and, last, undo (x) or verify (=) when the
 * real bar had them. A bar of a step that did not run stays empty.
 */
export function redrawTimelines(text: string): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^timeline \(/.test(lines[i]!)) continue;
    let end = i + 1;
    while (end < lines.length && TIMELINE_ROW.test(lines[end]!)) end++;
    const rows = lines.slice(i + 1, end).map((l) => TIMELINE_ROW.exec(l)!);
    const active = rows.filter((r) => /[#=~x]/.test(r[2]!));
    rows.forEach((r, k) => {
      const width = r[2]!.length;
      const bar = Array.from({ length: width }, () => '·');
      const slot = active.indexOf(r);
      if (slot >= 0) {
        const from = Math.floor((slot * width) / active.length);
        const to = Math.max(from + 1, Math.floor(((slot + 1) * width) / active.length));
        for (let c = from; c < to; c++) bar[c] = '#';
        const tail = [
          ...(r[2]!.includes('~') ? ['~'] : []),
          ...(r[2]!.includes('x') ? ['x'] : r[2]!.includes('=') ? ['='] : []),
        ];
        tail.forEach((kind, t) => {
          const at = to - tail.length + t;
          if (at > from || tail.length === to - from) bar[at] = kind;
        });
      }
      lines[i + 1 + k] = `${r[1]}${bar.join('')}${r[3]}`;
    });
    i = end - 1;
  }
  return lines.join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function seconds(duration: string): number {
  const m = /^(\d+) min (\d+) s$/.exec(duration);
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.parseFloat(duration);
}

/**
 * The docs with each marked sample replaced by samples[name]; names in a doc that samples lacks are an error. A
 * sample inside a list item keeps the item's indent.
 */
export function rewriteSamples(markdown: string, samples: ReadonlyMap<string, string>, doc = 'doc'): string {
  return markdown.replace(
    /^( *)<!-- sample:([\w-]+) -->\n\1```[^\n]*\n[\s\S]*?\n\1```\n\1<!-- \/sample -->$/gm,
    (_, indent: string, name: string) => {
      const sample = samples.get(name);
      if (sample === undefined)
        throw new Error(`${doc} has a sample ${name} that scripts/doc-samples.ts does not make`);
      const body = sample
        .replace(/\n+$/, '')
        .split('\n')
        .map((l) => (l === '' ? l : indent + l))
        .join('\n');
      return `${indent}<!-- sample:${name} -->\n${indent}\`\`\`\n${body}\n${indent}\`\`\`\n${indent}<!-- /sample -->`;
    },
  );
}

/** Names of the samples a doc marks. */
export function markedSamples(markdown: string): string[] {
  return [...markdown.matchAll(/^ *<!-- sample:([\w-]+) -->$/gm)].map((m) => m[1]!);
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** The config of every sample build: the minimal profile's steps but verify (the fake ISO does not boot). */
function sampleConfig(extra: Record<string, unknown> = {}): string {
  const crash = JSON.parse(
    fs.readFileSync(path.join(REPO, 'tests', 'fixtures', 'crash.config.json'), 'utf8'),
  ) as Record<string, unknown>;
  const { description: _, ...config } = crash;
  return `${JSON.stringify({ ...config, retry: { maxAttempts: 1, backoffMs: 50, backoffFactor: 1 }, ...extra }, null, 2)}\n`;
}

class SampleRunner {
  readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-doc-samples-'));
  private runs = 0;

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env))
      if (key.startsWith('AILINUX_') || key.startsWith('FAKE_') || key === 'FORCE_COLOR') delete env[key];
    return {
      ...env,
      PATH: `${FAKE_BIN}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      NO_COLOR: '1',
      AILINUX_CHROOT_ENV_KEEP: 'PATH,FAKE_*',
      // the archive as the fake-tools tiers read it: one fixed Release for every suite, no network
      AILINUX_ARCHIVE_RELEASE_FILE: FIXED_RELEASE,
      // the shared deb cache in the samples' temp dir, never the user's cache home
      AILINUX_CACHE_DIR: path.join(this.tmp, 'deb-cache'),
      // every step runs: a layer an earlier sample's build kept in that cache would stand in for the next one's step
      AILINUX_LAYER_CACHE: 'off',
      SOURCE_DATE_EPOCH: '1700000000',
      FAKE_TOOL_DELAY: '0.05',
      ...extra,
    };
  }

  file(name: string, text: string, mode = 0o644): string {
    const file = path.join(this.tmp, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text, { mode });
    return file;
  }

  /**
   * Runs `ailinux args` in the temp dir, stdout and stderr into one file as a terminal-less user sees them;
   * `signalWhen` sends SIGINT once the output matches it.
   */
  run(
    args: string[],
    env = this.env(),
    signalWhen?: (output: string) => boolean,
    during?: (output: () => string) => Promise<void>,
  ): Promise<Run> {
    const log = path.join(this.tmp, `run-${++this.runs}.log`);
    const fd = fs.openSync(log, 'w');
    const child = spawn(LAUNCHER, args, { cwd: this.tmp, env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const output = () => fs.readFileSync(log, 'utf8');
    const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    let poll: NodeJS.Timeout | undefined;
    if (signalWhen)
      poll = setInterval(() => {
        if (signalWhen(output())) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 50);
    const exited = new Promise<Run>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        clearTimeout(killer);
        if (poll) clearInterval(poll);
        resolve({ code, signal, output: output() });
      });
    });
    return during ? during(output).then(() => exited) : exited;
  }

  /**
   * The sample: `$ ailinux args` and what it printed, normalised. `filter` shows a pipe after the command (`| grep x`)
   * and keeps the lines that pipe would.
   */
  async sample(
    args: string[],
    expectCode: number,
    env?: NodeJS.ProcessEnv,
    signalWhen?: (output: string) => boolean,
    filter?: { shown: string; keep: (line: string) => boolean },
    during?: (output: () => string) => Promise<void>,
  ): Promise<string> {
    const r = await this.run(args, env, signalWhen, during);
    if (r.code !== expectCode)
      throw new Error(`ailinux ${args.join(' ')} exited with ${r.code ?? r.signal}, not ${expectCode}:\n${r.output}`);
    const output = filter ? `${r.output.split('\n').filter(filter.keep).join('\n')}\n` : r.output;
    return normaliseSample(`$ ailinux ${args.join(' ')}${filter ? ` ${filter.shown}` : ''}\n${output}`, this.tmp);
  }

  /**
   * `ailinux args` on a terminal: in a pane of a tmux server of its own (a socket in the temp dir), 100 columns wide.
   * `during` gets the pane's text as `tmux capture-pane` shows it, to wait on and keep a screen while the command
   * runs; the screen once it ended is returned. Each screen is `$ ailinux args` and the pane, normalised.
   */
  async tty(
    args: string[],
    expectCode: number,
    env: NodeJS.ProcessEnv,
    during: (screen: () => Promise<string>) => Promise<void>,
  ): Promise<string> {
    const socket = path.join(this.tmp, `tmux-${++this.runs}.sock`);
    const tmux = (...targs: string[]) => execFileText('tmux', ['-S', socket, ...targs], env);
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const command = `cd ${quote(this.tmp)} && ${[LAUNCHER, ...args].map(quote).join(' ')}; echo "[exit $?]"; sleep 120`;
    await tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'doc', '-x', '100', '-y', '40', command);
    const screen = async () => (await tmux('capture-pane', '-p', '-t', 'doc')).replace(/\n+$/, '');
    try {
      await during(screen);
      const deadline = Date.now() + 180_000;
      let last = await screen();
      while (!/^\[exit \d+\]$/m.test(last)) {
        if (Date.now() > deadline) throw new Error(`ailinux ${args.join(' ')} did not end on its terminal:\n${last}`);
        await sleep(200);
        last = await screen();
      }
      const code = Number(/^\[exit (\d+)\]$/m.exec(last)![1]);
      const shown = last.replace(/\n?\[exit \d+\]$/m, '');
      if (code !== expectCode)
        throw new Error(`ailinux ${args.join(' ')} exited with ${code}, not ${expectCode}, on its terminal:\n${last}`);
      return this.screenSample(args, shown);
    } finally {
      // the server is ours alone (its own socket): it ends with its session
      await tmux('kill-server').catch(() => undefined);
    }
  }

  /** A terminal screen as a sample: `$ ailinux args`, the screen, normalised; the live line's clock too. */
  screenSample(args: string[], screen: string): string {
    return normaliseSample(`$ ailinux ${args.join(' ')}\n${normaliseLiveLines(screen)}\n`, this.tmp);
  }

  remove(): void {
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** A command's stdout, or its stderr in the error. */
function execFileText(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/** The samples makeSamples makes; tests/unit/doc-samples.test.ts checks that the docs mark each of them. */
export const SAMPLE_NAMES = [
  'build-ci',
  'status-running',
  'status-succeeded',
  'log-packages',
  'log-events',
  'plan-changed',
  'build-plain',
  'clean',
  'clean-all',
  'build-failed',
  'status-failed',
  'build-unfinished',
  'build-interrupted',
  'status-interrupted',
  'plan-ailinux',
  'plan-minimal',
  'config-invalid',
  'config-broken',
  'build-paused',
  'build-tty',
  'build-tty-done',
  'doctor',
  'config',
  'plan-example-overlay',
] as const;

/** Every sample, by name. */
export async function makeSamples(): Promise<Map<string, string>> {
  if (process.getuid?.() !== 0) throw new Error('scripts/doc-samples.ts needs root: its builds run unshare and chroot');
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run npm run build first');
  const r = new SampleRunner();
  const samples = new Map<string, string>();
  try {
    const config = r.file('minimal.json', sampleConfig());
    const w = (name: string) => path.join(r.tmp, name);

    // a whole build without a terminal; the fake apt-get takes 16 s a call, so packages (two calls) shows a heartbeat
    // its status while packages runs
    const whileRunning = async (output: () => string) => {
      while (!/▶ packages/.test(output())) await sleep(100);
      await sleep(3000);
      samples.set('status-running', await r.sample(['status', '-w', w('ok')], 0));
    };
    samples.set(
      'build-ci',
      await r.sample(
        ['build', '-c', config, '-w', w('ok')],
        0,
        r.env({ FAKE_APT_INSTALL_DELAY: '16' }),
        undefined,
        undefined,
        whileRunning,
      ),
    );
    samples.set('status-succeeded', await r.sample(['status', '-w', w('ok')], 0));
    samples.set(
      'log-packages',
      await r.sample(['log', 'packages', '-w', w('ok')], 0, undefined, undefined, {
        shown: "| grep -v '] \\$ '",
        keep: (l) => !/\] \$ /.test(l),
      }),
    );
    samples.set(
      'log-events',
      await r.sample(['log', '-w', w('ok')], 0, undefined, undefined, {
        shown: "| grep '\\[packages\\]' | grep -v ' \\$ '",
        keep: (l) => l.includes('[packages]') && !l.includes(' $ '),
      }),
    );
    const changed = r.file('changed.json', sampleConfig({ hostname: 'docs-host' }));
    samples.set('plan-changed', await r.sample(['plan', '-c', changed, '-w', w('ok')], 0));
    samples.set(
      'build-plain',
      await r.sample(['build', '--fresh', '--progress=plain', '-c', config, '-w', w('ok')], 0, undefined, undefined, {
        shown: '2>&1 | grep packages',
        keep: (l) => l.includes('packages'),
      }),
    );
    // the same build on a terminal: a live line per running step, with the expected time from the runs before;
    // install "downloads" for 6 s after its first line, so the live line shows that line meanwhile
    samples.set(
      'build-tty-done',
      await r.tty(
        ['build', '--fresh', '-c', config, '-w', w('ok')],
        0,
        r.env({ FAKE_APT_INSTALL_DELAY: '6' }),
        async (screen) => {
          const deadline = Date.now() + 120_000;
          while (!/^▶ \[\d+\/\d+\] packages .*Reading package lists\.\.\.$/m.test(await screen())) {
            if (Date.now() > deadline) throw new Error(`no live line of packages on the terminal:\n${await screen()}`);
            await sleep(100);
          }
          // a redraw later (every second), still within the 6 s
          await sleep(1500);
          samples.set('build-tty', r.screenSample(['build', '--fresh', '-c', config, '-w', w('ok')], await screen()));
        },
      ),
    );
    samples.set('clean', await r.sample(['clean', '-w', w('ok')], 0));
    samples.set('clean-all', await r.sample(['clean', '--all', '-w', w('ok')], 0));

    // a mirror that does not answer: a debootstrap ahead of the fake one on PATH fails as the real one does
    r.file(
      'failing-bin/debootstrap',
      '#!/bin/sh\necho "I: Retrieving InRelease"\necho "E: Failed getting release file http://deb.debian.org/debian/dists/bookworm/Release" >&2\nexit 1\n',
      0o755,
    );
    const failing = r.env({ PATH: `${path.join(r.tmp, 'failing-bin')}:${r.env()['PATH']}` });
    samples.set('build-failed', await r.sample(['build', '-c', config, '-w', w('fail')], 1, failing));
    samples.set('status-failed', await r.sample(['status', '-w', w('fail')], 0));
    samples.set('build-unfinished', await r.sample(['build', '-c', config, '-w', w('fail')], 2));

    // Ctrl-C while bootstrap runs: once the fake debootstrap said its first line, it sleeps 2 s
    const bootstrapLog = path.join(w('int'), 'logs', 'steps', 'bootstrap.log');
    samples.set(
      'build-interrupted',
      await r.sample(
        ['build', '-c', config, '-w', w('int')],
        130,
        r.env({ FAKE_TOOL_DELAY: '2' }),
        () => fs.existsSync(bootstrapLog) && fs.readFileSync(bootstrapLog, 'utf8').includes('I: Retrieving InRelease'),
      ),
    );
    samples.set('status-interrupted', await r.sample(['status', '-w', w('int')], 0));

    // plans of a work dir that does not exist yet
    samples.set('plan-ailinux', await r.sample(['plan', '--profile', 'ailinux', '-w', w('new')], 0));
    samples.set('plan-minimal', await r.sample(['plan', '--profile', 'minimal', '-w', w('new')], 0));

    // configs with mistakes: three problems at once, and a file that does not parse
    const bad = r.file(
      'bad.json',
      `${JSON.stringify({ extends: 'minimal', hostname: 123, packages: { extra: ['Vim'] }, iso: { biso: true } }, null, 2)}\n`,
    );
    samples.set('config-invalid', await r.sample(['plan', '-c', bad, '-w', w('new')], 2));
    const broken = r.file('broken.json', '{\n  "extends": "minimal",\n  "hostname": live\n}\n');
    samples.set('config-broken', await r.sample(['plan', '-c', broken, '-w', w('new')], 2));

    // a floor of free disk that no disk has: the check before the first step pauses the build
    const paused = r.file('paused.json', sampleConfig({ resources: { minFreeDiskMb: 1_000_000 } }));
    samples.set('build-paused', await r.sample(['build', '-c', paused, '-w', w('pause')], 75));

    // doctor on a work dir that does not exist yet; what depends on the host running it (its ancestors, the host
    // tools' table and versions, PID 1's services, free disk) is left out by the pipe shown
    samples.set(
      'doctor',
      await r.sample(['doctor', '-w', w('new'), '--profile', 'minimal'], 0, undefined, undefined, {
        shown: "| grep -Ev '^(ancestors|host tools|services|disk):|^  [^ ]|services:|disk:|^$'",
        keep: (l) => !/^(ancestors|host tools|services|disk):|^ {2}[^ ]|services:|disk:|^$/.test(l),
      }),
    );

    // config: a config found in the directory (-C), laid over its profile, each value with where it came from
    r.file(
      'kiosk/ailinux.config.yaml',
      'extends: minimal\nhostname: kiosk\nliveUser:\n  name: kiosk\n  password: kiosk-secret\nsquashfs:\n  compression: xz\n',
    );
    samples.set(
      'config',
      await r.sample(['-C', 'kiosk', 'config'], 0, undefined, undefined, {
        shown: "| grep -E '^(config file|profile|values|FIELD|name|description|hostname|liveUser|squashfs)'",
        keep: (l) => /^(config file|profile|values|FIELD|name|description|hostname|liveUser|squashfs)/.test(l),
      }),
    );

    // the worked example (examples/custom) copied, its .deb made by its make-debs.sh, built from inside it, then one
    // overlay file changed: what plan says. Its steps without verify (a fake ISO does not boot), as
    // tests/integration/examples.test.ts builds it; the fake base has tzdata, which the example removes, as Debian's
    const example = path.join(r.tmp, 'custom');
    fs.cpSync(path.join(REPO, 'examples', 'custom'), example, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !['debs', 'ailinux-build'].includes(path.relative(path.join(REPO, 'examples', 'custom'), src)),
    });
    execFileSync(path.join(example, 'make-debs.sh'), { stdio: 'pipe', env: { ...process.env, TMPDIR: r.tmp } });
    fs.appendFileSync(
      path.join(example, 'ailinux.config.yaml'),
      '\nsteps: [bootstrap, configure, packages, identity, chroot-cleanup, squashfs, bootloaders, iso, checksums, report]\n',
    );
    const exampleEnv = r.env({ FAKE_DEBOOTSTRAP_EXTRA_PACKAGES: 'tzdata' });
    const built = await r.run(['-C', 'custom', 'build', '-w', w('example')], exampleEnv);
    if (built.code !== 0) throw new Error(`the build of examples/custom exited with ${built.code}:\n${built.output}`);
    fs.appendFileSync(path.join(example, 'overlays/late/etc/motd'), 'Have a lot of fun.\n');
    samples.set('plan-example-overlay', await r.sample(['-C', 'custom', 'plan', '-w', w('example')], 0, exampleEnv));
  } finally {
    r.remove();
  }
  const made = [...samples.keys()].sort();
  if (made.join() !== [...SAMPLE_NAMES].sort().join())
    throw new Error(`SAMPLE_NAMES (${SAMPLE_NAMES.join(', ')}) is not what makeSamples makes (${made.join(', ')})`);
  return samples;
}

/** The docs that mark samples, by file name. */
export function docsWithSamples(): Map<string, string> {
  const docs = new Map<string, string>();
  for (const file of [path.join(REPO, 'README.md'), ...fs.readdirSync(DOCS).map((f) => path.join(DOCS, f))])
    if (file.endsWith('.md')) {
      const text = fs.readFileSync(file, 'utf8');
      if (markedSamples(text).length > 0) docs.set(file, text);
    }
  return docs;
}

/** A line diff (longest common subsequence): the lines only in expected (-) and only in actual (+), by line number. */
export function lineDiff(expected: string, actual: string, max = 60): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..]
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while ((i < a.length || j < b.length) && out.length < max) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push(`+${j + 1}: ${b[j]}`);
      j++;
    } else {
      out.push(`-${i + 1}: ${a[i]}`);
      i++;
    }
  }
  return out.join('\n');
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const samples = await makeSamples();
  let stale = 0;
  for (const [file, text] of docsWithSamples()) {
    const rewritten = rewriteSamples(text, samples, path.relative(REPO, file));
    if (rewritten === text) continue;
    if (check) {
      stale++;
      console.error(`${path.relative(REPO, file)} differs from its regenerated samples:\n${lineDiff(text, rewritten)}`);
    } else {
      fs.writeFileSync(file, rewritten);
      console.error(`rewrote the samples in ${path.relative(REPO, file)}`);
    }
  }
  if (stale > 0) {
    console.error('run npm run docs:samples to rewrite them');
    process.exit(1);
  }
}
