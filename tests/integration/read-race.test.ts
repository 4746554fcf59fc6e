/**
 * Issue 9, findings 1 and 8, the read side: an unprivileged user who owns a directory on the way (a home in a layer,
 * a dir in the config's directory) swaps it for a symlink to a decoy dir while root reads through it. The attacker
 * of the removal race (tests/fixtures/removal-race-attacker.mjs, uid 65534) races readLayerFile and
 * firstFileInLayers, the bootloaders step copying shim and MokManager into the ISO tree, and the load, fingerprint
 * and install of a branding logo. The decoy files (in a temp dir of their own) must never be read: not returned, not
 * copied into the ISO tree, not hashed, not installed, not in an error message. The attacker counts its swaps, so
 * the test cannot pass without a fight. Needs root; skipped otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import { readLayerFile, type RootfsLayers } from '../../src/runtime/layers.js';
import { bootloadersStep } from '../../src/steps/bootloaders.js';
import { brandingStep } from '../../src/steps/branding.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { firstFileInLayers } from '../../src/steps/layer-files.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { NOBODY, REPO } from '../helpers/cli.js';
import { skipUnlessRoot } from '../helpers/root.js';
import { profileConfig, stepContext, writeTree } from '../helpers/step-context.js';

const ATTACKER = path.join(REPO, 'tests', 'fixtures', 'removal-race-attacker.mjs');
const SECRET = 'DECOY-SECRET-c0ffee';
const DECOY_TEXT = `deb http://decoy.invalid/ ${SECRET} main\n`;
const DECOY_EFI = Buffer.concat([Buffer.from(`MZ ${SECRET} efi`), Buffer.alloc(4096)]);
const DECOY_LOGO = solidPng(32, 32, '#ff0000');
const LAYER_TEXT = 'deb http://deb.debian.org/debian bookworm main\n';
const SHIM = Buffer.concat([Buffer.from('MZ the signed shim'), Buffer.alloc(200_000)]);
const MOK = Buffer.concat([Buffer.from('MZ the mok manager'), Buffer.alloc(100_000)]);
const GRUB = Buffer.concat([Buffer.from('MZ the signed grub'), Buffer.alloc(300_000)]);
const LOGO = solidPng(32, 32, '#112233');
/** How long each race runs. */
const READ_MS = 8_000;
const BOOT_MS = 10_000;
const OWN_MS = 10_000;
const DIRS = 3;

let tmp = '';
let decoyDir = '';
let ctl = '';
let attacker: { child: ChildProcess; report: Promise<AttackReport> } | null = null;

interface AttackReport {
  swaps: number;
  cycles: number;
  byRound: Record<string, number>;
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
  report.catch(() => {}); // read by swapsIn; a crash there must not be unhandled meanwhile
  attacker = { child, report };
}

/** The swaps the attacker landed in round; restarts it so the next round counts on its own. */
async function swapsIn(round: string): Promise<number> {
  if (!attacker) throw new Error('no attacker');
  fs.writeFileSync(path.join(ctl, 'stop'), '');
  const report = await attacker.report;
  attacker = null;
  fs.rmSync(path.join(ctl, 'stop'));
  startAttacker();
  return report.byRound[round] ?? 0;
}

function arm(round: string, dirs: string[]): void {
  const file = path.join(ctl, 'armed');
  fs.writeFileSync(`${file}.new`, JSON.stringify({ round, dirs }));
  fs.renameSync(`${file}.new`, file);
}

async function disarm(): Promise<void> {
  fs.rmSync(path.join(ctl, 'armed'), { force: true });
  await new Promise((resolve) => setTimeout(resolve, 30)); // the cycle under way puts its dirs back
}

/** Lets the attacker's process run between synchronous reads. */
const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

function mkdirOwned(dir: string, uid = NOBODY): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chownSync(dir, uid, uid);
}

/** A file the attacker owns in a dir it owns (it could write any content there; it must not reach the decoy's). */
function ownedFile(file: string, data: string | Buffer): void {
  fs.writeFileSync(file, data);
  fs.chownSync(file, NOBODY, NOBODY);
}

const sha = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest('hex');

/** Whether a value that came out of a read is, or holds, a decoy. */
function isDecoy(data: Buffer | string | null | undefined): boolean {
  if (data === null || data === undefined) return false;
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return b.includes(SECRET) || b.equals(DECOY_LOGO) || data === sha(DECOY_LOGO);
}

