/**
 * Issue 10, points 4 to 6: packages.remove (the packages-remove step), debconf (answers preseeded by configure) and
 * apt.proxy (how the archives are reached; in no fingerprint). For each: where it runs, the argv and stdin the fake
 * runner sees, the files, the fingerprint, the reason `plan` gives, and the rule that no field is silently ignored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { fieldValues, maskedConfig, SECRET_PLACEHOLDER } from '../../src/config/provenance.js';
import { configSchema, type BuildConfig } from '../../src/config/schema.js';
import { type ConfigError, StepError } from '../../src/errors.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { planBuild } from '../../src/engine/planner.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import { bootstrapStep } from '../../src/steps/bootstrap.js';
import { configureStep, renderSelections } from '../../src/steps/configure.js';
import { unusedFields } from '../../src/steps/field-use.js';
import { autoInstalled, packagesRemoveStep, removeCommands } from '../../src/steps/packages-remove.js';
import { expandSteps, resolveSteps } from '../../src/steps/registry.js';
import { innerCommand } from '../helpers/fake-build-host.js';
import {
  chrootEnvOf,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
} from '../helpers/step-context.js';
import { doneLedger } from '../helpers/ledger.js';

let work: string;
beforeEach(() => {
  work = makeWorkDir('ailinux-remove-debconf-proxy-');
});
afterEach(() => removeWorkDir(work));

const ANSWERS: BuildConfig['debconf'] = [
  { package: 'tzdata', question: 'tzdata/Areas', type: 'select', value: 'Europe' },
  { package: 'acme', question: 'acme/admin-password', type: 'password', value: 'hunter2-secret' },
  { package: 'acme', question: 'acme/enable', type: 'boolean', value: 'true' },
];

function configWith(patch: (c: BuildConfig) => void, profile: 'minimal' | 'ailinux' = 'minimal'): BuildConfig {
  return profileConfig(profile, (c) => {
    patch(c);
    c.steps = expandSteps(c);
  });
}

function status(names: readonly string[]): string {
  return names.map((p) => `Package: ${p}\nStatus: install ok installed\nVersion: 1.0\n`).join('\n');
}

function fingerprints(config: BuildConfig) {
  return fingerprintSteps(resolveSteps(config), config, work, { sourceDateEpoch: null });
}

/** The plan of `after` over a ledger of `before`: each step's action and reasons. */
function planOf(before: BuildConfig, after: BuildConfig) {
  return Object.fromEntries(
    planBuild(fingerprints(after), doneLedger(fingerprints(before)), () => true).map((p) => [p.id, p]),
  );
}

const inner = (call: FakeCall) => innerCommand(call.argv).command;

