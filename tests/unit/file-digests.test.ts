/**
 * The build's digest memo (src/steps/file-digests.ts): the ISO is read once from the iso step to the verify step's
 * checksum check, and a file changed after it was hashed (even with its size and mtime put back) is read again, so a
 * corrupted ISO still fails the checksums step's verify and the static checksum check.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileArtifact } from '../../src/steps/artifacts.js';
import { checksumsStep } from '../../src/steps/checksums.js';
import { DigestMemo, fileDigests, RACY_WINDOW_NS } from '../../src/steps/file-digests.js';
import { checkChecksum } from '../../src/verify/checksum.js';
import { profileConfig, stepContext } from '../helpers/step-context.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-digests-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => crypto.createHash('md5').update(b).digest('hex');
/** Waits until a file written now is outside the racy window (a tick of the file times' clock is at most 10 ms). */
const settle = () => sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);

function writeFile(name: string, bytes = 300_000): { file: string; data: Buffer } {
  const file = path.join(dir, name);
  const data = crypto.randomBytes(bytes);
  fs.writeFileSync(file, data);
  fs.utimesSync(file, EPOCH, EPOCH);
  return { file, data };
}

/** The time the steps pin their outputs' mtimes to (SOURCE_DATE_EPOCH), whole seconds. */
const EPOCH = 1_700_000_000;

/** Overwrites one byte in place and puts the mtime back: same size, same mtime, only the ctime moves. */
function corruptKeepingMtime(file: string): void {
  const st = fs.statSync(file);
  const fd = fs.openSync(file, 'r+');
  const one = Buffer.alloc(1);
  fs.readSync(fd, one, 0, 1, 1000);
  one[0] = one[0]! ^ 0xff;
  fs.writeSync(fd, one, 0, 1, 1000);
  fs.closeSync(fd);
  fs.utimesSync(file, EPOCH, EPOCH);
  expect(fs.statSync(file).size).toBe(st.size);
  expect(fs.statSync(file).mtimeMs).toBe(st.mtimeMs);
}

describe('DigestMemo', () => {
  it('computes sha256 and md5 in one read, then answers both from memory', async () => {
    const { file, data } = writeFile('a.iso');
    await settle();
    const memo = new DigestMemo();
    expect(await memo.digests(file, ['sha256', 'md5'])).toEqual({ sha256: sha256(data), md5: md5(data) });
    expect(memo.stats).toMatchObject({ reads: 1, hits: 0 });
    expect(await memo.digests(file, ['sha256'])).toEqual({ sha256: sha256(data) });
    expect(await memo.digests(path.relative(process.cwd(), file), ['md5'])).toEqual({ md5: md5(data) });
    expect(memo.stats).toMatchObject({ reads: 1, hits: 2 });
  });

  it('reads only for an algorithm it does not know yet, and keeps the others', async () => {
    const { file, data } = writeFile('b.img');
    await settle();
    const memo = new DigestMemo();
    await memo.digests(file, ['sha256']);
    expect(await memo.digests(file, ['sha256', 'md5'])).toEqual({ sha256: sha256(data), md5: md5(data) });
    expect(memo.stats).toMatchObject({ reads: 2, hits: 0 });
    await memo.digests(file, ['md5', 'sha256']);
    expect(memo.stats).toMatchObject({ reads: 2, hits: 1 });
  });

  it('reads a file again after a write that kept its size and mtime (the ctime moved)', async () => {
    const { file, data } = writeFile('c.iso');
    await settle();
    const memo = new DigestMemo();
    expect((await memo.digests(file, ['sha256'])).sha256).toBe(sha256(data));
    expect((await memo.digests(file, ['sha256'])).sha256).toBe(sha256(data));
    expect(memo.stats).toMatchObject({ reads: 1, hits: 1 });
    corruptKeepingMtime(file);
    const now = fs.readFileSync(file);
    expect((await memo.digests(file, ['sha256'])).sha256).toBe(sha256(now));
    expect(sha256(now)).not.toBe(sha256(data));
    expect(memo.stats).toMatchObject({ reads: 2, hits: 1 });
  });

  it('reads a file again when it was replaced by another (a new inode) of the same size and times', async () => {
    const { file } = writeFile('d.iso');
    await settle();
    const memo = new DigestMemo();
    await memo.digests(file, ['sha256']);
    const st = fs.statSync(file);
    const other = writeFile('d.new', st.size);
    expect(st.mtimeMs).toBe(EPOCH * 1000);
    fs.renameSync(other.file, file);
    expect((await memo.digests(file, ['sha256'])).sha256).toBe(sha256(other.data));
    expect(memo.stats.reads).toBe(2);
  });

  it('does not remember a file changed within the racy window before its read ended', async () => {
    const { file, data } = writeFile('e.iso');
    // the real clock: the file was written just now
    const memo = new DigestMemo();
    await memo.digests(file, ['sha256']);
    await memo.digests(file, ['sha256']);
    expect(memo.stats).toMatchObject({ reads: 2, hits: 0 });
    // a clock a window later: the same file is remembered
    const later = new DigestMemo(() => BigInt(Date.now()) * 1_000_000n + RACY_WINDOW_NS + 1_000_000_000n);
    await later.digests(file, ['sha256']);
    expect(await later.digests(file, ['sha256'])).toEqual({ sha256: sha256(data) });
    expect(later.stats).toMatchObject({ reads: 1, hits: 1 });
  });

  it('a missing file is an error, never a remembered digest', async () => {
    const { file } = writeFile('f.iso');
    await settle();
    const memo = new DigestMemo();
    await memo.digests(file, ['sha256']);
    fs.rmSync(file);
    await expect(memo.digests(file, ['sha256'])).rejects.toThrow(/ENOENT/);
  });
});

