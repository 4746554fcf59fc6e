/**
 * hooks: scripts of the user's that run at named points of the build (docs/custom-profile.md). A config's `hooks`
 * list is never named in `steps`: each entry becomes a step of its own, `hook-<name>`, placed right after the step it
 * names (`after`), with `hooks.<name>` (its entry) as its config field and its script's bytes in its fingerprint. So
 * a hook has a state in the machine, a log, a checkpoint, a plan reason and a resume like every step.
 *
 * - A chroot hook (the default) runs inside the rootfs as the chroot steps do: in a private mount namespace, with the
 *   clean environment, writing its own overlay layer (undo throws the layer away). Its script is put in the layer at
 *   /tmp/ailinux-hook-<name> (mode 0755, run by its #! line) and taken out again before the layer is sealed.
 * - A binary hook (`binary: true`) runs on the host, inside the build's sandbox, after the ISO tree is written and
 *   before the iso step: `<script> <ISO tree> <add dir>` (also AILINUX_ISO_TREE and AILINUX_ISO_ADD), with the ISO
 *   tree bound read-only. What it puts in the add dir (layers/hook-<name>/medium) is linked into the ISO tree; it may
 *   add files and directories, not replace one the build wrote. Undo removes exactly what it added.
 *
 * The script is one of the user's own files (src/config/own-files.ts): read once per loaded config through
 * descriptors inside the config's directory, so the fingerprint and the step see the same bytes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { didYouMean } from '../config/nearest-name.js';
import { readOwnFile } from '../config/own-files.js';
import type { BuildConfig } from '../config/schema.js';
import { ConfigError, StepError } from '../errors.js';
import { CHROOT_PATH } from '../runtime/command-env.js';
import { namespaceArgv, writeLayerFile } from '../runtime/layers.js';
import { removeTree } from '../runtime/safe-remove.js';
import { NAMESPACE_TOOLS } from './host-requirements.js';
import { discardLayer, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import type { StepContext, StepDef } from './types.js';

export type Hook = BuildConfig['hooks'][number];

/** The prefix of a hook's script entry in a fingerprint's `files` (the planner reads it back). */
export const HOOK_KEY_PREFIX = 'hook:';
export const HOOK_STEP_PREFIX = 'hook-';
/** Where a chroot hook's script is while it runs, inside the rootfs (taken out before the layer is sealed). */
export const hookScriptInRootfs = (name: string) => `tmp/ailinux-hook-${name}`;

export const hookStepId = (name: string) => `${HOOK_STEP_PREFIX}${name}`;

/** The bytes of a hook's script, or a ConfigError naming the field and the fix (exit 2). */
export function hookScriptBytes(config: BuildConfig, baseDir: string, hook: Hook, file?: string): Buffer {
  const data = readOwnFile(config, baseDir, hook.script);
  if (data !== null) return data;
  const i = config.hooks.indexOf(hook);
  const field = `hooks.${i === -1 ? hook.name : i}.script`;
  throw new ConfigError(
    `${field}: the script of hook "${hook.name}", ${hook.script}, is missing, not a regular file or cannot be read (looked for ${path.resolve(baseDir, hook.script)})`,
    [{ path: field, value: hook.script, expected: "a readable file, relative to the config file's directory" }],
    file,
    { hint: 'hook scripts are relative to the config file; create the script or fix the path' },
  );
}

/** Refuses (exit 2) a config whose hook script is missing or unreadable: at load, before anything runs. */
export function checkHookScripts(config: BuildConfig, baseDir: string, file?: string): void {
  for (const hook of config.hooks) hookScriptBytes(config, baseDir, hook, file);
}

/** The fingerprint's entry for a hook's script: its path and content hash, in one line. */
function hookMaterial(hook: Hook) {
  return (config: BuildConfig, baseDir: string): Record<string, string> => {
    const data = hookScriptBytes(config, baseDir, hook);
    const sha = crypto.createHash('sha256').update(data).digest('hex');
    return { [`${HOOK_KEY_PREFIX}${hook.name}`]: `script ${hook.script} sha256:${sha}` };
  };
}

