/**
 * The scripted fake runner: the project's stand-in for "execa-mock".
 * Unit tests script responses by argv pattern and assert the exact argv each step sends.
 */
import { CommandError } from '../errors.js';
import { matchesAny, quoteArgv, tailLines, type RunOptions, type RunResult, type Runner } from './runner.js';

export interface FakeCall {
  argv: string[];
  options: Omit<RunOptions, 'signal' | 'onLine'>;
}

export interface FakeResponse {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** Runs when the call is made, for side effects a real command would have (files written). */
  effect?: (call: FakeCall) => void | Promise<void>;
  /** Wait for this long, or until aborted, before answering. */
  delayMs?: number;
}

type Matcher = (argv: readonly string[]) => boolean;

interface Script {
  matcher: Matcher;
  responses: FakeResponse[];
  /** The last response repeats once the list is used up. */
  sticky: boolean;
}

export class FakeRunner implements Runner {
  readonly calls: FakeCall[] = [];
  private readonly scripts: Script[] = [];
  private active = 0;

  /** Scripts the answers for commands whose argv matches: a program name, an argv prefix or a predicate. */
  on(match: string | readonly string[] | Matcher, ...responses: FakeResponse[]): this {
    const matcher: Matcher =
      typeof match === 'function'
        ? match
        : typeof match === 'string'
          ? (argv) => argv.includes(match)
          : (argv) => match.every((part, i) => argv[i] === part);
    this.scripts.push({ matcher, responses: responses.length > 0 ? responses : [{}], sticky: true });
    return this;
  }

  /** All argv sent so far, each joined into one line: handy for snapshot-style assertions. */
  get lines(): string[] {
    return this.calls.map((c) => quoteArgv(c.argv));
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const { signal, onLine, ...rest } = options;
    const call: FakeCall = { argv: [...argv], options: rest };
    this.calls.push(call);
    const script = this.scripts.find((s) => s.matcher(argv));
    const response: FakeResponse =
      script === undefined ? {} : script.responses.length > 1 ? script.responses.shift()! : script.responses[0]!;
    this.active++;
    try {
      if (response.delayMs) await abortableDelay(response.delayMs, signal);
      if (signal?.aborted) throw this.failure(argv, null, 'SIGTERM', '', false, true);
      await response.effect?.(call);
      const stdout = response.stdout ?? '';
      const stderr = response.stderr ?? '';
      for (const line of splitLines(stdout)) onLine?.('stdout', line);
      for (const line of splitLines(stderr)) onLine?.('stderr', line);
      const exitCode = response.exitCode ?? 0;
      if (exitCode !== 0) {
        throw this.failure(argv, exitCode, null, stderr, matchesAny(stderr + stdout, options.transientPatterns), false);
      }
      return { exitCode, stdout, stderr, durationMs: 0 };
    } finally {
      this.active--;
    }
  }

  async drain(): Promise<void> {
    while (this.active > 0) await new Promise((r) => setTimeout(r, 1));
  }

  signalAll(): void {}

  private failure(
    argv: readonly string[],
    exitCode: number | null,
    signal: string | null,
    stderr: string,
    transient: boolean,
    cancelled: boolean,
  ): CommandError {
    return new CommandError(
      {
        argv: [...argv],
        exitCode,
        signal,
        stderrTail: tailLines(stderr, 20),
        rerun: quoteArgv(argv),
        timedOut: false,
        cancelled,
      },
      transient,
    );
  }
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
