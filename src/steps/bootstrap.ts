/**
 * bootstrap: the base layer, made by debootstrap or mmdebstrap, with a deb cache that survives builds. debootstrap
 * runs in two stages: the first (download and unpack, no mounts) on the host without CAP_SYS_ADMIN, the second (dpkg
 * and the maintainer scripts) in the layer's chroot like every later step's commands: fresh read-only kernel mounts,
 * the clean environment, no CAP_SYS_ADMIN. mmdebstrap mounts in its target itself, so it keeps CAP_SYS_ADMIN.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { CHROOT_DROPPED_CAPS, HOST_CAPS, withoutCaps } from '../runtime/capability-drop.js';
import { chrootEnv, proxyEnv } from '../runtime/command-env.js';
import { chrootArgv, isFileInLayers } from '../runtime/layers.js';
import { NETWORK_TRANSIENT_PATTERNS } from '../runtime/runner.js';
import {
  describeKeyringSource,
  fetchArchiveKeyring,
  keyringSource,
  pinnedArchiveKeys,
  UBUNTU_ARCHIVE_KEYRING,
} from './archive-keyring.js';
import { bootstrapMirror, bootstrapSuites } from './archive-suites.js';
import { hostPathOf } from './config-files.js';
import { discardLayer, layerArtifact, ownLayerOf, prepareLayer } from './layer-step.js';
import { keepLayer, restoreLayer, stageForDebootstrap, storeDebootstrapDownloads } from './shared-debs.js';
import type { StepContext, StepDef } from './types.js';

/** keyringPath: the keyring as a host path (a relative one in the config resolves against the config file's directory). */
export function bootstrapArgv(
  config: BuildConfig,
  target: string,
  debCache: string,
  keyringPath = config.distribution.keyring?.path,
): string[] {
  const d = config.distribution;
  const b = config.bootstrap;
  const isolated = ['unshare', '--mount', '--propagation', 'private', '--fork', '--'];
  if (b.tool === 'mmdebstrap') {
    return [
      ...isolated,
      ...withoutCaps(HOST_CAPS, [
        'mmdebstrap',
        '--mode=root',
        `--variant=${b.variant === 'minbase' ? 'minbase' : b.variant === 'buildd' ? 'buildd' : 'important'}`,
        `--architectures=${config.architecture}`,
        `--components=${d.components.join(',')}`,
        ...(b.include.length ? [`--include=${b.include.join(',')}`] : []),
        ...(keyringPath ? [`--keyring=${keyringPath}`] : []),
        d.suite,
        target,
        bootstrapMirror(config),
      ]),
    ];
  }
  return [
    ...isolated,
    ...withoutCaps(CHROOT_DROPPED_CAPS, [
      'debootstrap',
      '--foreign',
      ...(b.variant === 'default' ? [] : [`--variant=${b.variant}`]),
      `--arch=${config.architecture}`,
      `--components=${d.components.join(',')}`,
      ...(b.include.length ? [`--include=${b.include.join(',')}`] : []),
      ...(keyringPath ? [`--keyring=${keyringPath}`] : []),
      `--cache-dir=${debCache}`,
      d.suite,
      target,
      bootstrapMirror(config),
      ...(d.debootstrapScript ? [d.debootstrapScript] : []),
    ]),
  ];
}

/** debootstrap's second stage, run in the chroot of the tree its first stage (--foreign) unpacked. */
export const DEBOOTSTRAP_SECOND_STAGE = ['/debootstrap/debootstrap', '--second-stage'] as const;

/**
 * In a container (it looks for /.dockerenv) debootstrap's first stage makes /proc a symlink to /proc; the chroot's
 * own proc is mounted on /proc, so it must be a directory, as debootstrap's second stage would make it.
 */
function replaceProcSymlink(root: string): void {
  const proc = path.join(root, 'proc');
  if (!fs.lstatSync(proc, { throwIfNoEntry: false })?.isSymbolicLink()) return;
  fs.unlinkSync(proc);
  fs.mkdirSync(proc, { mode: 0o555 });
}

function checkKeyring(config: BuildConfig, file: string | undefined): void {
  const keyring = config.distribution.keyring;
  if (!keyring || file === undefined) return;
  if (!fs.existsSync(file)) {
    throw new StepError('bootstrap', `the archive keyring ${file} does not exist on this host`, {
      hint:
        config.distribution.family === 'ubuntu'
          ? 'fix distribution.keyring.path, or leave it at /usr/share/keyrings/ubuntu-archive-keyring.gpg (the default, with no sha256): ailinux then fetches ubuntu-keyring from the archive when the host lacks it (docs/profiles.md)'
          : 'install the keyring package (apt-get install debian-archive-keyring) or fix distribution.keyring.path',
    });
  }
  if (keyring.sha256) {
    const actual = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    if (actual !== keyring.sha256) {
      throw new StepError(
        'bootstrap',
        `the keyring ${file} has sha256 ${actual}, but the config pins ${keyring.sha256}`,
        {
          hint: 'use the keyring the config pins, or update distribution.keyring.sha256 if you trust the new file',
        },
      );
    }
  }
}

