/**
 * The real Runner: execa, each command in its own process group. Cancellation, timeouts and
 * leftovers after exit end the whole group (TERM, then KILL after a grace period), never more.
 */
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { CommandError } from '../errors.js';
import { hostCommandEnv, keptHostEnv } from './command-env.js';
import {
  groupHasLiveMembers,
  readProcStartTicks,
  registerRunnerGroup,
  releaseRunnerGroup,
  sendSignal,
  terminateGroup,
  type SpawnedGroup,
} from './process-groups.js';
import {
  matchesAny,
  quoteArgv,
  tailLines,
  type LineSink,
  type RunOptions,
  type RunResult,
  type Runner,
} from './runner.js';

export interface ExecaRunnerOptions {
  baseEnv?: Record<string, string>;
  /** Time between SIGTERM and SIGKILL when a group is ended (default 5000 ms). */
  graceMs?: number;
  /** Called synchronously right after spawn, so the group can be persisted before anything else happens. */
  onSpawn?: (group: SpawnedGroup) => void;
  /** Called once the group is gone, its leftovers included. */
  onExit?: (pgid: number) => void;
}

const STDERR_KEEP_BYTES = 64 * 1024;
const STDERR_TAIL_LINES = 20;

let hostMountNamespace: string | undefined;

/** The host's mount namespace, read once: libexec/ailinux-ns-run needs it. */
function readHostMountNamespace(): string {
  hostMountNamespace ??= fs.readlinkSync('/proc/self/ns/mnt');
  return hostMountNamespace;
}

/**
 * A host command gets the user's environment without loader variables; a clean one (a chroot command) only its
 * own allow-list and what the user kept. Both carry the runner's markers and the host's mount namespace.
 */
function commandEnv(baseEnv: Record<string, string>, options: RunOptions): Record<string, string> {
  const mntns = { AILINUX_HOST_MNTNS: readHostMountNamespace() };
  if (options.cleanEnv) return { ...options.env, ...keptHostEnv(process.env), ...baseEnv, ...mntns };
  return { ...hostCommandEnv(process.env), ...baseEnv, ...options.env, ...mntns };
}

export class ExecaRunner implements Runner {
  private readonly baseEnv: Record<string, string>;
  private readonly graceMs: number;
  private readonly onSpawn: ((group: SpawnedGroup) => void) | undefined;
  private readonly onExit: ((pgid: number) => void) | undefined;
  /** Groups started by this runner whose command or leftovers may still be alive. */
  private readonly active = new Map<number, Promise<void>>();

  constructor(options: ExecaRunnerOptions = {}) {
    this.baseEnv = options.baseEnv ?? {};
    this.graceMs = options.graceMs ?? 5000;
    this.onSpawn = options.onSpawn;
    this.onExit = options.onExit;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const args = [...argv];
    const program = args[0];
    if (program === undefined) throw new TypeError('run() needs a non-empty argv');
    const started = performance.now();
    if (options.signal?.aborted) {
      throw failure(
        args,
        { exitCode: null, signal: null, stderr: '', stdout: '', timedOut: false, cancelled: true },
        options,
      );
    }

    const child = execa(program, args.slice(1), {
      cwd: options.cwd,
      env: commandEnv(this.baseEnv, options),
      extendEnv: false,
      ...(options.stdio === 'inherit'
        ? { stdin: 'inherit' as const, stdout: 'inherit' as const, stderr: 'inherit' as const }
        : {
            ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
            stdout: 'pipe' as const,
            stderr: 'pipe' as const,
          }),
      // we read the streams ourselves, line by line, and end the group ourselves
      buffer: false,
      detached: true,
      cleanup: false,
      reject: false,
      forceKillAfterDelay: false,
    });

    const pgid = child.pid;
    if (pgid === undefined) {
      throw failure(args, describeSpawnFailure(program, await child), options);
    }
    const startTicks = readProcStartTicks(pgid);
    // the signal guard only lets signals reach groups registered here
    registerRunnerGroup(pgid, startTicks);
    try {
      this.onSpawn?.({ pgid, argv: args, startTicks, startedAt: new Date().toISOString() });
    } catch (error) {
      // a group the engine could not record must not run unrecorded
      child.stdout?.resume();
      child.stderr?.resume();
      await terminateGroup(pgid, this.graceMs);
      await child;
      releaseRunnerGroup(pgid);
      throw error;
    }

    const stdoutChunks: string[] = [];
    const keepStdout = options.captureStdout !== false;
    let stderr = '';
    const streamsDone = Promise.all([
      readLines(child.stdout, 'stdout', options.onLine, (text) => {
        if (keepStdout) stdoutChunks.push(text);
      }),
      readLines(child.stderr, 'stderr', options.onLine, (text) => {
        stderr += text;
        if (stderr.length > 2 * STDERR_KEEP_BYTES) stderr = stderr.slice(-STDERR_KEEP_BYTES);
      }),
    ]);

    let cancelled = false;
    let timedOut = false;
    let ending: Promise<void> | undefined;
    const endGroup = (): Promise<void> => (ending ??= terminateGroup(pgid, this.graceMs));
    const onAbort = (): void => {
      cancelled = true;
      void endGroup();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            void endGroup();
          }, options.timeoutMs);
    // grandchildren can hold our pipes open, so act on the leader's exit, not on end of output
    child.once('exit', () => {
      if (groupHasLiveMembers(pgid)) void endGroup();
    });

