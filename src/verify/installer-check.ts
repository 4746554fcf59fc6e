/**
 * The installer check: a boot of its own that proves Calamares starts with the configuration ailinux wrote.
 * qemu boots the ISO's own kernel and initrd directly (taken from the ISO, the ISO stays the CD casper finds) with
 * the ISO's own kernel arguments and three more: systemd.run= starts Calamares in debug mode on a Qt platform that
 * needs no session, its log going to the serial console, and the machine powers off if Calamares ends. Nothing of
 * this is in the ISO: the normal boot (and its screenshots) is the one users get.
 *
 * The Qt platform is linuxfb on /dev/fb0, the framebuffer the kernel's DRM driver gives qemu's standard VGA, so
 * Calamares draws on the emulated screen and qemu (given a QMP socket) can shoot its welcome page once the requirement
 * checker is done and the screen has settled (installer-welcome.png, beside the boots' screenshots). Without a
 * framebuffer the command falls back to offscreen, and says so on the serial line: the module check is the same on
 * either platform, only the screenshot is left out, with a note.
 *
 * Calamares 3.3 logs, with -d: "Using Calamares settings file at …", then per module of settings.conf's sequence
 * `ViewModule "welcome@welcome" loading complete.` (view and C++ job modules; Python job modules load without a
 * line), then "STARTUP: loadModules for all modules done" only when every module of the sequence loaded (else
 * "STARTUP: failed modules are (…)"), and its requirement checker lists every loaded module by name
 * ("Remaining modules: 22" and one quoted name a line).
 */
import { parse as parseYaml } from 'yaml';
import fs from 'node:fs';
import path from 'node:path';
import type { Runner } from '../runtime/runner.js';
import { bootTest, consoleLines, SerialLog } from './boot.js';
import type { ScreenshotPlan } from './boot-screens.js';
import type { BootTestResult, CheckResult } from './types.js';

export const CALAMARES_SETTINGS = 'etc/calamares/settings.conf';
export const CALAMARES_MODULES_DIR = 'etc/calamares/modules';

/** Calamares' own settings file in the image: the check fails when Calamares reads another one. */
export const SETTINGS_PATH = `/${CALAMARES_SETTINGS}`;

/** Printed once every module of the sequence loaded (CalamaresApplication::initViewSteps). */
export const ALL_LOADED = 'STARTUP: loadModules for all modules done';
/** Printed when the requirement checker is done: the boot ends here when the modules loaded. */
export const READY_MARKER = 'All requirements have been checked.';
/** Printed instead of ALL_LOADED when a module of the sequence did not load (CalamaresApplication::initFailed). */
export const FAILED_MARKER = 'STARTUP: failed modules are';

/** What Calamares must show: its settings file, the modules of the sequence, and those ailinux wrote a config for. */
export interface InstallerExpectations {
  /** Module instances of settings.conf's sequence, each once, in order (a bare name is name@name). */
  modules: string[];
  /** Modules with a config file in /etc/calamares/modules (their name without .conf). */
  configured: string[];
}

function instanceKey(entry: string): string {
  return entry.includes('@') ? entry : `${entry}@${entry}`;
}

function moduleName(key: string): string {
  return key.split('@')[0]!;
}

/** The module instances of settings.conf's sequence (show and exec blocks, in order, each once); throws on a file that has none. */
export function sequenceModules(settingsConf: string): string[] {
  const doc = parseYaml(settingsConf) as { sequence?: unknown } | null;
  const sequence = doc?.sequence;
  if (!Array.isArray(sequence)) throw new Error('settings.conf has no sequence list');
  const keys: string[] = [];
  for (const block of sequence) {
    if (typeof block !== 'object' || block === null) throw new Error('settings.conf: a sequence entry is not a map');
    for (const [kind, list] of Object.entries(block)) {
      if (kind !== 'show' && kind !== 'exec') throw new Error(`settings.conf: unknown sequence block "${kind}"`);
      if (!Array.isArray(list) || list.some((m) => typeof m !== 'string'))
        throw new Error(`settings.conf: the ${kind} block is not a list of module names`);
      for (const m of list as string[]) if (!keys.includes(instanceKey(m))) keys.push(instanceKey(m));
    }
  }
  if (keys.length === 0) throw new Error('settings.conf: the sequence names no module');
  return keys;
}

