/**
 * An owned work dir, through the real CLI (issue 9, findings 2, 9 and 12): clean in a source checkout, an empty
 * --work-dir, a regular file, a foreign directory, adoption of a work dir from before the mark, a symlinked
 * top-level entry, and a work dir that is itself a mount point (a tmpfs in a private mount namespace, never the
 * host's). Fake host tools; needs root (build and clean do), skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAUNCHER, startCli as startCliIn } from '../helpers/cli.js';
import { skipUnlessRoot } from '../helpers/root.js';
import { cliEnv, hostMountinfo, makeTmp, REPO, runCli, SAFETY_CONFIG } from '../fixtures/safety/harness.js';

const MOUNT_POINT_FIXTURE = path.join(REPO, 'tests', 'fixtures', 'work-dir', 'mount-point.mjs');
const MARKER = '.ailinux-work-dir';
const BUILD_MS = 240_000;

let tmp = '';
let built = '';
let dirs = 0;

/** Every entry under dir (symlinks as links, file contents in full): what a refusal must leave as it was. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const rel = path.relative(dir, p);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${rel}/`);
        walk(p);
      } else out.push(`${rel} ${st.size} ${st.isFile() ? fs.readFileSync(p).toString('base64') : st.mode}`);
    }
  };
  walk(dir);
  return out;
}

function newDir(files: Record<string, string> = {}): string {
  const dir = path.join(tmp, `d${++dirs}`);
  fs.mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

/** A copy of the finished build (cp -a: the layers hold overlayfs whiteouts). */
function copyOfBuilt(): string {
  const dir = path.join(tmp, `copy${++dirs}`);
  const cp = spawnSync('cp', ['-a', built, dir], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`cp -a failed: ${cp.stderr}`);
  return dir;
}

function expectOneLineUsage(output: string): void {
  expect(output).not.toMatch(/internal error/);
  expect(output, 'no stack trace').not.toMatch(/^\s+at /m);
}

const checkout = () =>
  newDir({
    'README.md': '# my project\n',
    'package.json': '{"name": "mine"}\n',
    'src/main.ts': 'export const main = 1;\n',
    'state/schema.ts': 'export const schema = 1;\n',
    'state/store.ts': 'export const store = 1;\n',
  });

beforeAll(async () => {
  if (skipUnlessRoot()) return;
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  tmp = makeTmp('ailinux-work-dir-');
  built = path.join(tmp, 'built');
  const r = await runCli(tmp, ['build', '--config', SAFETY_CONFIG, '-w', built], cliEnv(tmp));
  if (r.code !== 0) throw new Error(`the template build failed (${r.code}): ${r.output}`);
}, BUILD_MS);

