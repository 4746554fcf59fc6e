/**
 * branding with the built-in art (assets/branding/*.svg rendered by rsvg-convert on the host): the exact argv and
 * sizes, every file it writes into the layer (logo, Calamares images, plymouth splash, wallpaper package made
 * Plasma's default, SDDM background, os-release and lsb-release), the SVGs as pinned fingerprint inputs, and a
 * user's branding.dir replacing each piece. The real rsvg-convert runs in tests/integration/branding-render.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { BuildConfig } from '../../src/config/schema.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { planBuild } from '../../src/engine/planner.js';
import { StepError } from '../../src/errors.js';
import { FakeRunner, type FakeCall } from '../../src/runtime/fake-runner.js';
import {
  parseOsRelease,
  renderLsbRelease,
  renderOsRelease,
  rsvgConvertArgv,
  svgSize,
  WALLPAPER_RENDITIONS,
} from '../../src/steps/branding-art.js';
import {
  bootloadersStep,
  GRUB_LOCKDOWN_FONT,
  graphicalMenu,
  grubBackgroundName,
  renderGrubConfig,
  renderGrubTheme,
} from '../../src/steps/bootloaders.js';
import { brandingStep, builtInPieces, imageSize } from '../../src/steps/branding.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { hostRequirements } from '../../src/steps/host-requirements.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { emptyLedgerEntry, type Ledger } from '../../src/types.js';
import {
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
  type TestStepContext,
} from '../helpers/step-context.js';

// The SVG sources are read from the package root: point it at a copy, so a test may edit an SVG.
const art = vi.hoisted(() => ({ root: null as string | null }));
vi.mock('../../src/runtime/package-root.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/runtime/package-root.js')>();
  return { ...real, packageRoot: () => art.root ?? real.packageRoot() };
});

const REPO_ART = path.resolve(__dirname, '../../assets/branding');

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-branding-art-');
  art.root = path.join(workDir, 'pkg');
  fs.mkdirSync(path.join(art.root, 'assets'), { recursive: true });
  fs.cpSync(REPO_ART, path.join(art.root, 'assets', 'branding'), { recursive: true });
});
afterEach(() => {
  art.root = null;
  removeWorkDir(workDir);
});

const UBUNTU_OS_RELEASE =
  'PRETTY_NAME="Ubuntu 24.04 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION="24.04 LTS (Noble Numbat)"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nHOME_URL="https://www.ubuntu.com/"\nSUPPORT_URL="https://help.ubuntu.com/"\nUBUNTU_CODENAME=noble\nLOGO=ubuntu-logo\n';

/** The ailinux image's layers as far as branding looks at them (paths checked in a real noble build's layers). */
function ubuntuDesktopLayers(): void {
  const bootstrap = `${workDir}/layers/bootstrap/root`;
  writeTree(bootstrap, {
    'usr/lib/os-release': UBUNTU_OS_RELEASE,
    'etc/lsb-release': 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=24.04\n',
    'usr/share/.keep': '',
  });
  fs.symlinkSync('../usr/lib/os-release', `${bootstrap}/etc/os-release`);
  writeTree(`${workDir}/layers/packages/upper`, { 'usr/sbin/plymouthd': '', 'etc/alternatives/default.plymouth': '' });
  writeTree(`${workDir}/layers/desktop/upper`, {
    'usr/share/wallpapers/Next/metadata.json': '{}',
    'usr/share/plasma/look-and-feel/org.kde.breeze.desktop/contents/defaults': '[Wallpaper]\nImage=Next\n',
    'usr/share/sddm/themes/breeze/theme.conf': '[General]\nbackground=x\n',
    'usr/bin/sddm': '',
  });
  writeTree(`${workDir}/layers/installer/upper`, { 'etc/calamares/branding/ailinux/branding.desc': 'x' });
}

/** rsvg-convert as a fake: writes a PNG of the size it is asked for (or, with lie, of another). */
function rsvgRunner(lie?: { width: number; height: number }): FakeRunner {
  return new FakeRunner().on('rsvg-convert', {
    effect: (call: FakeCall) => {
      const arg = (name: string) => call.argv.find((a) => a.startsWith(`--${name}=`))!.split('=')[1]!;
      const size = lie ?? { width: Number(arg('width')), height: Number(arg('height')) };
      fs.writeFileSync(arg('output'), solidPng(size.width, size.height, '#10264a'));
    },
  });
}

