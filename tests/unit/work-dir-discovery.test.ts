/**
 * Which work dir a command means (issue 13, point 5): its own -w, the -w before the command, the marked work dir the
 * current directory lies in (walking up, said on stderr), else ./ailinux-build; and -C's directory, resolved and
 * checked before anything else.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { joinDirectories, resolveDirectories } from '../../src/cli/global-options.js';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { discoverWorkDir, enclosingWorkDir } from '../../src/cli/work-dir-discovery.js';
import { writeMark } from '../../src/engine/work-dir-mark.js';
import { UsageError } from '../../src/errors.js';
import { WORK_DIR_MARKER } from '../../src/runtime/paths.js';

const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-discovery-')));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;

/** A project dir holding a marked work dir named ailinux-build with logs/steps inside. */
function project(): { dir: string; work: string; deep: string } {
  const dir = path.join(tmp, `p${++dirs}`);
  const work = path.join(dir, 'ailinux-build');
  const deep = path.join(work, 'logs', 'steps');
  fs.mkdirSync(deep, { recursive: true });
  writeMark(work);
  return { dir, work, deep };
}

function io(cwd: string) {
  const out = { stdout: '', stderr: '' };
  const cli: CliIO = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' },
    cwd,
    uid: 1000,
    commandLine: 'ailinux',
  };
  return { cli, out };
}

describe('enclosingWorkDir walks up to the marked work dir', () => {
  it('finds it from the work dir itself and from any depth inside it', () => {
    const { work, deep } = project();
    expect(enclosingWorkDir(work)).toBe(work);
    expect(enclosingWorkDir(deep)).toBe(work);
  });

  it('finds none from a directory that lies in no work dir', () => {
    const { dir } = project();
    expect(enclosingWorkDir(dir)).toBeNull();
  });

  it('passes over a mark that is no mark (a symlink, not JSON) and goes on up', () => {
    const { work } = project();
    const inner = path.join(work, 'tmp', 'odd');
    fs.mkdirSync(inner, { recursive: true });
    fs.writeFileSync(path.join(inner, WORK_DIR_MARKER), 'not json');
    const linked = path.join(work, 'cache');
    fs.mkdirSync(linked);
    fs.symlinkSync(path.join(work, WORK_DIR_MARKER), path.join(linked, WORK_DIR_MARKER));
    expect(enclosingWorkDir(inner)).toBe(work);
    expect(enclosingWorkDir(linked)).toBe(work);
  });
});

describe('discoverWorkDir', () => {
  it('leaves the default alone where ./ailinux-build exists, or no work dir holds the current directory', () => {
    const { dir } = project();
    expect(discoverWorkDir(dir)).toBeNull();
    expect(discoverWorkDir(tmp)).toBeNull();
  });

  it('names the work dir it found, and whether the current directory is it or inside it', () => {
    const { work, deep } = project();
    expect(discoverWorkDir(work)).toEqual({
      workDir: work,
      note: `ailinux: the current directory is the work dir ${work}; using it (-w chooses another)`,
    });
    expect(discoverWorkDir(deep)?.note).toBe(
      `ailinux: the current directory is inside the work dir ${work}; using it (-w chooses another)`,
    );
  });
});

describe('the work dir a command gets', () => {
  it('inside a work dir: that one, said on stderr (it used to look for ailinux-build/ailinux-build)', async () => {
    const { work, deep } = project();
    const { cli, out } = io(deep);
    expect(await main(['status'], cli)).toBe(0);
    expect(out.stderr).toBe(
      `ailinux: the current directory is inside the work dir ${work}; using it (-w chooses another)\n`,
    );
    expect(out.stdout).toBe(`no build in ${work}\n`);
  });

  it('an explicit -w wins over the walk-up, after the command or before it', async () => {
    const { deep } = project();
    const other = path.join(tmp, `other${++dirs}`);
    for (const argv of [
      ['status', '-w', other],
      ['-w', other, 'status'],
      ['--work-dir', other, 'status', '--work-dir', other],
    ]) {
      const { cli, out } = io(deep);
      expect(await main(argv, cli), argv.join(' ')).toBe(0);
      expect(out.stderr).toBe('');
      expect(out.stdout).toBe(`no build in ${other}\n`);
    }
  });

  it('refuses two different work dirs, and a -w before a command that takes none, with exit 2', async () => {
    const { cli, out } = io(tmp);
    expect(await main(['-w', 'a', 'status', '-w', 'b'], cli)).toBe(2);
    expect(out.stderr).toContain('two work dirs were given: -w a before status, and -w b after it');
    expect(out.stderr).toContain('fix: give -w once');
    const second = io(tmp);
    expect(await main(['-w', 'a', 'schema'], second.cli)).toBe(2);
    expect(second.out.stderr).toContain('schema takes no work dir, but -w a was given before it');
    expect(second.out.stdout).toBe('');
  });

  it('takes -C only before the command: after it, it is an unknown option (exit 2)', async () => {
    const { cli, out } = io(tmp);
    expect(await main(['status', '-C', tmp], cli)).toBe(2);
    expect(out.stderr).toContain("unknown option '-C'");
  });
});

describe('-C DIR', () => {
  it('resolves each directory from the one before, as git does', () => {
    const { dir, work } = project();
    expect(resolveDirectories([dir, 'ailinux-build', 'logs'], '/')).toBe(path.join(work, 'logs'));
    expect(resolveDirectories([], dir)).toBeNull();
    expect(joinDirectories(['a', 'b', '/c', 'd'])).toBe('/c/d');
    expect(joinDirectories(['../a', 'b'])).toBe('../a/b');
  });

  it('refuses a missing directory, a file and an empty name with a usage error naming it', () => {
    const { work } = project();
    const refusal = (dirs: string[]) => {
      try {
        resolveDirectories(dirs, work);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as UsageError).message;
      }
      throw new Error('not refused');
    };
    expect(refusal(['nope'])).toBe(`cannot change to ${work}/nope (-C nope): no such directory`);
    expect(refusal([WORK_DIR_MARKER])).toBe(
      `cannot change to ${work}/${WORK_DIR_MARKER} (-C ${WORK_DIR_MARKER}): it is not a directory`,
    );
    expect(refusal([''])).toBe('-C was given an empty directory name');
  });

  it('exits 2 before any command runs when the directory is missing', async () => {
    const { cli, out } = io(tmp);
    expect(await main(['-C', 'missing', 'status'], cli)).toBe(2);
    expect(out.stderr).toContain(`cannot change to ${tmp}/missing (-C missing): no such directory`);
    expect(out.stdout).toBe('');
  });
});
