/**
 * The installer check: its kernel command line and qemu argv, the modules it expects (from the settings.conf ailinux
 * writes), and its reading of Calamares' debug log. The log is a trimmed excerpt of a real check boot of the ailinux
 * ISO (Calamares 3.3.5, Qt 5.15.13, offscreen; tests/fixtures/calamares/serial-installer-check.log).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunOptions, RunResult, Runner } from '../../src/runtime/runner.js';
import { cancelledRun, fakeQmp, type FakeQmp } from '../helpers/fake-qmp.js';
import { renderSettingsConf } from '../../src/steps/calamares/settings.js';
import { rgbPng } from '../../src/runtime/png.js';
import { qemuArgv } from '../../src/verify/boot.js';
import {
  ALL_LOADED,
  INSTALLER_CHECK_COMMAND,
  installerCheck,
  installerCheckAppend,
  judgeCalamaresLog,
  parseCalamaresLog,
  PLATFORM_LINUXFB,
  PLATFORM_OFFSCREEN,
  READY_MARKER,
  sequenceModules,
  TURN_OFF,
  type InstallerExpectations,
} from '../../src/verify/installer-check.js';
import { profileConfig } from '../helpers/step-context.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REAL_LOG = fs.readFileSync(
  path.join(HERE, '..', 'fixtures', 'calamares', 'serial-installer-check.log'),
  'latin1',
);

/** What the ailinux profile's installer step writes, read back as the verify step reads it. */
function ailinuxExpectations(): InstallerExpectations {
  const config = profileConfig('ailinux');
  return {
    modules: sequenceModules(renderSettingsConf(config)),
    configured: ['bootloader', 'displaymanager', 'packages', 'partition', 'removeuser', 'unpackfs', 'users'],
  };
}

describe('the modules the check expects', () => {
  it("are the ailinux settings.conf's sequence, each instance once, in order", () => {
    const modules = ailinuxExpectations().modules;
    expect(modules).toHaveLength(22);
    expect(modules.slice(0, 6)).toEqual([
      'welcome@welcome',
      'locale@locale',
      'keyboard@keyboard',
      'partition@partition',
      'users@users',
      'summary@summary',
    ]);
    expect(modules).toContain('unpackfs@unpackfs');
    expect(modules.at(-1)).toBe('finished@finished');
  });

  it('keep a named instance as written', () => {
    expect(
      sequenceModules('sequence:\n- show:\n  - welcome@online\n  - welcome\n- exec:\n  - shellprocess@late\n'),
    ).toEqual(['welcome@online', 'welcome@welcome', 'shellprocess@late']);
  });

  it('refuse a settings.conf without a sequence, or with an unknown block', () => {
    expect(() => sequenceModules('branding: x\n')).toThrow(/no sequence list/);
    expect(() => sequenceModules('sequence:\n- run:\n  - welcome\n')).toThrow(/unknown sequence block "run"/);
    expect(() => sequenceModules('sequence: []\n')).toThrow(/names no module/);
  });
});