function chrootHookStep(hook: Hook, phase: number): StepDef {
  const id = hookStepId(hook.name);
  return {
    id,
    title: `Hook ${hook.name}: run ${hook.script} in the rootfs (after ${hook.after})`,
    version: 1,
    layer: 'overlay',
    phase,
    // locale.lang: LANG of the chroot's clean environment
    // liveSystem: INITRD=No in the chroot's environment on casper, before chroot-cleanup (layer-step.ts)
    configFields: [`hooks.${hook.name}`, 'locale.lang', 'liveSystem'],
    // a hook before chroot-cleanup may download: through the config's proxy, which is not an input
    runtimeFields: ['apt.proxy'],
    inputTree: hookMaterial(hook),
    // a hook may install packages: room for a few, checked before it starts
    diskEstimateMb: () => 256,
    async run(ctx) {
      prepareLayer(ctx);
      const data = hookScriptBytes(ctx.config, ctx.baseDir ?? process.cwd(), hook);
      const rel = hookScriptInRootfs(hook.name);
      const written = writeLayerFile(ctx.layers, rel, data, 0o755);
      ctx.log.info(`hook ${hook.name}: running ${hook.script} (${data.length} bytes) as /${rel} in the rootfs`);
      // before chroot-cleanup the image has the host's resolv.conf (configure) and a network failure is retried;
      // after it, nothing may put the host's file back
      const steps = ctx.config.steps;
      const network = steps.indexOf('chroot-cleanup') > steps.indexOf(id);
      try {
        await runInChroot(ctx, [`/${rel}`], { network });
      } finally {
        fs.rmSync(written, { force: true });
      }
      return [layerArtifact(ctx)];
    },
    async verify(ctx) {
      const own = ctx.layers.own;
      if (!own || !fs.existsSync(own.upper)) throw new StepError(id, 'its layer is missing');
      if (fs.existsSync(path.join(own.upper, hookScriptInRootfs(hook.name))))
        throw new StepError(id, `its script /${hookScriptInRootfs(hook.name)} is still in the layer`);
    },
    async undo(ctx) {
      await discardLayer(ctx);
    },
  };
}

interface Added {
  rel: string;
  kind: 'file' | 'dir' | 'symlink';
}

const hookDir = (ctx: StepContext, id: string) => path.join(ctx.paths.layersDir, id);
const addedList = (ctx: StepContext, id: string) => path.join(hookDir(ctx, id), 'added.json');

/** Links what the hook put in `medium` into the ISO tree; an entry the tree has already is refused. */
function mergeIntoTree(id: string, medium: string, tree: string): Added[] {
  const added: Added[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(medium, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const src = path.join(medium, r);
      const dst = path.join(tree, r);
      const st = fs.lstatSync(src);
      const there = fs.lstatSync(dst, { throwIfNoEntry: false });
      if (st.isDirectory()) {
        if (there && !there.isDirectory())
          throw new StepError(id, `it added the directory ${r}, but the ISO tree has a file there`);
        if (!there) {
          fs.mkdirSync(dst, { mode: st.mode & 0o7777 });
          added.push({ rel: r, kind: 'dir' });
        }
        walk(r);
      } else if (there) {
        throw new StepError(id, `it added ${r}, which the ISO tree has already`, {
          hint: 'a binary hook adds files to the medium; it does not replace one the build wrote (use another name)',
        });
      } else if (st.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(src), dst);
        added.push({ rel: r, kind: 'symlink' });
      } else if (st.isFile()) {
        fs.linkSync(src, dst);
        added.push({ rel: r, kind: 'file' });
      } else {
        throw new StepError(id, `it added ${r}, which is a device, FIFO or socket`);
      }
    }
  };
  walk('');
  return added;
}

/** Removes from the ISO tree what the hook added: its own files (same inode), links, then its empty directories. */
function removeAdded(ctx: StepContext, id: string): void {
  let added: Added[];
  try {
    added = JSON.parse(fs.readFileSync(addedList(ctx, id), 'utf8')) as Added[];
  } catch {
    return;
  }
  const medium = path.join(hookDir(ctx, id), 'medium');
  for (const a of [...added].reverse()) {
    const dst = path.join(ctx.paths.isoDir, a.rel);
    const there = fs.lstatSync(dst, { throwIfNoEntry: false });
    if (!there) continue;
    if (a.kind === 'dir') {
      if (there.isDirectory() && fs.readdirSync(dst).length === 0) fs.rmdirSync(dst);
    } else if (a.kind === 'symlink') {
      if (there.isSymbolicLink()) fs.unlinkSync(dst);
    } else {
      const ours = fs.lstatSync(path.join(medium, a.rel), { throwIfNoEntry: false });
      if (ours && ours.ino === there.ino && ours.dev === there.dev) fs.unlinkSync(dst);
    }
  }
}

function binaryHookStep(hook: Hook, phase: number): StepDef {
  const id = hookStepId(hook.name);
  return {
    id,
    title: `Binary hook ${hook.name}: run ${hook.script} on the host against the ISO tree (after ${hook.after})`,
    version: 1,
    layer: 'none',
    phase,
    configFields: [`hooks.${hook.name}`],
    inputTree: hookMaterial(hook),
    hostTools: () => [...NAMESPACE_TOOLS],
    diskEstimateMb: () => 64,
    async run(ctx) {
      const dir = hookDir(ctx, id);
      const medium = path.join(dir, 'medium');
      fs.mkdirSync(medium, { recursive: true });
      const script = path.join(dir, 'script');
      const data = hookScriptBytes(ctx.config, ctx.baseDir ?? process.cwd(), hook);
      fs.writeFileSync(script, data, { mode: 0o755 });
      const tree = ctx.paths.isoDir;
      ctx.log.info(
        `binary hook ${hook.name}: running ${hook.script} with the ISO tree ${tree} (read-only) and ${medium}`,
      );
      const argv = namespaceArgv(
        [{ type: 'none', source: tree, target: tree, options: null, bind: true, readonly: true }],
        [script, tree, medium],
      );
      await ctx.runner.run(argv, {
        cwd: medium,
        cleanEnv: true,
        env: {
          PATH: CHROOT_PATH,
          LC_ALL: 'C.UTF-8',
          AILINUX_HOOK: hook.name,
          AILINUX_ISO_TREE: tree,
          AILINUX_ISO_ADD: medium,
        },
        signal: ctx.signal,
        onLine: ctx.log.line,
      });
      const added = mergeIntoTree(id, medium, tree);
      fs.writeFileSync(addedList(ctx, id), `${JSON.stringify(added)}\n`);
      ctx.log.info(`binary hook ${hook.name}: added ${added.length} entries to the medium`);
      return [{ path: path.relative(ctx.paths.workDir, dir), kind: 'dir' }];
    },
    async verify(ctx) {
      const added = JSON.parse(fs.readFileSync(addedList(ctx, id), 'utf8')) as Added[];
      for (const a of added)
        if (!fs.lstatSync(path.join(ctx.paths.isoDir, a.rel), { throwIfNoEntry: false }))
          throw new StepError(id, `${a.rel}, which it added, is not in the ISO tree`);
    },
    async undo(ctx) {
      removeAdded(ctx, id);
      await removeTree(hookDir(ctx, id), { within: ctx.paths.workDir });
    },
  };
}