/**
 * Shots of the welcome page that differ in at most this share of their pixels are the same page: Calamares, with a
 * requirement not met, checks again every few seconds under a countdown spinner of about 60×60 of 1280×800 pixels
 * (0.35 %) that never stops, so an exact rule would wait for the 300 s limit (the product ISO, 2026-12-07).
 */
export const WELCOME_SAME_MAX_SHARE = 0.01;

/** What the check command prints on the serial line before it starts Calamares: the Qt platform it chose. */
export const PLATFORM_LINUXFB = 'ailinux installer check: Qt platform linuxfb on /dev/fb0';
export const PLATFORM_OFFSCREEN = 'ailinux installer check: no /dev/fb0, Qt platform offscreen';

/**
 * What systemd.run= runs: once udev has loaded the drivers it found (the DRM driver that makes /dev/fb0), Calamares
 * in debug mode with no session, drawing on the framebuffer (linuxfb) or, without one, offscreen; its log on the serial
 * line. No $ and no %: systemd would expand them in the unit's ExecStart.
 */
export const INSTALLER_CHECK_COMMAND = `/bin/sh -c 'HOME=/root; export HOME; udevadm settle --timeout=60; if [ -c /dev/fb0 ]; then echo ${PLATFORM_LINUXFB} >/dev/ttyS0; export QT_QPA_PLATFORM=linuxfb:fb=/dev/fb0; else echo ${PLATFORM_OFFSCREEN} >/dev/ttyS0; export QT_QPA_PLATFORM=offscreen; fi; exec calamares -d >/dev/ttyS0 2>&1'`;

/**
 * The kernel command line of the check boot: the ISO's own arguments, then systemd.run= (one word in double quotes,
 * the kernel's and systemd's quoting; the command's own words in single quotes, the unit file's) and poweroff when
 * Calamares ends, so a crash ends the boot at once instead of at the timeout. plymouth.enable=0: the ISO's splash
 * (plymouthd, started by the initramfs for `splash`) would hold the display Calamares draws on, and in this boot
 * nothing ever tells plymouth to quit. systemd.journald.forward_to_console=0: the journal's lines (the product's
 * kernel line forwards them to the serial console) would land among Calamares' log lines on the same serial line.
 */
export function installerCheckAppend(isoArgs: readonly string[]): string {
  for (const arg of isoArgs) {
    if (/["\s]/.test(arg) || arg.length === 0)
      throw new Error(`the ISO's kernel argument ${JSON.stringify(arg)} cannot be passed on through -append`);
  }
  const own = isoArgs.filter(
    (a) =>
      !/^systemd\.(run|run_success_action|run_failure_action|unit|journald\.forward_to_console)=/.test(a) &&
      !/^plymouth\.enable=/.test(a),
  );
  return [
    ...own,
    'plymouth.enable=0',
    'systemd.journald.forward_to_console=0',
    `systemd.run="${INSTALLER_CHECK_COMMAND}"`,
    'systemd.run_success_action=poweroff',
    'systemd.run_failure_action=poweroff',
  ].join(' ');
}

/** What the serial log says about Calamares' start. */
export interface CalamaresLog {
  settingsFile: string | null;
  version: string | null;
  /** Instance keys logged as loaded ("… loading complete.", "already loaded."). */
  loaded: string[];
  /** Module names the requirement checker listed (every loaded module, Python job modules too). */
  listed: string[];
  allLoaded: boolean;
  ready: boolean;
  /** Instances Calamares names as failed ("STARTUP: failed modules are", "loading FAILED", …). */
  failed: string[];
  /** Configuration errors and module failures, as logged. */
  errors: string[];
  /** Modules Calamares found no config file for. */
  noConfig: string[];
  /** The Qt platform the check command chose (it prints it before Calamares starts), or null when it said nothing. */
  platform: 'linuxfb' | 'offscreen' | null;
}

const FAILURE_LINES: ReadonlyArray<RegExp> = [
  /Module "([^"]+)" loading FAILED/,
  /Module "([^"]+)" not found in module search paths/,
  /Module "([^"]+)" cannot be created from descriptor/,
  /Module "([^"]+)" exists but not loaded/,
  /Wrong module entry format for module "?([^"\s]+)/,
  /Module "?([^"\s]+)"? requires .* before it in sequence/,
];
const CONFIG_ERRORS = /YAML parser error|Bad module configuration|Found empty module configuration|Bad config/i;