describe('the check boot', () => {
  it("keeps the ISO's kernel arguments and adds systemd.run= with poweroff when Calamares ends", () => {
    const append = installerCheckAppend([
      'boot=casper',
      'systemd.show_status=1',
      'console=tty0',
      'console=ttyS0,115200n8',
    ]);
    expect(append).toBe(
      `boot=casper systemd.show_status=1 console=tty0 console=ttyS0,115200n8 plymouth.enable=0 systemd.journald.forward_to_console=0 systemd.run="${INSTALLER_CHECK_COMMAND}" systemd.run_success_action=poweroff systemd.run_failure_action=poweroff`,
    );
    // an ISO booting with the splash and the journal on the serial line (the product): plymouth stays off and the
    // journal off the serial line in the check boot, whatever the ISO says of them
    expect(
      installerCheckAppend([
        'boot=casper',
        'quiet',
        'splash',
        'plymouth.enable=1',
        'systemd.journald.forward_to_console=1',
      ]),
    ).toMatch(/^boot=casper quiet splash plymouth\.enable=0 systemd\.journald\.forward_to_console=0 systemd\.run=/);
    // one double-quoted word for the kernel and systemd; the command's own words in single quotes for the unit file
    expect(INSTALLER_CHECK_COMMAND).not.toMatch(/["$%]/);
    expect(INSTALLER_CHECK_COMMAND).toMatch(/^\/bin\/sh -c '[^']+'$/);
    // on the framebuffer when the boot has one, else offscreen, saying which on the serial line before Calamares starts
    expect(INSTALLER_CHECK_COMMAND).toContain(
      `if [ -c /dev/fb0 ]; then echo ${PLATFORM_LINUXFB} >/dev/ttyS0; export QT_QPA_PLATFORM=linuxfb:fb=/dev/fb0; else echo ${PLATFORM_OFFSCREEN} >/dev/ttyS0; export QT_QPA_PLATFORM=offscreen; fi;`,
    );
    expect(INSTALLER_CHECK_COMMAND).toMatch(/; exec calamares -d >\/dev\/ttyS0 2>&1'$/);
  });

  it('is a shell script sh reads without a syntax error (sh -n: read, never run)', () => {
    const script = /^\/bin\/sh -c '([^']+)'$/.exec(INSTALLER_CHECK_COMMAND)![1]!;
    const r = spawnSync('sh', ['-n', '-c', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // the same check finds a script whose if has no fi
    expect(spawnSync('sh', ['-n', '-c', script.replace('; fi;', ';')], { encoding: 'utf8' }).status).not.toBe(0);
  });

  it('drops a systemd.run of the ISO and refuses an argument it cannot pass on', () => {
    expect(installerCheckAppend(['boot=casper', 'systemd.run=/bin/true'])).not.toContain('/bin/true');
    expect(() => installerCheckAppend(['boot=casper', 'x="a b"'])).toThrow(/cannot be passed on/);
  });

  it('boots the kernel and initrd directly, with the ISO still the read-only CD', () => {
    const base = { iso: '/isos/a.iso', firmware: 'bios' as const, memoryMb: 4096, logFile: '/tmp/serial.log' };
    const argv = qemuArgv({
      ...base,
      directKernel: { kernel: '/t/vmlinuz', initrd: '/t/initrd', append: 'boot=casper x' },
    });
    const at = argv.indexOf('-kernel');
    expect(argv.slice(at, at + 6)).toEqual([
      '-kernel',
      '/t/vmlinuz',
      '-initrd',
      '/t/initrd',
      '-append',
      'boot=casper x',
    ]);
    expect(argv).toContain('file=/isos/a.iso,media=cdrom,if=ide,index=2,format=raw,readonly=on');
    expect(qemuArgv(base)).not.toContain('-kernel');
  });
});

describe("reading Calamares' log from a real check boot", () => {
  it('finds the settings file, the version, the modules loaded and listed, and no error', () => {
    const log = parseCalamaresLog(REAL_LOG);
    expect(log.settingsFile).toBe('/etc/calamares/settings.conf');
    expect(log.version).toBe('3.3.5');
    expect(log.loaded).toEqual([
      'welcome@welcome',
      'locale@locale',
      'keyboard@keyboard',
      'partition@partition',
      'users@users',
      'summary@summary',
      'machineid@machineid',
      'removeuser@removeuser',
      'initramfs@initramfs',
      'umount@umount',
      'finished@finished',
    ]);
    expect(log.listed).toHaveLength(22);
    expect(log.listed).toContain('unpackfs');
    expect(log.allLoaded).toBe(true);
    expect(log.ready).toBe(true);
    expect(log.errors).toEqual([]);
    expect(log.failed).toEqual([]);
    expect(log.noConfig).toContain('welcome');
    expect(log.noConfig).not.toContain('unpackfs');
  });

  it('passes: every module of the sequence loaded, and it says how many were named', () => {
    const j = judgeCalamaresLog(ailinuxExpectations(), parseCalamaresLog(REAL_LOG));
    expect(j.ok).toBe(true);
    expect(j.detail).toMatch(
      /^Calamares 3\.3\.5 loaded all 22 modules of settings.conf's sequence \(22 named in its log\)/,
    );
    expect(j.detail).toMatch(/built-in defaults \(no config file anywhere\): welcome, locale/);
  });
});

describe('the check fails, naming what went wrong and how to turn it off', () => {
  /** The real log cut before Calamares finished loading: the Python job modules have no line of their own yet. */
  const cut = REAL_LOG.slice(0, REAL_LOG.indexOf(ALL_LOADED));

  it('names the modules that did not load when Calamares never said all loaded', () => {
    const j = judgeCalamaresLog(ailinuxExpectations(), parseCalamaresLog(cut));
    expect(j.ok).toBe(false);
    expect(j.missing).toEqual([
      'mount@mount',
      'unpackfs@unpackfs',
      'fstab@fstab',
      'localecfg@localecfg',
      'displaymanager@displaymanager',
      'networkcfg@networkcfg',
      'hwclock@hwclock',
      'packages@packages',
      'initramfscfg@initramfscfg',
      'grubcfg@grubcfg',
      'bootloader@bootloader',
    ]);
    expect(j.detail).toContain("modules of settings.conf's sequence that did not load: mount@mount, unpackfs@unpackfs");
    expect(j.detail).toContain(TURN_OFF);
  });

  it('names failed modules and quotes the error lines', () => {
    const failed = `${cut}20:29:01 [1]: void Calamares::ModuleManager::addModule(Calamares::Module*)\n    ERROR: Module "unpackfs@unpackfs" loading FAILED. \n20:29:30 [1]: void CalamaresApplication::initFailed(const QStringList&)\n    ERROR: STARTUP: failed modules are ("unpackfs@unpackfs") \n`;
    const log = parseCalamaresLog(failed);
    expect(log.failed).toEqual(['unpackfs@unpackfs']);
    const j = judgeCalamaresLog(ailinuxExpectations(), log);
    expect(j.ok).toBe(false);
    expect(j.missing).toContain('unpackfs@unpackfs');
    expect(j.detail).toContain('ERROR: Module "unpackfs@unpackfs" loading FAILED.');
    expect(j.detail).toContain('ERROR: STARTUP: failed modules are ("unpackfs@unpackfs")');
  });

  it('fails on a configuration error even when every module loaded', () => {
    const bad = REAL_LOG.replace(
      ALL_LOADED,
      `WARNING: YAML parser error  "bad indentation" in "/etc/calamares/modules/users.conf" \n    ${ALL_LOADED}`,
    );
    const j = judgeCalamaresLog(ailinuxExpectations(), parseCalamaresLog(bad));
    expect(j.ok).toBe(false);
    expect(j.detail).toContain('YAML parser error "bad indentation" in "/etc/calamares/modules/users.conf"');
  });

  it('fails when Calamares finds no config file for a module ailinux configured', () => {
    const expect_ = { ...ailinuxExpectations(), configured: ['welcome', 'users'] };
    const j = judgeCalamaresLog(expect_, parseCalamaresLog(REAL_LOG));
    expect(j.ok).toBe(false);
    expect(j.detail).toContain(
      'Calamares found no config file for welcome, which ailinux wrote to /etc/calamares/modules',
    );
  });

  it('fails when Calamares read another settings file, or never started', () => {
    const other = REAL_LOG.replace('at "/etc/calamares/settings.conf"', 'at "/usr/share/calamares/settings.conf"');
    expect(judgeCalamaresLog(ailinuxExpectations(), parseCalamaresLog(other)).detail).toMatch(
      /^Calamares read \/usr\/share\/calamares\/settings.conf, not \/etc\/calamares\/settings.conf/,
    );
    const none = judgeCalamaresLog(ailinuxExpectations(), parseCalamaresLog('[ 1.0] Linux version 6.8\nlogin: '));
    expect(none.ok).toBe(false);
    expect(none.detail).toMatch(/^Calamares never said which settings file it read: it did not start/);
  });
});

/** Plays a qemu that writes the given text to its serial log after a delay, and ends only when aborted. */
class ScriptedQemu implements Runner {
  readonly calls: string[][] = [];
  abortedAtMs: number | null = null;
  constructor(private readonly text: string) {}
  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv]);
    const log = argv[argv.indexOf('-serial') + 1]!.slice('file:'.length);
    const started = Date.now();
    return new Promise((_resolve, reject) => {
      const timer = setTimeout(() => fs.appendFileSync(log, this.text), 30);
      options.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        this.abortedAtMs = Date.now() - started;
        reject(cancelledRun(argv));
      });
    });
  }
  async drain(): Promise<void> {}
  signalAll(): void {}
}

