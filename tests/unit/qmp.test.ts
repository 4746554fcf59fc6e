import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QmpError, ppmToPng, screendump, screendumpSupportsPng, withQmp } from '../../src/verify/qmp.js';

type Handler = (command: { execute: string; arguments?: Record<string, unknown> }, reply: (m: unknown) => void) => void;

let dir: string;
let server: net.Server | null = null;
const seen: Array<{ execute: string; arguments?: Record<string, unknown> }> = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-qmp-'));
  seen.length = 0;
});

afterEach(async () => {
  if (server) await new Promise<void>((r) => server?.close(() => r()));
  server = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

const GREETING = {
  QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'Debian' }, capabilities: ['oob'] },
};

/** A fake qemu: greets (unless told not to), answers each JSON line through handle. */
async function fakeQemu(handle: Handler, greeting: unknown = GREETING): Promise<string> {
  const sock = path.join(dir, 'qmp.sock');
  server = net.createServer((c) => {
    let buf = '';
    const reply = (m: unknown): void => {
      c.write(`${typeof m === 'string' ? m : JSON.stringify(m)}\r\n`);
    };
    if (greeting !== null) reply(greeting);
    c.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const cmd = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        seen.push(cmd);
        handle(cmd, reply);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server?.listen(sock, () => r()));
  return sock;
}

const TINY_PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

/** Writes what a real qemu would: PNG bytes when format png, else a 2x1 PPM. */
const qemuLike: Handler = (cmd, reply) => {
  if (cmd.execute === 'qmp_capabilities') return reply({ return: {} });
  if (cmd.execute === 'screendump') {
    const file = String(cmd.arguments?.filename);
    if (cmd.arguments?.format === 'png') fs.writeFileSync(file, TINY_PNG);
    else fs.writeFileSync(file, Buffer.concat([Buffer.from('P6\n2 1\n255\n'), Buffer.from([255, 0, 0, 0, 0, 255])]));
    // an event between command and reply, as qemu may send
    reply({ event: 'RTC_CHANGE', data: { offset: 0 }, timestamp: { seconds: 1, microseconds: 2 } });
    return reply({ return: {} });
  }
  reply({ error: { class: 'CommandNotFound', desc: `The command ${cmd.execute} has not been found` } });
};

describe('screendump over QMP', () => {
  it('negotiates capabilities, then asks for a PNG and reports the file', async () => {
    const sock = await fakeQemu(qemuLike);
    const out = path.join(dir, 'grub.png');
    const result = await screendump(sock, out);
    expect(result).toEqual({ file: out, via: 'png', bytes: TINY_PNG.length });
    expect(fs.readFileSync(out)).toEqual(TINY_PNG);
    expect(seen).toEqual([
      { execute: 'qmp_capabilities' },
      { execute: 'screendump', arguments: { filename: out, format: 'png' } },
    ]);
  });

  it('asks qemu before 7.1 for PPM and converts it to PNG', async () => {
    const sock = await fakeQemu(qemuLike, {
      QMP: { version: { qemu: { micro: 0, minor: 0, major: 7 } }, capabilities: [] },
    });
    const out = path.join(dir, 'old.png');
    const result = await screendump(sock, out);
    expect(result.via).toBe('ppm');
    expect(seen[1]).toEqual({ execute: 'screendump', arguments: { filename: `${out}.ppm` } });
    expect(fs.existsSync(`${out}.ppm`)).toBe(false);
    const png = fs.readFileSync(out);
    expect(png.subarray(0, 8)).toEqual(TINY_PNG.subarray(0, 8));
    expect(png.readUInt32BE(16)).toBe(2);
    expect(png.readUInt32BE(20)).toBe(1);
  });

  it("turns an error reply into a QmpError with qemu's class and text", async () => {
    const sock = await fakeQemu((cmd, reply) => {
      if (cmd.execute === 'qmp_capabilities') return reply({ return: {} });
      reply({ error: { class: 'GenericError', desc: 'no surface' } });
    });
    const error = await screendump(sock, path.join(dir, 'x.png')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpError);
    expect((error as QmpError).qmpClass).toBe('GenericError');
    expect((error as QmpError).message).toBe('qemu refused screendump: no surface (GenericError)');
  });

  it('fails when qemu says it wrote the file but nothing is there', async () => {
    const sock = await fakeQemu((_cmd, reply) => reply({ return: {} }));
    await expect(screendump(sock, path.join(dir, 'none.png'))).rejects.toThrow(/wrote no .*none\.png/);
  });

  it('times out when qemu never greets', async () => {
    const sock = await fakeQemu(() => {}, null);
    const started = Date.now();
    await expect(screendump(sock, path.join(dir, 'x.png'), { timeoutMs: 300 })).rejects.toThrow(
      /no answer on the QMP socket .* within 300 ms/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('times out when qemu never answers the command', async () => {
    const sock = await fakeQemu((cmd, reply) => {
      if (cmd.execute === 'qmp_capabilities') reply({ return: {} });
    });
    await expect(screendump(sock, path.join(dir, 'x.png'), { timeoutMs: 300 })).rejects.toThrow(/within 300 ms/);
  });

  it('says so when nothing listens on the socket', async () => {
    await expect(screendump(path.join(dir, 'absent.sock'), path.join(dir, 'x.png'))).rejects.toThrow(
      /cannot connect to the QMP socket .*absent\.sock/,
    );
  });

  it('refuses a peer that does not greet as QMP', async () => {
    const sock = await fakeQemu(() => {}, { hello: 1 });
    await expect(screendump(sock, path.join(dir, 'x.png'))).rejects.toThrow(/did not greet as QMP/);
  });

  it('reports a peer that closes mid-exchange', async () => {
    const sock = path.join(dir, 'closing.sock');
    server = net.createServer((c) => {
      c.write(`${JSON.stringify(GREETING)}\n`);
      c.on('data', () => c.end());
    });
    await new Promise<void>((r) => server?.listen(sock, () => r()));
    await expect(screendump(sock, path.join(dir, 'x.png'))).rejects.toThrow(/closed the QMP socket/);
  });

  it('withQmp runs other commands and hands the version on', async () => {
    const sock = await fakeQemu((cmd, reply) => {
      if (cmd.execute === 'qmp_capabilities') return reply({ return: {} });
      reply({ return: { status: 'running', running: true } });
    });
    const got = await withQmp(sock, async (qmp) => ({
      version: qmp.version,
      status: await qmp.execute('query-status'),
    }));
    expect(got).toEqual({ version: '7.2.22', status: { status: 'running', running: true } });
  });
});

describe('screendumpSupportsPng', () => {
  it('is true from QEMU 7.1 on', () => {
    expect(screendumpSupportsPng('7.0.0')).toBe(false);
    expect(screendumpSupportsPng('6.2.0')).toBe(false);
    expect(screendumpSupportsPng('7.1.0')).toBe(true);
    expect(screendumpSupportsPng('8.0.2')).toBe(true);
  });
});

describe('ppmToPng', () => {
  it('writes the pixels as filtered RGB rows, comments in the header skipped', () => {
    const ppm = Buffer.concat([
      Buffer.from('P6\n# qemu\n2 2\n255\n'),
      Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ]);
    const png = ppmToPng(ppm);
    const idatAt = png.indexOf('IDAT');
    const len = png.readUInt32BE(idatAt - 4);
    const raw = inflateSync(png.subarray(idatAt + 4, idatAt + 4 + len));
    expect([...raw]).toEqual([0, 1, 2, 3, 4, 5, 6, 0, 7, 8, 9, 10, 11, 12]);
    expect(png[24]).toBe(8);
    expect(png[25]).toBe(2);
  });

  it('refuses what is not an 8-bit binary PPM, or is cut short', () => {
    expect(() => ppmToPng(Buffer.from('P3\n1 1\n255\n0 0 0'))).toThrow(/not a binary 8-bit PPM/);
    expect(() => ppmToPng(Buffer.from('P6\n2 2\n255\n\x00'))).toThrow(/cut short/);
  });
});