function ctxFor(config: BuildConfig, runner: FakeRunner, baseDir?: string): TestStepContext {
  const ctx = stepContext({ config, workDir, stepId: 'branding', runner });
  if (baseDir) ctx.baseDir = baseDir;
  return ctx;
}

const upper = () => `${workDir}/layers/branding/upper`;
const read = (rel: string) => fs.readFileSync(`${upper()}/${rel}`);
const text = (rel: string) => fs.readFileSync(`${upper()}/${rel}`, 'utf8');
const sizeOf = (rel: string) => imageSize(read(rel));

describe('branding with the built-in art', () => {
  it('renders each SVG with rsvg-convert at the size each consumer needs, and installs every piece', async () => {
    ubuntuDesktopLayers();
    const config = profileConfig('ailinux');
    const ctx = ctxFor(config, rsvgRunner());
    await brandingStep.run(ctx);

    const tmp = `${workDir}/tmp/branding`;
    const svg = (name: string) => path.join(art.root!, 'assets', 'branding', `${name}.svg`);
    const rsvg = ctx.runner.calls.filter((c) => c.argv[0] === 'rsvg-convert').map((c) => c.argv);
    expect(rsvg).toEqual([
      rsvgConvertArgv(svg('logo'), `${tmp}/logo-256.png`, 256, 256),
      rsvgConvertArgv(svg('wallpaper'), `${tmp}/welcome-640x360.png`, 640, 360),
      rsvgConvertArgv(svg('logo'), `${tmp}/splash-192.png`, 192, 192),
      rsvgConvertArgv(svg('wallpaper'), `${tmp}/wallpaper-1920x1080.png`, 1920, 1080),
      rsvgConvertArgv(svg('wallpaper'), `${tmp}/wallpaper-2560x1440.png`, 2560, 1440),
      rsvgConvertArgv(svg('wallpaper'), `${tmp}/wallpaper-3840x2160.png`, 3840, 2160),
    ]);
    expect(rsvg[0]).toEqual([
      'rsvg-convert',
      '--format=png',
      '--width=256',
      '--height=256',
      `--output=${tmp}/logo-256.png`,
      svg('logo'),
    ]);
    // rendered on the host, not in the chroot; the renders are gone afterwards
    expect(fs.existsSync(tmp)).toBe(false);

    expect(sizeOf('usr/share/ailinux/logo.png')).toEqual({ width: 256, height: 256 });
    expect(sizeOf('usr/share/pixmaps/ailinux.png')).toEqual({ width: 256, height: 256 });
    expect(sizeOf('etc/calamares/branding/ailinux/logo.png')).toEqual({ width: 256, height: 256 });
    expect(sizeOf('etc/calamares/branding/ailinux/welcome.png')).toEqual({ width: 640, height: 360 });
    expect(sizeOf('usr/share/plymouth/themes/ailinux/splash.png')).toEqual({ width: 192, height: 192 });
    for (const r of WALLPAPER_RENDITIONS)
      expect(sizeOf(`usr/share/wallpapers/ailinux/contents/images/${r.width}x${r.height}.png`)).toEqual({
        width: r.width,
        height: r.height,
      });
    expect(JSON.parse(text('usr/share/wallpapers/ailinux/metadata.json')).KPlugin.Id).toBe('ailinux');

    // Plasma's default wallpaper: our look-and-feel package (Breeze otherwise) names it, kdeglobals names the package
    const lnf = 'usr/share/plasma/look-and-feel/org.ailinux.desktop';
    expect(JSON.parse(text(`${lnf}/metadata.json`)).KPlugin.Id).toBe('org.ailinux.desktop');
    expect(text(`${lnf}/contents/defaults`)).toContain('\n[Wallpaper]\nImage=ailinux\n');
    expect(text('etc/xdg/kdeglobals')).toContain('[KDE]\nLookAndFeelPackage=org.ailinux.desktop\n');
    const wallpaper = '/usr/share/wallpapers/ailinux/contents/images/1920x1080.png';
    expect(text('etc/xdg/kscreenlockerrc')).toContain(`Image=file://${wallpaper}\n`);
    // the breeze package's own files are left alone
    expect(fs.existsSync(`${upper()}/usr/share/plasma/look-and-feel/org.kde.breeze.desktop`)).toBe(false);

    // SDDM: Breeze selected, with the wallpaper behind it
    expect(text('usr/share/sddm/themes/breeze/theme.conf.user')).toBe(
      `# Written by ailinux: the login screen's background.\n[General]\ntype=image\nbackground=${wallpaper}\n`,
    );
    expect(text('etc/sddm.conf.d/ailinux-theme.conf')).toContain('[Theme]\nCurrent=breeze\n');

    // os-release where noble keeps it (behind the /etc link), and lsb-release
    expect(fs.existsSync(`${upper()}/etc/os-release`)).toBe(false);
    expect(text('usr/lib/os-release')).toBe(
      'PRETTY_NAME="AILinux 24.04"\nNAME="AILinux"\nVERSION_ID="24.04"\nVERSION="24.04"\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\nID=ailinux\nID_LIKE="ubuntu debian"\nLOGO=ailinux\n',
    );
    expect(text('etc/lsb-release')).toBe(
      'DISTRIB_ID=AILinux\nDISTRIB_RELEASE=24.04\nDISTRIB_CODENAME=noble\nDISTRIB_DESCRIPTION="AILinux 24.04"\n',
    );
    // the plymouth theme is selected through the alternatives link
    expect(ctx.runner.lines.filter((l) => l.includes('update-alternatives')).length).toBe(2);
    await expect(brandingStep.verify(ctx)).resolves.toBeUndefined();
  });

  it('only what the image can show: no Calamares, plymouth, desktop or SDDM means the logo and os-release alone', async () => {
    const bootstrap = `${workDir}/layers/bootstrap/root`;
    writeTree(bootstrap, {
      'etc/os-release': 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
      'usr/share/.keep': '',
    });
    const ctx = ctxFor(profileConfig('ailinux'), rsvgRunner());
    await brandingStep.run(ctx);
    expect(ctx.runner.calls.map((c) => path.basename(c.argv[4]!))).toEqual(['logo-256.png']);
    expect(fs.readdirSync(`${upper()}/usr/share`).sort()).toEqual(['ailinux', 'pixmaps']);
    expect(text('etc/os-release')).toContain('\nID=ailinux\nID_LIKE="ubuntu debian"\n');
    expect(ctx.infos).toContain('branding.splash: the image has no plymouth, so there is no boot splash to set');
  });

  it('a render that is not the size asked for stops the step, naming the SVG', async () => {
    ubuntuDesktopLayers();
    const ctx = ctxFor(profileConfig('ailinux'), rsvgRunner({ width: 100, height: 100 }));
    const error = (await brandingStep.run(ctx).catch((e: unknown) => e)) as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.message).toBe(
      `rsvg-convert made a 100x100 PNG from ${art.root}/assets/branding/logo.svg, not the 256x256 PNG asked for`,
    );
  });

  it('rsvg-convert is a host requirement of branding (doctor, preflight), pinned SVG hashes are fingerprint inputs', () => {
    const config = profileConfig('ailinux');
    const req = hostRequirements(resolveSteps(config), config);
    expect(req.tools.find((t) => t.name === 'rsvg-convert')).toMatchObject({
      pkg: 'librsvg2-bin',
      // branding renders the logo, wallpaper and installer images; bootloaders the GRUB menu's background
      steps: ['branding', 'bootloaders'],
    });
    expect(Object.keys(brandingStep.pinned!(config))).toEqual([
      'art.assets/branding/logo.svg',
      'art.assets/branding/wallpaper.svg',
    ]);
    // the minimal profile has no branding step: it needs no rsvg-convert
    const minimal = profileConfig('minimal');
    expect(hostRequirements(resolveSteps(minimal), minimal).tools.map((t) => t.name)).not.toContain('rsvg-convert');
  });

  it('an edited SVG reruns branding and what follows; the plan names the SVG', () => {
    const config = profileConfig('ailinux');
    const steps = resolveSteps(config);
    const before = fingerprintSteps(steps, config, workDir, { sourceDateEpoch: null });
    const ledger: Ledger = {};
    for (const f of before)
      ledger[f.id] = { ...emptyLedgerEntry(f.id), status: 'done', fingerprint: f.fingerprint, material: f.material };
    const same = planBuild(fingerprintSteps(steps, config, workDir, { sourceDateEpoch: null }), ledger, () => true);
    expect(same.every((p) => p.action === 'skip')).toBe(true);

    const svg = path.join(art.root!, 'assets', 'branding', 'wallpaper.svg');
    fs.writeFileSync(svg, fs.readFileSync(svg, 'utf8').replace('#0b1426', '#000000'));
    const plan = planBuild(fingerprintSteps(steps, config, workDir, { sourceDateEpoch: null }), ledger, () => true);
    expect(plan.filter((p) => p.action === 'skip').map((p) => p.id)).toEqual([
      'preflight',
      'bootstrap',
      'configure',
      'packages',
      'desktop',
      'installer',
    ]);
    const reasons = plan.find((p) => p.id === 'branding')!.reasons;
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toContain('the pinned art.assets/branding/wallpaper.svg built into ailinux');
  });
});