describe('installerCheck with a scripted qemu', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-installer-check-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const options = (runner: Runner) => ({
    iso: '/isos/a.iso',
    runner,
    plan: { expect: ailinuxExpectations(), timeoutMs: 20_000, memoryMb: 4096, logDir: dir },
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd'),
    args: ['boot=casper', 'console=ttyS0,115200n8'],
    pollMs: 20,
  });

  it('passes on the real log, booted directly with the check command', async () => {
    const qemu = new ScriptedQemu(REAL_LOG);
    const { check, report } = await installerCheck(options(qemu));
    expect(check.status).toBe('ok');
    expect(check.id).toBe('installer-start');
    expect(report.ok).toBe(true);
    expect(report.calamaresVersion).toBe('3.3.5');
    expect(qemu.calls[0]).toContain('-kernel');
    expect(qemu.calls[0]!.at(qemu.calls[0]!.indexOf('-append') + 1)).toContain('systemd.run="/bin/sh -c');
  });

  it('stops qemu as soon as Calamares names failed modules, long before the timeout', async () => {
    const cut = REAL_LOG.slice(0, REAL_LOG.indexOf(ALL_LOADED));
    const qemu = new ScriptedQemu(`${cut}    ERROR: STARTUP: failed modules are ("users@users") \n`);
    const { check, report } = await installerCheck(options(qemu));
    expect(qemu.abortedAtMs).not.toBeNull();
    expect(qemu.abortedAtMs!).toBeLessThan(10_000);
    expect(check.status).toBe('fail');
    expect(report.ok).toBe(false);
    expect(check.detail).toContain("modules of settings.conf's sequence that did not load:");
    expect(check.detail).toContain('users@users');
    expect(check.detail).toContain('Calamares printed "STARTUP: failed modules are"');
    expect(check.detail).toContain(TURN_OFF);
  });
});