/** The keyring debootstrap gets: the configured one, the host's own, or one fetched into the work dir. */
async function archiveKeyringFor(ctx: StepContext): Promise<string | undefined> {
  const source = keyringSource(ctx.config, ctx.paths.workDir, (p) => hostPathOf(ctx, p));
  if (source === null) return undefined;
  if (source.kind === 'fetch') {
    await fetchArchiveKeyring(
      { runner: ctx.runner, signal: ctx.signal, tmpDir: ctx.paths.tmpDir },
      ctx.config,
      ctx.paths.workDir,
      ctx.log.info,
    );
  }
  ctx.log.info(
    `archive keyring: ${describeKeyringSource(keyringSource(ctx.config, ctx.paths.workDir, (p) => hostPathOf(ctx, p))!)}`,
  );
  return source.path;
}

export const bootstrapStep: StepDef = {
  id: 'bootstrap',
  title: 'Bootstrap the base system',
  version: 1,
  layer: 'base',
  phase: 2,
  hostTools: (config) => [
    {
      name: config.bootstrap.tool,
      pkg: config.bootstrap.tool,
      why: 'the base layer (bootstrap step)',
      versionArgs: ['--version'],
    },
    // the Ubuntu archive keyring is fetched when the host lacks it (archive-keyring.ts)
    ...(pinnedArchiveKeys(config).length > 0 && !fs.existsSync(UBUNTU_ARCHIVE_KEYRING)
      ? [
          {
            name: 'gpg',
            pkg: 'gpg',
            why: 'checks the fetched Ubuntu archive keyring against the pinned archive keys',
            versionArgs: ['--version'],
          },
          {
            name: 'dpkg-deb',
            pkg: 'dpkg',
            why: 'unpacks the fetched ubuntu-keyring package',
            versionArgs: ['--version'],
          },
        ]
      : []),
  ],
  hostFiles: (config) =>
    config.bootstrap.tool === 'debootstrap' && config.distribution.debootstrapScript
      ? [
          {
            path: config.distribution.debootstrapScript,
            pkg: 'debootstrap',
            why: 'the debootstrap script for the suite',
          },
        ]
      : [],
  configFields: [
    'architecture',
    // the disk estimate and the hint for a missing keyring
    'distribution.family',
    'distribution.suite',
    'distribution.mirror',
    'distribution.components',
    'distribution.keyring',
    'distribution.debootstrapScript',
    // the mirror debootstrap reads is the snapshot service's when it is set
    'distribution.snapshot',
    'bootstrap',
  ],
  // the suite it bootstraps: its Release digest is in the fingerprint
  archiveSuites: bootstrapSuites,
  // the downloads go through it; a proxy changes how the archive is reached, not what the step makes
  runtimeFields: ['apt.proxy'],
  diskEstimateMb: (config) => (config.distribution.family === 'ubuntu' ? 500 : 400),
  inputFiles: (config) => (config.distribution.keyring ? [config.distribution.keyring.path] : []),
  // the archive keys a fetched keyring must hold: new pins rerun the bootstrap
  pinned: (config) => {
    const keys = pinnedArchiveKeys(config);
    return keys.length > 0 ? { 'archive keys': keys } : {};
  },
  async run(ctx: StepContext) {
    const keyringPath = await archiveKeyringFor(ctx);
    checkKeyring(ctx.config, keyringPath);
    prepareLayer(ctx);
    fs.mkdirSync(ctx.paths.debCache, { recursive: true });
    const target = ownLayerOf(ctx).upper;
    // another work dir's bootstrap of the same fingerprint, kept in the shared cache and checked
    if (await restoreLayer(ctx, target)) return [layerArtifact(ctx)];
    // debootstrap's --cache-dir gets the shared cache's files; mmdebstrap takes no cache dir
    const staged = ctx.config.bootstrap.tool === 'debootstrap' ? stageForDebootstrap(ctx, ctx.paths.debCache) : null;
    ctx.log.info(
      `bootstrapping ${ctx.config.distribution.suite} from ${bootstrapMirror(ctx.config)} with ${ctx.config.bootstrap.tool}`,
    );
    await ctx.runner.run(bootstrapArgv(ctx.config, target, ctx.paths.debCache, keyringPath), {
      // the config's proxy, over any the host's environment has; not an input (runtimeFields)
      ...(ctx.config.apt.proxy ? { env: proxyEnv(ctx.config.apt.proxy) } : {}),
      signal: ctx.signal,
      onLine: ctx.log.line,
      transientPatterns: NETWORK_TRANSIENT_PATTERNS,
    });
    if (ctx.config.bootstrap.tool === 'debootstrap') {
      replaceProcSymlink(target);
      // as runInChroot runs a chroot command, but with LANG C.UTF-8: the base layer never depends on the image's locale
      await ctx.runner.run(chrootArgv(ctx.layers, DEBOOTSTRAP_SECOND_STAGE), {
        env: chrootEnv({ lang: 'C.UTF-8', sourceDateEpoch: ctx.sourceDateEpoch }) as Record<string, string>,
        cleanEnv: true,
        signal: ctx.signal,
        onLine: ctx.log.line,
      });
    }
    if (staged !== null) storeDebootstrapDownloads(ctx, ctx.paths.debCache, staged);
    await keepLayer(ctx, target);
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    for (const rel of ['var/lib/dpkg/status', 'usr/bin/dpkg', 'etc/os-release']) {
      // resolved inside the layer: fs.existsSync followed an absolute link there to the host's file
      if (!isFileInLayers(ctx.layers, rel)) {
        throw new StepError('bootstrap', `the bootstrapped tree has no /${rel}`, {
          hint: 'see the step log',
          hintArgv: ['ailinux', 'log', 'bootstrap'],
        });
      }
    }
  },
  undo: discardLayer,
};
