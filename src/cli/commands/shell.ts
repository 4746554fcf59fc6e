/**
 * ailinux shell [STEP]: a root shell in the rootfs as it stands after STEP (default: the last step with a layer
 * that is done), on a throwaway upper layer, so no sealed layer changes. It runs as a build's chroot commands do
 * (docs/safety.md): in the sandbox (the host read-only but for the work dir and --keep DIR), in private mount and
 * pid namespaces through ailinux-ns-run, without CAP_SYS_ADMIN, with fresh proc, sysfs and devpts. It holds the
 * work dir's lock for the whole session, so no build starts underneath it. `-- CMD ARGS…` runs CMD instead of a
 * shell and exits with its status. `--keep DIR` saves what the session changed as an overlay directory
 * (src/steps/kept-overlay.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readStateReadOnly } from '../../../state/store.js';
import type { StateFile } from '../../../state/schema.js';
import { nearestName } from '../../config/nearest-name.js';
import { CommandError, UsageError } from '../../errors.js';
import { assertWorkDirUsable, claimAndLockWorkDir, inspectWorkDir } from '../../engine/work-dir-owner.js';
import { CHROOT_PATH } from '../../runtime/command-env.js';
import { WORK_ID_ENV } from '../../engine/build.js';
import { ExecaRunner } from '../../runtime/execa-runner.js';
import { entryInLayers, type LayerStep, ownLayer, sessionArgv } from '../../runtime/layers.js';
import { workPaths } from '../../runtime/paths.js';
import { markerEnv } from '../../runtime/process-groups.js';
import type { Runner } from '../../runtime/runner.js';
import { removeTree } from '../../runtime/safe-remove.js';
import { enterSandbox, requireSandbox } from '../../runtime/sandbox.js';
import { checkWorkDir } from '../../runtime/work-dir.js';
import { keepSessionChanges, type KeptOverlay } from '../../steps/kept-overlay.js';
import { stepById } from '../../steps/registry.js';
import { EXIT } from '../exit-codes.js';
import { renderHintCommand } from '../hint.js';
import type { CliIO } from '../io.js';

export interface ShellOptions {
  workDir: string;
  /** The step whose rootfs to enter; the last done step with a layer when not given. */
  step?: string | undefined;
  /** Save what the session changed here, as an overlay directory. */
  keep?: string | undefined;
  /** Run this instead of an interactive shell (after `--`). */
  command?: readonly string[] | undefined;
}

/** What tests replace: the runner, the sandbox, whether stdin is a terminal, the signals. */
export interface ShellSeams {
  runner?: Runner;
  enterSandbox?: (writable: readonly string[], tmpDir: string) => Promise<void>;
  stdinIsTTY?: boolean;
  signals?: {
    on(signal: NodeJS.Signals, handler: () => void): void;
    off(signal: NodeJS.Signals, handler: () => void): void;
  };
}

/** The step statuses whose layer is sealed and whole. */
const SEALED = new Set(['done', 'skipped']);
const HANDLED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const SIGNAL_EXIT: Record<string, number> = {
  SIGINT: EXIT.sigint,
  SIGTERM: EXIT.sigterm,
  SIGHUP: EXIT.sighup,
  SIGQUIT: EXIT.sigquit,
};

export interface ShellTarget {
  step: string;
  /** The sealed layers of that rootfs, topmost first (the step's own first). */
  sealed: string[];
}

/** A step's layer kind: the registry's, else (a step this version does not know, a hook) what its dir holds. */
function layerOf(id: string, layersDir: string): LayerStep['layer'] {
  const def = stepById(id);
  if (def) return def.layer;
  if (fs.existsSync(path.join(layersDir, id, 'upper'))) return 'overlay';
  if (fs.existsSync(path.join(layersDir, id, 'root'))) return 'base';
  return 'none';
}

/**
 * The step to enter and its sealed layers, from the state: the named step, or the last step with a layer that is
 * done while every layer step before it is too. Refuses (UsageError) an unknown step, one without a layer, one
 * whose layer is not sealed yet, and a layer missing from disk.
 */
