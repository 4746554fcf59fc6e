/**
 * Every config field a step reads is one it declares in `configFields`. The fingerprint hashes
 * exactly the declared fields, and the planner reuses a checkpoint while the fingerprint holds, so
 * a field read but not declared would let a change to it go unnoticed: a stale step would be kept.
 *
 * Each step of both profiles, in several variants of the config that take its branches, runs its
 * input-file and disk-estimate functions, run, verify and (at the end, last step first) undo, with
 * a config that records every field read (tests/helpers/config-recorder.ts). The steps run one
 * after the other in one work dir against a scripted host (tests/helpers/fake-build-host.ts), so
 * each finds what the steps before it made and gets to its end.
 *
 * A field some earlier step declares reaches a step through the chain of fingerprints too, but only
 * while that step stays in the profile before it: each step declares its own reads.
 *
 * Exempt:
 * - preflight, and any hostOnly step: it only checks the host, its result is not checkpointed.
 * - `steps`: the fingerprints are chained (each holds the one before it), so adding, removing or
 *   reordering a step before a step changes its fingerprint. A step listed after it does not; only
 *   report reads the list for what it is (its table of steps), and report is the last step.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type BuildConfig } from '../../src/config/schema.js';
import { InputHashCache } from '../../src/engine/input-hash-cache.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { ISOLINUX_BIN, ISOLINUX_MODULES, SYSLINUX_BIOS_DIR } from '../../src/steps/isolinux.js';
import { expandSteps, resolveSteps } from '../../src/steps/registry.js';
import { OVMF_PATH } from '../../src/verify/boot.js';
import type { StepContext, StepDef } from '../../src/steps/types.js';
import { recordingConfig, type ConfigRead } from '../helpers/config-recorder.js';
import { scriptBuildHost } from '../helpers/fake-build-host.js';
import { makeWorkDir, profileConfig, removeWorkDir, stepContext, type ProfileName } from '../helpers/step-context.js';

/** Reads no fingerprint needs to cover, each with its reason (see the header). */
const EXEMPT_FIELDS: ReadonlyArray<{ field: string; why: string }> = [
  { field: 'steps', why: 'the fingerprints are chained, so the steps before a step are part of its fingerprint' },
];

type Phase = 'inputFiles' | 'diskEstimateMb' | 'run' | 'verify' | 'undo';

/** The steps whose run is mostly rendering config into files: the variants must include them. */
const RENDERING_STEPS = ['configure', 'installer', 'branding', 'identity', 'bootloaders'];

/** Failures a variant is made to reach (a branch that ends in an error); any other failure fails the test. */
const EXPECTED_FAILURES: Record<string, Partial<Record<string, RegExp>>> = {
  'ailinux, no desktop or installer, a boot test with no firmware to boot': {
    'verify.run': /verify\.boot is on, but there is nothing to boot/,
    'verify.verify': /is missing or not JSON/,
  },
};

/** The bootloaders step copies ISOLINUX from the host, and a UEFI boot test needs OVMF: without them those branches are left out. */
const ISOLINUX_ON_HOST = [ISOLINUX_BIN, ...ISOLINUX_MODULES.map((m) => `${SYSLINUX_BIOS_DIR}/${m}`)].every((f) =>
  fs.existsSync(f),
);
const OVMF_ON_HOST = fs.existsSync(OVMF_PATH);

interface Variant {
  name: string;
  profile: ProfileName;
  sourceDateEpoch: number | null;
  patch?: (config: BuildConfig, files: HostFiles) => void;
}

/** Host files the variants name, in the directory relative config paths resolve against. */
interface HostFiles {
  keyringSha256: string;
  repoKeySha256: string;
}

/** The Ubuntu keyring the profile names is not on a Debian host: a pinned file of ours stands in. */
function ownKeyring(config: BuildConfig, files: HostFiles): void {
  config.distribution.keyring = { path: 'keys/ubuntu-archive-keyring.gpg', sha256: files.keyringSha256 };
}

