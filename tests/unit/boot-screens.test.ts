/**
 * Screenshots during the boot test, with a scripted qemu (a Runner that writes the serial log over time) and a fake
 * QMP socket at the path the -qmp option names: the boot menu is shot when the serial console shows it, the last
 * screen once it stops changing, and a screenshot that fails is a note in the result, never a failed boot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunOptions, RunResult, Runner } from '../../src/runtime/runner.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { bootTest } from '../../src/verify/boot.js';
import { qmpSocketFor } from '../../src/verify/boot-screens.js';
import { differingShare } from '../../src/verify/png-blank.js';
import { rgbPng } from '../../src/runtime/png.js';
import { cancelledRun, fakeQmp, type FakeQmp } from '../helpers/fake-qmp.js';

/** Writes the serial log on schedule, serves QMP on the -qmp socket with screen(n), ends when aborted. */
class QemuWithScreen implements Runner {
  qmp: FakeQmp | null = null;
  argv: string[] = [];
  constructor(
    private readonly writes: [number, string][],
    private readonly screen: ((n: number) => Buffer | null) | null,
  ) {}

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.argv = [...argv];
    const log = argv[argv.indexOf('-serial') + 1]!.slice('file:'.length);
    const q = argv.indexOf('-qmp');
    if (q >= 0 && this.screen) {
      const socket = /^unix:(.*),server=on,wait=off$/.exec(argv[q + 1]!)![1]!;
      this.qmp = await fakeQmp(socket, this.screen);
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

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-screens-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const picture = (text: string) => Buffer.from(`\x89PNG\r\n\x1a\n${text}`);
const SERIAL: [number, string][] = [
  [20, '\x1b[2J\x1b[1;1HGNU GRUB version 2.12\n'],
  [200, 'Reached target graphical.target\n'],
];

function options(runner: Runner, extra: Record<string, unknown> = {}) {
  return {
    runner,
    iso: '/isos/x.iso',
    firmware: 'bios' as const,
    memoryMb: 512,
    logFile: path.join(dir, 'logs', 'serial-bios.log'),
    marker: 'Reached target graphical.target',
    timeoutMs: 60_000,
    pollMs: 20,
    // stableMs 0: settled at the first repeat, so the counts below are exact; the pause test sets its own
    screenshots: { dir: path.join(dir, 'screens'), intervalMs: 30, settleMaxMs: 5000, stableMs: 0, ...extra },
  };
}

describe('boot screenshots', () => {
  it('shoots the menu when the serial console shows it, and the last screen once it stops changing', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    // the menu, then a desktop that draws itself for three shots and then stays
    const runner = new QemuWithScreen(SERIAL, (n) => picture(n === 0 ? 'menu' : n < 4 ? `drawing ${n}` : 'desktop'));
    const r = await bootTest(options(runner));
    expect(r.ok).toBe(true);
    expect(runner.argv).toContain('-qmp');
    expect(r.screenshotNotes).toEqual([]);
    expect(r.screenshots?.map((s) => [s.stage, path.relative(dir, s.file)])).toEqual([
      ['menu', 'screens/bios-menu.png'],
      ['desktop', 'screens/bios-desktop.png'],
    ]);
    expect(fs.readFileSync(path.join(dir, 'screens/bios-menu.png'), 'latin1')).toMatch(/menu$/);
    expect(fs.readFileSync(path.join(dir, 'screens/bios-desktop.png'), 'latin1')).toMatch(/desktop$/);
    // menu, drawing 1..3, desktop, desktop again: equal to the one before, so settled
    expect(runner.qmp?.dumps).toHaveLength(6);
    const [menu, desktop] = r.screenshots!;
    expect(menu!.atMs).toBeLessThan(desktop!.atMs);
    // the socket beside the serial log is gone after the boot
    expect(fs.existsSync(`${r.logFile}.qmp`)).toBe(false);
  });

  it('a screen that blinks between two pictures counts as settled', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const runner = new QemuWithScreen(SERIAL, (n) => picture(n === 0 ? 'menu' : n % 2 ? 'cursor on' : 'cursor off'));
    const r = await bootTest(options(runner));
    expect(r.screenshots?.map((s) => s.stage)).toEqual(['menu', 'desktop']);
    expect(runner.qmp?.dumps).toHaveLength(4);
  });

  it('a pause shorter than stableMs is not the end: Plasma drew its panel, paused, then its wallpaper', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    // the menu, the panel for three equal shots (a pause), then the full desktop from then on
    const screen = (n: number) => picture(n === 0 ? 'menu' : n < 4 ? 'panel only' : 'desktop');
    const paused = new QemuWithScreen(SERIAL, screen);
    const r = await bootTest(options(paused, { stableMs: 400 }));
    expect(r.screenshotNotes).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'screens/bios-desktop.png'), 'latin1')).toMatch(/desktop$/);
    // the same screens with the old rule (the first repeat) end on the panel
    fs.rmSync(path.join(dir, 'logs'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'logs'));
    await bootTest(options(new QemuWithScreen(SERIAL, screen), { stableMs: 0 }));
    expect(fs.readFileSync(path.join(dir, 'screens/bios-desktop.png'), 'latin1')).toMatch(/panel only$/);
  });

  it('a screen that never settles is shot at the limit, with a note', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const runner = new QemuWithScreen(SERIAL, (n) => picture(`frame ${n}`));
    const r = await bootTest(options(runner, { settleMaxMs: 200 }));
    expect(r.ok).toBe(true);
    expect(r.screenshots?.map((s) => s.stage)).toEqual(['menu', 'desktop']);
    expect(r.screenshotNotes).toEqual([
      'the screen still changed 0 s after the marker; the desktop screenshot is the last one',
    ]);
  });

  it('an empty screen after the marker is not the end: the shots go on until the desktop is drawn and stays', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const black = solidPng(64, 40, '#000000');
    // the menu, then four equal black screens (the gap before the display manager), then the desktop twice
    const runner = new QemuWithScreen(SERIAL, (n) => (n === 0 ? picture('menu') : n < 5 ? black : picture('desktop')));
    const r = await bootTest(options(runner));
    expect(r.screenshotNotes).toEqual([]);
    expect(runner.qmp?.dumps).toHaveLength(7);
    expect(fs.readFileSync(path.join(dir, 'screens/bios-desktop.png'), 'latin1')).toMatch(/desktop$/);
  });

  it('a screen that stays empty is shot when blankMaxMs has passed, with a note saying so', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const black = solidPng(64, 40, '#000000');
    const runner = new QemuWithScreen(SERIAL, (n) => (n === 0 ? picture('menu') : black));
    const r = await bootTest(options(runner, { settleMaxMs: 100, blankMaxMs: 300 }));
    expect(r.ok).toBe(true);
    expect(r.screenshots?.map((s) => s.stage)).toEqual(['menu', 'desktop']);
    expect(r.screenshotNotes).toEqual([
      'the screen was still empty 0 s after the marker; the desktop screenshot shows it',
    ]);
    expect(runner.qmp!.dumps.length).toBeGreaterThan(5);
  });

  it('screendumps that fail are notes, and the boot still passes', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const runner = new QemuWithScreen(SERIAL, () => null);
    const r = await bootTest(options(runner));
    expect(r).toMatchObject({ ok: true, outcome: 'marker', screenshots: [] });
    expect(r.screenshotNotes).toEqual([
      'no menu screenshot: qemu refused screendump: no surface (GenericError)',
      'no desktop screenshot: qemu refused screendump: no surface (GenericError)',
    ]);
    expect(fs.readdirSync(path.join(dir, 'screens'))).toEqual([]);
  });

  it('no QMP at all (qemu never listens) is a note, not a failure', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const runner = new QemuWithScreen(SERIAL, null);
    const r = await bootTest(options(runner, { shotTimeoutMs: 500 }));
    expect(r.ok).toBe(true);
    expect(r.screenshotNotes).toHaveLength(2);
    expect(r.screenshotNotes![0]).toMatch(/^no menu screenshot: cannot connect to the QMP socket /);
  });

  it('a boot that times out leaves a picture of where it stopped, and still fails as a timeout', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const runner = new QemuWithScreen([[20, 'GNU GRUB\n']], (n) => picture(n === 0 ? 'menu' : 'stuck at plymouth'));
    const r = await bootTest({ ...options(runner), timeoutMs: 2500 });
    expect(r).toMatchObject({ ok: false, outcome: 'timeout' });
    expect(r.screenshots?.map((s) => [s.stage, path.basename(s.file)])).toEqual([
      ['menu', 'bios-menu.png'],
      ['timeout', 'bios-timeout.png'],
    ]);
    expect(fs.readFileSync(path.join(dir, 'screens/bios-timeout.png'), 'latin1')).toMatch(/stuck at plymouth$/);
    expect(r.screenshotNotes).toEqual([]);
  });

  it('a serial console that never shows a menu says so', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const runner = new QemuWithScreen([[50, 'Reached target graphical.target\n']], () => picture('desktop'));
    const r = await bootTest(options(runner));
    expect(r.screenshots?.map((s) => s.stage)).toEqual(['desktop']);
    expect(r.screenshotNotes).toEqual(['no menu screenshot: the serial console never showed a boot menu']);
  });

  it("an earlier boot's pictures are never reported as this one's", async () => {
    fs.mkdirSync(path.join(dir, 'screens'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'screens', 'bios-menu.png'), 'old');
    const runner = new QemuWithScreen([[50, 'Reached target graphical.target\n']], () => null);
    const r = await bootTest(options(runner));
    expect(r.screenshots).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'screens', 'bios-menu.png'))).toBe(false);
  });

  it('without screenshots asked for, qemu gets no QMP socket', async () => {
    fs.mkdirSync(path.join(dir, 'logs'));
    const runner = new QemuWithScreen(SERIAL, null);
    const { screenshots: _none, ...plain } = options(runner);
    const r = await bootTest(plain);
    expect(runner.argv).not.toContain('-qmp');
    expect(r.screenshots).toBeUndefined();
  });
});

