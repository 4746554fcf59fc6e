/**
 * A small QMP client (QEMU Machine Protocol, JSON lines over a unix socket): enough to take a
 * screenshot of a running qemu. qemu is started with `-qmp unix:<socket>,server=on,wait=off`; the
 * client reads the greeting, sends qmp_capabilities, then screendump. qemu writes the picture itself,
 * so the file must be somewhere qemu may write. PNG needs QEMU 7.1 or later; older qemu writes PPM,
 * which ppmToPng turns into PNG here.
 */
import fs from 'node:fs';
import net from 'node:net';
import { rgbPng } from '../runtime/png.js';

export class QmpError extends Error {
  constructor(
    message: string,
    /** The error class qemu answered with (e.g. GenericError, CommandNotFound), or null for a transport failure. */
    readonly qmpClass: string | null = null,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

export interface QmpOptions {
  /** For the whole exchange: connect, greeting, capabilities and the command. */
  timeoutMs?: number;
}

type QmpMessage = {
  QMP?: { version?: { qemu?: { major: number; minor: number; micro: number } } };
  return?: unknown;
  error?: { class?: string; desc?: string };
  event?: string;
  id?: unknown;
};

/** One QMP connection: messages are read as they come; events are skipped while a reply is awaited. */
class QmpConnection {
  private buffer = '';
  private readonly queue: QmpMessage[] = [];
  private waiter: { resolve: (m: QmpMessage) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.take(chunk));
    socket.on('error', (e) => this.fail(new QmpError(`QMP socket error: ${e.message}`)));
    socket.on('close', () => this.fail(new QmpError('qemu closed the QMP socket')));
  }

  private take(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line === '') continue;
      let message: QmpMessage;
      try {
        message = JSON.parse(line) as QmpMessage;
      } catch {
        this.fail(new QmpError(`qemu sent a QMP line that is not JSON: ${line.slice(0, 120)}`));
        return;
      }
      if (message.event !== undefined) continue;
      this.queue.push(message);
    }
    this.wake();
  }

  private fail(error: Error): void {
    if (this.failure === null) this.failure = error;
    this.wake();
  }

  private wake(): void {
    if (!this.waiter) return;
    const w = this.waiter;
    const next = this.queue.shift();
    if (next) {
      this.waiter = null;
      w.resolve(next);
    } else if (this.failure) {
      this.waiter = null;
      w.reject(this.failure);
    }
  }

  next(): Promise<QmpMessage> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.wake();
    });
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const reply = await this.next();
    if (reply.error) {
      throw new QmpError(
        `qemu refused ${command}: ${reply.error.desc ?? 'no description'} (${reply.error.class ?? 'no class'})`,
        reply.error.class ?? null,
      );
    }
    if (!('return' in reply)) throw new QmpError(`qemu answered ${command} with neither return nor error`);
    return reply.return;
  }
}

/**
 * Connects, negotiates and runs fn; the socket is closed after, and the whole exchange is bounded by
 * timeoutMs (default 30 s: a screendump of a busy qemu without KVM can take seconds).
 */
export async function withQmp<T>(
  socketPath: string,
  fn: (qmp: {
    execute: (command: string, args?: Record<string, unknown>) => Promise<unknown>;
    version: string | null;
  }) => Promise<T>,
  options: QmpOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const socket = net.createConnection({ path: socketPath });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new QmpError(`no answer on the QMP socket ${socketPath} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  const work = (async (): Promise<T> => {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (e) => reject(new QmpError(`cannot connect to the QMP socket ${socketPath}: ${e.message}`)));
    });
    const connection = new QmpConnection(socket);
    const greeting = await connection.next();
    if (!greeting.QMP)
      throw new QmpError(`${socketPath} did not greet as QMP: ${JSON.stringify(greeting).slice(0, 120)}`);
    const v = greeting.QMP.version?.qemu;
    await connection.execute('qmp_capabilities');
    return fn({ execute: (c, a) => connection.execute(c, a), version: v ? `${v.major}.${v.minor}.${v.micro}` : null });
  })();
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    socket.destroy();
    // a rejection of work after the timeout won the race is already reported
    work.catch(() => {});
  }
}

/** QEMU 7.1 added `format` to screendump (PNG); older qemu writes PPM only. */
export function screendumpSupportsPng(version: string | null): boolean {
  if (version === null) return true;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 7 || (major === 7 && minor >= 1);
}

export interface ScreendumpResult {
  file: string;
  /** What qemu wrote: png directly, or ppm converted here. */
  via: 'png' | 'ppm';
  bytes: number;
}

/**
 * Asks the qemu behind socketPath to write its display to outFile as PNG. On qemu before 7.1 it
 * writes PPM beside it and converts. Throws QmpError when qemu cannot be reached, refuses, or writes
 * nothing.
 */
export async function screendump(
  socketPath: string,
  outFile: string,
  options: QmpOptions = {},
): Promise<ScreendumpResult> {
  return withQmp(
    socketPath,
    async (qmp) => {
      if (screendumpSupportsPng(qmp.version)) {
        fs.rmSync(outFile, { force: true });
        await qmp.execute('screendump', { filename: outFile, format: 'png' });
        return { file: outFile, via: 'png' as const, bytes: writtenSize(outFile) };
      }
      const ppm = `${outFile}.ppm`;
      fs.rmSync(ppm, { force: true });
      await qmp.execute('screendump', { filename: ppm });
      try {
        fs.writeFileSync(outFile, ppmToPng(fs.readFileSync(ppm)));
      } finally {
        fs.rmSync(ppm, { force: true });
      }
      return { file: outFile, via: 'ppm' as const, bytes: writtenSize(outFile) };
    },
    options,
  );
}

function writtenSize(file: string): number {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw new QmpError(`qemu answered screendump but wrote no ${file}`);
  }
  if (size === 0) throw new QmpError(`qemu wrote an empty ${file}`);
  return size;
}

/** A binary PPM (P6, maxval 255, what qemu writes) as an 8-bit RGB PNG. */
export function ppmToPng(ppm: Buffer): Buffer {
  // header: P6 <ws> width <ws> height <ws> maxval <one ws> data; comments start with #
  const fields: string[] = [];
  let i = 0;
  while (fields.length < 4 && i < ppm.length) {
    const c = ppm[i] as number;
    if (c === 0x23) {
      while (i < ppm.length && ppm[i] !== 0x0a) i++;
    } else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      i++;
    } else {
      const start = i;
      while (i < ppm.length && ![0x20, 0x09, 0x0a, 0x0d, 0x23].includes(ppm[i] as number)) i++;
      fields.push(ppm.subarray(start, i).toString('latin1'));
    }
  }
  const [magic, w, h, max] = fields;
  const width = Number(w);
  const height = Number(h);
  if (
    magic !== 'P6' ||
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width <= 0 ||
    height <= 0 ||
    max !== '255'
  ) {
    throw new QmpError(`not a binary 8-bit PPM (header ${fields.join(' ').slice(0, 40)})`);
  }
  const data = ppm.subarray(i + 1);
  const row = width * 3;
  if (data.length < row * height) throw new QmpError(`the PPM is cut short: ${data.length} of ${row * height} bytes`);
  const raw = Buffer.alloc((row + 1) * height);
  for (let y = 0; y < height; y++) data.copy(raw, y * (row + 1) + 1, y * row, (y + 1) * row);
  return rgbPng(width, height, raw);
}
