/**
 * hooks (issue 10, point 2): a config's hooks become steps hook-<name> after the step they name; each runs its script
 * in the chroot (argv, clean environment, its own layer, the script taken out again) or, binary, on the host against
 * the ISO tree (argv, what it adds and what undo takes away); the fingerprint covers the entry and the script's
 * bytes, and the plan names a changed hook; bad input is a ConfigError naming the field and the fix.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { configSchema, type BuildConfig } from '../../src/config/schema.js';
import { loadBuildConfig } from '../../src/engine/build.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { planBuild } from '../../src/engine/planner.js';
import { ConfigError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { layersFor } from '../../src/runtime/layers.js';
import { workPaths } from '../../src/runtime/paths.js';
import { expandSteps, resolveSteps } from '../../src/steps/registry.js';
import type { StepContext } from '../../src/steps/types.js';
import type { Ledger } from '../../src/types.js';
import {
  chrootEnvOf,
  expectedChrootArgv,
  makeWorkDir,
  NS_RUN,
  profileConfig,
  removeWorkDir,
} from '../helpers/step-context.js';

let work: string;
let project: string;

const sha = (data: string) => crypto.createHash('sha256').update(data).digest('hex');

function write(rel: string, content: string): void {
  const file = path.join(project, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

type HookIn = { name: string; after: string; script: string; binary?: boolean };

function configWith(hooks: HookIn[], patch?: (c: BuildConfig) => void): BuildConfig {
  return configSchema.parse(
    profileConfig('minimal', (c) => {
      (c as { hooks: unknown }).hooks = hooks;
      patch?.(c);
    }),
  );
}

function ctxFor(config: BuildConfig, stepId: string, runner = new FakeRunner()): StepContext & { infos: string[] } {
  const paths = workPaths(work);
  const steps = resolveSteps(config);
  const index = steps.findIndex((s) => s.id === stepId);
  const infos: string[] = [];
  return {
    config,
    paths,
    runner,
    log: { info: (m) => infos.push(m), line: () => {} },
    signal: new AbortController().signal,
    layers: layersFor(steps, index, paths.layersDir, paths.mntDir),
    sourceDateEpoch: null,
    cores: 2,
    baseDir: project,
    infos,
  };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('no error');
}

beforeEach(() => {
  work = makeWorkDir('ailinux-hooks-');
  project = path.join(work, 'project');
  write('hooks/issue.sh', '#!/bin/sh\necho "built with a hook" >> /etc/issue\n');
  write('hooks/readme.sh', '#!/bin/sh\necho readme > "$2/README.txt"\n');
});
afterEach(() => removeWorkDir(work));

describe('placement', () => {
  it('puts each hook right after the step it names, in the order of hooks, and not in steps', () => {
    const config = configWith([
      { name: 'issue', after: 'packages', script: 'hooks/issue.sh' },
      { name: 'second', after: 'packages', script: 'hooks/issue.sh' },
      { name: 'third', after: 'hook-issue', script: 'hooks/issue.sh' },
      { name: 'readme', after: 'bootloaders', script: 'hooks/readme.sh', binary: true },
    ]);
    expect(config.steps).not.toContain('hook-issue');
    const ids = expandSteps(config);
    const at = (id: string) => ids.indexOf(id);
    expect(ids.slice(at('packages'), at('packages') + 4)).toEqual([
      'packages',
      'hook-issue',
      'hook-third',
      'hook-second',
    ]);
    expect(ids.slice(at('bootloaders'), at('bootloaders') + 3)).toEqual(['bootloaders', 'hook-readme', 'iso']);
    // a placed list (what plan and the state show) places the same again
    expect(expandSteps({ ...config, steps: ids })).toEqual(ids);
    const steps = resolveSteps(config);
    expect(steps.find((s) => s.id === 'hook-issue')).toMatchObject({ layer: 'overlay', phase: 4 });
    expect(steps.find((s) => s.id === 'hook-readme')).toMatchObject({ layer: 'none', phase: 11 });
  });

  it('refuses an unknown after with the nearest step, and says where a hook may go', () => {
    const e = configError(() => expandSteps(configWith([{ name: 'x', after: 'pakages', script: 'hooks/issue.sh' }])));
    expect(e.message).toBe(
      'hooks.0.after: hook "x" runs after "pakages", which is no step of this config; did you mean "packages"?',
    );
    expect(e.issues[0]!.path).toBe('hooks.0.after');
    expect(e.hint).toContain('set after to one of: bootstrap, configure, packages, identity, chroot-cleanup');
  });

  it('refuses a step the profile does not run (desktop in minimal)', () => {
    const e = configError(() => expandSteps(configWith([{ name: 'x', after: 'desktop', script: 'hooks/issue.sh' }])));
    expect(e.message).toContain('runs after "desktop", which is no step of this config');
  });

  it('refuses a chroot hook before the rootfs exists, or after it is packed, and a binary hook outside the ISO tree steps', () => {
    const before = configError(() =>
      expandSteps(
        configWith([{ name: 'x', after: 'preflight', script: 'hooks/issue.sh' }], (c) => {
          c.steps = ['preflight', ...c.steps];
        }),
      ),
    );
    expect(before.message).toBe(
      'hooks.0.after: hook "x" runs in the rootfs, after a step that makes or changes it (bootstrap to chroot-cleanup); "preflight" is not such a step (before the rootfs exists)',
    );
    expect(before.hint).toMatch(/^set after to one of: bootstrap, .*chroot-cleanup, or make it a binary hook/);
    const late = configError(() =>
      expandSteps(configWith([{ name: 'x', after: 'squashfs', script: 'hooks/issue.sh' }])),
    );
    expect(late.message).toContain('"squashfs" is not such a step');
    const binary = configError(() =>
      expandSteps(configWith([{ name: 'x', after: 'packages', script: 'hooks/issue.sh', binary: true }])),
    );
    expect(binary.message).toBe(
      'hooks.0.after: binary hook "x" runs after the ISO tree is written and before the iso step; "packages" is not such a step',
    );
    expect(binary.hint).toBe('set after to one of: squashfs, bootloaders');
  });

  it('refuses a bad name and a name used twice in the schema (exit 2 at load)', () => {
    const parse = (hooks: HookIn[]) => configSchema.safeParse({ ...profileConfig('minimal'), hooks });
    const bad = parse([{ name: 'My Hook', after: 'packages', script: 'a.sh' }]);
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['hooks', 0, 'name']);
    const twice = parse([
      { name: 'a', after: 'packages', script: 'a.sh' },
      { name: 'a', after: 'identity', script: 'b.sh' },
    ]);
    expect(twice.success).toBe(false);
    expect(twice.error!.issues[0]!.path).toEqual(['hooks', 1, 'name']);
    expect(twice.error!.issues[0]!.message).toContain('hook name "a" is used twice (hooks.0.name too)');
  });

  it('at load: refuses a missing script and a hook step listed in steps, before anything runs', () => {
    const file = path.join(project, 'ailinux.config.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ extends: 'minimal', hooks: [{ name: 'x', after: 'packages', script: 'hooks/nope.sh' }] }),
    );
    const missing = configError(() => loadBuildConfig({ configFile: file, profile: null }));
    expect(missing.message).toMatch(
      /^hooks\.0\.script: the script of hook "x", hooks\/nope\.sh, is missing, not a regular file or cannot be read/,
    );
    expect(missing.hint).toContain('relative to the config file');
    const steps = profileConfig('minimal').steps;
    fs.writeFileSync(
      file,
      JSON.stringify({
        extends: 'minimal',
        hooks: [{ name: 'x', after: 'packages', script: 'hooks/issue.sh' }],
        steps: [...steps.slice(0, 3), 'hook-x', ...steps.slice(3)],
      }),
    );
    const listed = configError(() => loadBuildConfig({ configFile: file, profile: null }));
    expect(listed.message).toBe(`steps.3: "hook-x" is a hook's step, which its hook places (hooks[].after), not steps`);
    // the good config loads, with the hook placed in its steps
    fs.writeFileSync(
      file,
      JSON.stringify({ extends: 'minimal', hooks: [{ name: 'x', after: 'packages', script: 'hooks/issue.sh' }] }),
    );
    const loaded = loadBuildConfig({ configFile: file, profile: null });
    expect(loaded.config.steps.slice(2, 4)).toEqual(['packages', 'hook-x']);
    expect(loadConfig({ configFile: file, profile: null }).config.steps).not.toContain('hook-x');
  });
});

describe('a chroot hook', () => {
  it('runs its script in its own layer, in the private namespace with the clean environment, and takes it out again', async () => {
    const config = configWith([{ name: 'issue', after: 'packages', script: 'hooks/issue.sh' }]);
    config.steps = expandSteps(config);
    const runner = new FakeRunner();
    let seen = '';
    runner.on('unshare', {
      effect: () => {
        seen = fs.readFileSync(path.join(work, 'layers/hook-issue/upper/tmp/ailinux-hook-issue'), 'utf8');
      },
    });
    const ctx = ctxFor(config, 'hook-issue', runner);
    const step = resolveSteps(config).find((s) => s.id === 'hook-issue')!;
    const artifacts = await step.run(ctx);
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]!.argv).toEqual(
      expectedChrootArgv(work, 'hook-issue', ['packages', 'configure', 'bootstrap'], ['/tmp/ailinux-hook-issue']),
    );
    expect(runner.calls[0]!.options).toMatchObject({ env: chrootEnvOf(config), cleanEnv: true });
    // before chroot-cleanup a network failure is worth a retry
    expect(runner.calls[0]!.options.transientPatterns?.length).toBeGreaterThan(0);
    expect(seen).toBe('#!/bin/sh\necho "built with a hook" >> /etc/issue\n');
    const upper = path.join(work, 'layers/hook-issue/upper');
    expect(fs.existsSync(path.join(upper, 'tmp/ailinux-hook-issue'))).toBe(false);
    expect(artifacts).toEqual([{ path: 'layers/hook-issue', kind: 'dir' }]);
    await step.verify(ctx);
    await step.undo(ctx);
    expect(fs.existsSync(path.join(work, 'layers/hook-issue'))).toBe(false);
  });

  it('a failing script fails the step, and the script is still taken out of the layer', async () => {
    const config = configWith([{ name: 'issue', after: 'identity', script: 'hooks/issue.sh' }]);
    config.steps = expandSteps(config);
    const runner = new FakeRunner().on('unshare', { exitCode: 3, stderr: 'hook says no' });
    const ctx = ctxFor(config, 'hook-issue', runner);
    const step = resolveSteps(config).find((s) => s.id === 'hook-issue')!;
    await expect(step.run(ctx)).rejects.toThrow(/exited with code 3/);
    expect(fs.existsSync(path.join(work, 'layers/hook-issue/upper/tmp/ailinux-hook-issue'))).toBe(false);
  });

  it('after chroot-cleanup it gets no host resolv.conf and no network retry', async () => {
    const config = configWith([{ name: 'late', after: 'chroot-cleanup', script: 'hooks/issue.sh' }]);
    config.steps = expandSteps(config);
    const runner = new FakeRunner();
    const ctx = ctxFor(config, 'hook-late', runner);
    await resolveSteps(config)
      .find((s) => s.id === 'hook-late')!
      .run(ctx);
    expect(runner.calls[0]!.options.transientPatterns).toBeUndefined();
    expect(fs.existsSync(path.join(work, 'layers/hook-late/upper/etc/resolv.conf'))).toBe(false);
  });
});

describe('a binary hook', () => {
  it('runs on the host with the ISO tree read-only and its add dir, links what it added, and undo removes exactly that', async () => {
    const config = configWith([{ name: 'readme', after: 'bootloaders', script: 'hooks/readme.sh', binary: true }]);
    config.steps = expandSteps(config);
    const iso = path.join(work, 'iso');
    fs.mkdirSync(path.join(iso, 'boot/grub'), { recursive: true });
    fs.writeFileSync(path.join(iso, 'boot/grub/grub.cfg'), 'menu\n');
    const medium = path.join(work, 'layers/hook-readme/medium');
    const runner = new FakeRunner().on('unshare', {
      effect: (call) => {
        expect(fs.readFileSync(path.join(work, 'layers/hook-readme/script'), 'utf8')).toContain('README.txt');
        expect(call.options.cwd).toBe(medium);
        fs.writeFileSync(path.join(medium, 'README.txt'), 'readme\n');
        fs.mkdirSync(path.join(medium, 'boot/extra'), { recursive: true });
        fs.writeFileSync(path.join(medium, 'boot/extra/notes'), 'n\n');
      },
    });
    const ctx = ctxFor(config, 'hook-readme', runner);
    const step = resolveSteps(config).find((s) => s.id === 'hook-readme')!;
    expect(await step.run(ctx)).toEqual([{ path: 'layers/hook-readme', kind: 'dir' }]);
    const script = path.join(work, 'layers/hook-readme/script');
    expect(runner.calls[0]!.argv).toEqual([
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--fork',
      '--',
      NS_RUN,
      '--bind-ro',
      iso,
      iso,
      '--',
      script,
      iso,
      medium,
    ]);
    expect(runner.calls[0]!.options).toMatchObject({
      cleanEnv: true,
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        LC_ALL: 'C.UTF-8',
        AILINUX_HOOK: 'readme',
        AILINUX_ISO_TREE: iso,
        AILINUX_ISO_ADD: medium,
      },
    });
    expect(fs.readFileSync(path.join(iso, 'README.txt'), 'utf8')).toBe('readme\n');
    expect(fs.readFileSync(path.join(iso, 'boot/extra/notes'), 'utf8')).toBe('n\n');
    await step.verify(ctx);
    await step.undo(ctx);
    expect(fs.existsSync(path.join(iso, 'README.txt'))).toBe(false);
    expect(fs.existsSync(path.join(iso, 'boot/extra'))).toBe(false);
    expect(fs.readFileSync(path.join(iso, 'boot/grub/grub.cfg'), 'utf8')).toBe('menu\n');
    expect(fs.existsSync(path.join(work, 'layers/hook-readme'))).toBe(false);
  });

  it('refuses to replace a file the build wrote', async () => {
    const config = configWith([{ name: 'readme', after: 'bootloaders', script: 'hooks/readme.sh', binary: true }]);
    config.steps = expandSteps(config);
    const iso = path.join(work, 'iso');
    fs.mkdirSync(path.join(iso, 'boot/grub'), { recursive: true });
    fs.writeFileSync(path.join(iso, 'boot/grub/grub.cfg'), 'menu\n');
    const medium = path.join(work, 'layers/hook-readme/medium');
    const runner = new FakeRunner().on('unshare', {
      effect: () => {
        fs.mkdirSync(path.join(medium, 'boot/grub'), { recursive: true });
        fs.writeFileSync(path.join(medium, 'boot/grub/grub.cfg'), 'mine\n');
      },
    });
    const step = resolveSteps(config).find((s) => s.id === 'hook-readme')!;
    await expect(step.run(ctxFor(config, 'hook-readme', runner))).rejects.toThrow(
      'it added boot/grub/grub.cfg, which the ISO tree has already',
    );
    expect(fs.readFileSync(path.join(iso, 'boot/grub/grub.cfg'), 'utf8')).toBe('menu\n');
  });
});

describe('fingerprint and plan', () => {
  const fingerprints = (config: BuildConfig) =>
    fingerprintSteps(resolveSteps(config), config, project, { sourceDateEpoch: null });

  function doneLedger(config: BuildConfig): Ledger {
    const ledger: Ledger = {};
    for (const f of fingerprints(config))
      ledger[f.id] = {
        id: f.id,
        status: 'done',
        fingerprint: f.fingerprint,
        material: f.material,
        attempts: 1,
        startedAt: null,
        endedAt: '2026-12-07T00:00:00.000Z',
        durationMs: 1,
        artifacts: [],
        error: null,
        reason: null,
        runId: 'r1',
      } as unknown as Ledger[string];
    return ledger;
  }

  const planOf = (config: BuildConfig, ledger: Ledger) => planBuild(fingerprints(config), ledger, () => true);

  it('covers the entry and the script bytes', () => {
    const config = configWith([{ name: 'issue', after: 'packages', script: 'hooks/issue.sh' }]);
    const f = fingerprints(config).find((x) => x.id === 'hook-issue')!;
    expect(f.material.config).toEqual({
      'hooks.issue': { name: 'issue', after: 'packages', script: 'hooks/issue.sh', binary: false },
      'locale.lang': config.locale.lang,
      // INITRD=No in its chroot's environment on casper, before chroot-cleanup
      liveSystem: config.liveSystem,
    });
    expect(f.material.files).toEqual({
      'hook:issue': `script hooks/issue.sh sha256:${sha('#!/bin/sh\necho "built with a hook" >> /etc/issue\n')}`,
    });
  });

  it('a changed script reruns the hook and what follows, and only that; plan says which hook', () => {
    const config = configWith([{ name: 'issue', after: 'packages', script: 'hooks/issue.sh' }]);
    const ledger = doneLedger(config);
    expect(planOf(config, ledger).every((p) => p.action === 'skip')).toBe(true);
    write('hooks/issue.sh', '#!/bin/sh\necho changed >> /etc/issue\n');
    const again = configWith([{ name: 'issue', after: 'packages', script: 'hooks/issue.sh' }]);
    const plan = planOf(again, ledger);
    const first = plan.findIndex((p) => p.action === 'run');
    expect(plan[first]).toMatchObject({
      id: 'hook-issue',
      reasons: ['hook issue changed (its script hooks/issue.sh)'],
    });
    expect(plan.slice(0, first).map((p) => p.action)).toEqual(['skip', 'skip', 'skip']);
    expect(plan.slice(first).every((p) => p.action === 'run')).toBe(true);
  });

  it('a moved hook says what changed in its entry; a new hook is new', () => {
    const config = configWith([{ name: 'issue', after: 'packages', script: 'hooks/issue.sh' }]);
    const ledger = doneLedger(config);
    const moved = configWith([{ name: 'issue', after: 'identity', script: 'hooks/issue.sh' }]);
    const entry = planOf(moved, ledger).find((p) => p.id === 'hook-issue')!;
    expect(entry.reasons).toEqual(['config field hooks.issue.after changed ("packages" -> "identity")']);
    write('hooks/other.sh', '#!/bin/sh\n');
    const renamed = configWith([{ name: 'issue', after: 'packages', script: 'hooks/other.sh' }]);
    expect(planOf(renamed, ledger).find((p) => p.id === 'hook-issue')!.reasons).toEqual([
      'config field hooks.issue.script changed ("hooks/issue.sh" -> "hooks/other.sh")',
      'hook issue changed (script hooks/issue.sh -> hooks/other.sh)',
    ]);
    const added = configWith([
      { name: 'issue', after: 'packages', script: 'hooks/issue.sh' },
      { name: 'more', after: 'identity', script: 'hooks/issue.sh' },
    ]);
    const plan = planOf(added, ledger);
    expect(plan.find((p) => p.id === 'hook-more')!.reasons).toEqual(['it has never run in this work dir']);
    expect(plan.find((p) => p.id === 'identity')!.action).toBe('skip');
  });
});