/** The steps a binary hook may follow: from the first that writes the ISO tree up to the one before iso. */
const ISO_TREE_WRITERS = ['squashfs', 'bootloaders'];

/**
 * The config's steps with its hooks placed: each right after the step it names (after the hooks placed there before
 * it, in the order of `hooks`). A hook may follow an earlier hook (`after: hook-<name>`). Refused with the field and
 * the fix (exit 2): an unknown `after` (with the nearest name), a step the config does not run, a chroot hook outside
 * the rootfs steps, a binary hook outside the ISO tree's steps.
 */
export function placeHooks(config: BuildConfig, steps: readonly StepDef[]): StepDef[] {
  let out = [...steps];
  /** Each hook step placed so far, with the step it follows. */
  const placedAfter = new Map<string, string>();
  config.hooks.forEach((hook, i) => {
    const field = `hooks.${i}.after`;
    const ids = out.map((s) => s.id);
    const at = ids.indexOf(hook.after);
    const refuse = (message: string, expected: string, hint: string): never => {
      throw new ConfigError(`${field}: ${message}`, [{ path: field, value: hook.after, expected }], undefined, {
        hint,
      });
    };
    const kind = hook.binary ? 'binary hook' : 'hook';
    const allowed = hook.binary ? binaryPlaces(out) : chrootPlaces(out);
    const where = hook.binary
      ? 'after the ISO tree is written and before the iso step'
      : 'in the rootfs, after a step that makes or changes it (bootstrap to chroot-cleanup)';
    if (at === -1) {
      const hint = `set after to one of: ${allowed.join(', ') || '(none: this config has no such step)'}`;
      refuse(
        `${kind} "${hook.name}" runs after "${hook.after}", which is no step of this config${didYouMean(hook.after, ids)}`,
        `a step of this config: ${allowed.join(', ')}`,
        hint,
      );
    }
    if (!allowed.includes(hook.after)) {
      const before = hook.binary
        ? ''
        : out.findIndex((s) => s.layer === 'base') > at
          ? ' (before the rootfs exists)'
          : '';
      refuse(
        `${kind} "${hook.name}" runs ${where}; "${hook.after}" is not such a step${before}`,
        `one of: ${allowed.join(', ')}`,
        allowed.length > 0
          ? `set after to one of: ${allowed.join(', ')}${hook.binary ? '' : ', or make it a binary hook (binary: true) to change the medium'}`
          : hook.binary
            ? 'add the iso step after squashfs and bootloaders to steps'
            : 'add bootstrap to steps',
      );
    }
    let insert = at + 1;
    while (insert < out.length && placedAfter.get(out[insert]!.id) === hook.after) insert++;
    const phase = out[at]!.phase;
    const step = hook.binary ? binaryHookStep(hook, phase) : chrootHookStep(hook, phase);
    placedAfter.set(step.id, hook.after);
    out = [...out.slice(0, insert), step, ...out.slice(insert)];
  });
  return out;
}

/** Steps a chroot hook may follow: those that make or change the rootfs, from the base step on. */
function chrootPlaces(steps: readonly StepDef[]): string[] {
  const base = steps.findIndex((s) => s.layer === 'base');
  if (base === -1) return [];
  return steps.filter((s, i) => i >= base && s.layer !== 'none').map((s) => s.id);
}

/** Steps a binary hook may follow: from the first that writes the ISO tree up to the one before iso. */
function binaryPlaces(steps: readonly StepDef[]): string[] {
  const first = steps.findIndex((s) => ISO_TREE_WRITERS.includes(s.id));
  const iso = steps.findIndex((s) => s.id === 'iso');
  if (first === -1 || iso === -1 || iso < first) return [];
  return steps.slice(first, iso).map((s) => s.id);
}

/** Whether a step id is a hook's (hook-<name>) in this config. */
export function isHookStepOf(config: BuildConfig, id: string): boolean {
  return config.hooks.some((h) => hookStepId(h.name) === id);
}
