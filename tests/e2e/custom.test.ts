/**
 * End to end: the minimal profile made the user's own (docs/custom-profile.md), built for real and booted. The
 * config, written into the test's temp dir as a project directory, extends minimal with
 *
 * - an early overlay: a dpkg configuration file (etc/dpkg/dpkg.cfg.d) whose path-exclude keeps one file of the
 *   local package out of the image, so its effect shows only if dpkg read it before the packages step;
 * - a late overlay: a systemd oneshot unit, enabled by its symlink in multi-user.target.wants, whose script prints
 *   what it finds of each feature to the serial console before the login prompt;
 * - a chroot hook that appends a line to /etc/issue, which the serial getty prints above the login prompt;
 * - packages.local: a directory with a .deb that the test builds with dpkg-deb --build from a tree it writes; the
 *   package has a debconf question, and its postinst writes the answer into /etc;
 * - packages.remove: tzdata (required but not essential in bookworm, and nothing the image installs depends on it);
 * - debconf: the answer to the local package's question, preseeded before any package is installed.
 *
 * The build's own verify step boots the ISO (BIOS) and waits for the login prompt, which the getty prints after
 * /etc/issue and after the oneshot (ordered before it); the test then reads the serial log the verify step kept and
 * fails, naming the feature, for each marker that is missing or wrong. Then a no-op build, and a changed build (one
 * file of the late overlay edited: plan's reason, the steps it reruns, and the new file on the booted console).
 * Prints the figures the closing note quotes, prefixed "custom e2e:".
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMountinfo, mountsUnder } from '../../src/runtime/mountinfo.js';
import { runCli } from '../helpers/cli.js';
import { skipUnlessRoot } from '../helpers/root.js';

const base = process.env['AILINUX_E2E_DIR'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-e2e-custom-'));
const project = path.join(base, 'project');
const config = path.join(project, 'ailinux.config.yaml');
const work = path.join(base, 'work');
const serialLog = path.join(work, 'logs', 'verify', 'serial-bios.log');
const EPOCH = '1733500000';
// every step runs (the .debs stay shared): no layer of the minimal e2e's builds stands in for one of these
const env: NodeJS.ProcessEnv = { ...process.env, SOURCE_DATE_EPOCH: EPOCH, AILINUX_LAYER_CACHE: 'off' };
const figures: string[] = [];
const figure = (line: string) => {
  figures.push(line);
  console.log(`custom e2e: ${line}`);
};

const PKG = 'ailinux-e2e-local';
const PKG_VERSION = '1.2.3-e2e1';
const DEB = `${PKG}_${PKG_VERSION}_all.deb`;
const GREETING = 'preseeded by the ailinux e2e test';
const REMOVED = 'tzdata';
const HOOK_LINE = 'AILINUX-E2E hook: this line was appended to /etc/issue by hook-issue';
/** What the build's verify step waits for: the getty prints it after /etc/issue, and after the oneshot's markers. */
const LOGIN = 'ailinux-minimal login:';
/** The late overlay's file that the changed build edits; the oneshot prints its content. */
const LATE_STAMP = 'etc/ailinux-e2e/late-stamp';

