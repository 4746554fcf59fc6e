/** `ailinux verify --screenshots DIR`: it needs --boot, and DIR must be a directory; both are usage errors (exit 2). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';

let dir = '';
let iso = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-verify-shots-'));
  // enough of an ISO 9660 image for the usage checks: the CD001 volume descriptor at 32 KiB
  iso = path.join(dir, 'x.iso');
  const image = Buffer.alloc(17 * 2048);
  image.write('CD001', 16 * 2048 + 1, 'latin1');
  fs.writeFileSync(iso, image);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const io: CliIO = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' },
    cwd: dir,
    uid: 1000,
    commandLine: 'ailinux',
  };
  const code = await main(args, io);
  return { code, ...out };
}

describe('verify --screenshots', () => {
  it('without --boot is a usage error that says what to add', async () => {
    const r = await run(['verify', '--screenshots', 'shots', iso]);
    expect([r.code, r.stderr]).toEqual([
      2,
      'ailinux: --screenshots takes the screenshots of a boot: it needs --boot\n  fix: add --boot, or drop --screenshots\n',
    ]);
    expect(fs.existsSync(path.join(dir, 'shots'))).toBe(false);
  });

  it('a path that is a file, not a directory, is a usage error, and nothing boots', async () => {
    const r = await run(['verify', '--boot', '--screenshots', 'x.iso', iso]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`ailinux: --screenshots ${iso} is not a directory`);
    expect(r.stdout).toBe('');
  });
});
