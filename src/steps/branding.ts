/**
 * branding: the product's look and its optional helper application. Each piece (logo, installer
 * images, boot splash, wallpaper) comes from the host file the config names in branding.dir
 * (relative to the config file; an input file, so a changed logo reruns this step and the plan
 * says which file changed), or else from the built-in SVG art in assets/branding, rendered on the
 * host with rsvg-convert (src/steps/branding-art.ts; the SVGs' hashes are pinned inputs).
 * Where they go: /usr/share/<id>/logo.png and the <id> icon, Calamares' branding images, a plymouth
 * theme when the image has plymouth, a KDE wallpaper package made the Plasma default through a
 * look-and-feel package of ours, SDDM's Breeze background, and /etc/os-release and lsb-release
 * naming the product (ID_LIKE keeps the base's ID). The helper's files with explicit modes and its
 * launcher; a helper file that holds an API key is refused.
 */
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { secretKind } from '../config/secrets.js';
import { StepError } from '../errors.js';
import { entryInLayers, findInLayers, readLayerFile, writeLayerFile } from '../runtime/layers.js';
import { CALAMARES_IMAGES, calamaresBrandingDir } from './calamares/branding.js';
import { PNG_SIGNATURE } from '../runtime/png.js';
import {
  artHashes,
  lookAndFeelId,
  RENDITIONS,
  renderArt,
  renderKdeglobals,
  renderKscreenlockerrc,
  renderLookAndFeelDefaults,
  renderLookAndFeelMetadata,
  renderLsbRelease,
  renderOsRelease,
  renderSddmThemeConf,
  renderSddmThemeConfUser,
  RSVG_CONVERT,
  SDDM_THEME_FILE,
  WALLPAPER_RENDITIONS,
  type ArtSource,
  type Rendition,
} from './branding-art.js';
import { readOwnConfigFile } from './config-files.js';
import { removeTree } from '../runtime/safe-remove.js';
import { writeLayerBytes } from './layer-files.js';
import { discardLayer, layerArtifact, prepareLayer, runInChroot } from './layer-step.js';
import { helperLauncher } from './launchers.js';
import type { StepContext, StepDef } from './types.js';

const STEP = 'branding';

/** The branding files as the config names them (relative to the config file), by role. */
export function brandingAssets(
  config: BuildConfig,
): Partial<Record<'logo' | 'welcome' | 'splash' | 'wallpaper', string>> {
  const b = config.branding;
  if (b.dir === undefined) return {};
  const out: Partial<Record<'logo' | 'welcome' | 'splash' | 'wallpaper', string>> = {};
  for (const role of ['logo', 'welcome', 'splash', 'wallpaper'] as const) {
    const name = b[role];
    if (name !== undefined) out[role] = path.posix.join(b.dir, name);
  }
  return out;
}

type Piece = 'logo' | 'welcome' | 'splash' | 'wallpaper';

/** The pieces the config's branding.dir leaves to the built-in art (the welcome image falls back to a named logo). */
export function builtInPieces(config: BuildConfig): Piece[] {
  const named = brandingAssets(config);
  const out: Piece[] = [];
  if (!named.logo) out.push('logo');
  if (!named.welcome && !named.logo) out.push('welcome');
  if (!named.splash) out.push('splash');
  if (!named.wallpaper) out.push('wallpaper');
  return out;
}

function builtInSources(config: BuildConfig): ArtSource[] {
  return builtInPieces(config).map((p) => (p === 'wallpaper' ? 'wallpaper' : RENDITIONS[p].source));
}

/** Every host file this step reads: the fingerprint hashes them. */
export function brandingInputFiles(config: BuildConfig): string[] {
  return [...Object.values(brandingAssets(config)), ...(config.helper?.files.map((f) => f.source) ?? [])];
}

/** Width and height of a PNG or JPEG, from its header; null when it is neither. */
export function imageSize(data: Buffer): { width: number; height: number } | null {
  if (data.length >= 24 && data.subarray(0, 8).equals(PNG_SIGNATURE))
    return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  if (data.length > 4 && data[0] === 0xff && data[1] === 0xd8) {
    let i = 2;
    while (i + 9 < data.length && data[i] === 0xff) {
      const marker = data[i + 1]!;
      const length = data.readUInt16BE(i + 2);
      // SOF0..SOF15 carry the frame size, except DHT (c4), JPG (c8) and DAC (cc)
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker))
        return { height: data.readUInt16BE(i + 5), width: data.readUInt16BE(i + 7) };
      i += 2 + length;
    }
  }
  return null;
}