describe('packages.remove: the packages-remove step', () => {
  it('joins the steps after the last package step, before overlay-late and identity, in both profiles', () => {
    const minimal = configWith((c) => {
      c.packages.remove = ['nano'];
    });
    expect(minimal.steps.slice(1, 5)).toEqual(['configure', 'packages', 'packages-remove', 'identity']);
    const ailinux = configWith((c) => {
      c.packages.remove = ['nano'];
      c.overlays.late = ['late'];
    }, 'ailinux');
    const at = ailinux.steps.indexOf('packages-remove');
    expect(ailinux.steps.slice(at - 1, at + 3)).toEqual(['branding', 'packages-remove', 'overlay-late', 'identity']);
    // not set: not in the steps
    expect(configWith(() => {}).steps).not.toContain('packages-remove');
  });

  it('purges the listed packages, then autoremoves with --purge, in the chroot without the network', async () => {
    const config = configWith((c) => {
      c.packages.remove = ['nano', 'vim-tiny'];
      c.apt.proxy = 'http://127.0.0.1:3142';
    });
    expect(removeCommands(config)).toEqual([
      ['apt-get', 'purge', '-y', 'nano', 'vim-tiny'],
      ['apt-get', 'autoremove', '--purge', '-y'],
    ]);
    writeTree(path.join(work, 'layers/bootstrap/root'), {
      'var/lib/dpkg/status': status(['dpkg', 'nano', 'vim-tiny', 'vim-common', 'libgpm2']),
      'var/lib/apt/extended_states': 'Package: vim-common\nArchitecture: amd64\nAuto-Installed: 1\n',
    });
    const runner = new FakeRunner().on((argv) => argv.includes('purge'), {
      effect: () =>
        writeTree(path.join(work, 'layers/packages-remove/upper'), {
          'var/lib/dpkg/status': status(['dpkg', 'libgpm2']),
        }),
    });
    const ctx = stepContext({ config, workDir: work, stepId: 'packages-remove', runner });
    await packagesRemoveStep.run(ctx);
    await packagesRemoveStep.verify(ctx);
    expect(runner.calls.map(inner)).toEqual(removeCommands(config));
    // the clean environment, and no proxy: nothing is downloaded
    for (const call of runner.calls) {
      expect(call.options.env).toEqual(chrootEnvOf(config));
      expect(innerCommand(call.argv).chrootStep).toBe('packages-remove');
    }
    expect(ctx.infos).toContain(
      'removed 3 package(s): nano vim-tiny vim-common (1 of them by autoremove or as dependents)',
    );
  });

  it('refuses a package that is not installed, naming it, before apt runs', async () => {
    const config = configWith((c) => {
      c.packages.remove = ['nano', 'nnao'];
    });
    writeTree(path.join(work, 'layers/bootstrap/root'), { 'var/lib/dpkg/status': status(['dpkg', 'nano']) });
    const runner = new FakeRunner();
    const ctx = stepContext({ config, workDir: work, stepId: 'packages-remove', runner });
    const error = await packagesRemoveStep.run(ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).message).toContain('packages.remove names nnao, which is not installed');
    expect((error as StepError).hint).toBe('check the name, or take it out of packages.remove');
    expect(runner.calls).toEqual([]);
  });

  it('fails, naming it, when the purge took a package the build installed on purpose', async () => {
    const config = configWith((c) => {
      c.packages.remove = ['libgpm2'];
    });
    writeTree(path.join(work, 'layers/bootstrap/root'), {
      'var/lib/dpkg/status': status(['dpkg', 'libgpm2', 'gpm-tool', 'gpm-lib-auto']),
      'var/lib/apt/extended_states': 'Package: gpm-lib-auto\nAuto-Installed: 1\n',
    });
    const runner = new FakeRunner().on((argv) => argv.includes('purge'), {
      effect: () =>
        writeTree(path.join(work, 'layers/packages-remove/upper'), { 'var/lib/dpkg/status': status(['dpkg']) }),
    });
    const ctx = stepContext({ config, workDir: work, stepId: 'packages-remove', runner });
    const error = (await packagesRemoveStep.run(ctx).catch((e: unknown) => e)) as StepError;
    expect(error.message).toBe(
      'purging libgpm2 also removed gpm-tool, which the build installed on purpose: it depends on a purged package',
    );
    expect(error.hint).toBe('keep the package it needs, or add gpm-tool to packages.remove too');
  });

  it('verify fails while a listed package is still installed', async () => {
    const config = configWith((c) => {
      c.packages.remove = ['nano'];
    });
    writeTree(path.join(work, 'layers/bootstrap/root'), { 'var/lib/dpkg/status': status(['dpkg', 'nano']) });
    const ctx = stepContext({ config, workDir: work, stepId: 'packages-remove' });
    await expect(packagesRemoveStep.verify(ctx)).rejects.toThrow('these packages are still installed: nano');
  });

  it('reads auto marks from extended_states', () => {
    expect([
      ...autoInstalled(
        'Package: a\nAuto-Installed: 1\n\nPackage: b\nAuto-Installed: 0\n\nPackage: c\nAuto-Installed: 1',
      ),
    ]).toEqual(['a', 'c']);
  });

  it('is fingerprinted by its list; plan reruns it and what follows, and skips the package steps', () => {
    const before = configWith((c) => {
      c.packages.remove = ['nano'];
    });
    const after = configWith((c) => {
      c.packages.remove = ['nano', 'vim-tiny'];
    });
    const material = fingerprints(after).find((f) => f.id === 'packages-remove')!.material;
    // liveSystem: INITRD=No in its chroot's environment on casper, before chroot-cleanup
    expect(material.config).toEqual({
      'locale.lang': 'C.UTF-8',
      'packages.remove': ['nano', 'vim-tiny'],
      liveSystem: 'live-boot',
    });
    const plan = planOf(before, after);
    expect(plan['packages']!.action).toBe('skip');
    expect(plan['packages-remove']!.action).toBe('run');
    expect(plan['packages-remove']!.reasons).toEqual(['config field packages.remove changed (added vim-tiny)']);
    expect(plan['identity']!.reasons).toEqual(['an earlier step (packages-remove) runs again']);
  });

  it('a list that first appears adds the step, and plan says it is new', () => {
    const before = configWith(() => {});
    const after = configWith((c) => {
      c.packages.remove = ['nano'];
    });
    const plan = planOf(before, after);
    expect(plan['packages']!.action).toBe('skip');
    expect(plan['packages-remove']!.action).toBe('run');
    expect(plan['packages-remove']!.reasons).toEqual(['it has never run in this work dir']);
  });

  it('is a field no step of the config reads when packages-remove cannot be in its steps', () => {
    expect(unusedFields({ packages: { remove: ['nano'] } }, ['bootstrap', 'configure', 'packages'])).toEqual([
      { field: 'packages.remove', readers: ['packages-remove'] },
    ]);
    expect(unusedFields({ packages: { remove: ['nano'] } }, ['bootstrap', 'packages-remove'])).toEqual([]);
  });
});