describe("a user's branding.dir overrides every piece", () => {
  const USER = {
    logo: solidPng(48, 48, '#aa0000'),
    welcome: solidPng(300, 200, '#00aa00'),
    splash: solidPng(64, 64, '#0000aa'),
    wallpaper: solidPng(1600, 900, '#aaaa00'),
  };

  function userConfig(pieces: ReadonlyArray<keyof typeof USER>): { config: BuildConfig; baseDir: string } {
    const dir = path.join(workDir, 'config');
    fs.mkdirSync(path.join(dir, 'art'), { recursive: true });
    const branding: Record<string, string> = { dir: 'art' };
    for (const p of pieces) {
      fs.writeFileSync(path.join(dir, 'art', `${p}.png`), USER[p]);
      branding[p] = `${p}.png`;
    }
    const file = path.join(dir, 'ailinux.config.json');
    fs.writeFileSync(file, JSON.stringify({ extends: 'ailinux', branding }));
    const loaded = loadConfig({ configFile: file });
    return { config: loaded.config, baseDir: loaded.baseDir };
  }

  it("all four named: nothing is rendered, rsvg-convert is not needed, no SVG is an input; the user's images are installed", async () => {
    ubuntuDesktopLayers();
    const { config, baseDir } = userConfig(['logo', 'welcome', 'splash', 'wallpaper']);
    expect(builtInPieces(config)).toEqual([]);
    expect(brandingStep.hostTools!(config)).toEqual([]);
    expect(brandingStep.pinned!(config)).toEqual({});
    const ctx = ctxFor(config, rsvgRunner(), baseDir);
    await brandingStep.run(ctx);
    expect(ctx.runner.calls.filter((c) => c.argv[0] === 'rsvg-convert')).toEqual([]);
    expect(read('usr/share/ailinux/logo.png').equals(USER.logo)).toBe(true);
    expect(read('etc/calamares/branding/ailinux/logo.png').equals(USER.logo)).toBe(true);
    expect(read('etc/calamares/branding/ailinux/welcome.png').equals(USER.welcome)).toBe(true);
    expect(read('usr/share/plymouth/themes/ailinux/splash.png').equals(USER.splash)).toBe(true);
    expect(fs.readdirSync(`${upper()}/usr/share/wallpapers/ailinux/contents/images`)).toEqual(['1600x900.png']);
    const image = '/usr/share/wallpapers/ailinux/contents/images/1600x900.png';
    expect(text('usr/share/sddm/themes/breeze/theme.conf.user')).toContain(`background=${image}\n`);
    expect(text('etc/xdg/kscreenlockerrc')).toContain(`Image=file://${image}\n`);
    expect(text('usr/share/plasma/look-and-feel/org.ailinux.desktop/contents/defaults')).toContain('Image=ailinux\n');
  });

  it("one piece named (the wallpaper): only that one is the user's, the rest rendered from the SVGs they need", async () => {
    ubuntuDesktopLayers();
    const { config, baseDir } = userConfig(['wallpaper']);
    expect(builtInPieces(config)).toEqual(['logo', 'welcome', 'splash']);
    expect(Object.keys(brandingStep.pinned!(config))).toEqual([
      'art.assets/branding/logo.svg',
      'art.assets/branding/wallpaper.svg', // the welcome image is cut from the wallpaper art
    ]);
    const ctx = ctxFor(config, rsvgRunner(), baseDir);
    await brandingStep.run(ctx);
    expect(ctx.runner.calls.filter((c) => c.argv[0] === 'rsvg-convert').map((c) => path.basename(c.argv[5]!))).toEqual([
      'logo.svg',
      'wallpaper.svg',
      'logo.svg',
    ]);
    expect(sizeOf('usr/share/ailinux/logo.png')).toEqual({ width: 256, height: 256 });
    expect(fs.readdirSync(`${upper()}/usr/share/wallpapers/ailinux/contents/images`)).toEqual(['1600x900.png']);
  });

  it('a named logo is also the welcome image, as before', async () => {
    ubuntuDesktopLayers();
    const { config, baseDir } = userConfig(['logo']);
    expect(builtInPieces(config)).toEqual(['splash', 'wallpaper']);
    const ctx = ctxFor(config, rsvgRunner(), baseDir);
    await brandingStep.run(ctx);
    expect(read('etc/calamares/branding/ailinux/welcome.png').equals(USER.logo)).toBe(true);
  });
});