function readAsset(ctx: StepContext, role: string, file: string, png: boolean): Buffer {
  const data = readOwnConfigFile(STEP, ctx, file, `branding.${role}`);
  const size = imageSize(data);
  if (size === null || (png && !data.subarray(0, 8).equals(PNG_SIGNATURE))) {
    throw new StepError(STEP, `branding.${role}: ${file} is not a ${png ? 'PNG' : 'PNG or JPEG'} image`, {
      hint: 'export the image as PNG',
    });
  }
  return data;
}

export function renderPlymouthTheme(config: BuildConfig): { plymouth: string; script: string } {
  const id = config.branding.id;
  const dir = `/usr/share/plymouth/themes/${id}`;
  return {
    plymouth: [
      '[Plymouth Theme]',
      `Name=${config.branding.productName}`,
      'Description=Boot splash written by ailinux from the profile',
      'ModuleName=script',
      '',
      '[script]',
      `ImageDir=${dir}`,
      `ScriptFile=${dir}/${id}.script`,
      '',
    ].join('\n'),
    script: [
      '# Written by ailinux: the splash image, centred.',
      'image = Image("splash.png");',
      'sprite = Sprite(image);',
      'sprite.SetX(Window.GetWidth() / 2 - image.GetWidth() / 2);',
      'sprite.SetY(Window.GetHeight() / 2 - image.GetHeight() / 2);',
      "# the wallpaper's navy, top to bottom",
      'Window.SetBackgroundTopColor(0.043, 0.078, 0.149);',
      'Window.SetBackgroundBottomColor(0.047, 0.290, 0.353);',
      '',
    ].join('\n'),
  };
}

/** How the image selects its plymouth theme: Ubuntu's alternatives link, or Debian's plymouth-set-default-theme. */
export function plymouthSelectArgv(ctx: Pick<StepContext, 'layers' | 'config'>): string[][] | null {
  const id = ctx.config.branding.id;
  const theme = `/usr/share/plymouth/themes/${id}/${id}.plymouth`;
  if (findInLayers(ctx.layers, 'etc/alternatives/default.plymouth') !== null) {
    return [
      [
        'update-alternatives',
        '--install',
        '/usr/share/plymouth/themes/default.plymouth',
        'default.plymouth',
        theme,
        '200',
      ],
      ['update-alternatives', '--set', 'default.plymouth', theme],
    ];
  }
  if (findInLayers(ctx.layers, 'usr/sbin/plymouth-set-default-theme') !== null)
    return [['plymouth-set-default-theme', id]];
  return null;
}

function installSplash(ctx: StepContext, data: Buffer): Promise<void> | void {
  if (findInLayers(ctx.layers, 'usr/sbin/plymouthd') === null) {
    ctx.log.info('branding.splash: the image has no plymouth, so there is no boot splash to set');
    return;
  }
  const id = ctx.config.branding.id;
  const dir = `usr/share/plymouth/themes/${id}`;
  const theme = renderPlymouthTheme(ctx.config);
  writeLayerBytes(ctx.layers, `${dir}/splash.png`, data, 0o644);
  writeLayerFile(ctx.layers, `${dir}/${id}.plymouth`, theme.plymouth, 0o644);
  writeLayerFile(ctx.layers, `${dir}/${id}.script`, theme.script, 0o644);
  const select = plymouthSelectArgv(ctx);
  if (select === null) {
    ctx.log.info(
      'branding.splash: theme installed, but the image has no way to select it (no default.plymouth alternative, no plymouth-set-default-theme)',
    );
    return;
  }
  // the initramfs, which shows the splash, is rebuilt by chroot-cleanup
  return select.reduce<Promise<void>>(
    (p, argv) => p.then(async () => void (await runInChroot(ctx, argv))),
    Promise.resolve(),
  );
}

/** The wallpaper package: images by size, as Plasma's image plugin picks them; returns the first one's path in the image (SDDM's and the lock screen's picture). */
function installWallpaper(ctx: StepContext, images: ReadonlyArray<{ file: string; data: Buffer }>): string {
  const id = ctx.config.branding.id;
  const dir = `usr/share/wallpapers/${id}`;
  let first = '';
  for (const { file, data } of images) {
    const size = imageSize(data)!;
    const ext = path.extname(file).toLowerCase() === '.png' ? 'png' : 'jpg';
    const rel = `${dir}/contents/images/${size.width}x${size.height}.${ext}`;
    writeLayerBytes(ctx.layers, rel, data, 0o644);
    if (!first) first = `/${rel}`;
  }
  const metadata = {
    KPlugin: {
      Id: id,
      Name: ctx.config.branding.productName,
      License: 'see the product',
      Authors: [{ Name: ctx.config.branding.productName }],
    },
  };
  writeLayerFile(ctx.layers, `${dir}/metadata.json`, `${JSON.stringify(metadata, null, 2)}\n`, 0o644);
  return first;
}