describe.skipIf(skipUnlessRoot())('reads race an unprivileged user swapping dirs for symlinks to a decoy', () => {
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-read-race-'));
    fs.chmodSync(tmp, 0o711); // the attacker reaches its own dirs in the trees below, and nothing else of ours
    decoyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-read-decoy-'));
    for (const name of ['sources.list']) fs.writeFileSync(path.join(decoyDir, name), DECOY_TEXT, { mode: 0o600 });
    for (const name of ['shim.efi', 'mm.efi']) fs.writeFileSync(path.join(decoyDir, name), DECOY_EFI, { mode: 0o600 });
    fs.writeFileSync(path.join(decoyDir, 'logo.png'), DECOY_LOGO, { mode: 0o600 });
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
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    if (decoyDir) fs.rmSync(decoyDir, { recursive: true, force: true });
  });

  it('readLayerFile and firstFileInLayers: the decoy is never read', { timeout: 120_000 }, async () => {
    const work = path.join(tmp, 'work-read');
    const base = path.join(work, 'layers', 'bootstrap', 'root');
    const upper = path.join(work, 'layers', 'packages', 'upper');
    const layers: RootfsLayers = { own: null, below: [upper, base], mountPoint: path.join(work, 'mnt', 'x') };
    fs.mkdirSync(path.join(base, 'etc', 'apt'), { recursive: true });
    // a package's absolute link into the racer's home: resolved inside the rootfs, it must stay there
    fs.symlinkSync('/home/racer/d0/sources.list', path.join(base, 'etc', 'apt', 'sources.list'));
    mkdirOwned(path.join(upper, 'home'), 0);
    mkdirOwned(path.join(upper, 'home', 'racer'));
    const dirs: string[] = [];
    for (let i = 0; i < DIRS; i++) {
      const d = path.join(upper, 'home', 'racer', `d${i}`);
      mkdirOwned(d);
      ownedFile(path.join(d, 'sources.list'), LAYER_TEXT);
      dirs.push(d);
    }
    const rels = ['etc/apt/sources.list', ...dirs.map((_, i) => `home/racer/d${i}/sources.list`)];
    const tally = { reads: 0, layer: 0, absent: 0, errors: 0, decoy: 0 };
    const decoyIn: string[] = [];
    arm('read', dirs);
    const started = Date.now();
    while (Date.now() - started < READ_MS) {
      for (const rel of rels) {
        for (const read of [
          () => readLayerFile(layers, rel),
          () => firstFileInLayers(layers, [rel])?.data.toString('utf8') ?? null,
        ]) {
          tally.reads++;
          let got: string | null;
          try {
            got = read();
          } catch (error) {
            tally.errors++;
            got = (error as Error).message;
          }
          if (isDecoy(got)) {
            tally.decoy++;
            decoyIn.push(rel);
          } else if (got === LAYER_TEXT) tally.layer++;
          else tally.absent++;
        }
      }
      await breathe();
    }
    await disarm();
    const swaps = await swapsIn('read');
    console.log(
      `layer read race: ${tally.reads} reads in ${READ_MS} ms, ${swaps} swaps landed during them; ${tally.layer} read ` +
        `the layer's file, ${tally.absent} found none (a symlink at that moment, resolved inside the rootfs), ` +
        `${tally.errors} errors, decoy reads: ${tally.decoy}`,
    );
    expect(decoyIn).toEqual([]);
    expect(swaps).toBeGreaterThanOrEqual(100);
    expect(tally.layer).toBeGreaterThan(0);
  });

  it('bootloaders copies shim and MokManager into the ISO tree: never the decoy', { timeout: 180_000 }, async () => {
    const work = path.join(tmp, 'work-boot');
    const upper = path.join(work, 'layers', 'installer', 'upper');
    mkdirOwned(path.join(upper, 'home'), 0);
    mkdirOwned(path.join(upper, 'home', 'racer'));
    const s0 = path.join(upper, 'home', 'racer', 's0');
    const s1 = path.join(upper, 'home', 'racer', 's1');
    mkdirOwned(s0);
    mkdirOwned(s1);
    ownedFile(path.join(s0, 'shim.efi'), SHIM);
    ownedFile(path.join(s1, 'mm.efi'), MOK);
    // shim and MokManager reached through links into dirs the racer owns; the signed GRUB a plain file
    writeTree(upper, { 'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed': '' });
    fs.writeFileSync(path.join(upper, 'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed'), GRUB);
    fs.mkdirSync(path.join(upper, 'usr/lib/shim'), { recursive: true });
    fs.symlinkSync('/home/racer/s0/shim.efi', path.join(upper, 'usr/lib/shim/shimx64.efi.signed.latest'));
    fs.symlinkSync('../../../home/racer/s1/mm.efi', path.join(upper, 'usr/lib/shim/mmx64.efi.signed'));
    const config = profileConfig('ailinux');
    expect(config.iso.secureBoot).toBe(true);
    const ctx = stepContext({ config, workDir: work, stepId: 'bootloaders', runner: bootRunner() });
    const efi = path.join(work, 'iso', 'EFI', 'BOOT');
    const tally = { runs: 0, copied: 0, refused: 0, decoy: 0 };
    arm('boot', [s0, s1]);
    const started = Date.now();
    while (Date.now() - started < BOOT_MS) {
      fs.rmSync(path.join(work, 'iso'), { recursive: true, force: true });
      tally.runs++;
      try {
        await bootloadersStep.run(ctx);
      } catch (error) {
        tally.refused++; // shim not there while its dir is a symlink: resolved inside the rootfs, it is missing
        if (isDecoy((error as Error).message)) tally.decoy++;
        continue;
      }
      const shim = fs.readFileSync(path.join(efi, 'BOOTX64.EFI'));
      const mok = fs.existsSync(path.join(efi, 'mmx64.efi')) ? fs.readFileSync(path.join(efi, 'mmx64.efi')) : null;
      if (isDecoy(shim) || isDecoy(mok)) tally.decoy++;
      if (shim.equals(SHIM)) tally.copied++;
    }
    await disarm();
    const swaps = await swapsIn('boot');
    console.log(
      `bootloaders read race: ${tally.runs} runs in ${BOOT_MS} ms, ${swaps} swaps landed during them; ` +
        `${tally.copied} copied the layer's shim, ${tally.refused} refused (shim missing at that moment), ` +
        `decoy copies: ${tally.decoy}`,
    );
    expect(tally.decoy).toBe(0);
    expect(swaps).toBeGreaterThanOrEqual(50);
    expect(tally.copied).toBeGreaterThan(0);
  });

  it('a branding logo: load, fingerprint and install never read the decoy', { timeout: 180_000 }, async () => {
    const work = path.join(tmp, 'work-own');
    const configDir = path.join(tmp, 'cfg');
    fs.mkdirSync(configDir, { mode: 0o755 });
    // a dir of the config's directory that another user owns (a shared checkout): the attacker swaps what is in it
    mkdirOwned(path.join(configDir, 'team'));
    const art = path.join(configDir, 'team', 'art');
    mkdirOwned(art);
    ownedFile(path.join(art, 'logo.png'), LOGO);
    const configFile = path.join(configDir, 'ailinux.config.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify({ extends: 'ailinux', branding: { dir: 'team/art', logo: 'logo.png' } }),
    );
    writeTree(path.join(work, 'layers', 'bootstrap', 'root'), {
      'etc/os-release': 'ID=ubuntu\n',
      'usr/share/.keep': '',
    });
    const installedLogo = path.join(work, 'layers', 'branding', 'upper', 'usr', 'share', 'ailinux', 'logo.png');
    const tally = { rounds: 0, installed: 0, refused: 0, decoy: 0, mismatched: 0 };
    arm('own', [art]);
    const started = Date.now();
    while (Date.now() - started < OWN_MS) {
      tally.rounds++;
      let hashed: string | undefined;
      try {
        const loaded = loadConfig({ configFile });
        const steps = resolveSteps(loaded.config);
        const fps = fingerprintSteps(steps, loaded.config, loaded.baseDir, { sourceDateEpoch: null });
        hashed = fps.find((f) => f.id === 'branding')!.material.files['team/art/logo.png'];
        const ctx = stepContext({ config: loaded.config, workDir: work, stepId: 'branding' });
        ctx.baseDir = loaded.baseDir;
        await brandingStep.run(ctx);
      } catch (error) {
        tally.refused++; // the dir was a symlink out at the check or at the one read: refused, naming the link
        if (isDecoy((error as Error).message) || isDecoy(hashed)) tally.decoy++;
        continue;
      }
      const logo = fs.readFileSync(installedLogo);
      if (isDecoy(logo) || isDecoy(hashed)) tally.decoy++;
      if (sha(logo) !== hashed) tally.mismatched++;
      if (logo.equals(LOGO)) tally.installed++;
      await breathe();
    }
    await disarm();
    const swaps = await swapsIn('own');
    console.log(
      `own file read race: ${tally.rounds} rounds in ${OWN_MS} ms, ${swaps} swaps landed during them; ` +
        `${tally.installed} installed the config's logo, ${tally.refused} refused, ${tally.mismatched} installed ` +
        `other bytes than were hashed, decoy reads: ${tally.decoy}`,
    );
    expect(tally.decoy).toBe(0);
    expect(tally.mismatched).toBe(0);
    expect(swaps).toBeGreaterThanOrEqual(50);
    expect(tally.installed).toBeGreaterThan(0);
  });
});

function optionValue(argv: readonly string[], name: string): string {
  return argv.find((a) => a.startsWith(`${name}=`))!.slice(name.length + 1);
}

/** grub-mkimage and mkfs.vfat leave what the real ones would (as in steps-ailinux-bootloaders.test.ts). */
function bootRunner(): FakeRunner {
  return (
    new FakeRunner()
      // the GRUB menu's background, rendered on the host: a PNG of the page size asked for
      .on('rsvg-convert', {
        effect: (call: FakeCall) =>
          fs.writeFileSync(
            optionValue(call.argv, '--output'),
            solidPng(
              Number(optionValue(call.argv, '--page-width')),
              Number(optionValue(call.argv, '--page-height')),
              '#000000',
            ),
          ),
      })
      .on('grub-mkimage', {
        effect: (call: FakeCall) => fs.writeFileSync(optionValue(call.argv, '--output'), Buffer.from('MZ core')),
      })
      .on('mkfs.vfat', {
        effect: (call: FakeCall) => fs.writeFileSync(call.argv.at(-2)!, Buffer.alloc(Number(call.argv.at(-1)) * 1024)),
      })
  );
}