describe('os-release and lsb-release', () => {
  it("a Debian base keeps ID_LIKE=debian; a version left empty takes the base's; the product URL is HOME_URL", () => {
    const debian =
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';
    expect(
      renderOsRelease(debian, { id: 'ailinux', name: 'AILinux minimal', version: '', url: 'https://ailinux.example/' }),
    ).toBe(
      'PRETTY_NAME="AILinux minimal 12"\nNAME="AILinux minimal"\nVERSION_ID="12"\nVERSION="12"\nVERSION_CODENAME=bookworm\nID=ailinux\nID_LIKE=debian\nHOME_URL="https://ailinux.example/"\nLOGO=ailinux\n',
    );
    expect(renderLsbRelease(debian, { id: 'ailinux', name: 'AILinux minimal', version: '' })).toBe(
      'DISTRIB_ID=AILinuxminimal\nDISTRIB_RELEASE=12\nDISTRIB_CODENAME=bookworm\nDISTRIB_DESCRIPTION="AILinux minimal 12"\n',
    );
  });

  it('quotes are parsed and written back safely', () => {
    expect(parseOsRelease('NAME="A \\"B\\""\nID=x\n# comment\n').get('NAME')).toBe('A "B"');
    expect(renderOsRelease('ID=ubuntu\n', { id: 'ai', name: 'A "$B"', version: '1' })).toContain(
      'NAME="A \\"\\$B\\""\n',
    );
  });
});