/** Plasma's default wallpaper is the one its look-and-feel package names: ours is Breeze with our wallpaper. */
function makeWallpaperDefault(ctx: StepContext, image: string): void {
  const { id, productName } = ctx.config.branding;
  if (findInLayers(ctx.layers, 'usr/share/plasma/look-and-feel/org.kde.breeze.desktop') === null) {
    ctx.log.info(
      'branding.wallpaper: the image has no Plasma (Breeze look-and-feel), so the wallpaper is not made a default',
    );
    return;
  }
  const lnf = `usr/share/plasma/look-and-feel/${lookAndFeelId(id)}`;
  writeLayerFile(ctx.layers, `${lnf}/metadata.json`, renderLookAndFeelMetadata(id, productName), 0o644);
  writeLayerFile(ctx.layers, `${lnf}/contents/defaults`, renderLookAndFeelDefaults(id), 0o644);
  writeLayerFile(ctx.layers, 'etc/xdg/kdeglobals', renderKdeglobals(id), 0o644);
  writeLayerFile(ctx.layers, 'etc/xdg/kscreenlockerrc', renderKscreenlockerrc(image), 0o644);
}

/** SDDM's Breeze theme, selected, with the wallpaper as its background. */
function themeSddm(ctx: StepContext, image: string): void {
  if (findInLayers(ctx.layers, 'usr/share/sddm/themes/breeze') === null) {
    if (findInLayers(ctx.layers, 'usr/bin/sddm') !== null)
      ctx.log.info('branding: SDDM has no Breeze theme (sddm-theme-breeze), so its login screen keeps its own look');
    return;
  }
  writeLayerFile(ctx.layers, 'usr/share/sddm/themes/breeze/theme.conf.user', renderSddmThemeConfUser(image), 0o644);
  writeLayerFile(ctx.layers, SDDM_THEME_FILE, renderSddmThemeConf('breeze'), 0o644);
}

/** /etc/os-release (where the base keeps it: /usr/lib/os-release behind the link) and /etc/lsb-release. */
function writeIdentity(ctx: StepContext): void {
  const b = ctx.config.branding;
  const product = { id: b.id, name: b.productName, version: b.version, url: b.url };
  const base = readLayerFile(ctx.layers, 'etc/os-release') ?? '';
  const entry = entryInLayers(ctx.layers, 'etc/os-release');
  const target =
    entry?.type === 'symlink' && (entry.link === '../usr/lib/os-release' || entry.link === '/usr/lib/os-release')
      ? 'usr/lib/os-release'
      : 'etc/os-release';
  writeLayerFile(ctx.layers, target, renderOsRelease(base, product), 0o644);
  writeLayerFile(ctx.layers, 'etc/lsb-release', renderLsbRelease(base, product), 0o644);
}

function renderDir(ctx: StepContext): string {
  return path.join(ctx.paths.tmpDir, STEP);
}

/** The renditions this run needs: the pieces the config leaves to the built-in art, for what the image has. */
function neededRenditions(ctx: StepContext): Rendition[] {
  const pieces = builtInPieces(ctx.config);
  const out: Rendition[] = [];
  if (pieces.includes('logo')) out.push(RENDITIONS.logo);
  if (pieces.includes('welcome') && findInLayers(ctx.layers, calamaresBrandingDir(ctx.config)) !== null)
    out.push(RENDITIONS.welcome);
  if (pieces.includes('splash') && findInLayers(ctx.layers, 'usr/sbin/plymouthd') !== null) out.push(RENDITIONS.splash);
  if (pieces.includes('wallpaper') && findInLayers(ctx.layers, 'usr/share/wallpapers') !== null)
    out.push(...WALLPAPER_RENDITIONS);
  return out;
}

/** The helper's files, each with its explicit mode; text that holds a key is refused. */
function installHelper(ctx: StepContext): void {
  const helper = ctx.config.helper;
  if (!helper) return;
  helper.files.forEach((f, i) => {
    const data = readOwnConfigFile(STEP, ctx, f.source, `helper.files.${i}.source`);
    const head = data.subarray(0, 8192);
    if (!head.includes(0)) {
      const kind = secretKind(data.toString('utf8'), false);
      if (kind !== null) {
        throw new StepError(
          STEP,
          `helper.files.${i}: ${f.source} holds what looks like ${kind}; secrets are never baked into an image`,
          {
            hint: "let the helper ask for its key at run time (or read it from the user's home), and remove it from the file",
          },
        );
      }
    }
    writeLayerBytes(ctx.layers, f.destination.slice(1), data, parseInt(f.mode, 8));
  });
  const launcher = helperLauncher(ctx.config);
  if (launcher) writeLayerFile(ctx.layers, `usr/share/applications/${launcher.file}`, launcher.text, 0o644);
  ctx.log.info(`helper ${helper.name}: ${helper.files.length} file(s)${launcher ? ' and a menu launcher' : ''}`);
}