/** Reads Calamares' debug log out of a serial log (control sequences and kernel lines among it are passed over). */
export function parseCalamaresLog(text: string): CalamaresLog {
  const log: CalamaresLog = {
    settingsFile: null,
    version: null,
    loaded: [],
    listed: [],
    allLoaded: false,
    ready: false,
    failed: [],
    errors: [],
    noConfig: [],
    platform: null,
  };
  const add = (list: string[], item: string) => {
    if (!list.includes(item)) list.push(item);
  };
  let listing = 0;
  for (const line of consoleLines(text)) {
    if (listing > 0) {
      const name = /^"([A-Za-z0-9_-]+)"$/.exec(line);
      if (name) {
        add(log.listed, name[1]!);
        listing--;
        continue;
      }
      listing = 0;
    }
    let m = /Using Calamares settings file at "([^"]+)"/.exec(line);
    if (m) log.settingsFile = m[1]!;
    m = /Calamares version: (\S+)/.exec(line);
    if (m) log.version = m[1]!;
    m =
      /"([^"@\s]+@[^"\s]+)" loading complete\./.exec(line) ?? /Module "([^"@\s]+@[^"\s]+)" already loaded\./.exec(line);
    if (m) add(log.loaded, m[1]!);
    m = /Remaining modules: (\d+)/.exec(line);
    if (m) listing = Number(m[1]);
    if (line.includes(PLATFORM_LINUXFB)) log.platform = 'linuxfb';
    else if (line.includes(PLATFORM_OFFSCREEN)) log.platform = 'offscreen';
    if (line.includes(ALL_LOADED)) log.allLoaded = true;
    if (line.includes(READY_MARKER)) log.ready = true;
    m = /No config file for "([^"]+)" found/.exec(line);
    if (m) add(log.noConfig, m[1]!);
    const failedAt = line.indexOf(FAILED_MARKER);
    if (failedAt >= 0) {
      for (const q of line.slice(failedAt).matchAll(/"([^"]+)"/g)) add(log.failed, q[1]!);
      add(log.errors, line);
      continue;
    }
    for (const re of FAILURE_LINES) {
      const f = re.exec(line);
      if (f) {
        add(log.failed, f[1]!);
        add(log.errors, line);
      }
    }
    if (CONFIG_ERRORS.test(line)) add(log.errors, line);
  }
  return log;
}

/** How to turn the check off, for every failure. */
export const TURN_OFF = 'to build without this check, set verify.installerCheck to false';

export interface InstallerJudgement {
  ok: boolean;
  /** Modules of the sequence Calamares did not show as loaded. */
  missing: string[];
  detail: string;
}