const VARIANTS: readonly Variant[] = [
  { name: 'minimal', profile: 'minimal', sourceDateEpoch: 1_700_000_000 },
  { name: 'ailinux', profile: 'ailinux', sourceDateEpoch: null, patch: ownKeyring },
  {
    name: 'ailinux, every option on: ISOLINUX, branding files, helper with launcher, extra repository, a squashfs per layer',
    profile: 'ailinux',
    sourceDateEpoch: 1_700_000_000,
    patch: (c, files) => {
      c.distribution.keyring = { path: 'keys/ubuntu-archive-keyring.gpg' };
      c.distribution.sources[0]!.signedBy = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';
      c.distribution.extraRepositories = [
        {
          name: 'extra',
          uri: 'https://repo.example.org/apt',
          suites: ['stable'],
          components: ['main'],
          key: { path: 'keys/extra.gpg', sha256: files.repoKeySha256 },
        },
      ];
      c.bootstrap = { tool: 'mmdebstrap', variant: 'buildd', include: ['ca-certificates'] };
      c.packages.installRecommends = true;
      c.packages.extra = ['htop'];
      c.branding = {
        ...c.branding,
        url: 'https://ailinux.example.org',
        dir: 'branding',
        logo: 'logo.png',
        welcome: 'welcome.png',
        splash: 'splash.png',
        wallpaper: 'wallpaper.png',
      };
      c.helper = {
        name: 'ai-helper',
        title: 'AI helper',
        comment: 'Ask the helper',
        files: [{ source: 'helper/ai-helper', destination: '/usr/local/bin/ai-helper', mode: '0755' }],
        launcher: { exec: '/usr/local/bin/ai-helper --gui', icon: 'help-browser', terminal: true },
      };
      c.liveUser.autologin = false;
      c.iso.isolinux = ISOLINUX_ON_HOST;
      c.iso.secureBoot = false;
      c.iso.serialConsole = true;
      // a squashfs per layer on casper: the boot menus name the top image (layerfs-path=) and the locale
      c.squashfs = { compression: 'xz', exclude: ['boot', 'tmp'], layers: true };
      c.verify = { ...c.verify, boot: true, bios: true, uefi: OVMF_ON_HOST };
      delete c.installer.efiBootloaderId;
    },
  },
  {
    name: 'minimal with early and late overlays (the steps join the list by autoPlace), a squashfs per layer',
    profile: 'minimal',
    sourceDateEpoch: null,
    patch: (c) => {
      c.overlays = { early: ['overlay-early'], late: ['overlay-late', 'overlay-late-2'] };
      c.steps = expandSteps(c);
      // one image per layer (squashfs-layers.ts): the layers are what the overlays add to
      c.squashfs.layers = true;
    },
  },
  {
    name: 'minimal with a chroot hook and a binary hook (their steps are placed by after)',
    profile: 'minimal',
    sourceDateEpoch: null,
    patch: (c) => {
      c.hooks = [
        { name: 'issue', after: 'packages', script: 'hooks/issue.sh', binary: false },
        { name: 'readme', after: 'bootloaders', script: 'hooks/readme.sh', binary: true },
      ];
      c.steps = expandSteps(c);
    },
  },
  {
    name: 'minimal with removed packages, debconf answers and a proxy (packages-remove joins by autoPlace)',
    profile: 'minimal',
    sourceDateEpoch: null,
    patch: (c) => {
      c.packages.remove = ['nano', 'vim-tiny'];
      c.debconf = [
        { package: 'tzdata', question: 'tzdata/Areas', type: 'select', value: 'Europe' },
        { package: 'acme', question: 'acme/secret', type: 'password', value: 'hunter2' },
      ];
      c.apt = { proxy: 'http://127.0.0.1:3142' };
      c.steps = expandSteps(c);
    },
  },
  {
    name: 'minimal, UEFI only, symlinked resolv.conf, generated locales, helper without launcher',
    profile: 'minimal',
    sourceDateEpoch: null,
    patch: (c) => {
      c.description = '';
      c.bootstrap = { tool: 'debootstrap', variant: 'default', include: ['ca-certificates'] };
      c.distribution.resolvConf = { symlink: '../run/systemd/resolve/stub-resolv.conf' };
      c.locale.generate = ['de_DE.UTF-8'];
      c.packages.firmware = ['firmware-linux-free'];
      c.liveUser.autologin = true;
      c.liveUser.groups = ['audio', 'missing-group'];
      c.helper = {
        name: 'notes',
        title: 'Notes',
        comment: '',
        files: [{ source: 'helper/notes.txt', destination: '/usr/share/doc/notes.txt', mode: '0644' }],
      };
      c.squashfs = { compression: 'gzip', level: 6, exclude: [], layers: false };
      c.iso.bios = false;
      c.iso.serialConsole = false;
      c.verify = { ...c.verify, boot: OVMF_ON_HOST, bios: false, uefi: true };
    },
  },
  {
    name: 'ailinux, no desktop or installer, a boot test with no firmware to boot',
    profile: 'ailinux',
    sourceDateEpoch: null,
    patch: (c, files) => {
      ownKeyring(c, files);
      c.packages.desktop = [];
      c.packages.apps = [];
      c.packages.installer = [];
      c.installer.launcher = false;
      c.iso.uefi = false;
      // Secure Boot without UEFI is refused at load (a rule across fields)
      c.iso.secureBoot = false;
      c.squashfs = { compression: 'lz4', exclude: [], layers: false };
      c.verify = { ...c.verify, boot: true, bios: false, uefi: true };
    },
  },
];

