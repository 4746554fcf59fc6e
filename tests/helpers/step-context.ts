/**
 * Building a StepContext for unit tests: a built-in profile, a tmp work dir whose layer dirs are
 * plain directories (nothing is mounted, the runner is the scripted FakeRunner), and the layers a
 * step sees as the engine would compute them from the profile's step order.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { layersFor, ownLayer, type LayerStep } from '../../src/runtime/layers.js';
import { workPaths, type WorkPaths } from '../../src/runtime/paths.js';
import { allSteps, resolveSteps } from '../../src/steps/registry.js';
import type { StepContext } from '../../src/steps/types.js';

export type ProfileName = 'minimal' | 'ailinux';

/** The helper every chroot command goes through, located independently of the code under test. */
export const NS_RUN = fileURLToPath(new URL('../../libexec/ailinux-ns-run', import.meta.url));

/** A validated built-in profile, deep-copied so a test may change it. */
export function profileConfig(name: ProfileName, patch?: (config: BuildConfig) => void): BuildConfig {
  const config = structuredClone(loadConfig({ profile: name }).config);
  patch?.(config);
  return config;
}

export function makeWorkDir(prefix = 'ailinux-step-test-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

export function removeWorkDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The profile's steps as the layer code sees them (id and layer kind, from the registry). */
export function layerSteps(config: BuildConfig): LayerStep[] {
  // a hook's step (hook-<name>) is made from the config's hooks, not registered
  const known = [...allSteps(), ...((config.hooks?.length ?? 0) > 0 ? resolveSteps(config) : [])];
  return config.steps.map((id) => {
    const def = known.find((s) => s.id === id);
    if (!def) throw new Error(`unknown step ${id}`);
    return { id: def.id, layer: def.layer };
  });
}

/** Where a step's changes land in the work dir: layers/<id>/root for the base, layers/<id>/upper for overlays. */
export function layerRoot(config: BuildConfig, workDir: string, stepId: string): string {
  const step = layerSteps(config).find((s) => s.id === stepId);
  if (!step) throw new Error(`step ${stepId} is not in the profile`);
  const own = ownLayer(workPaths(workDir).layersDir, step);
  if (!own) throw new Error(`step ${stepId} has no layer`);
  return own.upper;
}

/** Writes files (relative path to content) under root, creating parent dirs. */
export function writeTree(root: string, files: Record<string, string>, mode = 0o644): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content, { mode });
  }
}

export interface TestStepContext extends StepContext {
  runner: FakeRunner;
  /** Every ctx.log.info line. */
  infos: string[];
}

export interface StepContextOptions {
  config: BuildConfig;
  workDir: string;
  stepId: string;
  runner?: FakeRunner;
  sourceDateEpoch?: number | null;
  cores?: number;
}

export function stepContext(options: StepContextOptions): TestStepContext {
  const paths = workPaths(options.workDir);
  const steps = layerSteps(options.config);
  const index = steps.findIndex((s) => s.id === options.stepId);
  if (index < 0) throw new Error(`step ${options.stepId} is not in the profile`);
  const infos: string[] = [];
  return {
    config: options.config,
    paths,
    runner: options.runner ?? new FakeRunner(),
    log: { info: (m) => infos.push(m), line: () => {} },
    signal: new AbortController().signal,
    layers: layersFor(steps, index, paths.layersDir, paths.mntDir),
    sourceDateEpoch: options.sourceDateEpoch ?? null,
    cores: options.cores ?? 2,
    infos,
  };
}

/** A StepContext for a step that works outside the layers (bootloaders, iso …): a quiet log, no layer of its own. */
export function layerlessContext(
  config: BuildConfig,
  paths: WorkPaths,
  runner: StepContext['runner'],
  sourceDateEpoch: number | null = null,
): StepContext {
  return {
    config,
    paths,
    runner,
    log: { info: () => {}, line: () => {} },
    signal: new AbortController().signal,
    layers: { own: null, below: [], mountPoint: '/nonexistent' },
    sourceDateEpoch,
    cores: 2,
  };
}

/**
 * What runInChroot passes as env for a config, its whole environment (env -i): written out here, so a change shows.
 * dpkg's and update-mime-database's unsafe-io always; INITRD=No on casper, whose chroot-cleanup makes the initramfs (its own commands have none).
 */
export function chrootEnvOf(config: BuildConfig, options: { buildsInitramfs?: boolean } = {}): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: config.locale.lang,
    LC_ALL: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    DEBCONF_NONINTERACTIVE_SEEN: 'true',
    DPKG_FORCE: 'security-mac,downgrade,unsafe-io',
    PKGSYSTEM_ENABLE_FSYNC: '0',
    ...(config.liveSystem === 'casper' && !options.buildsInitramfs ? { INITRD: 'No' } : {}),
  };
}

/** The run options of a chroot command: its clean environment, and whatever else the call passes. */
export function chrootOptions(config: BuildConfig, extra: Record<string, unknown> = {}) {
  return { env: chrootEnvOf(config), cleanEnv: true, ...extra };
}

/** A layer's tree in a work dir, spelled out: bootstrap's root, any other step's overlay upper. */
export function layerTreeDir(workDir: string, id: string): string {
  return id === 'bootstrap' ? `${workDir}/layers/bootstrap/root` : `${workDir}/layers/${id}/upper`;
}

/** ailinux-ns-run's arguments for a chroot's fresh kernel file systems under mnt, spelled out independently of
 * chrootKernelMounts: proc with /proc/sys (and /proc/sysrq-trigger where there is one) read-only, sysfs read-only, a
 * new devpts instance and its ptmx. */
export function expectedKernelMountArgv(mnt: string): string[] {
  return [
    '--mount',
    'proc',
    'proc',
    `${mnt}/proc`,
    '-',
    '--bind-ro',
    `${mnt}/proc/sys`,
    `${mnt}/proc/sys`,
    '--bind-ro-if-present',
    `${mnt}/proc/sysrq-trigger`,
    `${mnt}/proc/sysrq-trigger`,
    '--mount',
    'sysfs',
    'sysfs',
    `${mnt}/sys`,
    'ro',
    '--mount',
    'devpts',
    'devpts',
    `${mnt}/dev/pts`,
    'newinstance,ptmxmode=0666,mode=0620',
    '--bind',
    `${mnt}/dev/pts/ptmx`,
    `${mnt}/dev/ptmx`,
  ];
}

/** The full argv of a command run in an overlay step's chroot, spelled out independently of chrootArgv. */
export function expectedChrootArgv(
  workDir: string,
  step: string,
  lowerIds: readonly string[],
  command: readonly string[],
  apt = false,
): string[] {
  const mnt = `${workDir}/mnt/${step}`;
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--fork',
    '--',
    NS_RUN,
    '--mount',
    'overlay',
    'overlay',
    mnt,
    `lowerdir=${lowerIds.map((id) => layerTreeDir(workDir, id)).join(':')},upperdir=${workDir}/layers/${step}/upper,workdir=${workDir}/layers/${step}/work`,
    ...expectedKernelMountArgv(mnt),
    ...(apt ? ['--bind', `${workDir}/cache/apt-archives`, `${mnt}/var/cache/apt/archives`] : []),
    '--',
    'chroot',
    mnt,
    ...command,
  ];
}