/** Writes the serial log on schedule, serves QMP on the -qmp socket, and records whether the marker was in the log at each screendump. */
class QemuWithScreen implements Runner {
  qmp: FakeQmp | null = null;
  argv: string[] = [];
  /** Per screendump: whether the serial log held READY_MARKER when it was asked for. */
  readonly afterMarker: boolean[] = [];
  constructor(
    private readonly writes: [number, string][],
    private readonly screen: (n: number) => Buffer | null,
  ) {}
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.argv = [...argv];
    const log = argv[argv.indexOf('-serial') + 1]!.slice('file:'.length);
    const q = argv.indexOf('-qmp');
    if (q >= 0) {
      const socket = /^unix:(.*),server=on,wait=off$/.exec(argv[q + 1]!)![1]!;
      this.qmp = await fakeQmp(socket, (n) => {
        this.afterMarker.push(fs.existsSync(log) && fs.readFileSync(log, 'latin1').includes(READY_MARKER));
        return this.screen(n);
      });
    }
    return new Promise((_resolve, reject) => {
      const timers = this.writes.map(([ms, text]) => setTimeout(() => fs.appendFileSync(log, text), ms));
      options.signal?.addEventListener('abort', () => {
        timers.forEach(clearTimeout);
        void this.qmp?.close();
        reject(cancelledRun(argv));
      });
    });
  }
  async drain(): Promise<void> {}
  signalAll(): void {}
}