interface StepRecord {
  /** Path of each read, with the variant and phase of every time it was read. */
  reads: Map<string, Set<string>>;
  /** Per variant and phase (run, verify, undo): "completed" or the error. */
  outcomes: Map<string, string>;
}

const records = new Map<string, StepRecord>();
/** Each variant's steps, in the order they ran. */
const stepOrder = new Map<string, string[]>();
const declared = new Map<string, readonly string[]>();
let hostDir = '';
const workDirs: string[] = [];

function recordOf(stepId: string): StepRecord {
  let r = records.get(stepId);
  if (!r) {
    r = { reads: new Map(), outcomes: new Map() };
    records.set(stepId, r);
  }
  return r;
}

function readName(read: ConfigRead): string {
  const field = read.path === '' ? '(the whole config)' : read.path;
  return read.kind === 'keys' ? `${field} (its keys)` : read.absent ? `${field} (absent)` : field;
}

function writeHostFiles(dir: string): HostFiles {
  const write = (rel: string, data: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
    return crypto.createHash('sha256').update(data).digest('hex');
  };
  for (const image of ['logo', 'welcome', 'splash', 'wallpaper'])
    write(`branding/${image}.png`, solidPng(32, 16, '#3daee9'));
  write('helper/ai-helper', '#!/bin/sh\nexec echo "ask me"\n');
  write('helper/notes.txt', 'Notes for the live user.\n');
  write('overlay-early/etc/apt/apt.conf.d/99test', 'Acquire::Retries "3";\n');
  write('overlay-late/etc/motd', 'hello\n');
  write('overlay-late-2/usr/local/bin/tool', '#!/bin/sh\n');
  write('hooks/issue.sh', '#!/bin/sh\necho hook >> /etc/issue\n');
  write('hooks/readme.sh', '#!/bin/sh\necho readme > "$2/README.txt"\n');
  return {
    keyringSha256: write('keys/ubuntu-archive-keyring.gpg', Buffer.from([0x99, 0x01, 0x0d, 0x04, 0x5a])),
    repoKeySha256: write('keys/extra.gpg', Buffer.from([0x99, 0x01, 0x0d, 0x04, 0x6b])),
  };
}

function variantConfig(variant: Variant, files: HostFiles): BuildConfig {
  const config = profileConfig(variant.profile, (c) => variant.patch?.(c, files));
  // the variant must be a config the loader would accept
  return configSchema.parse(config);
}