describe('debconf: answers preseeded by configure', () => {
  const answered = () =>
    configWith((c) => {
      c.debconf = structuredClone(ANSWERS);
    });

  it('validates each answer: its question, a boolean true or false, one line', () => {
    const bad = (answer: Record<string, unknown>) => {
      const config = profileConfig('minimal') as unknown as Record<string, unknown>;
      return configSchema.safeParse({ ...config, debconf: [answer] }).success;
    };
    const ok = { package: 'tzdata', question: 'tzdata/Areas', type: 'select', value: 'Europe' };
    expect(bad(ok)).toBe(true);
    expect(bad({ ...ok, question: 'tzdata Areas' })).toBe(false);
    expect(bad({ ...ok, type: 'boolean', value: 'yes' })).toBe(false);
    expect(bad({ ...ok, type: 'boolean', value: 'false' })).toBe(true);
    expect(bad({ ...ok, value: 'a\nb' })).toBe(false);
    expect(bad({ ...ok, type: 'secret' })).toBe(false);
    expect(bad({ ...ok, package: 'Tzdata' })).toBe(false);
    expect(bad({ ...ok, extra: 1 })).toBe(false);
  });

  it('gives debconf-set-selections the answers on stdin, before the first apt call', async () => {
    const config = answered();
    writeTree(path.join(work, 'layers/bootstrap/root'), { 'etc/os-release': 'ID=debian\n' });
    const runner = new FakeRunner();
    const ctx = stepContext({ config, workDir: work, stepId: 'configure', runner });
    await configureStep.run(ctx);
    const commands = runner.calls.map(inner);
    const at = commands.findIndex((c) => c[0] === 'debconf-set-selections');
    expect(commands[at]).toEqual(['debconf-set-selections']);
    expect(at).toBeLessThan(commands.findIndex((c) => c[0] === 'apt-get'));
    expect(runner.calls[at]!.options.input).toBe(
      'tzdata tzdata/Areas select Europe\nacme acme/admin-password password hunter2-secret\nacme acme/enable boolean true\n',
    );
    expect(renderSelections(config)).toBe(runner.calls[at]!.options.input);
    // the password is in no argv and no log line
    expect(JSON.stringify(runner.calls.map((c) => c.argv))).not.toContain('hunter2');
    expect(ctx.infos.join('\n')).not.toContain('hunter2');
    expect(ctx.infos).toContain('preseeding 3 debconf answer(s): tzdata/Areas acme/admin-password acme/enable');
  });

  it('without answers, debconf-set-selections is not run', async () => {
    const config = configWith(() => {});
    writeTree(path.join(work, 'layers/bootstrap/root'), { 'etc/os-release': 'ID=debian\n' });
    const runner = new FakeRunner();
    await configureStep.run(stepContext({ config, workDir: work, stepId: 'configure', runner }));
    expect(runner.calls.map(inner).some((c) => c[0] === 'debconf-set-selections')).toBe(false);
  });

  it("is in configure's fingerprint, a password answer only as its keyed hash", () => {
    const material = fingerprints(answered()).find((f) => f.id === 'configure')!.material;
    const answers = material.config['debconf'] as Array<Record<string, string>>;
    expect(answers[0]).toEqual(ANSWERS[0]);
    expect(answers[1]!.value).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(material)).not.toContain('hunter2');
  });

  it('plan names the answer that changed, never a password', () => {
    const before = answered();
    const after = configWith((c) => {
      c.debconf = structuredClone(ANSWERS);
      c.debconf[0]!.value = 'America';
      c.debconf[1]!.value = 'another-secret';
      c.debconf.push({
        package: 'locales',
        question: 'locales/default_environment_locale',
        type: 'select',
        value: 'C.UTF-8',
      });
    });
    const plan = planOf(before, after);
    expect(plan['bootstrap']!.action).toBe('skip');
    expect(plan['configure']!.reasons).toEqual([
      'config field debconf changed (tzdata/Areas changed ("Europe" -> "America"); acme/admin-password changed; added locales/default_environment_locale)',
    ]);
    expect(JSON.stringify(plan)).not.toMatch(/hunter2|another-secret/);
  });

  it('ailinux config shows the answers with the password masked; the stored config neither', () => {
    const config = answered() as unknown as Record<string, unknown>;
    const values = fieldValues(config, { profile: {}, file: { debconf: ANSWERS } });
    const debconf = values.find((v) => v.field === 'debconf')!;
    expect(debconf.source).toBe('file');
    expect(debconf.value).toEqual([ANSWERS[0], { ...ANSWERS[1], value: SECRET_PLACEHOLDER }, ANSWERS[2]]);
    expect(JSON.stringify(values)).not.toContain('hunter2');
    const masked = maskedConfig(config) as unknown as BuildConfig;
    expect(masked.debconf[1]!.value).toBe(SECRET_PLACEHOLDER);
    expect(masked.debconf[0]!.value).toBe('Europe');
    // the config itself is left as it is
    expect((config as unknown as BuildConfig).debconf[1]!.value).toBe('hunter2-secret');
  });

  it('a bad password answer is refused without echoing it; a bad plain one is shown', () => {
    const refused = (answer: Record<string, unknown>) => {
      try {
        validateConfig({ ...(profileConfig('minimal') as object), debconf: [answer] });
      } catch (error) {
        return error as ConfigError;
      }
      throw new Error('accepted');
    };
    const secret = refused({ package: 'acme', question: 'acme/token', type: 'password', value: 'hunter2\nx' });
    expect(secret.issues).toEqual([
      { path: 'debconf.0.value', value: '(9 characters, not shown: a secret)', expected: 'one line of text' },
    ]);
    expect(JSON.stringify(secret)).not.toContain('hunter2');
    const plain = refused({ package: 'acme', question: 'acme/name', type: 'string', value: 'a\nb' });
    expect(plain.issues[0]!.value).toBe('a\nb');
  });

  it('is a field no step reads when the steps have no configure', () => {
    expect(unusedFields({ debconf: ANSWERS }, ['bootstrap', 'squashfs'])).toEqual([
      { field: 'debconf', readers: ['configure'] },
    ]);
  });
});

