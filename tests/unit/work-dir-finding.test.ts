/**
 * doctor's word on the work dir's owner (issue 9, an owned work dir): missing, empty, marked (and whether the state
 * records the same mark), adoptable, or refused naming up to five entries as build does; the same rule as build,
 * from work-dir-owner.ts, and it writes nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { STATE_SCHEMA_VERSION, type StateFile } from '../../state/schema.js';
import { StateStore } from '../../state/store.js';
import { workDirOwnershipFinding } from '../../src/cli/work-dir-finding.js';
import { writeMark } from '../../src/engine/work-dir-mark.js';
import { foreignWorkDirError, inspectWorkDir } from '../../src/engine/work-dir-owner.js';
import { WORK_DIR_MARKER, workPaths } from '../../src/runtime/paths.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-work-dir-finding-'));
let dirs = 0;
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function newDir(entries: string[] = []): string {
  const dir = path.join(tmp, `d${++dirs}`);
  fs.mkdirSync(dir);
  for (const name of entries) fs.writeFileSync(path.join(dir, name), 'x');
  return dir;
}

function state(markId?: string): StateFile {
  const now = new Date().toISOString();
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    machineVersion: '1',
    workId: 'w-1',
    runId: 'r-1',
    profile: 'minimal',
    configSource: { profile: 'minimal', configFile: null },
    config: null,
    outcome: 'succeeded',
    createdAt: now,
    updatedAt: now,
    order: [],
    ledger: {},
    snapshot: null,
    current: null,
    interruptSignal: null,
    processes: [],
    history: [],
    ...(markId ? { workDirMark: { id: markId, createdAt: now } } : {}),
  };
}

/** Every entry under dir: what doctor must leave as it was. */
function listing(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

describe("doctor's work dir owner finding", () => {
  it('a missing or empty work dir is fine: build creates and marks it', () => {
    const missing = path.join(tmp, 'missing');
    expect(workDirOwnershipFinding(missing, null)).toEqual({
      view: { kind: 'missing' },
      finding: {
        level: 'ok',
        message: `${missing} does not exist yet: build creates it and marks it as ailinux's (${WORK_DIR_MARKER})`,
      },
    });
    expect(fs.existsSync(missing)).toBe(false);
    const empty = newDir();
    expect(workDirOwnershipFinding(empty, null).view).toEqual({ kind: 'empty' });
    expect(listing(empty)).toEqual([]);
  });

  it('a marked work dir is ailinux’s, and says whether its state records the same mark', () => {
    const dir = newDir();
    const mark = writeMark(dir);
    const same = workDirOwnershipFinding(dir, state(mark.id));
    expect(same.view).toEqual({ kind: 'marked', markId: mark.id, createdAt: mark.createdAt, stateMarkId: mark.id });
    expect(same.finding.level).toBe('ok');
    expect(same.finding.message).toMatch(
      new RegExp(
        `^${dir} is ailinux's: marked .* \\(${WORK_DIR_MARKER}, id ${mark.id}\\); its state records the same mark$`,
      ),
    );
    expect(workDirOwnershipFinding(dir, state('other-id')).finding.message).toMatch(
      /its state records another mark \(other-id\)/,
    );
    expect(workDirOwnershipFinding(dir, state()).finding.message).toMatch(/its state is from before the mark/);
  });

  it('an old work dir (a valid state, only own entries, no mark) would be adopted; doctor does not mark it', () => {
    const dir = newDir();
    fs.mkdirSync(path.join(dir, 'layers'));
    StateStore.open(workPaths(dir).stateFile).save(state());
    const before = listing(dir);
    const found = workDirOwnershipFinding(dir, null);
    expect(found.view).toEqual({ kind: 'adoptable' });
    expect(found.finding).toMatchObject({
      level: 'ok',
      message: expect.stringMatching(/a work dir from before the mark, which the next build, resume or clean adopts/),
    });
    expect(listing(dir)).toEqual(before);
  });

  it('a directory with other entries blocks, naming five of them as build does, with the fix', () => {
    const dir = newDir(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    const found = workDirOwnershipFinding(dir, null);
    const ownership = inspectWorkDir(dir);
    if (ownership.kind !== 'foreign') throw new Error('expected a foreign dir');
    const build = foreignWorkDirError(dir, ownership);
    expect(found.view).toEqual({
      kind: 'refused',
      reason: 'it holds files ailinux did not make',
      entries: ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
    });
    expect(found.finding).toEqual({
      level: 'block',
      message: `refusing to use ${dir} as the work dir: it holds files ailinux did not make: a, b, c, d, e and 2 more (build, resume and clean refuse it, exit 2)`,
      fix: build.hint,
    });
    expect(found.finding.message.startsWith(build.message)).toBe(true);
  });

  it('a work dir this user may not read is only warned about (doctor needs no root; build runs as root)', () => {
    const dir = newDir();
    const spy = vi.spyOn(fs, 'readdirSync').mockImplementation(() => {
      throw Object.assign(new Error(`EACCES: permission denied, scandir '${dir}'`), { code: 'EACCES' });
    });
    try {
      expect(workDirOwnershipFinding(dir, null)).toEqual({
        view: { kind: 'unknown', why: `EACCES: permission denied, scandir '${dir}'` },
        finding: { level: 'warn', message: `cannot tell whose ${dir} is: EACCES: permission denied, scandir '${dir}'` },
      });
    } finally {
      spy.mockRestore();
    }
  });

  it('a mark that is no mark blocks, with the fix build gives', () => {
    const dir = newDir();
    fs.writeFileSync(path.join(dir, WORK_DIR_MARKER), 'hello');
    const found = workDirOwnershipFinding(dir, null);
    expect(found.view.kind).toBe('refused');
    expect(found.finding).toMatchObject({
      level: 'block',
      message: expect.stringMatching(/is not an ailinux work dir mark: it does not hold JSON/),
      fix: expect.stringMatching(/remove that file and retry/),
    });
  });
});