async function attempt(outcomes: Map<string, string>, key: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
    outcomes.set(key, 'completed');
  } catch (error) {
    outcomes.set(key, `threw: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** One variant: its steps one after the other in a fresh work dir, then their undos, last step first. */
async function runVariant(variant: Variant, files: HostFiles): Promise<void> {
  const config = variantConfig(variant, files);
  const workDir = makeWorkDir('ailinux-step-fields-');
  workDirs.push(workDir);
  const runner = scriptBuildHost(new FakeRunner(), config, workDir);
  const steps = resolveSteps(config).filter((s) => !s.hostOnly);
  stepOrder.set(
    variant.name,
    steps.map((s) => s.id),
  );
  const contexts: Array<{ step: StepDef; ctx: StepContext; setPhase: (p: Phase) => void }> = [];
  for (const step of steps) {
    // a field read at run time only (apt.proxy) is declared in runtimeFields, outside the fingerprint
    declared.set(step.id, [...step.configFields, ...(step.runtimeFields ?? [])]);
    const record = recordOf(step.id);
    let phase: Phase = 'inputFiles';
    const recorded = recordingConfig(config, (read) => {
      const name = readName(read);
      const seen = record.reads.get(name) ?? new Set<string>();
      seen.add(`${variant.name}: ${phase}`);
      record.reads.set(name, seen);
    });
    const ctx: StepContext = {
      ...stepContext({ config, workDir, stepId: step.id, runner, sourceDateEpoch: variant.sourceDateEpoch }),
      config: recorded,
      baseDir: hostDir,
    };
    const setPhase = (p: Phase) => {
      phase = p;
    };
    contexts.push({ step, ctx, setPhase });
    step.inputFiles?.(recorded);
    step.inputTree?.(recorded, hostDir, (handle) => new InputHashCache({ file: null }).hashHandle(handle, 'x'));
    setPhase('diskEstimateMb');
    step.diskEstimateMb?.(recorded);
    setPhase('run');
    await attempt(record.outcomes, `${variant.name}|run`, () => step.run(ctx));
    setPhase('verify');
    await attempt(record.outcomes, `${variant.name}|verify`, () => step.verify(ctx));
  }
  for (const { step, ctx, setPhase } of contexts.reverse()) {
    setPhase('undo');
    await attempt(recordOf(step.id).outcomes, `${variant.name}|undo`, () => step.undo(ctx));
  }
}

/**
 * A declared field covers a read of itself or of a field under it. A read of an absent object (`helper` when the
 * config has none) is covered by a declared field under it too: the object's absence is all the step saw, and once it
 * is there, each of its fields the step reads is recorded (and must be declared) on its own. So a step may declare
 * only the parts of an object it reads (identity: helper.launcher, not helper.files).
 */
function covers(field: string, read: string): boolean {
  const absent = read.endsWith(' (absent)');
  const path = read.replace(/ \((its keys|absent)\)$/, '');
  return path === field || path.startsWith(`${field}.`) || (absent && field.startsWith(`${path}.`));
}

/** Per step, the fields it read that neither its declaration nor an exemption covers, with where they were read. */
function undeclaredReads(fieldsOf: (stepId: string) => readonly string[]): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const [stepId, record] of records) {
    const fields = [...fieldsOf(stepId), ...EXEMPT_FIELDS.map((e) => e.field)];
    for (const [read, where] of record.reads) {
      if (fields.some((f) => covers(f, read))) continue;
      out[stepId] ??= {};
      out[stepId][read] = [...where].sort();
    }
  }
  return out;
}

function formatUndeclared(found: Record<string, Record<string, string[]>>): string {
  return Object.entries(found)
    .map(
      ([stepId, reads]) =>
        `${stepId} reads fields it does not declare in configFields:\n${Object.entries(reads)
          .map(([read, where]) => `  ${read}  (${where.slice(0, 3).join('; ')}${where.length > 3 ? '; …' : ''})`)
          .join('\n')}`,
    )
    .join('\n');
}

beforeAll(async () => {
  hostDir = makeWorkDir('ailinux-step-fields-host-');
  const files = writeHostFiles(hostDir);
  for (const variant of VARIANTS) await runVariant(variant, files);
}, 60_000);

afterAll(() => {
  for (const dir of [...workDirs, hostDir]) if (dir) removeWorkDir(dir);
});

describe('the fields each step reads', () => {
  it('runs every step of every variant to its end, except the failures a variant is made to reach', () => {
    const lines: string[] = [];
    const unexpected: string[] = [];
    for (const variant of VARIANTS) {
      lines.push(`${variant.name}:`);
      for (const stepId of stepOrder.get(variant.name)!) {
        const record = records.get(stepId)!;
        const phases = (['run', 'verify', 'undo'] as const).filter((p) => record.outcomes.has(`${variant.name}|${p}`));
        if (phases.length === 0) continue;
        const parts = phases.map((p) => `${p} ${record.outcomes.get(`${variant.name}|${p}`)}`);
        lines.push(`  ${stepId.padEnd(15)}${parts.join(', ')}`);
        for (const p of phases) {
          const outcome = record.outcomes.get(`${variant.name}|${p}`)!;
          const expected = EXPECTED_FAILURES[variant.name]?.[`${stepId}.${p}`];
          if (expected ? !expected.test(outcome) : outcome !== 'completed')
            unexpected.push(`${variant.name}: ${stepId}.${p} ${outcome}${expected ? ` (expected ${expected})` : ''}`);
        }
      }
    }
    if (!ISOLINUX_ON_HOST) lines.push(`(no ISOLINUX on this host: iso.isolinux stayed off; ${ISOLINUX_BIN})`);
    if (!OVMF_ON_HOST) lines.push(`(no OVMF on this host: no UEFI boot test; ${OVMF_PATH})`);
    console.log(`how far each step got:\n${lines.join('\n')}`);
    expect(unexpected, unexpected.join('\n')).toEqual([]);
    // the rendering steps ran in at least one variant each, so their reads are in the record
    for (const id of RENDERING_STEPS) expect(records.get(id)?.outcomes.size, id).toBeGreaterThan(0);
  });

  it('reads no config field a step does not declare (preflight and `steps` exempt)', () => {
    expect(records.has('preflight')).toBe(false);
    const found = undeclaredReads((id) => declared.get(id) ?? []);
    expect(found, formatUndeclared(found)).toEqual({});
  });

  it('every declared field a step reads is needed: without it, the reads it covers are reported', () => {
    const notNeeded: string[] = [];
    for (const [stepId, fields] of declared) {
      for (const field of fields) {
        const read = [...records.get(stepId)!.reads.keys()].some((r) => covers(field, r));
        if (!read) continue;
        const found = undeclaredReads((id) => (id === stepId ? fields.filter((f) => f !== field) : declared.get(id)!));
        if (!found[stepId]) notNeeded.push(`${stepId}: ${field} (another declared field covers every read of it)`);
      }
    }
    expect(notNeeded).toEqual([]);
  });

  it('lists the declared fields no variant read (info: a shell script the step writes may read them)', () => {
    const unread: string[] = [];
    for (const [stepId, fields] of declared) {
      const reads = [...records.get(stepId)!.reads.keys()];
      for (const field of fields) if (!reads.some((r) => covers(field, r))) unread.push(`${stepId}: ${field}`);
    }
    console.info(
      unread.length > 0
        ? `declared but not read in any variant:\n  ${unread.join('\n  ')}`
        : 'every declared field is read',
    );
    expect(declared.size).toBeGreaterThan(0);
  });
});

describe('the recording config', () => {
  const sample = () => ({
    name: 'x',
    iso: { bios: true, uefi: false, kernelArgs: ['quiet'] },
    helper: undefined as { name: string } | undefined,
    nested: { deep: { leaf: 1 } },
  });
  const readsOf = (use: (config: ReturnType<typeof sample>) => unknown): string[] => {
    const reads: string[] = [];
    use(recordingConfig(sample(), (r) => reads.push(readName(r))));
    return reads;
  };

  it('records the leaf of a path, not the objects on the way', () => {
    expect(readsOf((c) => c.nested.deep.leaf)).toEqual(['nested.deep.leaf']);
  });

  it('records an array as one read, whatever is done with it', () => {
    expect(readsOf((c) => c.iso.kernelArgs.length)).toEqual(['iso.kernelArgs']);
    expect(readsOf((c) => [...c.iso.kernelArgs])).toEqual(['iso.kernelArgs']);
  });

  it('records an absent optional field, as absent', () => {
    expect(readsOf((c) => c.helper?.name)).toEqual(['helper (absent)']);
    expect(readsOf((c) => 'helper' in c)).toEqual(['helper (absent)']);
    expect(readsOf((c) => 'name' in c)).toEqual(['name']);
  });

  it("covers an absent object's read by a declared field under it, and only an absent one's", () => {
    expect(covers('helper.launcher', 'helper (absent)')).toBe(true);
    expect(covers('helper.launcher', 'helper')).toBe(false);
    expect(covers('helper.launcher', 'helperx (absent)')).toBe(false);
    expect(covers('helper.launcher', 'helper.files (absent)')).toBe(false);
  });

  it('records a spread, JSON.stringify or Object.keys as reading the object whole and each value in it', () => {
    expect(readsOf((c) => ({ ...c.iso }))).toEqual(['iso (its keys)', 'iso.bios', 'iso.uefi', 'iso.kernelArgs']);
    expect(readsOf((c) => JSON.stringify(c.nested))).toEqual([
      'nested (its keys)',
      'nested.deep (its keys)',
      'nested.deep.leaf',
    ]);
    expect(readsOf((c) => Object.keys(c))).toEqual(['(the whole config) (its keys)']);
  });

  it('covers a read by the declared field or a section above it, never by a field below it', () => {
    expect(covers('liveUser', 'liveUser.name')).toBe(true);
    expect(covers('liveUser.name', 'liveUser.name')).toBe(true);
    expect(covers('iso.bios', 'iso (its keys)')).toBe(false);
    expect(covers('iso', 'iso (its keys)')).toBe(true);
    expect(covers('iso.bios', 'iso.biosExtra')).toBe(false);
  });

  it('refuses a write to the config', () => {
    const config = recordingConfig(sample(), () => {});
    expect(() => {
      config.iso.bios = false;
    }).toThrow(/wrote to the config \(iso\)/);
  });
});
