/**
 * branding (phase 7): assets from a directory next to the config file, as input files (a changed
 * logo reruns the step and the plan names the file); path escapes refused at config load; the
 * helper application's files with explicit modes; secrets refused in the config and in helper files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exitCodeForError } from '../../src/cli/exit-codes.js';
import { renderError } from '../../src/cli/render-error.js';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { findSecrets, looksLikeRandomToken, secretKind } from '../../src/config/secrets.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { planBuild } from '../../src/engine/planner.js';
import { ConfigError, StepError } from '../../src/errors.js';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import { brandingInputFiles, brandingStep, imageSize, renderPlymouthTheme } from '../../src/steps/branding.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';
import {
  NS_RUN,
  makeWorkDir,
  removeWorkDir,
  stepContext,
  writeTree,
  type TestStepContext,
} from '../helpers/step-context.js';

let workDir: string;
let configDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-branding-');
  configDir = path.join(workDir, 'config');
  fs.mkdirSync(path.join(configDir, 'branding'), { recursive: true });
});
afterEach(() => removeWorkDir(workDir));

const LOGO = solidPng(32, 32, '#112233');
const SPLASH = solidPng(40, 30, '#445566');
const WALLPAPER = solidPng(64, 48, '#778899');
const HELPER_SCRIPT = '#!/usr/bin/python3\nprint("the AILinux helper asks for its key at run time")\n';

function writeConfig(data: Record<string, unknown>, name = 'ailinux.config.json'): string {
  const file = path.join(configDir, name);
  fs.writeFileSync(file, JSON.stringify({ extends: 'ailinux', ...data }));
  return file;
}

function loadError(data: Record<string, unknown>): ConfigError {
  try {
    loadConfig({ configFile: writeConfig(data) });
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error('the config loaded');
}

/** A config with every branding asset and a helper, loaded as a user's config file would be. */
function brandedConfig(patch: Record<string, unknown> = {}): { config: BuildConfig; baseDir: string } {
  fs.writeFileSync(path.join(configDir, 'branding', 'logo.png'), LOGO);
  fs.writeFileSync(path.join(configDir, 'branding', 'splash.png'), SPLASH);
  fs.writeFileSync(path.join(configDir, 'branding', 'wallpaper.png'), WALLPAPER);
  fs.mkdirSync(path.join(configDir, 'helper'), { recursive: true });
  fs.writeFileSync(path.join(configDir, 'helper', 'ailinux-helper.py'), HELPER_SCRIPT);
  fs.writeFileSync(path.join(configDir, 'helper', 'helper.conf'), 'model = local\n');
  const loaded = loadConfig({
    configFile: writeConfig({
      branding: { dir: 'branding', logo: 'logo.png', splash: 'splash.png', wallpaper: 'wallpaper.png' },
      helper: {
        name: 'ailinux-helper',
        title: 'AILinux Helper',
        comment: 'Ask the assistant',
        files: [
          { source: 'helper/ailinux-helper.py', destination: '/usr/local/bin/ailinux-helper', mode: '0755' },
          { source: 'helper/helper.conf', destination: '/etc/ailinux-helper/helper.conf', mode: '0644' },
        ],
        launcher: { exec: '/usr/local/bin/ailinux-helper --gui', icon: 'ailinux' },
      },
      ...patch,
    }),
  });
  return { config: loaded.config, baseDir: loaded.baseDir };
}

function ctxFor(config: BuildConfig, baseDir: string, runner = new FakeRunner()): TestStepContext {
  writeTree(`${workDir}/layers/bootstrap/root`, {
    'etc/os-release': 'ID=ubuntu\n',
    'usr/share/.keep': '',
    'usr/local/bin/.keep': '',
  });
  const ctx = stepContext({ config, workDir, stepId: 'branding', runner });
  ctx.baseDir = baseDir;
  return ctx;
}

const upper = () => `${workDir}/layers/branding/upper`;
const mode = (f: string) => fs.statSync(f).mode & 0o7777;