export function chooseShellTarget(state: StateFile, layersDir: string, wanted: string | undefined): ShellTarget {
  const steps: LayerStep[] = state.order.map((id) => ({ id, layer: layerOf(id, layersDir) }));
  const withLayer = steps.filter((s) => s.layer !== 'none');
  const sealed = (id: string) => SEALED.has(state.ledger[id]?.status ?? 'pending');
  let index: number;
  if (wanted === undefined) {
    const firstOpen = steps.findIndex((s) => s.layer !== 'none' && !sealed(s.id));
    const upTo = firstOpen === -1 ? steps.length : firstOpen;
    index = steps.slice(0, upTo).findLastIndex((s) => s.layer !== 'none');
    if (index === -1) {
      throw new UsageError(
        `the build in ${path.dirname(layersDir)} has no rootfs layer yet: ${withLayer[0]?.id ?? 'no step of it'} has not run`,
        { hint: 'run ailinux build (or ailinux resume) until its first rootfs step is done' },
      );
    }
  } else {
    index = steps.findIndex((s) => s.id === wanted);
    if (index === -1) {
      const near = nearestName(wanted, state.order);
      throw new UsageError(
        `this build has no step "${wanted}"${near ? `; did you mean "${near}"?` : ''} (steps with a rootfs layer: ${withLayer.map((s) => s.id).join(', ')})`,
        { hint: near ? `ailinux shell ${near}` : 'name one of the steps listed' },
      );
    }
    const step = steps[index]!;
    if (step.layer === 'none') {
      const before = steps.slice(0, index).findLast((s) => s.layer !== 'none');
      throw new UsageError(
        `step ${wanted} has no rootfs layer: it changes no file of the rootfs${before ? ` (the rootfs it sees is the one after ${before.id})` : ''}`,
        { hint: `name a step with a layer: ${withLayer.map((s) => s.id).join(', ')}` },
      );
    }
    const notSealed = steps.slice(0, index + 1).find((s) => s.layer !== 'none' && !sealed(s.id));
    if (notSealed) {
      const status = state.ledger[notSealed.id]?.status ?? 'pending';
      throw new UsageError(
        `step ${wanted} has no layer yet: ${notSealed.id === wanted ? 'it' : `step ${notSealed.id} before it`} is ${status}`,
        { hint: 'run ailinux resume until it is done, or leave STEP out for the last rootfs that is' },
      );
    }
  }
  const layers: string[] = [];
  for (let i = index; i >= 0; i--) {
    const own = ownLayer(layersDir, steps[i]!);
    if (!own) continue;
    if (!fs.existsSync(own.upper))
      throw new UsageError(
        `the layer of step ${steps[i]!.id} is missing (${own.upper}), though the ledger has it done`,
        {
          hint: 'ailinux plan says what a resume would redo',
        },
      );
    layers.push(own.upper);
  }
  return { step: steps[index]!.id, sealed: layers };
}

/** Refuses a --keep DIR that holds anything; resolves it against the working directory. */
function checkKeepDir(keep: string, io: CliIO, workDir: string): string {
  const dir = path.resolve(io.cwd, keep);
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(dir);
  } catch {
    st = null;
  }
  if (st !== null) {
    if (!st.isDirectory())
      throw new UsageError(`--keep ${keep}: ${dir} exists and is not a directory`, {
        hint: 'name a new or empty directory: the session writes its changes there as an overlay',
      });
    if (fs.readdirSync(dir).length > 0)
      throw new UsageError(`--keep ${keep}: ${dir} is not empty`, {
        hint: 'name a new or empty directory; nothing in an existing one is replaced',
      });
  }
  const real = fs.realpathSync(workDir);
  const near = st === null ? dir : fs.realpathSync(dir);
  if (near === real || near.startsWith(`${real}${path.sep}`) || real.startsWith(`${near}${path.sep}`))
    throw new UsageError(`--keep ${keep}: ${dir} is inside the work dir (or holds it)`, {
      hint: 'keep it beside your config, e.g. --keep overlays/from-shell; clean removes what is in the work dir',
    });
  return dir;
}