describe('qmpSocketFor', () => {
  it('puts the socket beside the serial log, or in a private temp dir when that path is too long for a socket', () => {
    const short = qmpSocketFor(path.join(dir, 'serial-bios.log'));
    expect(short.socket).toBe(path.join(dir, 'serial-bios.log.qmp'));
    short.cleanup();
    const deep = path.join(dir, 'x'.repeat(120), 'serial-bios.log');
    const long = qmpSocketFor(deep);
    expect(long.socket).toMatch(new RegExp(`^${os.tmpdir()}/ailinux-qmp-[^/]+/qmp\\.sock$`));
    expect(Buffer.byteLength(long.socket)).toBeLessThanOrEqual(107);
    const made = path.dirname(long.socket);
    expect(fs.existsSync(made)).toBe(true);
    long.cleanup();
    expect(fs.existsSync(made)).toBe(false);
  });
});

describe('differingShare', () => {
  it('is 0 for equal pictures, the share of differing pixels otherwise, 1 for pictures it cannot compare', () => {
    const a = solidPng(20, 10, '#102030');
    expect(differingShare(a, Buffer.from(a))).toBe(0);
    const row = 1 + 20 * 3;
    const raw = Buffer.alloc(row * 10);
    for (let y = 0; y < 10; y++) for (let x = 0; x < 20; x++) raw.set([0x10, 0x20, 0x30], y * row + 1 + x * 3);
    raw.set([0xff, 0, 0], 3 * row + 1 + 4 * 3);
    raw.set([0xff, 0, 0], 7 * row + 1 + 9 * 3);
    expect(differingShare(a, rgbPng(20, 10, raw))).toBe(2 / 200);
    expect(differingShare(a, solidPng(10, 20, '#102030'))).toBe(1);
    expect(differingShare(a, Buffer.from('\x89PNG\r\n\x1a\nnot a picture'))).toBe(1);
  });
});