function write(rel: string, text: string, mode = 0o644): void {
  const file = path.join(project, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

/** The oneshot's script: one "AILINUX-E2E <feature>: <what it found>" line per feature, on the serial console. */
const MARKERS_SCRIPT = `#!/bin/sh
# Prints what the image holds of each feature of the custom e2e build on the serial console.
out=/dev/ttyS0
[ -w "$out" ] || out=/dev/console
exec >"$out" 2>&1
say() { echo "AILINUX-E2E $*"; }
say "late-overlay: the oneshot of the late overlay ran, stamp $(cat /${LATE_STAMP} 2>&1)"
if [ -f /etc/dpkg/dpkg.cfg.d/90-ailinux-e2e ]; then cfg=present; else cfg=absent; fi
if [ -e /usr/share/${PKG}/excluded.txt ]; then excluded=present; else excluded=absent; fi
if [ -e /usr/share/${PKG}/kept.txt ]; then kept=present; else kept=absent; fi
say "early-overlay: dpkg.cfg.d/90-ailinux-e2e $cfg, excluded.txt $excluded, kept.txt $kept"
say "local-package: $(dpkg-query -W -f '\${Package} \${Version} \${Status}' ${PKG} 2>&1)"
say "removed-package: ${REMOVED} $(dpkg-query -W -f '\${Status}' ${REMOVED} 2>/dev/null || echo not-installed)"
db=$(debconf-show ${PKG} 2>&1 | tr '\\n' ' ')
say "debconf-db: $db"
say "debconf-postinst: $(cat /etc/${PKG}.greeting 2>&1)"
say "markers: done"
`;

const MARKERS_UNIT = `[Unit]
Description=ailinux e2e: print the custom build's markers on the serial console
After=local-fs.target
Before=getty.target serial-getty@ttyS0.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ailinux-e2e-markers
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/** Writes the project: config, overlays, hook, and the local package built with dpkg-deb --build. */
function writeProject(): void {
  fs.mkdirSync(project, { recursive: true, mode: 0o755 });
  // early: read by dpkg from the packages step on
  write(
    'overlay-early/etc/dpkg/dpkg.cfg.d/90-ailinux-e2e',
    `# ailinux e2e: keeps one file of the local package out of the image\npath-exclude=/usr/share/${PKG}/excluded.txt\n`,
  );
  // late: the oneshot, enabled by its symlink, and a file the changed build edits
  write('overlay-late/usr/local/sbin/ailinux-e2e-markers', MARKERS_SCRIPT, 0o755);
  write('overlay-late/etc/systemd/system/ailinux-e2e-markers.service', MARKERS_UNIT);
  const wants = path.join(project, 'overlay-late/etc/systemd/system/multi-user.target.wants');
  fs.mkdirSync(wants, { recursive: true, mode: 0o755 });
  fs.symlinkSync('/etc/systemd/system/ailinux-e2e-markers.service', path.join(wants, 'ailinux-e2e-markers.service'));
  write(`overlay-late/${LATE_STAMP}`, 'first\n');
  // the hook
  write('hooks/issue.sh', `#!/bin/sh\nset -e\necho '${HOOK_LINE}' >> /etc/issue\n`, 0o755);
  // the local package: a debconf question, a postinst that writes its answer, two files (one excluded by dpkg)
  const tree = path.join(base, 'deb-tree');
  const file = (rel: string, text: string, mode = 0o644) => {
    const f = path.join(tree, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
    fs.writeFileSync(f, text, { mode });
    fs.chmodSync(f, mode);
  };
  file(
    'DEBIAN/control',
    `Package: ${PKG}\nVersion: ${PKG_VERSION}\nArchitecture: all\nMaintainer: ailinux e2e <e2e@ailinux.invalid>\nPriority: optional\nSection: misc\nDepends: debconf\nDescription: ailinux e2e local package\n Built by tests/e2e/custom.test.ts with dpkg-deb --build.\n`,
  );
  file(
    'DEBIAN/templates',
    `Template: ${PKG}/greeting\nType: string\nDefault: not preseeded\nDescription: Greeting of the ailinux e2e package\n The e2e test preseeds this answer with the config's debconf field.\n`,
  );
  file(
    'DEBIAN/config',
    `#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_input low ${PKG}/greeting || true\ndb_go || true\n`,
    0o755,
  );
  file(
    'DEBIAN/postinst',
    `#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\nif [ "$1" = configure ]; then\n  db_get ${PKG}/greeting\n  printf '%s\\n' "$RET" > /etc/${PKG}.greeting\nfi\ndb_stop\n`,
    0o755,
  );
  file(`usr/share/${PKG}/kept.txt`, 'installed\n');
  file(`usr/share/${PKG}/excluded.txt`, 'dpkg.cfg.d of the early overlay keeps this file out\n');
  fs.mkdirSync(path.join(project, 'debs'), { recursive: true, mode: 0o755 });
  const built = spawnSync('dpkg-deb', ['--root-owner-group', '--build', tree, path.join(project, 'debs', DEB)], {
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH, AILINUX_LAYER_CACHE: 'off' },
  });
  if (built.status !== 0) throw new Error(`dpkg-deb --build failed: ${built.stderr}${built.error ?? ''}`);

  fs.writeFileSync(
    config,
    [
      "# tests/e2e/custom.test.ts: minimal, made the user's own",
      'extends: minimal',
      'name: minimal-custom-e2e',
      'overlays:',
      '  early: [overlay-early]',
      '  late: [overlay-late]',
      'hooks:',
      '  - name: issue',
      '    after: packages',
      '    script: hooks/issue.sh',
      'packages:',
      '  local: debs',
      `  remove: [${REMOVED}]`,
      'debconf:',
      `  - { package: ${PKG}, question: ${PKG}/greeting, type: string, value: "${GREETING}" }`,
      // without KVM, on a loaded 2-core host, the guest took more than the profile's 300 s to its login prompt
      `verify: { marker: "${LOGIN}", timeoutSec: 900 }`,
      '',
    ].join('\n'),
  );
}

