/**
 * Issue 9, finding 1: an unprivileged user who can write in a layer (its /tmp is mode 1777, the live user's
 * home belongs to a uid that exists on the host) swaps directories for symlinks to a decoy dir while root
 * removes or writes there. The attacker (tests/fixtures/removal-race-attacker.mjs, uid 65534) races
 * removeTree, `build --fresh` and `clean` through the compiled CLI, and writeLayerFile, many times. Every
 * decoy file (passwd, shadow, group, sudoers, in a temp dir outside the work dir) must survive unchanged.
 * The attacker counts the swaps it lands while a race is on, so the test cannot pass without a fight.
 * Needs root; skipped otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLayerFile, type RootfsLayers } from '../../src/runtime/layers.js';
import { removeTree } from '../../src/runtime/safe-remove.js';
import { assertCliBuilt, NOBODY, REPO } from '../helpers/cli.js';
import { skipUnlessRoot } from '../helpers/root.js';
import { cliEnv, runCli, SAFETY_CONFIG } from '../fixtures/safety/harness.js';

const ATTACKER = path.join(REPO, 'tests', 'fixtures', 'removal-race-attacker.mjs');
const DECOYS: Record<string, string> = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\n',
  shadow: 'root:$6$decoy$decoy:19000:0:99999:7:::\n',
  group: 'root:x:0:\n',
  sudoers: 'root ALL=(ALL:ALL) ALL\n',
};
/** Directories per world-writable place, files before the decoy names in each (they sort first: a wide window). */
const DIRS = 3;
const FILLERS = 12;
/** The removal races run for this long (at least MIN_ROUNDS rounds); the write races for WRITE_MS. */
const REMOVE_MS = 20_000;
const MIN_ROUNDS = 40;
const WRITE_MS = 10_000;

let tmp = '';
let decoyDir = '';
let ctl = '';
let attacker: { child: ChildProcess; report: Promise<AttackReport> } | null = null;
const lostIn: string[] = [];

interface AttackReport {
  swaps: number;
  cycles: number;
  byRound: Record<string, number>;
}

function plantDecoys(): void {
  for (const [name, text] of Object.entries(DECOYS)) fs.writeFileSync(path.join(decoyDir, name), text, { mode: 0o600 });
}

/** Names the decoys that are gone or changed (and plants them again, so each round counts on its own). */
function checkDecoys(round: string): string[] {
  const harmed = Object.entries(DECOYS)
    .filter(([name, text]) => {
      try {
        return fs.readFileSync(path.join(decoyDir, name), 'utf8') !== text;
      } catch {
        return true;
      }
    })
    .map(([name]) => name);
  const extra = fs.readdirSync(decoyDir).filter((n) => !(n in DECOYS));
  if (harmed.length || extra.length) {
    lostIn.push(`${round}: ${[...harmed, ...extra.map((n) => `+${n}`)].join(', ')}`);
    for (const n of extra) fs.rmSync(path.join(decoyDir, n), { recursive: true, force: true });
    plantDecoys();
  }
  return harmed;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function startAttacker(): void {
  const child = spawn(process.execPath, [ATTACKER, decoyDir, path.join(ctl, 'armed'), path.join(ctl, 'stop')], {
    uid: NOBODY,
    gid: NOBODY,
    cwd: '/',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const report = new Promise<AttackReport>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`the attacker exited with ${code}: ${err}`));
      else resolve(JSON.parse(out.trim()) as AttackReport);
    });
  });
  report.catch(() => {}); // read by stopAttacker; a crash there must not be unhandled meanwhile
  attacker = { child, report };
}

async function stopAttacker(): Promise<AttackReport> {
  if (!attacker) throw new Error('no attacker');
  fs.writeFileSync(path.join(ctl, 'stop'), '');
  const { report } = attacker;
  const report_ = await report;
  attacker = null;
  return report_;
}

/** The attacker swaps dirs while this file exists. */
function arm(round: string, dirs: string[]): void {
  const file = path.join(ctl, 'armed');
  fs.writeFileSync(`${file}.new`, JSON.stringify({ round, dirs }));
  fs.renameSync(`${file}.new`, file);
}

async function disarm(): Promise<void> {
  fs.rmSync(path.join(ctl, 'armed'), { force: true });
  await sleep(30); // the cycle under way puts its dirs back
}