describe('the GRUB menu: title and background', () => {
  it('a profile with the branding step switches to the graphical menu, keeping the serial text menu; minimal does not', () => {
    const cfg = renderGrubConfig(profileConfig('ailinux', (c) => (c.iso.serialConsole = true)));
    expect(cfg).toContain(
      [
        'set menu_font=/boot/grub/fonts/unicode.pf2',
        'if [ "$lockdown" = y ] ; then',
        '\tset menu_font=(memdisk)/fonts/unicode.pf2',
        'fi',
        'if [ -f "$menu_font" ] ; then',
        '\tif loadfont "$menu_font" ; then',
        '\t\tset gfxmode=auto',
        '\t\tinsmod all_video',
        '\t\tinsmod gfxterm',
        '\t\tinsmod gfxmenu',
        '\t\tinsmod png',
        '\t\tinsmod jpeg',
        '\t\tterminal_output gfxterm serial',
        '\t\tset theme=/boot/grub/themes/ailinux/theme.txt',
        '\tfi',
        'fi',
        '',
      ].join('\n'),
    );
    // after the serial lines, which it would otherwise undo
    expect(cfg.indexOf('terminal_output gfxterm')).toBeGreaterThan(cfg.indexOf('terminal_output serial console'));
    expect(renderGrubConfig(profileConfig('ailinux', (c) => (c.iso.serialConsole = false)))).toContain(
      '\t\tterminal_output gfxterm\n',
    );
    expect(renderGrubConfig(profileConfig('minimal'))).not.toContain('loadfont');
    expect(graphicalMenu(profileConfig('minimal'))).toBe(false);
  });

  it("under Secure Boot lockdown the font comes from the signed GRUB's memdisk, never from the medium, and is tested first", () => {
    // noble's signed GRUB 2.12 refuses a font file on the medium under lockdown ("error: prohibited by secure
    // boot policy", then the plain text menu); (memdisk)/fonts/unicode.pf2 inside the signed image it loads
    const cfg = renderGrubConfig(profileConfig('ailinux', (c) => (c.iso.serialConsole = true)));
    const lines = cfg.split('\n').map((l) => l.trim());
    expect(lines.filter((l) => l.startsWith('loadfont') || l.includes(' loadfont '))).toEqual([
      'if loadfont "$menu_font" ; then',
    ]);
    const lockdown = lines.indexOf('if [ "$lockdown" = y ] ; then');
    expect(lockdown).toBeGreaterThan(lines.indexOf('set menu_font=/boot/grub/fonts/unicode.pf2'));
    expect(lines[lockdown + 1]).toBe(`set menu_font=${GRUB_LOCKDOWN_FONT}`);
    expect(GRUB_LOCKDOWN_FONT).toBe('(memdisk)/fonts/unicode.pf2');
    // a signed GRUB without that font keeps the text menu and prints no error: loadfont only runs on a file that is there
    const guard = lines.indexOf('if [ -f "$menu_font" ] ; then');
    expect(guard).toBeGreaterThan(lockdown);
    expect(lines[guard + 1]).toBe('if loadfont "$menu_font" ; then');
    expect(lines.filter((l) => l === 'fi').length).toBeGreaterThanOrEqual(3);
  });

  it('the theme names the product and version as its title, the background and the font the ISO carries', () => {
    const theme = renderGrubTheme(profileConfig('ailinux'));
    expect(theme).toContain('title-text: "AILinux 24.04"\n');
    expect(theme).toContain('desktop-image: "background.png"\n');
    expect(theme).toContain('item_font = "Unifont Regular 16"\n');
    expect(theme).toContain('text = "Booting in %d seconds"\n');
    const odd = renderGrubTheme(profileConfig('ailinux', (c) => (c.branding.productName = 'A "quoted" \\ name')));
    expect(odd).toContain('title-text: "A  quoted    name 24.04"\n');
  });

  it("the background is the wallpaper art cut to 4:3 (a pinned input), or the user's own wallpaper (an input file)", () => {
    const config = profileConfig('ailinux');
    expect(bootloadersStep.pinned!(config)).toEqual({
      'art.assets/branding/wallpaper.svg': brandingStep.pinned!(config)['art.assets/branding/wallpaper.svg'],
    });
    expect(bootloadersStep.inputFiles!(config)).toEqual([]);
    expect(bootloadersStep.hostTools!(config).map((t) => t.name)).toContain('rsvg-convert');
    expect(bootloadersStep.hostFiles!(config).map((f) => f.path)).toContain('/usr/share/grub/unicode.pf2');

    const user = profileConfig('ailinux', (c) => {
      c.branding.dir = 'art';
      c.branding.wallpaper = 'mine.jpg';
    });
    expect(bootloadersStep.pinned!(user)).toEqual({});
    expect(bootloadersStep.inputFiles!(user)).toEqual(['art/mine.jpg']);
    expect(bootloadersStep.hostTools!(user).map((t) => t.name)).not.toContain('rsvg-convert');
    expect(grubBackgroundName(user)).toBe('background.jpg');
    expect(renderGrubTheme(user)).toContain('desktop-image: "background.jpg"\n');
  });

  it('the cut: a 16:9 SVG on a 4:3 page is scaled to cover it and centred; the same shape is a plain render', () => {
    const wide = { width: 1920, height: 1080 };
    expect(rsvgConvertArgv('w.svg', 'o.png', 1024, 768, wide)).toEqual([
      'rsvg-convert',
      '--format=png',
      '--width=1365',
      '--height=768',
      '--page-width=1024',
      '--page-height=768',
      '--left=-170',
      '--top=0',
      '--output=o.png',
      'w.svg',
    ]);
    expect(rsvgConvertArgv('w.svg', 'o.png', 1920, 1080, wide)).toEqual(rsvgConvertArgv('w.svg', 'o.png', 1920, 1080));
    expect(svgSize('<?xml?><svg xmlns="x" width="256" height="256" viewBox="0 0 512 300">')).toEqual({
      width: 512,
      height: 300,
    });
    expect(svgSize('<svg width="64px" height="32">')).toEqual({ width: 64, height: 32 });
    expect(svgSize('<svg>')).toBeNull();
  });
});