interface StatusJson {
  outcome: string;
  steps: Array<{ id: string; status: string; durationMs: number | null; attempts: number }>;
}

async function status(): Promise<StatusJson> {
  const r = await runCli(['status', '--json', '-w', work]);
  return JSON.parse(r.stdout) as StatusJson;
}

/** The serial console's text, without control sequences and carriage returns. */
function consoleText(): string {
  const raw = fs.existsSync(serialLog) ? fs.readFileSync(serialLog, 'utf8') : '';
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

/** The lines of the serial log that start a marker of this feature (after any prefix the console put before). */
function markerLines(text: string, feature: string): string[] {
  const prefix = `AILINUX-E2E ${feature}: `;
  return text
    .split('\n')
    .filter((l) => l.includes(prefix))
    .map((l) => l.slice(l.indexOf(prefix) + prefix.length).trim());
}

/** Each feature's check against the booted console: a failure names the feature and shows what the console said. */
function checkConsole(text: string, stamp: string): string[] {
  const problems: string[] = [];
  const tail = text.split('\n').slice(-40).join('\n');
  const expectOne = (feature: string, what: string, ok: (line: string) => boolean) => {
    const lines = markerLines(text, feature);
    if (lines.length === 0)
      problems.push(`${what}: no "AILINUX-E2E ${feature}:" line on the serial console (the oneshot did not report it)`);
    else if (!lines.some(ok)) problems.push(`${what}: the console said "${lines.join(' | ')}"`);
  };
  expectOne('late-overlay', 'late overlay (the oneshot unit it enables)', (l) => l.endsWith(`stamp ${stamp}`));
  expectOne(
    'early-overlay',
    'early overlay (its dpkg.cfg.d path-exclude, read by dpkg in the packages step)',
    (l) => l === 'dpkg.cfg.d/90-ailinux-e2e present, excluded.txt absent, kept.txt present',
  );
  expectOne(
    'local-package',
    `packages.local (${DEB}, installed at its version)`,
    (l) => l === `${PKG} ${PKG_VERSION} install ok installed`,
  );
  expectOne('removed-package', `packages.remove (${REMOVED} purged)`, (l) => l === `${REMOVED} not-installed`);
  expectOne('debconf-db', 'debconf (the preseeded answer in the debconf database)', (l) =>
    l.includes(`${PKG}/greeting: ${GREETING}`),
  );
  expectOne(
    'debconf-postinst',
    "debconf (the preseeded answer, as the package's postinst read it)",
    (l) => l === GREETING,
  );
  if (!text.includes(HOOK_LINE))
    problems.push(`hook (hook-issue's line in /etc/issue, printed by the getty): not on the serial console`);
  else if (text.lastIndexOf(HOOK_LINE) > text.lastIndexOf(LOGIN))
    problems.push('hook: its /etc/issue line came after the login prompt, not with it');
  if (problems.length > 0) problems.push(`the serial console's last lines:\n${tail}`);
  return problems;
}

/** The verify step's boot, from the report it wrote beside the ISO: the time to the login prompt. */
function bootFigure(which: string): void {
  const report = JSON.parse(
    fs.readFileSync(path.join(work, 'output', 'ailinux-minimal-amd64.verify.json'), 'utf8'),
  ) as { boots: Array<{ firmware: string; markerMs: number | null; durationMs: number }> };
  for (const b of report.boots)
    figure(
      `  ${which}: boot (${b.firmware}) to "${LOGIN}": ${b.markerMs === null ? 'not reached' : `${(b.markerMs / 1000).toFixed(1)} s`}`,
    );
}

describe.skipIf(skipUnlessRoot())('minimal with overlays, a hook, a local package, a removal and debconf', () => {
  const mountsBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8');

  beforeAll(() => {
    console.log(`custom e2e: work dir ${work}, project ${project}`);
    writeProject();
  });

  afterAll(() => {
    console.log(`\n=== custom e2e figures ===\n${figures.join('\n')}\n`);
  });

  it('plans every feature as a step of its own', async () => {
    const r = await runCli(['plan', '-c', config, '-w', work]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    console.log(`custom e2e: the plan of a fresh work dir:\n${r.stdout}`);
    const order = [...r.stdout.matchAll(/^run\s+(\S+)/gm)].map((m) => m[1]);
    for (const id of ['overlay-early', 'configure', 'packages', 'hook-issue', 'packages-remove', 'overlay-late'])
      expect(order, r.stdout).toContain(id);
    const at = (id: string) => order.indexOf(id);
    expect(at('overlay-early')).toBeLessThan(at('configure'));
    expect(at('hook-issue')).toBe(at('packages') + 1);
    expect(at('packages-remove')).toBeLessThan(at('overlay-late'));
    expect(at('overlay-late')).toBeLessThan(at('identity'));
  });

  it('builds it for real, and the booted ISO shows on the serial console that each feature took effect', async () => {
    const r = await runCli(['build', '-c', config, '-w', work], { env });
    const text = consoleText();
    const problems = checkConsole(text, 'first');
    expect(r.code, `${r.stderr}\n${problems.join('\n')}`).toBe(0);
    figure(`full build: ${(r.ms / 1000).toFixed(1)} s`);
    for (const s of (await status()).steps) figure(`  ${s.id}: ${((s.durationMs ?? 0) / 1000).toFixed(1)} s`);
    bootFigure('first build');
    expect(problems, problems.join('\n')).toEqual([]);
    expect(mountsUnder(work, readMountinfo())).toEqual([]);
  }, 3_600_000);

  it('a no-op build skips every step; plan with the features against plan without them, on the same work dir', async () => {
    const r = await runCli(['build', '-c', config, '-w', work], { env });
    expect(r.code, r.stderr).toBe(0);
    const s = await status();
    expect(s.steps.filter((x) => x.status !== 'skipped')).toEqual([]);
    figure(`no-op build: ${(r.ms / 1000).toFixed(2)} s (whole CLI process)`);
    // what the features' fingerprints cost: plan (no root, no lock) with the config and with plain minimal,
    // three runs each, the median
    const median = async (args: string[]) => {
      const ms: number[] = [];
      for (let i = 0; i < 3; i++) {
        const p = await runCli(args);
        expect(p.code, p.stderr).toBe(0);
        ms.push(p.ms);
      }
      return ms.sort((a, b) => a - b)[1]!;
    };
    const custom = await median(['plan', '-c', config, '-w', work]);
    const plain = await median(['plan', '--profile', 'minimal', '-w', work]);
    figure(
      `plan on the finished work dir, median of 3: with the features ${(custom / 1000).toFixed(2)} s, plain minimal ${(plain / 1000).toFixed(2)} s (difference ${((custom - plain) / 1000).toFixed(2)} s)`,
    );
  });

  it('a changed late-overlay file reruns from overlay-late only, and the rebooted ISO shows the new file', async () => {
    fs.writeFileSync(path.join(project, 'overlay-late', LATE_STAMP), 'second\n');
    const plan = await runCli(['plan', '-c', config, '-w', work]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`overlay file ${LATE_STAMP} changed`);
    const reason = /^.*overlay file .*changed.*$/m.exec(plan.stdout)?.[0]?.trim();
    figure(`changed build, plan's reason: ${reason}`);
    const r = await runCli(['build', '-c', config, '-w', work], { env });
    const problems = checkConsole(consoleText(), 'second');
    expect(r.code, `${r.stderr}\n${problems.join('\n')}`).toBe(0);
    const s = await status();
    const byId = Object.fromEntries(s.steps.map((x) => [x.id, x]));
    for (const id of ['bootstrap', 'overlay-early', 'configure', 'packages', 'hook-issue', 'packages-remove'])
      expect(byId[id]?.status, id).toBe('skipped');
    for (const id of ['overlay-late', 'identity', 'squashfs', 'iso', 'verify'])
      expect(byId[id]?.status, id).toBe('done');
    figure(`changed build (one late-overlay file): ${(r.ms / 1000).toFixed(1)} s`);
    bootFigure('changed build');
    for (const x of s.steps.filter((x) => x.status === 'done'))
      figure(`  ${x.id}: ${((x.durationMs ?? 0) / 1000).toFixed(1)} s`);
    expect(problems, problems.join('\n')).toEqual([]);
  }, 2_400_000);

  it('leaves the host mount table as it found it', () => {
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mountsBefore);
  });
});
