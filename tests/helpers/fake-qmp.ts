/** A fake qemu QMP endpoint on a unix socket: greets, accepts qmp_capabilities, answers screendump by writing a file. */
import fs from 'node:fs';
import net from 'node:net';
import { CommandError } from '../../src/errors.js';
import { quoteArgv } from '../../src/runtime/runner.js';

export interface FakeQmp {
  /** The screendump commands received: the file each asked for. */
  readonly dumps: string[];
  close(): Promise<void>;
}

/**
 * Listens on socketPath. screen() gives the bytes of the picture at the moment of each screendump (a changing
 * screen, then a settled one); when it returns null, screendump answers with an error as qemu does.
 */
export async function fakeQmp(socketPath: string, screen: (n: number) => Buffer | null): Promise<FakeQmp> {
  const dumps: string[] = [];
  const server = net.createServer((c) => {
    c.on('error', () => {});
    c.write(
      `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } })}\r\n`,
    );
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: { filename?: string } };
        buf = buf.slice(nl + 1);
        if (cmd.execute === 'qmp_capabilities') c.write('{"return": {}}\r\n');
        else if (cmd.execute === 'screendump') {
          const file = String(cmd.arguments?.filename);
          const bytes = screen(dumps.length);
          dumps.push(file);
          if (bytes === null) c.write('{"error": {"class": "GenericError", "desc": "no surface"}}\r\n');
          else {
            fs.writeFileSync(file, bytes);
            c.write('{"return": {}}\r\n');
          }
        } else c.write('{"error": {"class": "CommandNotFound", "desc": "no"}}\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, () => resolve()));
  return {
    dumps,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The error a scripted qemu rejects with when the boot test aborts it: what the real Runner gives for a cancelled run. */
export function cancelledRun(argv: readonly string[]): CommandError {
  return new CommandError(
    {
      argv: [...argv],
      exitCode: null,
      signal: 'SIGTERM',
      cancelled: true,
      stderrTail: '',
      rerun: quoteArgv(argv),
      timedOut: false,
    },
    false,
  );
}
