/**
 * Screenshots during the boot test: qemu listens on a QMP socket, and the boot menu and the screen the
 * boot ends on (the desktop of the live session, or the console's login prompt) are shot with
 * screendump (src/verify/qmp.ts). A screenshot is a view of the boot, not part of the check: what
 * goes wrong here becomes a note in the result, never a failed boot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { differingShare, isBlankScreen } from './png-blank.js';
import { screendump } from './qmp.js';
import type { BootScreenshot, Firmware } from './types.js';

export interface ScreenshotPlan {
  /** Where the PNGs go: <firmware>-menu.png and <firmware>-desktop.png (<name>-<stage>.png). */
  dir: string;
  /** The first part of the file names (default: the firmware, bios or uefi); the installer check boot uses installer. */
  name?: string;
  /** The stage of the screen the boot ends on (default desktop); the installer check shoots Calamares' welcome page. */
  lastStage?: 'desktop' | 'welcome';
  /** Whether to shoot the boot menu when the serial console shows one (default true; a direct kernel boot has none). */
  menu?: boolean;
  /** Seconds between the shots that wait for the last screen to settle (default 5). */
  intervalMs?: number;
  /** The last screen is shot when it stops changing, at most this long after the marker (default 300 s: Plasma without KVM draws its panel and wallpaper for minutes). */
  settleMaxMs?: number;
  /**
   * How long the screen must stay the same (or blink between the same two pictures) to count as settled (default
   * 30 s: Plasma without KVM paused for more than 5 s between drawing its panel and its wallpaper).
   */
  stableMs?: number;
  /**
   * While the screen is empty (one colour but for a cursor: the gap between the console and the desktop), the last
   * screenshot waits at most this long after the marker (default 300 s: Plasma without KVM).
   */
  blankMaxMs?: number;
  /** How long one screendump may take (default 30 s: qemu without KVM on a loaded host is slow). */
  shotTimeoutMs?: number;
  /**
   * Two shots that differ in at most this share of their pixels count as the same picture (default 0: any change
   * counts). The installer check sets 1 %: Calamares' welcome page, with a requirement not met (the check boot has no
   * disk), checks again every few seconds under a countdown spinner (about 60×60 of 1280×800 pixels) that never stops.
   */
  sameMaxShare?: number;
}

/**
 * What the serial console prints when a boot menu is up: GRUB's title, ISOLINUX's menu countdown. The menu is
 * drawn on the screen at the same moment, so it is shot a moment after.
 */
export const MENU_MARKERS = ['GNU GRUB', 'Automatic boot in'] as const;
const MENU_DELAY_MS = 1500;

/** sun_path holds 108 bytes with its terminating NUL. */
const SOCKET_PATH_MAX = 107;

/**
 * The QMP socket for a boot: beside the serial log, which is in a directory ailinux made; when that path is too
 * long for a unix socket, in a private directory under the system temp dir. cleanup removes both.
 */
