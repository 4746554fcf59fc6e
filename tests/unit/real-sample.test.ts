import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { realSample, sampleShape } from '../helpers/real-sample.js';

const here = path.dirname(new URL(import.meta.url).pathname);

describe('real samples: the shape the end-to-end tier compares', () => {
  it("docs/verify.md's sample has a shape: every check row, numbers and paths aside", () => {
    const shape = sampleShape(realSample(path.join(here, '../../docs/verify.md'), 'verify-boot'));
    expect(shape[0]).toBe('<iso> (# MiB, volume AILINUX_MINIMAL, live-boot)');
    expect(shape).toContain(
      'boot BIOS (qemu) ok "ailinux-minimal login:" on the serial console after # s (BIOS, qemu without KVM)',
    );
    expect(shape.at(-1)).toBe('PASS: # checks passed in # s');
    expect(shape.some((l) => l.startsWith('$ '))).toBe(false);
  });

  it('ignores sizes, offsets, times, hashes, the path and padding, and nothing else', () => {
    const a =
      '/work/b/output/x.iso (228.4 MiB)\nchecksum file  ok  x.iso.sha256 matches (sha256 85e5a859c8850e86…)\nkernel  ok  (7.9 MiB)';
    const b =
      '/tmp/e2e-1/work/output/x.iso (230.0 MiB)\nchecksum file ok   x.iso.sha256 matches (sha256 0123456789abcdef…)\nkernel ok (8.0 MiB)';
    expect(sampleShape(a)).toEqual(sampleShape(b));
    // a changed word, a new row or a changed status is a different shape
    expect(sampleShape(a.replace('matches', 'differs'))).not.toEqual(sampleShape(b));
    expect(sampleShape(`${a}\ninitrd  ok  (1 MiB)`)).not.toEqual(sampleShape(b));
    expect(sampleShape(a.replace('kernel  ok', 'kernel  FAIL'))).not.toEqual(sampleShape(b));
  });

  it('names a missing marker', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'real-sample-'));
    try {
      fs.writeFileSync(path.join(dir, 'x.md'), '# nothing\n');
      expect(() => realSample(path.join(dir, 'x.md'), 'verify-boot')).toThrow(
        /no <!-- real-sample:verify-boot --> marker/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
