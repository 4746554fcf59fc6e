/**
 * The state write's temp file is created afresh with O_EXCL | O_NOFOLLOW (issue 9, finding 10): a symlink planted
 * at its name is replaced, never written through, and a stale temp file of a crashed writer is replaced too. Before
 * the fix the temp file was opened with 'w', which follows a symlink: the decoy outside took the state's bytes and
 * the rename then put the symlink in the state file's place.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurableJsonFileSync, tempFileFor } from '../../state/durable-adapter.js';

let dir: string;
let outside: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-state-temp-'));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-state-decoy-'));
  file = path.join(dir, 'state.json');
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

describe('the state temp file', () => {
  it('a symlink at the temp name is not followed: the decoy it points at keeps its bytes', () => {
    const decoy = path.join(outside, 'passwd');
    fs.writeFileSync(decoy, 'root:x:0:0::/root:/bin/sh\n');
    fs.symlinkSync(decoy, tempFileFor(file));
    new DurableJsonFileSync<unknown>(file).write({ ok: true });
    expect(fs.readFileSync(decoy, 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ ok: true });
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('a dangling symlink at the temp name creates nothing where it points', () => {
    const target = path.join(outside, 'created-through-link');
    fs.symlinkSync(target, tempFileFor(file));
    new DurableJsonFileSync<unknown>(file).write({ ok: 1 });
    expect(fs.existsSync(target)).toBe(false);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ ok: 1 });
  });

  it('a stale temp file of a crashed writer with the same pid is replaced', () => {
    fs.writeFileSync(tempFileFor(file), '{"half":');
    new DurableJsonFileSync<unknown>(file).write({ whole: true });
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ whole: true });
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });
});