/** Whether the log proves every module of the sequence loaded with no configuration error. */
export function judgeCalamaresLog(expect: InstallerExpectations, log: CalamaresLog): InstallerJudgement {
  const seen = (key: string) => log.loaded.includes(key) || log.listed.includes(moduleName(key));
  const failed = expect.modules.filter((k) => log.failed.includes(k) || log.failed.includes(moduleName(k)));
  // Calamares prints ALL_LOADED only when no module of the sequence failed: Python job modules log no line of their own
  const missing = log.allLoaded ? failed : expect.modules.filter((k) => !seen(k) || failed.includes(k));
  const lostConfig = expect.configured.filter((name) => log.noConfig.includes(name));
  const problems: string[] = [];
  if (log.settingsFile === null) problems.push('Calamares never said which settings file it read: it did not start');
  else if (log.settingsFile !== SETTINGS_PATH)
    problems.push(`Calamares read ${log.settingsFile}, not ${SETTINGS_PATH}, the one ailinux wrote`);
  if (missing.length > 0) problems.push(`modules of settings.conf's sequence that did not load: ${missing.join(', ')}`);
  if (lostConfig.length > 0)
    problems.push(
      `Calamares found no config file for ${lostConfig.join(', ')}, which ailinux wrote to /${CALAMARES_MODULES_DIR}`,
    );
  if (log.errors.length > 0) problems.push(`errors in Calamares' log:\n${log.errors.join('\n')}`);
  if (problems.length === 0 && !log.allLoaded) problems.push(`Calamares never printed "${ALL_LOADED}"`);
  const version = log.version ? `Calamares ${log.version}` : 'Calamares';
  if (problems.length > 0) return { ok: false, missing, detail: `${problems.join('; ')}; ${TURN_OFF}` };
  const named = expect.modules.filter(seen).length;
  const defaults =
    log.noConfig.length > 0 ? `; with its built-in defaults (no config file anywhere): ${log.noConfig.join(', ')}` : '';
  return {
    ok: true,
    missing,
    detail: `${version} loaded all ${expect.modules.length} modules of settings.conf's sequence (${named} named in its log), no configuration error${defaults}`,
  };
}

/** The check's row from its boot and its log. */
export function installerCheckRow(
  expect: InstallerExpectations,
  boot: BootTestResult,
  serialText: string,
): { check: CheckResult; log: CalamaresLog } {
  const log = parseCalamaresLog(serialText);
  const judgement = judgeCalamaresLog(expect, log);
  const row = (status: CheckResult['status'], detail: string): { check: CheckResult; log: CalamaresLog } => ({
    check: { id: 'installer-start', name: 'installer starts (qemu, Calamares -d)', status, detail },
    log,
  });
  if (boot.outcome === 'not-run') return row('fail', `${boot.detail}; ${TURN_OFF}`);
  const full = boot.logFile ? `\nfull serial log: ${boot.logFile}` : '';
  // a screenshot that could not be taken is a warning beside the row, never a failed check
  const notes = (boot.screenshotNotes ?? []).map((n) => `\nscreenshot warning: ${n}`).join('');
  if (judgement.ok) {
    const at = boot.markerMs !== null ? ` after ${(boot.markerMs / 1000).toFixed(1)} s` : '';
    const on = log.platform ? `, Qt ${log.platform}` : '';
    return row('ok', `${judgement.detail}${at} (direct kernel boot, qemu without KVM${on})${notes}`);
  }
  // the boot's own words (timeout, qemu ended, with the last serial lines) say why the log stops where it does
  const why = boot.ok ? '' : `\n${boot.detail}`;
  return row('fail', `${judgement.detail}${why}${full}${notes}`);
}

/** The check as the verify step plans it. */
export interface InstallerCheckPlan {
  expect: InstallerExpectations;
  timeoutMs: number;
  memoryMb: number;
  /** The serial log goes here, as installer-check.log. */
  logDir: string;
  /**
   * Calamares' welcome page, shot through QMP once the requirement checker is done and the screen has settled, goes
   * into this plan's dir as installer-welcome.png (installer-timeout.png when the time ran out); none when absent.
   */
  screenshots?: Omit<ScreenshotPlan, 'name' | 'lastStage' | 'menu'> | null;
}

export interface InstallerCheckReport {
  ok: boolean;
  boot: BootTestResult;
  /** The modules the sequence names, and what the log said of them. */
  modules: string[];
  loaded: string[];
  listed: string[];
  calamaresVersion: string | null;
}