    const lifetime = (async () => {
      try {
        const result = await child;
        await streamsDone;
        // the 'exit' handler may have started ending the group: wait for it, and catch any late member
        await ending;
        if (groupHasLiveMembers(pgid)) await terminateGroup(pgid, this.graceMs);
        return result;
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.active.delete(pgid);
        releaseRunnerGroup(pgid);
        this.onExit?.(pgid);
      }
    })();
    this.active.set(
      pgid,
      lifetime.then(
        () => undefined,
        () => undefined,
      ),
    );
    const result = await lifetime;

    const stdout = stdoutChunks.join('');
    stderr = stderr.slice(-STDERR_KEEP_BYTES);
    const exitCode = result.exitCode ?? null;
    const signal = result.signal ?? null;
    if (exitCode === 0 && signal === null && !cancelled && !timedOut) {
      return { exitCode: 0, stdout, stderr, durationMs: Math.round(performance.now() - started) };
    }
    throw failure(args, { exitCode, signal, stderr, stdout, timedOut, cancelled }, options);
  }

  async drain(): Promise<void> {
    while (this.active.size > 0) await Promise.all(this.active.values());
  }

  signalAll(signal: NodeJS.Signals): void {
    for (const pgid of this.active.keys())
      sendSignal(-pgid, signal, `${signal} to every command group this runner started`);
  }
}

/** A program that never started, in the shell's terms: 127 not found, 126 not executable. */
export { runWithDescriptorSync, type SyncOutcome } from './spawn-sync.js';

function describeSpawnFailure(program: string, result: { code?: string; message?: string }): Outcome {
  const base = { signal: null, stdout: '', timedOut: false, cancelled: false };
  if (result.code === 'ENOENT') return { ...base, exitCode: 127, stderr: `${program}: command not found on PATH` };
  if (result.code === 'EACCES') return { ...base, exitCode: 126, stderr: `${program}: permission denied` };
  return { ...base, exitCode: null, stderr: result.message ?? `${program}: could not be started` };
}

interface Outcome {
  exitCode: number | null;
  signal: string | null;
  stderr: string;
  stdout: string;
  timedOut: boolean;
  cancelled: boolean;
}

function failure(argv: string[], outcome: Outcome, options: RunOptions): CommandError {
  const { exitCode, signal, stderr, stdout, timedOut, cancelled } = outcome;
  const transient = !cancelled && matchesAny(stderr + stdout, options.transientPatterns);
  return new CommandError(
    // Some tools (debootstrap) print their errors on stdout: then its tail is what explains the failure.
    {
      argv,
      exitCode,
      signal,
      stderrTail: tailLines(stderr.trim() ? stderr : stdout, STDERR_TAIL_LINES),
      rerun: quoteArgv(argv),
      timedOut,
      cancelled,
    },
    transient,
  );
}

/** Hands each complete line to the sink as it arrives, and the final one even without a newline. */
function readLines(
  stream: Readable | null,
  name: 'stdout' | 'stderr',
  sink: LineSink | undefined,
  keep: (text: string) => void,
): Promise<void> {
  if (stream === null) return Promise.resolve();
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const deliver = (line: string): void => sink?.(name, line.endsWith('\r') ? line.slice(0, -1) : line);
  const emit = (text: string): void => {
    if (text === '') return;
    keep(text);
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) deliver(line);
  };
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => emit(decoder.write(chunk)));
    stream.once('close', () => {
      emit(decoder.end());
      if (partial !== '') deliver(partial);
      partial = '';
      resolve();
    });
  });
}
