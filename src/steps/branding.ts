/**
 * branding: the product's look and its optional helper application, from host files the config
 * names (relative to the config file; listed as input files, so a changed logo reruns this step
 * and the plan says which file changed). Logo, installer images, boot splash (a plymouth theme
 * when the image has plymouth) and wallpaper (a KDE wallpaper package); the helper's files with
 * explicit modes and its launcher. A helper file that holds an API key is refused.
 */
import path from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { secretKind } from '../config/secrets.js';
import { StepError } from '../errors.js';
import { findInLayers, readLayerFile, writeLayerFile } from '../runtime/layers.js';
import { CALAMARES_IMAGES, calamaresBrandingDir } from './calamares/branding.js';
import { PNG_SIGNATURE } from './calamares/png.js';
import { readOwnConfigFile } from './config-files.js';
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

function installWallpaper(ctx: StepContext, file: string, data: Buffer): void {
  const id = ctx.config.branding.id;
  const size = imageSize(data)!;
  const ext = path.extname(file).toLowerCase() === '.png' ? 'png' : 'jpg';
  const dir = `usr/share/wallpapers/${id}`;
  writeLayerBytes(ctx.layers, `${dir}/contents/images/${size.width}x${size.height}.${ext}`, data, 0o644);
  const metadata = {
    KPlugin: {
      Id: id,
      Name: ctx.config.branding.productName,
      License: 'see the product',
      Authors: [{ Name: ctx.config.branding.productName }],
    },
  };
  writeLayerFile(ctx.layers, `${dir}/metadata.json`, `${JSON.stringify(metadata, null, 2)}\n`, 0o644);
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
  version: 1,
  layer: 'overlay',
  phase: 7,
  needs: ['bootstrap'],
  configFields: ['locale.lang', 'branding', 'helper'],
  inputFiles: brandingInputFiles,
  async run(ctx) {
    prepareLayer(ctx);
    const assets = brandingAssets(ctx.config);
    const id = ctx.config.branding.id;
    if (assets.logo) {
      const logo = readAsset(ctx, 'logo', assets.logo, true);
      writeLayerBytes(ctx.layers, `usr/share/${id}/logo.png`, logo, 0o644);
      writeLayerBytes(ctx.layers, `usr/share/pixmaps/${id}.png`, logo, 0o644);
    }
    const calamares = calamaresBrandingDir(ctx.config);
    if ((assets.logo || assets.welcome) && findInLayers(ctx.layers, calamares) !== null) {
      const logo = assets.logo ? readAsset(ctx, 'logo', assets.logo, true) : null;
      const welcome = assets.welcome ? readAsset(ctx, 'welcome', assets.welcome, true) : logo;
      if (logo) writeLayerBytes(ctx.layers, `${calamares}/${CALAMARES_IMAGES.logo}`, logo, 0o644);
      if (welcome) writeLayerBytes(ctx.layers, `${calamares}/${CALAMARES_IMAGES.welcome}`, welcome, 0o644);
    }
    if (assets.splash) await installSplash(ctx, readAsset(ctx, 'splash', assets.splash, true));
    if (assets.wallpaper) installWallpaper(ctx, assets.wallpaper, readAsset(ctx, 'wallpaper', assets.wallpaper, false));
    installHelper(ctx);
    if (Object.keys(assets).length === 0 && !ctx.config.helper)
      ctx.log.info('no branding assets and no helper in the profile');
    return [layerArtifact(ctx)];
  },
  async verify(ctx) {
    const id = ctx.config.branding.id;
    if (brandingAssets(ctx.config).logo && findInLayers(ctx.layers, `usr/share/${id}/logo.png`) === null) {
      throw new StepError(STEP, `the rootfs has no /usr/share/${id}/logo.png`);
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
  undo: discardLayer,
};
