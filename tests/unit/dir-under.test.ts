import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DirUnderProblem, fdPath, openDirUnder } from '../../src/runtime/dir-fd.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dir-under-'));
  fs.mkdirSync(path.join(tmp, 'project/overlay/etc'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'elsewhere'));
  fs.symlinkSync(path.join(tmp, 'elsewhere'), path.join(tmp, 'project/link'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

class Refused extends Error {
  constructor(readonly p: DirUnderProblem) {
    super(p.problem);
  }
}
const refuse = (p: DirUnderProblem): never => {
  throw new Refused(p);
};
function refusal(base: string, dir: string): DirUnderProblem {
  try {
    const { fd } = openDirUnder(base, dir, refuse);
    fs.closeSync(fd);
  } catch (error) {
    if (error instanceof Refused) return error.p;
    throw error;
  }
  throw new Error(`${dir} was opened`);
}

describe('openDirUnder: a directory below the config file, opened one component at a time', () => {
  it('opens the directory itself, through ./ and doubled slashes', () => {
    const { fd, where } = openDirUnder(path.join(tmp, 'project'), './overlay//etc', refuse);
    try {
      expect(fs.realpathSync(fdPath(fd))).toBe(path.join(fs.realpathSync(tmp), 'project/overlay/etc'));
      expect(where).toBe(path.join(fs.realpathSync(tmp), 'project/overlay/etc'));
    } finally {
      fs.closeSync(fd);
    }
  });

  it('refuses a missing directory, naming where it looked', () => {
    const p = refusal(path.join(tmp, 'project'), 'overlay/usr');
    expect(p).toEqual({
      where: path.join(fs.realpathSync(tmp), 'project/overlay/usr'),
      problem: 'does not exist',
      base: false,
    });
  });

  it('never crosses a symlink on the way, even to a real directory', () => {
    const p = refusal(path.join(tmp, 'project'), 'link');
    expect(p.problem).toBe('is not a directory (or link on the way is a symlink, which the path may not cross)');
    expect(p.base).toBe(false);
  });

  it('refuses a file where a directory is wanted', () => {
    fs.writeFileSync(path.join(tmp, 'project/overlay/file'), 'x');
    expect(refusal(path.join(tmp, 'project'), 'overlay/file').problem).toMatch(/^is not a directory/);
  });

  it('says so when the base directory itself cannot be reached', () => {
    expect(refusal(path.join(tmp, 'gone'), 'overlay')).toEqual({
      where: path.join(tmp, 'gone'),
      problem: 'cannot be reached',
      base: true,
    });
  });
});