function mkdirOwned(dir: string, mode: number, uid = NOBODY): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, mode);
  fs.chownSync(dir, uid, uid);
}

/** A dir the attacker owns: fillers that sort first, a nested dir of the same kind, and files named like the decoys. */
function fillDir(dir: string, nested: boolean): string[] {
  mkdirOwned(dir, 0o755);
  for (let i = 0; i < FILLERS; i++) {
    const f = path.join(dir, `f${String(i).padStart(3, '0')}`);
    fs.writeFileSync(f, 'filler\n');
    fs.chownSync(f, NOBODY, NOBODY);
  }
  for (const name of Object.keys(DECOYS)) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, 'the layer\n');
    fs.chownSync(f, NOBODY, NOBODY);
  }
  return nested ? [dir, ...fillDir(path.join(dir, 'n'), false)] : [dir];
}

/** A rootfs with a 1777 /tmp and a home that belongs to the attacker's uid, each full of its dirs; returns them. */
function plantAttackTree(root: string): string[] {
  mkdirOwned(path.join(root, 'tmp'), 0o1777, 0);
  mkdirOwned(path.join(root, 'home'), 0o755, 0);
  mkdirOwned(path.join(root, 'home', 'racer'), 0o755);
  const dirs: string[] = [];
  for (let i = 0; i < DIRS; i++) {
    dirs.push(...fillDir(path.join(root, 'tmp', `t${i}`), true));
    dirs.push(...fillDir(path.join(root, 'home', 'racer', `h${i}`), true));
  }
  return dirs;
}