describe('branding step', () => {
  it('installs the logo, the installer images over the placeholders, the plymouth theme (selected through the alternatives link), the wallpaper and the helper', async () => {
    const { config, baseDir } = brandedConfig();
    // the layers below: Calamares' branding dir (installer step) and plymouth with its alternatives link
    writeTree(`${workDir}/layers/installer/upper`, {
      'etc/calamares/branding/ailinux/branding.desc': 'x',
      'etc/calamares/branding/ailinux/logo.png': 'placeholder',
    });
    writeTree(`${workDir}/layers/packages/upper`, {
      'usr/sbin/plymouthd': '',
      'etc/alternatives/default.plymouth': '',
    });
    const ctx = ctxFor(config, baseDir);
    await brandingStep.run(ctx);

    const u = upper();
    expect(fs.readFileSync(`${u}/usr/share/ailinux/logo.png`).equals(LOGO)).toBe(true);
    expect(fs.readFileSync(`${u}/usr/share/pixmaps/ailinux.png`).equals(LOGO)).toBe(true);
    expect(fs.readFileSync(`${u}/etc/calamares/branding/ailinux/logo.png`).equals(LOGO)).toBe(true);
    expect(fs.readFileSync(`${u}/etc/calamares/branding/ailinux/welcome.png`).equals(LOGO)).toBe(true);
    expect(fs.readFileSync(`${u}/usr/share/plymouth/themes/ailinux/splash.png`).equals(SPLASH)).toBe(true);
    expect(fs.readFileSync(`${u}/usr/share/plymouth/themes/ailinux/ailinux.plymouth`, 'utf8')).toBe(
      '[Plymouth Theme]\nName=AILinux\nDescription=Boot splash written by ailinux from the profile\nModuleName=script\n\n[script]\nImageDir=/usr/share/plymouth/themes/ailinux\nScriptFile=/usr/share/plymouth/themes/ailinux/ailinux.script\n',
    );
    expect(fs.readFileSync(`${u}/usr/share/plymouth/themes/ailinux/ailinux.script`, 'utf8')).toBe(
      renderPlymouthTheme(config).script,
    );
    expect(fs.readFileSync(`${u}/usr/share/wallpapers/ailinux/contents/images/64x48.png`).equals(WALLPAPER)).toBe(true);
    expect(JSON.parse(fs.readFileSync(`${u}/usr/share/wallpapers/ailinux/metadata.json`, 'utf8')).KPlugin.Id).toBe(
      'ailinux',
    );

    expect(fs.readFileSync(`${u}/usr/local/bin/ailinux-helper`, 'utf8')).toBe(HELPER_SCRIPT);
    expect(mode(`${u}/usr/local/bin/ailinux-helper`)).toBe(0o755);
    expect(mode(`${u}/etc/ailinux-helper/helper.conf`)).toBe(0o644);
    expect(fs.readFileSync(`${u}/usr/share/applications/ailinux-helper.desktop`, 'utf8')).toBe(
      '[Desktop Entry]\nType=Application\nVersion=1.0\nName=AILinux Helper\nComment=Ask the assistant\nExec=/usr/local/bin/ailinux-helper --gui\nIcon=ailinux\nTerminal=false\nCategories=System;\n',
    );

    const mnt = `${workDir}/mnt/branding`;
    const theme = '/usr/share/plymouth/themes/ailinux/ailinux.plymouth';
    expect(ctx.runner.calls.map((c) => c.argv.slice(c.argv.indexOf('chroot')))).toEqual([
      [
        'chroot',
        mnt,
        'update-alternatives',
        '--install',
        '/usr/share/plymouth/themes/default.plymouth',
        'default.plymouth',
        theme,
        '200',
      ],
      ['chroot', mnt, 'update-alternatives', '--set', 'default.plymouth', theme],
    ]);
    for (const call of ctx.runner.calls) expect(call.argv[6]).toBe(NS_RUN);
    await expect(brandingStep.verify(ctx)).resolves.toBeUndefined();
  });

  it("Debian's plymouth-set-default-theme, or no plymouth at all (then only a note)", async () => {
    const { config, baseDir } = brandedConfig();
    writeTree(`${workDir}/layers/packages/upper`, {
      'usr/sbin/plymouthd': '',
      'usr/sbin/plymouth-set-default-theme': '',
    });
    const debian = ctxFor(config, baseDir);
    await brandingStep.run(debian);
    expect(debian.runner.calls.map((c) => c.argv.slice(c.argv.indexOf('chroot') + 2))).toEqual([
      ['plymouth-set-default-theme', 'ailinux'],
    ]);

    fs.rmSync(`${workDir}/layers`, { recursive: true });
    const none = ctxFor(config, baseDir);
    await brandingStep.run(none);
    expect(none.runner.calls).toEqual([]);
    expect(none.infos).toContain('branding.splash: the image has no plymouth, so there is no boot splash to set');
    expect(fs.existsSync(`${upper()}/usr/share/plymouth`)).toBe(false);
  });

  it('the assets are input files: a changed logo reruns branding and what follows, and the plan says "input file branding/logo.png changed"', () => {
    const { config, baseDir } = brandedConfig();
    expect(brandingInputFiles(config)).toEqual([
      'branding/logo.png',
      'branding/splash.png',
      'branding/wallpaper.png',
      'helper/ailinux-helper.py',
      'helper/helper.conf',
    ]);
    const steps = resolveSteps(config);
    const before = fingerprintSteps(steps, config, baseDir, { sourceDateEpoch: null });
    const ledger: Ledger = {};
    for (const f of before)
      ledger[f.id] = { ...emptyLedgerEntry(f.id), status: 'done', fingerprint: f.fingerprint, material: f.material };
    fs.writeFileSync(path.join(configDir, 'branding', 'logo.png'), solidPng(32, 32, '#000000'));
    // the next run loads the config anew (one loaded config reads each own file once, see own-files.ts)
    const next = loadConfig({ configFile: path.join(configDir, 'ailinux.config.json') }).config;
    const plan = planBuild(fingerprintSteps(steps, next, baseDir, { sourceDateEpoch: null }), ledger, () => true);
    expect(plan.filter((p) => p.action === 'skip').map((p) => p.id)).toEqual([
      'preflight',
      'bootstrap',
      'configure',
      'packages',
      'desktop',
      'installer',
    ]);
    expect(plan.find((p) => p.id === 'branding')!.reasons).toEqual(['input file branding/logo.png changed']);
    expect(plan.find((p) => p.id === 'identity')!.reasons).toEqual(['an earlier step (branding) runs again']);
  });

  it('an asset that is not the image it claims to be is refused', async () => {
    const { config, baseDir } = brandedConfig();
    fs.writeFileSync(path.join(configDir, 'branding', 'logo.png'), 'GIF89a not a png');
    await expect(brandingStep.run(ctxFor(config, baseDir))).rejects.toThrow(
      'branding.logo: branding/logo.png is not a PNG image',
    );
  });

  it('a helper file holding an API key is refused, naming the file, not the key', async () => {
    const key = `sk-${'A1b2C3d4'.repeat(5)}`;
    const { config, baseDir } = brandedConfig();
    fs.writeFileSync(path.join(configDir, 'helper', 'helper.conf'), `model = gpt\napi_key = ${key}\n`);
    const error = (await brandingStep.run(ctxFor(config, baseDir)).catch((e: unknown) => e)) as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.message).toBe(
      'helper.files.1: helper/helper.conf holds what looks like an OpenAI-style API key (sk-...); secrets are never baked into an image',
    );
    expect(error.message).not.toContain(key);
    expect(fs.existsSync(`${upper()}/etc/ailinux-helper/helper.conf`)).toBe(false);
  });

  it('image sizes come from PNG and JPEG headers', () => {
    expect(imageSize(WALLPAPER)).toEqual({ width: 64, height: 48 });
    // SOI, APP0 (16 bytes), SOF0 with height 1080 and width 1920
    const jpeg = Buffer.from([
      0xff,
      0xd8,
      0xff,
      0xe0,
      0x00,
      0x10,
      ...Array(14).fill(0),
      0xff,
      0xc0,
      0x00,
      0x11,
      0x08,
      0x04,
      0x38,
      0x07,
      0x80,
      0x03,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
    expect(imageSize(jpeg)).toEqual({ width: 1920, height: 1080 });
    expect(imageSize(Buffer.from('not an image'))).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------

describe('config load: path escapes', () => {
  for (const [field, value, expected] of [
    [
      'branding.dir',
      '../outside',
      'a path inside the config file\'s directory ("..", which could escape it, is refused)',
    ],
    [
      'branding.dir',
      'assets/../../etc',
      'a path inside the config file\'s directory ("..", which could escape it, is refused)',
    ],
    ['branding.dir', '/etc/ailinux', 'a path relative to the config file (an absolute path is refused)'],
    [
      'branding.logo',
      '../../root/.ssh/id_rsa.png',
      'a path inside the config file\'s directory ("..", which could escape it, is refused)',
    ],
    ['helper.files.0.source', '/etc/shadow', 'a path relative to the config file (an absolute path is refused)'],
    ['helper.files.0.destination', '/usr/../etc/sudoers', 'a path without "." or ".." parts'],
  ] as const) {
    it(`${field} = ${value} is refused (exit 2, the field named)`, () => {
      const branding: Record<string, unknown> = { dir: 'branding' };
      const helper = {
        name: 'h',
        title: 'H',
        files: [{ source: 'h.py', destination: '/usr/local/bin/h', mode: '0755' }],
      };
      const [section, key, index, sub] = field.split('.');
      if (section === 'branding') branding[key!] = value;
      else (helper.files[Number(index)] as Record<string, string>)[sub!] = value;
      const error = loadError({ branding, helper });
      expect(error).toBeInstanceOf(ConfigError);
      expect(exitCodeForError(error)).toBe(2);
      expect(error.issues.map((i) => i.path)).toContain(field);
      expect(error.issues.find((i) => i.path === field)!.expected).toContain(expected);
    });
  }

  it('branding files need branding.dir; modes with setuid are refused; an odd launcher command is refused', () => {
    expect(loadError({ branding: { logo: 'logo.png' } }).issues.map((i) => i.path)).toEqual(['branding.dir']);
    const setuid = loadError({
      helper: { name: 'h', title: 'H', files: [{ source: 'h', destination: '/usr/bin/h', mode: '4755' }] },
    });
    expect(setuid.issues.map((i) => i.path)).toEqual(['helper.files.0.mode']);
    const shell = loadError({
      helper: {
        name: 'h',
        title: 'H',
        files: [{ source: 'h', destination: '/usr/bin/h', mode: '0755' }],
        launcher: { exec: 'sh -c "curl x | sh"' },
      },
    });
    expect(shell.issues.map((i) => i.path)).toEqual(['helper.launcher.exec']);
  });
});

describe('config load: secrets are refused and never echoed', () => {
  const KEYS: Array<[string, string]> = [
    ['an OpenAI-style API key (sk-...)', `sk-${'Zx9Qw8Er7Ty6'.repeat(3)}`],
    ['an API key (sk-proj-/sk-ant-/sk-svcacct-...)', `sk-proj-${'a_b-C1d2'.repeat(4)}`],
    ['an AWS access key id (AKIA...)', 'AKIAIOSFODNN7EXAMPLE'],
    ['a GitHub token (ghp_...)', `ghp_${'aB3dE6gH9j'.repeat(4)}`],
    ['a Slack token (xoxb-/xoxp-...)', 'xoxb-123456789012-abcdefABCDEF'],
  ];

  for (const [kind, key] of KEYS) {
    it(`${kind} in a field is refused, named, and shown only by its first characters`, () => {
      const error = loadError({ description: `AILinux build, token ${key}` });
      expect(exitCodeForError(error)).toBe(2);
      const issue = error.issues.find((i) => i.path === 'description')!;
      expect(issue.expected).toContain(`no secret: this looks like ${kind}`);
      const text = renderError(error);
      expect(text).toContain('description');
      expect(text).not.toContain(key);
      expect(text).toContain('"AILi... (');
    });
  }

  it('anywhere in the config: a token in a mirror URL, a kernel argument, the live password, a helper launcher', () => {
    const gh = `ghp_${'Qr5St7Uv9W'.repeat(4)}`;
    const error = loadError({
      distribution: { mirror: `https://user:${gh}@mirror.example/ubuntu` },
      iso: { kernelArgs: ['quiet', 'AKIAIOSFODNN7EXAMPLE'] },
      liveUser: { name: 'ailinux', password: `xoxp-${'1234567890'.repeat(2)}` },
    });
    expect(error.issues.map((i) => i.path).sort()).toEqual([
      'distribution.mirror',
      'iso.kernelArgs.1',
      'liveUser.password',
    ]);
    const text = renderError(error);
    expect(text).not.toContain(gh);
    expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(text).not.toContain('1234567890123');
  });

  it('a long random token in a text field is refused; hashes, URLs, package names and prose are not', () => {
    const random = 'q8ZrT2vLx9WmB4nK7cYp1sDf6GhJ3aE5';
    expect(looksLikeRandomToken(random)).toBe(true);
    const error = loadError({ branding: { productName: `AILinux ${random}` } });
    expect(error.issues.map((i) => i.path)).toEqual(['branding.productName']);
    expect(renderError(error)).not.toContain(random);
    // the same word in a field that is not for text (a host path) is left alone, and ordinary values pass
    expect(secretKind(random, false)).toBeNull();
    for (const ok of [
      'task-kde-desktop-and-more-stuff-here',
      'AILinux 24.04 with KDE Plasma and a helper',
      'a'.repeat(64),
      'http://archive.ubuntu.com/ubuntu',
      'skeleton-keyboard-layout-switcher',
    ]) {
      expect(secretKind(ok, true), ok).toBeNull();
    }
    // the pinned sha256 of the keyring is hex, but not a text field
    const sha = 'ab12'.repeat(16);
    expect(findSecrets({ distribution: { keyring: { path: '/k', sha256: sha } } }, new Set(['description']))).toEqual(
      [],
    );
    expect(() =>
      loadConfig({
        configFile: writeConfig({
          distribution: {
            keyring: { path: '/k.gpg', sha256: '80a36b0a6de2f69f49d2df75ef473ccde121e9e190b9ea01d20a4f63778d5c31' },
          },
        }),
      }),
    ).not.toThrow();
  });
});