/** The shell to start: bash when the rootfs has one, else sh. */
function shellIn(sealed: readonly string[]): string {
  const layers = { own: null, below: [...sealed], mountPoint: '' };
  for (const candidate of ['bin/bash', 'usr/bin/bash']) {
    const found = entryInLayers(layers, candidate);
    if (found?.type === 'file' || found?.type === 'symlink') return `/${candidate}`;
  }
  return '/bin/sh';
}

/**
 * The session's environment in the chroot: the chroot PATH, the user's TERM, and the step in Debian's prompt (its
 * bashrc puts ($debian_chroot) before it; a PS1 would not get through, bash drops it from a script's environment).
 */
export function sessionEnv(step: string, term: string | undefined): Record<string, string> {
  return {
    PATH: CHROOT_PATH,
    HOME: '/root',
    LC_ALL: 'C.UTF-8',
    TERM: term ?? 'dumb',
    debian_chroot: `ailinux:${step}`,
    // the session's history would otherwise be one of its changes
    HISTFILE: '',
  };
}

export async function runShellCommand(options: ShellOptions, io: CliIO, seams: ShellSeams = {}): Promise<number> {
  if (io.uid !== 0) {
    throw new UsageError('ailinux shell needs root: it mounts the layers and enters them with chroot', {
      hint: 'run it as root, with the same arguments',
      hintArgv: ['sudo', 'ailinux', ...(io.argv ?? ['shell'])],
    });
  }
  requireSandbox('shell', io.env, io.argv);
  const workDir = checkWorkDir(options.workDir);
  const paths = workPaths(workDir);
  const ownership = inspectWorkDir(workDir);
  if (ownership.kind === 'missing' || ownership.kind === 'empty')
    throw new UsageError(`no build in ${workDir}: it ${ownership.kind === 'missing' ? 'does not exist' : 'is empty'}`, {
      hint: 'build first (ailinux build), or name the work dir of one with -w',
    });
  assertWorkDirUsable(workDir, ownership);
  const noBuild = () =>
    new UsageError(`no build in ${workDir}: it has no state file`, {
      hint: 'build first (ailinux build), or name the work dir of one with -w',
    });
  // checked before the lock, so a bad STEP or --keep is refused without waiting for anything
  const before = readStateReadOnly(paths.stateFile);
  if (before === null) throw noBuild();
  chooseShellTarget(before, paths.layersDir, options.step);
  const keepDir = options.keep === undefined ? null : checkKeepDir(options.keep, io, workDir);

  const { lock } = await claimAndLockWorkDir(workDir, ownership, {
    lockFile: paths.lockFile,
    command: io.commandLine,
    warn: (m) => io.stderr.write(`warning: ${m}\n`),
    notice: (m) => io.stderr.write(`${m}\n`),
  });
  const session = path.join(paths.tmpDir, `shell-${process.pid}-${crypto.randomBytes(3).toString('hex')}`);
  try {
    // under the lock, the state as it is now: a build may have ended (or started over) since the first look
    const state = readStateReadOnly(paths.stateFile);
    if (state === null) throw noBuild();
    const target = chooseShellTarget(state, paths.layersDir, options.step);
    // the build's marker on every process of the session: were ailinux killed outright (the lock then free), the next
    // build or clean of this work dir ends what is left of it before it touches a layer
    const runner =
      seams.runner ?? new ExecaRunner({ baseEnv: { [WORK_ID_ENV]: state.workId, ...markerEnv(workDir, state.runId) } });
    // made before the sandbox, which binds it onto itself writable once the rest of the host is read-only
    if (keepDir !== null) fs.mkdirSync(keepDir, { recursive: true, mode: 0o755 });
    const writable = keepDir === null ? [workDir] : [workDir, keepDir];
    if (seams.enterSandbox) await seams.enterSandbox(writable, paths.tmpDir);
    else {
      const report = await enterSandbox({ writable, tmpDir: paths.tmpDir, runner, env: io.env });
      for (const left of report.leftAlone)
        io.stderr.write(`warning: the sandbox could not make a mount read-only, so it stays as it was: ${left}\n`);
    }
    const upper = path.join(session, 'upper');
    const work = path.join(session, 'work');
    const root = path.join(session, 'root');
    for (const dir of [upper, work, root]) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });

    const command = options.command?.length ? [...options.command] : null;
    const interactive = command === null && (seams.stdinIsTTY ?? process.stdin.isTTY === true);
    const inner = sessionArgv(
      { sealed: target.sealed, upper, work, mountPoint: root },
      command ?? [shellIn(target.sealed)],
    );
    // an interactive shell gets a terminal of its own (script(1) makes a pty), so job control and Ctrl-C are the
    // shell's, while ailinux and the session stay in their own process groups
    const argv = interactive ? ['script', '--quiet', '--return', '--command', quoteForSh(inner), '/dev/null'] : inner;
    if (command === null)
      io.stderr.write(
        `ailinux shell: the rootfs after ${target.step}, on a throwaway layer${keepDir ? ` (changes kept in ${keepDir})` : ' (changes are discarded)'}; exit to leave\n`,
      );

    const abort = new AbortController();
    let stoppedBy: NodeJS.Signals | null = null;
    const signals = seams.signals ?? process;
    const handlers = HANDLED_SIGNALS.map((signal) => {
      const handler = () => {
        stoppedBy ??= signal;
        abort.abort();
      };
      signals.on(signal, handler);
      return () => signals.off(signal, handler);
    });
    let code: number;
    try {
      await runner.run(argv, {
        // script(1) runs its command with $SHELL -c
        env: { ...sessionEnv(target.step, io.env['TERM']), ...(interactive ? { SHELL: '/bin/sh' } : {}) },
        cleanEnv: true,
        stdio: 'inherit',
        signal: abort.signal,
      });
      code = EXIT.ok;
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      // with its output on the terminal, only a command that could not start leaves a message here
      if (error.failure.stderrTail.trim() !== '') io.stderr.write(`ailinux shell: ${error.failure.stderrTail}\n`);
      code = error.failure.exitCode ?? 128 + signalNumber(error.failure.signal);
    } finally {
      for (const off of handlers) off();
      await runner.drain();
    }
    if (stoppedBy !== null) {
      io.stderr.write(`ailinux shell: ${stoppedBy}; the session ended and its mounts went with its namespace\n`);
      code = SIGNAL_EXIT[stoppedBy] ?? EXIT.sigint;
    }
    if (keepDir !== null) reportKept(keepSessionChanges(upper, target.sealed, keepDir), keepDir, io);
    return code;
  } finally {
    await removeTree(session, { within: workDir });
    lock.release();
  }
}