export function qmpSocketFor(logFile: string): { socket: string; cleanup: () => void } {
  const beside = `${logFile}.qmp`;
  if (Buffer.byteLength(beside) <= SOCKET_PATH_MAX) {
    fs.rmSync(beside, { force: true });
    return { socket: beside, cleanup: () => fs.rmSync(beside, { force: true }) };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-qmp-'));
  return { socket: path.join(dir, 'qmp.sock'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The shots of one boot, and what went wrong with them. */
export class BootScreens {
  readonly shots: BootScreenshot[] = [];
  readonly notes: string[] = [];
  private menuTaken = false;

  constructor(
    private readonly plan: ScreenshotPlan,
    private readonly socket: string,
    private readonly firmware: Firmware,
    private readonly elapsed: () => number,
  ) {
    fs.mkdirSync(plan.dir, { recursive: true });
    // a picture of an earlier boot is never taken for this one's
    for (const stage of ['menu', 'desktop', 'welcome', 'timeout'] as const)
      fs.rmSync(this.file(stage), { force: true });
  }

  /** Whether the boot menu is shot: asked for, and not yet taken. */
  get menuDone(): boolean {
    return this.menuTaken || this.plan.menu === false;
  }

  /** Whether a boot menu screenshot was asked for. */
  get menuWanted(): boolean {
    return this.plan.menu !== false;
  }

  private file(stage: BootScreenshot['stage']): string {
    return path.join(this.plan.dir, `${this.plan.name ?? this.firmware}-${stage}.png`);
  }

  private async shoot(stage: BootScreenshot['stage']): Promise<Buffer | null> {
    const file = this.file(stage);
    try {
      await screendump(this.socket, file, { timeoutMs: this.plan.shotTimeoutMs ?? 30_000 });
      return fs.readFileSync(file);
    } catch (error) {
      this.notes.push(`no ${stage} screenshot: ${(error as Error).message}`);
      return null;
    }
  }

  /** The boot menu, once, a moment after the serial console showed it. */
  async menu(signal?: AbortSignal): Promise<void> {
    if (this.menuTaken) return;
    this.menuTaken = true;
    await sleep(MENU_DELAY_MS, signal);
    if (signal?.aborted) return;
    const atMs = this.elapsed();
    if (await this.shoot('menu')) this.shots.push({ stage: 'menu', file: this.file('menu'), atMs: Math.round(atMs) });
  }

  /** One shot now, e.g. the screen when the time ran out. */
  async once(stage: BootScreenshot['stage']): Promise<void> {
    const atMs = this.elapsed();
    if (await this.shoot(stage)) this.shots.push({ stage, file: this.file(stage), atMs: Math.round(atMs) });
  }

  /**
   * The screen the boot ends on, once it has settled: shot every intervalMs after the marker until the shots have
   * stayed the same, or blinked between the same two pictures (a cursor), for stableMs, or settleMaxMs has passed. An
   * empty screen (src/verify/png-blank.ts) is not settled: the desktop may still be on its way, so it is waited past
   * for up to blankMaxMs.
   */
  async settled(signal?: AbortSignal, stillRunning: () => boolean = () => true): Promise<void> {
    const last = this.plan.lastStage ?? 'desktop';
    const interval = this.plan.intervalMs ?? 5000;
    const stable = this.plan.stableMs ?? 30_000;
    const start = this.elapsed();
    const settleMax = this.plan.settleMaxMs ?? 300_000;
    const blankMax = Math.max(settleMax, this.plan.blankMaxMs ?? 300_000);
    const sameMax = this.plan.sameMaxShare ?? 0;
    const same = (a: Buffer, b: Buffer): boolean => a.equals(b) || (sameMax > 0 && differingShare(a, b) <= sameMax);
    /** The last two different pictures, and when the newer of them first showed. */
    const recent: Buffer[] = [];
    let since = 0;
    let shot = false;
    let atMs = 0;
    for (;;) {
      await sleep(interval, signal);
      if (signal?.aborted || !stillRunning()) break;
      atMs = this.elapsed();
      const png = await this.shoot(last);
      if (!png) return;
      shot = true;
      const blank = isBlankScreen(png);
      if (blank) recent.length = 0;
      else if (recent.some((b) => same(b, png))) {
        if (atMs - since >= stable) break;
      } else {
        recent.push(png);
        if (recent.length > 2) recent.shift();
        since = atMs;
      }
      const waited = this.elapsed() - start;
      if (blank && waited >= blankMax) {
        this.notes.push(
          `the screen was still empty ${Math.round(blankMax / 1000)} s after the marker; the ${last} screenshot shows it`,
        );
        break;
      }
      if (!blank && waited >= settleMax) {
        this.notes.push(
          `the screen still changed ${Math.round(settleMax / 1000)} s after the marker; the ${last} screenshot is the last one`,
        );
        break;
      }
    }
    if (shot) this.shots.push({ stage: last, file: this.file(last), atMs: Math.round(atMs) });
    else this.notes.push(`no ${last} screenshot: qemu ended, or the boot was stopped, before the screen was shot`);
  }
}