describe("installerCheck shoots Calamares' welcome page", () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-installer-shot-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const picture = (text: string) => Buffer.from(`\x89PNG\r\n\x1a\n${text}`);
  const ready = REAL_LOG.indexOf(READY_MARKER);
  /** The real log in two parts: up to the requirement checker's end (the page is still drawing), then its last lines. */
  const serial = (platform: string): [number, string][] => [
    [20, `${platform}\n${REAL_LOG.slice(0, ready)}`],
    [600, REAL_LOG.slice(ready)],
  ];
  const options = (runner: Runner) => ({
    iso: '/isos/a.iso',
    runner,
    plan: {
      expect: ailinuxExpectations(),
      timeoutMs: 20_000,
      memoryMb: 4096,
      logDir: path.join(dir, 'logs'),
      screenshots: { dir: path.join(dir, 'screens'), intervalMs: 30, stableMs: 100, settleMaxMs: 5000 },
    },
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd'),
    args: ['boot=casper', 'console=ttyS0,115200n8'],
    pollMs: 20,
  });

  it('after the requirement checker is done, once the page has settled, as installer-welcome.png', async () => {
    // the page draws itself for two shots, then stays
    const qemu = new QemuWithScreen(serial(PLATFORM_LINUXFB), (n) => picture(n < 2 ? `drawing ${n}` : 'welcome'));
    const { check, report } = await installerCheck(options(qemu));
    expect(qemu.argv).toContain('-qmp');
    expect(check.status).toBe('ok');
    expect(check.detail).toMatch(/\(direct kernel boot, qemu without KVM, Qt linuxfb\)$/);
    expect(report.boot.screenshots?.map((s) => [s.stage, path.relative(dir, s.file)])).toEqual([
      ['welcome', 'screens/installer-welcome.png'],
    ]);
    expect(fs.readFileSync(path.join(dir, 'screens/installer-welcome.png'), 'latin1')).toMatch(/welcome$/);
    // never before the marker: the page is only then done
    expect(qemu.afterMarker.length).toBeGreaterThanOrEqual(4);
    expect(qemu.afterMarker.every(Boolean)).toBe(true);
    expect(report.boot.screenshots![0]!.atMs).toBeGreaterThanOrEqual(report.boot.markerMs!);
    // a direct kernel boot has no menu to miss
    expect(report.boot.screenshotNotes).toEqual([]);
  });

  it('waits past the countdown spinner of a requirement not met: a change of at most 1 % is the same page', async () => {
    // a 100×80 page whose 6×6 spinner (0.45 % of the pixels) shows another number at every shot, as the real one does
    const page = (tick: number) => {
      const row = 1 + 100 * 3;
      const raw = Buffer.alloc(row * 80, 0xee);
      for (let y = 0; y < 80; y++) raw[y * row] = 0;
      for (let y = 10; y < 16; y++)
        for (let x = 90; x < 96; x++) raw.fill(tick % 7, y * row + 1 + x * 3, y * row + 4 + x * 3);
      return rgbPng(100, 80, raw);
    };
    const qemu = new QemuWithScreen(serial(PLATFORM_LINUXFB), (n) => page(n));
    const { check, report } = await installerCheck(options(qemu));
    expect(check.status).toBe('ok');
    expect(report.boot.screenshotNotes).toEqual([]);
    expect(report.boot.screenshots?.map((s) => s.stage)).toEqual(['welcome']);
    // the exact rule of the desktop shot never settles on it, and ends at the limit with a note
    const exact = new QemuWithScreen(serial(PLATFORM_LINUXFB), (n) => page(n));
    const o = options(exact);
    const strict = await installerCheck({
      ...o,
      plan: { ...o.plan, screenshots: { ...o.plan.screenshots, sameMaxShare: 0, settleMaxMs: 600 } },
    });
    expect(strict.report.boot.screenshotNotes).toEqual([
      'the screen still changed 1 s after the marker; the welcome screenshot is the last one',
    ]);
  });

  it('a shot that fails is a warning beside a passed check, never a failed one', async () => {
    const qemu = new QemuWithScreen(serial(PLATFORM_LINUXFB), () => null);
    const { check, report } = await installerCheck(options(qemu));
    expect(check.status).toBe('ok');
    expect(report.ok).toBe(true);
    expect(report.boot.screenshots).toEqual([]);
    expect(check.detail).toContain(
      '\nscreenshot warning: no welcome screenshot: qemu refused screendump: no surface (GenericError)',
    );
  });

  it('Calamares offscreen (no /dev/fb0): the console is not the welcome page, so no picture, with a note', async () => {
    const qemu = new QemuWithScreen(serial(PLATFORM_OFFSCREEN), () => picture('console'));
    const { check, report } = await installerCheck(options(qemu));
    expect(check.status).toBe('ok');
    expect(check.detail).toContain('Qt offscreen');
    expect(report.boot.screenshots).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'screens/installer-welcome.png'))).toBe(false);
    expect(check.detail).toContain('screenshot warning: no welcome screenshot: the boot had no /dev/fb0');
  });

  it('the module check is as strict with a picture: a failed module still fails it', async () => {
    const cut = REAL_LOG.slice(0, REAL_LOG.indexOf(ALL_LOADED));
    const qemu = new QemuWithScreen(
      [[20, `${PLATFORM_LINUXFB}\n${cut}    ERROR: STARTUP: failed modules are ("users@users") \n`]],
      () => picture('error page'),
    );
    const { check } = await installerCheck(options(qemu));
    expect(check.status).toBe('fail');
    expect(check.detail).toContain('users@users');
  });

  it('without screenshots asked for, qemu gets no QMP socket', async () => {
    const qemu = new QemuWithScreen(serial(PLATFORM_LINUXFB), () => picture('welcome'));
    const { plan, ...rest } = options(qemu);
    const { screenshots: _none, ...plain } = plan;
    const { check } = await installerCheck({ ...rest, plan: plain });
    expect(check.status).toBe('ok');
    expect(qemu.argv).not.toContain('-qmp');
  });
});