export interface InstallerCheckOptions {
  iso: string;
  runner: Runner;
  plan: InstallerCheckPlan;
  /** The ISO's kernel and initrd, extracted here, and the ISO's own kernel arguments. */
  kernel: string;
  initrd: string;
  args: readonly string[];
  signal?: AbortSignal;
  pollMs?: number;
}

/**
 * Boots the check and reads its log. The boot ends when the requirement checker is done (the modules loaded), when
 * Calamares names failed modules, when Calamares ends (the machine powers off) or at the timeout.
 */
export async function installerCheck(
  o: InstallerCheckOptions,
): Promise<{ check: CheckResult; report: InstallerCheckReport }> {
  const logFile = path.join(o.plan.logDir, 'serial-installer-check.log');
  // a log of an earlier check must not stop this one
  fs.mkdirSync(o.plan.logDir, { recursive: true });
  fs.rmSync(logFile, { force: true });
  const failedEarly = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, failedEarly.signal]) : failedEarly.signal;
  const watch = new SerialLog(logFile, FAILED_MARKER);
  const timer = setInterval(() => {
    if (watch.poll()) failedEarly.abort();
  }, o.pollMs ?? 500);
  let boot: BootTestResult;
  const started = performance.now();
  try {
    boot = await bootTest({
      runner: o.runner,
      iso: o.iso,
      firmware: 'bios',
      memoryMb: o.plan.memoryMb,
      logFile,
      marker: READY_MARKER,
      timeoutMs: o.plan.timeoutMs,
      directKernel: { kernel: o.kernel, initrd: o.initrd, append: installerCheckAppend(o.args) },
      // a direct kernel boot has no boot menu: the screen it ends on is Calamares' welcome page, whose countdown
      // spinner (a requirement not met: no disk) turns for ever, so a change of at most 1 % of the pixels is no change
      ...(o.plan.screenshots
        ? {
            screenshots: {
              sameMaxShare: WELCOME_SAME_MAX_SHARE,
              ...o.plan.screenshots,
              name: 'installer',
              lastStage: 'welcome' as const,
              menu: false,
            },
          }
        : {}),
      signal,
      ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
    });
  } catch (error) {
    if (o.signal?.aborted || !failedEarly.signal.aborted) throw error;
    const durationMs = performance.now() - started;
    boot = {
      firmware: 'bios',
      ok: false,
      outcome: 'exited',
      marker: READY_MARKER,
      markerMs: null,
      durationMs,
      timeoutMs: o.plan.timeoutMs,
      exitCode: null,
      lastLines: watch.lastLines(),
      logFile,
      argv: [],
      detail: `qemu stopped after ${(durationMs / 1000).toFixed(1)} s: Calamares printed "${FAILED_MARKER}"`,
    };
  } finally {
    clearInterval(timer);
  }
  const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'latin1') : '';
  boot = withoutOffscreenShot(boot, parseCalamaresLog(text).platform);
  const { check, log } = installerCheckRow(o.plan.expect, boot, text);
  return {
    check,
    report: {
      ok: check.status === 'ok',
      boot,
      modules: o.plan.expect.modules,
      loaded: log.loaded,
      listed: log.listed,
      calamaresVersion: log.version,
    },
  };
}

/**
 * Calamares ran offscreen (the boot had no /dev/fb0): the screen qemu shows is the console, not the welcome page, so
 * that picture is removed and a note says why.
 */
export function withoutOffscreenShot(boot: BootTestResult, platform: CalamaresLog['platform']): BootTestResult {
  if (platform !== 'offscreen' || !boot.screenshots) return boot;
  const welcome = boot.screenshots.filter((s) => s.stage === 'welcome');
  if (welcome.length === 0) return boot;
  for (const s of welcome) fs.rmSync(s.file, { force: true });
  return {
    ...boot,
    screenshots: boot.screenshots.filter((s) => s.stage !== 'welcome'),
    screenshotNotes: [
      ...(boot.screenshotNotes ?? []),
      `no welcome screenshot: the boot had no /dev/fb0, so Calamares ran offscreen and the screen showed the console`,
    ],
  };
}