afterAll(() => {
  if (tmp && !hostMountinfo().includes(tmp)) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skipUnlessRoot())('an owned work dir (CLI)', () => {
  it('a build marks the work dir it creates, and records the mark in the state', () => {
    const mark = JSON.parse(fs.readFileSync(path.join(built, MARKER), 'utf8'));
    expect(mark).toMatchObject({ tool: 'ailinux', version: expect.any(String), createdAt: expect.any(String) });
    const state = JSON.parse(fs.readFileSync(path.join(built, 'state', 'state.json'), 'utf8'));
    expect(state.workDirMark).toEqual({ id: mark.id, createdAt: mark.createdAt });
  });

  it('clean --all -w . in a source checkout with its own state/ folder removes nothing (exit 2) and names what it found', async () => {
    const dir = checkout();
    const before = snapshot(dir);
    const r = await startCliIn(['clean', '--all', '-w', '.'], { env: cliEnv(tmp), cwd: dir, logDir: tmp }).done;
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain(
      `refusing to use ${dir} as the work dir: it holds files ailinux did not make: README.md, package.json, src`,
    );
    expectOneLineUsage(r.output);
    expect(snapshot(dir)).toEqual(before);
  });

  it('clean of a dir holding only a state/ folder of source files removes nothing (exit 2)', async () => {
    const dir = newDir({ 'state/schema.ts': 'export const schema = 1;\n' });
    const before = snapshot(dir);
    const r = await runCli(tmp, ['clean', '--all', '-w', dir], cliEnv(tmp));
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain('it holds files ailinux did not make: state/schema.ts');
    expect(snapshot(dir)).toEqual(before);
  });

  it('--work-dir "" exits 2 with one line and a fix, and writes nothing in the current directory', async () => {
    const dir = checkout();
    const before = snapshot(dir);
    const r = await startCliIn(['build', '--config', SAFETY_CONFIG, '--work-dir', ''], {
      env: cliEnv(tmp),
      cwd: dir,
      logDir: tmp,
      killAfterMs: BUILD_MS,
    }).done;
    expect(r.code, r.output).toBe(2);
    expect(r.output).toMatch(/^ailinux: the work dir is empty \(--work-dir ""\)\n\s+fix: .*\.\/ailinux-build/m);
    expectOneLineUsage(r.output);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a regular file as the work dir exits 2 with one line, no internal error and no stack trace', async () => {
    const dir = newDir({ 'notes.txt': 'mine\n' });
    const file = path.join(dir, 'notes.txt');
    for (const args of [
      ['build', '--config', SAFETY_CONFIG, '-w', file],
      ['resume', '-w', file],
      ['clean', '-w', file],
    ]) {
      const r = await runCli(tmp, args, cliEnv(tmp));
      expect(r.code, r.output).toBe(2);
      expect(r.output).toContain(`the work dir ${file} is not a directory`);
      expectOneLineUsage(r.output);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('mine\n');
  });

  it('build in a directory that holds anything else exits 2, naming the first entries and the fix', async () => {
    const dir = newDir({ 'a.txt': '', 'b.txt': '', 'c/d.txt': '', 'e.txt': '', 'f.txt': '', 'g.txt': '' });
    const before = snapshot(dir);
    const r = await runCli(tmp, ['build', '--config', SAFETY_CONFIG, '-w', dir], cliEnv(tmp));
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain(
      `refusing to use ${dir} as the work dir: it holds files ailinux did not make: a.txt, b.txt, c, e.txt, f.txt and 1 more`,
    );
    expect(r.output).toMatch(/fix: use an empty or new directory, e\.g\. --work-dir \.\/ailinux-build/);
    expect(snapshot(dir)).toEqual(before);
  });

  it(
    'adopts a work dir from before the mark (a valid state, only its own entries) with a notice; refuses one with a foreign file',
    async () => {
      const old = copyOfBuilt();
      fs.rmSync(path.join(old, MARKER), { force: true });
      const stateFile = path.join(old, 'state', 'state.json');
      const { workDirMark: _, ...oldState } = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      fs.writeFileSync(stateFile, JSON.stringify(oldState));

      const withForeign = copyOfBuilt();
      fs.rmSync(path.join(withForeign, MARKER), { force: true });
      fs.writeFileSync(path.join(withForeign, 'notes.txt'), 'mine\n');
      const before = snapshot(withForeign);
      const refused = await runCli(tmp, ['clean', '-w', withForeign], cliEnv(tmp));
      expect(refused.code, refused.output).toBe(2);
      expect(refused.output).toContain('it holds files ailinux did not make: notes.txt');
      expect(snapshot(withForeign)).toEqual(before);

      const r = await runCli(tmp, ['build', '--config', SAFETY_CONFIG, '-w', old], cliEnv(tmp));
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain(`adopted ${old}, a work dir from before ailinux marked its work dirs`);
      const mark = JSON.parse(fs.readFileSync(path.join(old, MARKER), 'utf8'));
      expect(JSON.parse(fs.readFileSync(stateFile, 'utf8')).workDirMark).toEqual({
        id: mark.id,
        createdAt: mark.createdAt,
      });
      const again = await runCli(tmp, ['clean', '-w', old], cliEnv(tmp));
      expect(again.code, again.output).toBe(0);
      expect(again.output, 'adopted once').not.toContain('adopted');
    },
    BUILD_MS,
  );

  it('a symlinked top-level entry (layers -> a decoy outside) is never followed by clean or --fresh: exit 2, nothing changes', async () => {
    const work = copyOfBuilt();
    const decoy = newDir({ passwd: 'root:x:0:0:root:/root:/bin/bash\n', 'etc/shadow': 'root:*:19000::::::\n' });
    fs.rmSync(path.join(work, 'layers'), { recursive: true });
    fs.symlinkSync(decoy, path.join(work, 'layers'));
    const decoyBefore = snapshot(decoy);
    const workBefore = snapshot(work);
    for (const args of [
      ['clean', '-w', work],
      ['clean', '--all', '-w', work],
      ['build', '--fresh', '--config', SAFETY_CONFIG, '-w', work],
    ]) {
      const r = await runCli(tmp, args, cliEnv(tmp));
      expect(r.code, `${args.join(' ')}: ${r.output}`).toBe(2);
      expect(r.output).toContain(`layers (a symlink to ${decoy})`);
      expect(snapshot(decoy), 'the decoy survives').toEqual(decoyBefore);
      expect(snapshot(work), 'nothing in the work dir changed, the ledger included').toEqual(workBefore);
    }
  });

  it(
    'a work dir that is a mount point (a tmpfs, in a private namespace): build, --fresh, clean and clean --all work, and it stays mounted',
    () => {
      const base = fs.mkdtempSync(path.join(tmp, 'mount-point-'));
      // the safety profile, sized for a small tmpfs
      const config = path.join(base, 'small-disk.json');
      const safety = JSON.parse(fs.readFileSync(SAFETY_CONFIG, 'utf8'));
      const resources = { ...safety.resources, minFreeDiskMb: 16, checkEstimates: false };
      fs.writeFileSync(config, JSON.stringify({ ...safety, resources }));
      const r = spawnSync(
        'unshare',
        ['--mount', '--propagation', 'private', '--fork', '--', process.execPath, MOUNT_POINT_FIXTURE, config, base],
        {
          cwd: REPO,
          env: { ...cliEnv(base), WORK_DIR_HOST_MNTNS: fs.readlinkSync('/proc/self/ns/mnt'), WORK_DIR_CLI: LAUNCHER },
          encoding: 'utf8',
          timeout: 4 * BUILD_MS,
        },
      );
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        runs: Array<{ label: string; code: number; output: string; stillMounted: boolean; entries: string[] }>;
        fixtureError?: string;
        umountError?: string;
      };
      expect(result.fixtureError).toBeUndefined();
      expect(result.umountError).toBeUndefined();
      const run = Object.fromEntries(result.runs.map((x) => [x.label, x]));
      for (const label of ['build', 'fresh', 'clean', 'clean-all']) {
        expect(run[label]!.code, `${label}: ${run[label]!.output}`).toBe(0);
        expect(run[label]!.stillMounted, `${label}: the work dir is still mounted`).toBe(true);
        expect(run[label]!.output, `${label}: no warning about the work dir's own mount`).not.toMatch(
          /a mount remains/,
        );
      }
      expect(run['build']!.entries).toContain(MARKER);
      expect(run['fresh']!.output).toMatch(/--fresh: discarding the previous build's layers/);
      expect(run['clean']!.output).toMatch(/removed: state\/state\.json, layers\/, mnt\/, iso\/, tmp\//);
      expect(run['clean']!.entries).not.toContain('layers');
      expect(run['clean-all']!.output).toMatch(/removed: .*cache\/, output\/, logs\/, state\/, \.ailinux-work-dir/);
      expect(run['clean-all']!.entries, 'only what ailinux made was removed; the mount point stays').toEqual([]);
      expect(run['clean-all']!.output).toMatch(/the empty work dir \S+ is kept: /);
      expect(hostMountinfo()).not.toContain(base);
    },
    4 * BUILD_MS,
  );
});