export const brandingStep: StepDef = {
  id: STEP,
  title: 'Install the branding and the helper application',
  version: 2,
  layer: 'overlay',
  phase: 7,
  needs: ['bootstrap'],
  // liveSystem: INITRD=No in the chroot's environment on casper (initramfsMadeLater in layer-step.ts)
  configFields: ['locale.lang', 'branding', 'helper', 'liveSystem'],
  inputFiles: brandingInputFiles,
  hostTools: (config) => (builtInPieces(config).length > 0 ? [RSVG_CONVERT] : []),
  // the built-in SVGs: an edited one reruns this step (and the plan names it)
  pinned: (config) => artHashes(builtInSources(config)),
  async run(ctx) {
    prepareLayer(ctx);
    const assets = brandingAssets(ctx.config);
    const id = ctx.config.branding.id;
    const tmp = renderDir(ctx);
    await removeTree(tmp, { within: ctx.paths.workDir });
    try {
      const art = await renderArt(ctx, tmp, neededRenditions(ctx));
      const rendered = (r: Rendition) => art.get(r.name)!;
      const logo = assets.logo ? readAsset(ctx, 'logo', assets.logo, true) : rendered(RENDITIONS.logo);
      writeLayerBytes(ctx.layers, `usr/share/${id}/logo.png`, logo, 0o644);
      writeLayerBytes(ctx.layers, `usr/share/pixmaps/${id}.png`, logo, 0o644);

      const calamares = calamaresBrandingDir(ctx.config);
      if (findInLayers(ctx.layers, calamares) !== null) {
        const welcome = assets.welcome
          ? readAsset(ctx, 'welcome', assets.welcome, true)
          : assets.logo
            ? logo
            : rendered(RENDITIONS.welcome);
        writeLayerBytes(ctx.layers, `${calamares}/${CALAMARES_IMAGES.logo}`, logo, 0o644);
        writeLayerBytes(ctx.layers, `${calamares}/${CALAMARES_IMAGES.welcome}`, welcome, 0o644);
      }

      if (assets.splash) await installSplash(ctx, readAsset(ctx, 'splash', assets.splash, true));
      else if (art.has(RENDITIONS.splash.name)) await installSplash(ctx, rendered(RENDITIONS.splash));
      else ctx.log.info('branding.splash: the image has no plymouth, so there is no boot splash to set');

      const wallpapers = assets.wallpaper
        ? [{ file: assets.wallpaper, data: readAsset(ctx, 'wallpaper', assets.wallpaper, false) }]
        : WALLPAPER_RENDITIONS.filter((r) => art.has(r.name)).map((r) => ({
            file: `${r.name}.png`,
            data: rendered(r),
          }));
      if (wallpapers.length > 0) {
        const image = installWallpaper(ctx, wallpapers);
        makeWallpaperDefault(ctx, image);
        themeSddm(ctx, image);
      } else ctx.log.info('branding.wallpaper: the image has no /usr/share/wallpapers (no desktop), so no wallpaper');

      writeIdentity(ctx);
      installHelper(ctx);
      const made = art.size > 0 ? ` (${[...art.keys()].join(', ')} rendered from assets/branding)` : '';
      ctx.log.info(`branding: ${ctx.config.branding.productName}${made}`);
    } finally {
      await removeTree(tmp, { within: ctx.paths.workDir });
    }
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    const id = ctx.config.branding.id;
    if (findInLayers(ctx.layers, `usr/share/${id}/logo.png`) === null) {
      throw new StepError(STEP, `the rootfs has no /usr/share/${id}/logo.png`);
    }
    if (!(readLayerFile(ctx.layers, 'etc/os-release') ?? '').split('\n').includes(`ID=${id}`)) {
      throw new StepError(STEP, `/etc/os-release in the rootfs does not say ID=${id}`);
    }
    for (const f of ctx.config.helper?.files ?? []) {
      if (findInLayers(ctx.layers, f.destination.slice(1)) === null)
        throw new StepError(STEP, `the helper file ${f.destination} is not in the rootfs`);
    }
    const launcher = helperLauncher(ctx.config);
    if (launcher && readLayerFile(ctx.layers, `usr/share/applications/${launcher.file}`) !== launcher.text) {
      throw new StepError(STEP, `/usr/share/applications/${launcher.file} is not the launcher the profile asks for`);
    }
  },
  async undo(ctx) {
    await removeTree(renderDir(ctx), { within: ctx.paths.workDir });
    await discardLayer(ctx);
  },
};