describe.skipIf(skipUnlessRoot())(
  'removal and layer writes race an unprivileged user swapping dirs for symlinks',
  () => {
    beforeAll(() => {
      assertCliBuilt();
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-race-'));
      fs.chmodSync(tmp, 0o711); // the attacker reaches the layers' world-writable dirs, and nothing else of ours
      decoyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-race-decoy-'));
      plantDecoys();
      ctl = path.join(tmp, 'ctl');
      fs.mkdirSync(ctl, { mode: 0o755 });
      startAttacker();
    });

    afterAll(async () => {
      if (attacker) {
        fs.writeFileSync(path.join(ctl, 'stop'), '');
        const killer = setTimeout(() => attacker?.child.kill('SIGKILL'), 10_000);
        await attacker.report.catch(() => null);
        clearTimeout(killer);
      }
      // the attacker is gone: nothing swaps any more, and fs.rmSync unlinks symlinks without following them
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
      if (decoyDir) fs.rmSync(decoyDir, { recursive: true, force: true });
    });

    it('removeTree, many rounds: every decoy survives', { timeout: 180_000 }, async () => {
      const work = path.join(tmp, 'work-rm');
      fs.mkdirSync(path.join(work, 'layers'), { recursive: true, mode: 0o755 });
      const started = Date.now();
      let rounds = 0;
      let failed = 0;
      const before = lostIn.length;
      while (rounds < MIN_ROUNDS || Date.now() - started < REMOVE_MS) {
        const layer = path.join(work, 'layers', `r${rounds}`);
        const dirs = plantAttackTree(path.join(layer, 'root'));
        arm(`rm-${rounds}`, dirs);
        try {
          await removeTree(layer, { within: work });
        } catch {
          failed++; // a removal may give up on a tree that keeps changing; it must never reach the decoys
        }
        await disarm();
        checkDecoys(`removeTree round ${rounds}`);
        rounds++;
      }
      // what the attacker left behind goes now, with nobody racing
      await removeTree(path.join(work, 'layers'), { within: work });
      const swaps = await countSwaps('rm-');
      console.log(
        `removal race: ${rounds} rounds of removeTree in ${Date.now() - started} ms, ${swaps.total} swaps landed ` +
          `during them (${swaps.rounds} rounds had some), ${failed} removals gave up, decoys lost in: ${lostIn.slice(before).join('; ') || 'none'}`,
      );
      expect(lostIn.slice(before)).toEqual([]);
      expect(swaps.total).toBeGreaterThanOrEqual(10 * MIN_ROUNDS);
      expect(swaps.rounds).toBeGreaterThanOrEqual(MIN_ROUNDS / 2);
      expect(fs.readdirSync(path.join(work))).toEqual([]);
    });

    it('build --fresh and clean through the CLI: every decoy survives', { timeout: 600_000 }, async () => {
      const work = path.join(tmp, 'work-cli');
      const env = cliEnv(tmp);
      const first = await runCli(tmp, ['build', '--config', SAFETY_CONFIG, '-w', work], env);
      expect(first.code, first.output).toBe(0);
      const before = lostIn.length;
      const rounds: [string, string[]][] = [
        ['fresh-0', ['build', '--config', SAFETY_CONFIG, '-w', work, '--fresh']],
        ['fresh-1', ['build', '--config', SAFETY_CONFIG, '-w', work, '--fresh']],
        ['clean', ['clean', '-w', work]],
      ];
      const exits: string[] = [];
      for (const [round, args] of rounds) {
        const dirs = plantAttackTree(path.join(work, 'layers', 'bootstrap', 'root'));
        arm(`cli-${round}`, dirs);
        const r = await runCli(tmp, args, env);
        await disarm();
        checkDecoys(`ailinux ${args[0]} (${round})`);
        exits.push(`${round}: exit ${r.code}${r.code === 0 ? '' : `\n${r.output}`}`);
      }
      const swaps = await countSwaps('cli-');
      console.log(
        `removal race through the CLI: ${rounds.length} runs, ${swaps.total} swaps landed during them, ` +
          `decoys lost in: ${lostIn.slice(before).join('; ') || 'none'}`,
      );
      expect(lostIn.slice(before)).toEqual([]);
      expect(exits).toEqual(rounds.map(([round]) => `${round}: exit 0`));
      expect(fs.existsSync(path.join(work, 'layers'))).toBe(false);
      expect(swaps.rounds).toBe(rounds.length);
    });

    it('writeLayerFile, many writes: every decoy survives', { timeout: 180_000 }, async () => {
      const work = path.join(tmp, 'work-write');
      const upper = path.join(work, 'layers', 'identity', 'upper');
      const layers: RootfsLayers = {
        own: { stepId: 'identity', dir: path.dirname(upper), upper, work: null },
        below: [],
        mountPoint: path.join(work, 'mnt', 'identity'),
      };
      mkdirOwned(path.join(upper, 'tmp'), 0o1777, 0);
      mkdirOwned(path.join(upper, 'home', 'racer', 'Desktop'), 0o755);
      fs.chownSync(path.join(upper, 'home'), 0, 0);
      const targets = ['home/racer/Desktop'];
      for (let i = 0; i < DIRS; i++) {
        mkdirOwned(path.join(upper, 'tmp', `w${i}`), 0o755);
        targets.push(`tmp/w${i}`);
      }
      const started = Date.now();
      const before = lostIn.length;
      let writes = 0;
      let refused = 0;
      let batch = 0;
      while (Date.now() - started < WRITE_MS) {
        arm(
          `write-${batch}`,
          targets.map((t) => path.join(upper, t)),
        );
        for (let i = 0; i < 20; i++) {
          for (const t of targets) {
            for (const name of Object.keys(DECOYS)) {
              writes++;
              try {
                writeLayerFile(layers, `${t}/${name}`, `written by the step ${writes}\n`, 0o644);
              } catch {
                refused++; // a parent that is a symlink right now is refused; a write must never leave the layer
              }
            }
          }
        }
        await disarm();
        checkDecoys(`writeLayerFile batch ${batch}`);
        batch++;
      }
      const swaps = await countSwaps('write-');
      console.log(
        `layer write race: ${writes} writes in ${batch} batches, ${swaps.total} swaps landed during them, ${refused} ` +
          `writes refused, decoys harmed in: ${lostIn.slice(before).join('; ') || 'none'}`,
      );
      expect(lostIn.slice(before)).toEqual([]);
      expect(swaps.total).toBeGreaterThanOrEqual(10 * batch);
      // nothing the attacker could not already write ended up outside the layer's own dirs
      expect(fs.readdirSync(upper).sort()).toEqual(['home', 'tmp']);
    });
  },
);

/** Swaps the attacker landed in the rounds whose id starts with prefix, so far; restarts it to read them. */
async function countSwaps(prefix: string): Promise<{ total: number; rounds: number }> {
  const report = await stopAttacker();
  fs.rmSync(path.join(ctl, 'stop'));
  startAttacker();
  const counts = Object.entries(report.byRound)
    .filter(([round]) => round.startsWith(prefix))
    .map(([, n]) => n);
  return { total: counts.reduce((a, b) => a + b, 0), rounds: counts.filter((n) => n > 0).length };
}