describe('apt.proxy: how the archives are reached, in no fingerprint', () => {
  const PROXY = 'http://127.0.0.1:3142';
  const proxied = (profile: 'minimal' | 'ailinux' = 'minimal') =>
    configWith((c) => {
      c.apt.proxy = PROXY;
    }, profile);

  it('takes an http:// URL with a host and a port, and refuses credentials, https and shell characters', () => {
    const valid = (proxy: string) =>
      configSchema.safeParse({ ...(profileConfig('minimal') as object), apt: { proxy } }).success;
    expect(valid('http://127.0.0.1:3142')).toBe(true);
    expect(valid('http://proxy.example.org:3128/')).toBe(true);
    expect(valid('http://[::1]:3142')).toBe(true);
    expect(valid('http://user:pw@proxy:3128')).toBe(false);
    expect(valid('https://proxy:3128')).toBe(false);
    expect(valid('http://proxy:3128;rm')).toBe(false);
    expect(valid('proxy:3128')).toBe(false);
    const refused = configSchema.safeParse({
      ...(profileConfig('minimal') as object),
      apt: { proxy: 'http://u:p@h:1' },
    });
    expect(refused.error?.issues[0]?.message).toContain('without user:password@');
    // the error never shows the password
    const error = (() => {
      try {
        validateConfig({ ...(profileConfig('minimal') as object), apt: { proxy: 'http://me:pw1234@proxy:3128' } });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error.issues[0]!.value).toBe('http... (27 characters, not shown)');
    expect(JSON.stringify(error)).not.toContain('pw1234');
  });

  it('changes no fingerprint of either profile, so plan has nothing to rerun', () => {
    for (const profile of ['minimal', 'ailinux'] as const) {
      const without = configWith(() => {}, profile);
      const withProxy = proxied(profile);
      expect(fingerprints(withProxy).map((f) => f.fingerprint)).toEqual(
        fingerprints(without).map((f) => f.fingerprint),
      );
      const plan = planOf(without, withProxy);
      expect(Object.values(plan).filter((p) => p.action !== 'skip')).toEqual([]);
    }
  });

  it('goes to apt in the chroot as http_proxy and https_proxy, for the network commands only', async () => {
    const config = proxied();
    writeTree(path.join(work, 'layers/bootstrap/root'), { 'etc/os-release': 'ID=debian\n' });
    const runner = new FakeRunner();
    const ctx = stepContext({ config, workDir: work, stepId: 'configure', runner });
    await configureStep.run(ctx);
    const update = runner.calls.find((c) => inner(c).join(' ') === 'apt-get update')!;
    expect(update.options.env).toEqual({ ...chrootEnvOf(config), http_proxy: PROXY, https_proxy: PROXY });
    const ln = runner.calls.find((c) => inner(c)[0] === 'ln')!;
    expect(ln.options.env).toEqual(chrootEnvOf(config));
    // nothing of it is written into the rootfs
    const written = fs.readdirSync(path.join(work, 'layers/configure/upper'), { recursive: true }).map(String);
    for (const rel of written) {
      const file = path.join(work, 'layers/configure/upper', rel);
      if (fs.statSync(file).isFile()) expect(fs.readFileSync(file, 'utf8')).not.toContain('3142');
    }
  });

  it("goes to debootstrap as http_proxy and https_proxy, over the host's", async () => {
    const config = proxied();
    const runner = new FakeRunner();
    const ctx = stepContext({ config, workDir: work, stepId: 'bootstrap', runner });
    await bootstrapStep.run(ctx);
    const debootstrap = runner.calls.find((c) => inner(c)[0] === 'debootstrap')!;
    expect(debootstrap.options.env).toEqual({ http_proxy: PROXY, https_proxy: PROXY });
    // the second stage downloads nothing
    const second = runner.calls.find((c) => inner(c)[0] === '/debootstrap/debootstrap')!;
    expect(second.options.env).not.toHaveProperty('http_proxy');
    // without a proxy the host's environment is left as it is
    const plain = new FakeRunner();
    await bootstrapStep.run(
      stepContext({ config: configWith(() => {}), workDir: work, stepId: 'bootstrap', runner: plain }),
    );
    expect(plain.calls.find((c) => inner(c)[0] === 'debootstrap')!.options.env).toBeUndefined();
  });

  it('is read by the steps that download, so a config whose steps have none of them is refused', () => {
    expect(unusedFields({ apt: { proxy: PROXY } }, ['squashfs', 'iso'])).toEqual([
      { field: 'apt.proxy', readers: ['preflight', 'bootstrap', 'configure', 'packages', 'desktop', 'installer'] },
    ]);
    expect(unusedFields({ apt: { proxy: PROXY } }, ['bootstrap'])).toEqual([]);
  });
});