describe('the static checksum check through the build memo', () => {
  it('trusts the one read of an unchanged ISO and fails a corrupted one', async () => {
    const { file, data } = writeFile('ailinux.iso', 500_000);
    fs.writeFileSync(`${file}.sha256`, `${sha256(data)}  ailinux.iso\n`);
    await settle();
    fileDigests.clear();
    const before = { ...fileDigests.stats };
    const hash = (f: string, a: readonly ('sha256' | 'md5')[]) => fileDigests.digests(f, a);
    // the iso step's read
    await fileDigests.digests(file, ['sha256', 'md5']);
    const ok = await checkChecksum(file, { require: true, hash });
    expect(ok.result.status).toBe('ok');
    expect(ok.sha256).toBe(sha256(data));
    expect(fileDigests.stats.bytes - before.bytes).toBe(data.length);
    expect(fileDigests.stats.hits - before.hits).toBe(1);

    corruptKeepingMtime(file);
    const bad = await checkChecksum(file, { require: true, hash });
    expect(bad.result.status).toBe('fail');
    expect(bad.result.detail).toMatch(/says [0-9a-f]{64}, but the ISO's sha256 is [0-9a-f]{64}/);
    expect(fileDigests.stats.bytes - before.bytes).toBe(2 * data.length);
  });
});

describe('the checksums step through the build memo', () => {
  it("reads the ISO not at all after the iso step's read, and its verify fails an ISO corrupted in place", async () => {
    const config = profileConfig('minimal');
    const workDir = fs.realpathSync(dir);
    const ctx = stepContext({ config, workDir, stepId: 'checksums' });
    const name = `${config.iso.outputName}.iso`;
    fs.mkdirSync(path.join(workDir, 'output'));
    const iso = path.join(workDir, 'output', name);
    const data = crypto.randomBytes(600_000);
    fs.writeFileSync(iso, data);
    fs.utimesSync(iso, EPOCH, EPOCH);
    await settle();
    fileDigests.clear();
    const before = { ...fileDigests.stats };
    // what the iso step does after xorriso: both digests, then its artifact record
    await fileDigests.digests(iso, ['sha256', 'md5']);
    expect((await fileArtifact(workDir, iso)).sha256).toBe(sha256(data));
    await checksumsStep.run(ctx);
    await checksumsStep.verify(ctx);
    expect(fs.readFileSync(`${iso}.sha256`, 'utf8')).toBe(`${sha256(data)}  ${name}\n`);
    expect(fs.readFileSync(`${iso}.md5`, 'utf8')).toBe(`${md5(data)}  ${name}\n`);
    // the ISO once; the two small sum files for their own artifact records
    const sums = fs.statSync(`${iso}.sha256`).size + fs.statSync(`${iso}.md5`).size;
    expect(fileDigests.stats.bytes - before.bytes).toBe(data.length + sums);
    expect(fileDigests.stats.hits - before.hits).toBe(3);
    expect(ctx.runner.calls).toEqual([]);

    corruptKeepingMtime(iso);
    await expect(checksumsStep.verify(ctx)).rejects.toThrow(`${name}.sha256 does not match`);
    expect(fileDigests.stats.bytes - before.bytes).toBe(2 * data.length + sums);
  });
});