function signalNumber(signal: string | null): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return signal === null ? 0 : (numbers[signal] ?? 0);
}

/** argv as one line for script's `sh -c` (the only shell line ailinux writes; every word quoted). */
function quoteForSh(argv: readonly string[]): string {
  return `exec ${argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`;
}

function reportKept(kept: KeptOverlay, dir: string, io: CliIO): void {
  const flags = io.hintFlags ?? {};
  if (kept.kept.length === 0 && kept.deleted.length === 0) {
    io.stderr.write(`--keep: the session changed nothing; ${dir} stays empty\n`);
    return;
  }
  io.stderr.write(`--keep: ${kept.kept.length} path(s) saved in ${dir} as an overlay: ${kept.kept.join(', ')}\n`);
  if (kept.deleted.length > 0)
    io.stderr.write(
      `--keep: the session deleted ${kept.deleted.map((r) => `/${r}`).join(', ')}; an overlay cannot delete, so these are not in ${dir} (listed in its ${'.ailinux-overlay.yaml'}; packages.remove or a hook can remove them)\n`,
    );
  if (kept.setidDropped.length > 0)
    io.stderr.write(
      `--keep: setuid/setgid bits left off ${kept.setidDropped.map((r) => `/${r}`).join(', ')} (the manifest says how to keep them)\n`,
    );
  for (const s of kept.skipped) io.stderr.write(`--keep: not kept: /${s.rel}: ${s.why}\n`);
  io.stderr.write(
    `add it to your config under overlays.late, e.g. overlays: { late: [${JSON.stringify(path.relative(io.cwd, dir) || '.')}] }; ${renderHintCommand(['ailinux', 'plan'], flags)} then shows it\n`,
  );
}
