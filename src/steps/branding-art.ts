/**
 * The built-in AILinux art: hand-written SVG sources in assets/branding (logo.svg, wallpaper.svg),
 * rendered at build time on the host with rsvg-convert (Debian package librsvg2-bin) to the sizes
 * each consumer needs. Nothing here is a committed binary image: edit the SVGs, and the branding
 * step's fingerprint (their sha256, as pinned values) reruns it. A user's branding.dir replaces any
 * piece (src/steps/branding.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StepError } from '../errors.js';
import { packageRoot } from '../runtime/package-root.js';
import type { HostTool, StepContext } from './types.js';

export type ArtSource = 'logo' | 'wallpaper';

/** One PNG made from one SVG source: what it is for and its size in pixels. */
export interface Rendition {
  name: string;
  source: ArtSource;
  width: number;
  height: number;
}

/** Every rendition the branding step may need, by the piece it stands in for. */
export const RENDITIONS = {
  /** /usr/share/<id>/logo.png, /usr/share/pixmaps/<id>.png (the icon name os-release's LOGO gives), Calamares' logo */
  logo: { name: 'logo-256', source: 'logo', width: 256, height: 256 },
  /** Calamares' welcome page */
  welcome: { name: 'welcome-640x360', source: 'wallpaper', width: 640, height: 360 },
  /** the plymouth theme's centred image */
  splash: { name: 'splash-192', source: 'logo', width: 192, height: 192 },
} as const satisfies Record<string, Rendition>;

/** The wallpaper package's images (Plasma picks the one nearest the screen); the first is SDDM's background. */
export const WALLPAPER_RENDITIONS: readonly Rendition[] = [
  { name: 'wallpaper-1920x1080', source: 'wallpaper', width: 1920, height: 1080 },
  { name: 'wallpaper-2560x1440', source: 'wallpaper', width: 2560, height: 1440 },
  { name: 'wallpaper-3840x2160', source: 'wallpaper', width: 3840, height: 2160 },
];

export const RSVG_CONVERT: HostTool = {
  name: 'rsvg-convert',
  pkg: 'librsvg2-bin',
  why: 'the built-in logo and wallpaper, rendered from SVG (branding and bootloaders steps)',
  versionArgs: ['--version'],
};

/** Where the SVG sources live: assets/branding in the package. */
export function artDir(): string {
  return path.join(packageRoot(), 'assets', 'branding');
}

export function artSourcePath(source: ArtSource): string {
  return path.join(artDir(), `${source}.svg`);
}

/** sha256 of each SVG source: the branding step pins these, so an edited SVG reruns it. */
export function artHashes(sources: readonly ArtSource[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const source of [...new Set(sources)].sort()) {
    const file = artSourcePath(source);
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch (error) {
      throw new StepError(
        'branding',
        `the built-in branding source ${file} cannot be read: ${(error as Error).message}`,
        {
          hint: 'reinstall ailinux (assets/branding belongs to the package), or name every piece in branding.dir',
        },
      );
    }
    out[`art.assets/branding/${source}.svg`] = crypto.createHash('sha256').update(data).digest('hex');
  }
  return out;
}

/** The GRUB menu's background: 4:3, cut from the middle of the 16:9 wallpaper (src/steps/bootloaders.ts). */
export const GRUB_BACKGROUND: Rendition = { name: 'grub-1024x768', source: 'wallpaper', width: 1024, height: 768 };

/**
 * The argv that renders one SVG to a PNG of exactly width x height. When the SVG (of sourceSize) has another
 * shape, it is scaled to cover the page and the middle is kept, never stretched.
 */
export function rsvgConvertArgv(
  source: string,
  output: string,
  width: number,
  height: number,
  sourceSize?: { width: number; height: number },
): string[] {
  const tail = [`--output=${output}`, source];
  if (sourceSize) {
    const scale = Math.max(width / sourceSize.width, height / sourceSize.height);
    const w = Math.round(sourceSize.width * scale);
    const h = Math.round(sourceSize.height * scale);
    if (w !== width || h !== height) {
      return [
        'rsvg-convert',
        '--format=png',
        `--width=${w}`,
        `--height=${h}`,
        `--page-width=${width}`,
        `--page-height=${height}`,
        `--left=${-Math.floor((w - width) / 2)}`,
        `--top=${-Math.floor((h - height) / 2)}`,
        ...tail,
      ];
    }
  }
  return ['rsvg-convert', '--format=png', `--width=${width}`, `--height=${height}`, ...tail];
}

/** An SVG's own size, from its viewBox (or width and height); null when it names none. */
export function svgSize(text: string): { width: number; height: number } | null {
  const root = /<svg\b[^>]*>/.exec(text)?.[0] ?? '';
  const box = /\bviewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)\s*"/.exec(root);
  if (box) return { width: Number(box[1]), height: Number(box[2]) };
  const w = /\bwidth="([\d.]+)(px)?"/.exec(root);
  const h = /\bheight="([\d.]+)(px)?"/.exec(root);
  return w && h ? { width: Number(w[1]), height: Number(h[1]) } : null;
}

/** PNG width and height from its IHDR; null when the bytes are no PNG. */
function pngSize(data: Buffer): { width: number; height: number } | null {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (data.length < 24 || !data.subarray(0, 8).equals(signature)) return null;
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}

/**
 * Renders each rendition once into dir (a directory of the step's own under the work dir's tmp) and returns the
 * PNG bytes by name. A result that is not a PNG of the asked size stops the step, naming the file.
 */
export async function renderArt(
  ctx: Pick<StepContext, 'runner' | 'signal' | 'log'>,
  dir: string,
  renditions: readonly Rendition[],
  step = 'branding',
): Promise<Map<string, Buffer>> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const out = new Map<string, Buffer>();
  for (const r of renditions) {
    if (out.has(r.name)) continue;
    const file = path.join(dir, `${r.name}.png`);
    const source = artSourcePath(r.source);
    const own = fs.existsSync(source) ? svgSize(fs.readFileSync(source, 'utf8')) : null;
    await ctx.runner.run(rsvgConvertArgv(source, file, r.width, r.height, own ?? undefined), {
      signal: ctx.signal,
      onLine: ctx.log.line,
    });
    const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    const size = pngSize(data);
    if (size === null || size.width !== r.width || size.height !== r.height) {
      const got = size === null ? 'no PNG' : `a ${size.width}x${size.height} PNG`;
      throw new StepError(
        step,
        `rsvg-convert made ${got} from ${source}, not the ${r.width}x${r.height} PNG asked for`,
        {
          hint: `check the SVG (rsvg-convert --width=${r.width} --height=${r.height} ${source} > /tmp/x.png)`,
        },
      );
    }
    out.set(r.name, data);
  }
  return out;
}

// ---- text files ---------------------------------------------------------------------------

/** KEY=value lines of an os-release file, values unquoted. */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2]!;
    if (/^".*"$/.test(value) || /^'.*'$/.test(value)) value = value.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    out.set(m[1]!, value);
  }
  return out;
}

function osQuote(value: string): string {
  return `"${value.replace(/(["\\$`])/g, '\\$1')}"`;
}

export interface ProductIdentity {
  id: string;
  name: string;
  version: string;
  url?: string | undefined;
}

/**
 * The product's /etc/os-release from the base system's: NAME, ID and versions are the product's, ID_LIKE the
 * base's ID and its own ID_LIKE (ubuntu debian on noble, debian on a Debian base), so tools that ask "is this
 * Ubuntu-like" still say yes. The base's codenames stay (apt and Ubuntu's tools read UBUNTU_CODENAME).
 */
export function renderOsRelease(base: string, product: ProductIdentity): string {
  const b = parseOsRelease(base);
  const like = [b.get('ID'), ...(b.get('ID_LIKE') ?? '').split(/\s+/)]
    .filter((x): x is string => !!x && x !== product.id)
    .filter((x, i, all) => all.indexOf(x) === i);
  const version = product.version || b.get('VERSION_ID') || '';
  const lines = [
    `PRETTY_NAME=${osQuote([product.name, version].filter(Boolean).join(' '))}`,
    `NAME=${osQuote(product.name)}`,
    ...(version ? [`VERSION_ID=${osQuote(version)}`, `VERSION=${osQuote(version)}`] : []),
    ...[...b.entries()].filter(([k]) => k.endsWith('_CODENAME')).map(([k, v]) => `${k}=${v}`),
    `ID=${product.id}`,
    ...(like.length ? [`ID_LIKE=${like.length > 1 ? osQuote(like.join(' ')) : like[0]}`] : []),
    ...(product.url ? [`HOME_URL=${osQuote(product.url)}`] : []),
    `LOGO=${product.id}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** /etc/lsb-release: the product's name and version, the base's codename. */
export function renderLsbRelease(baseOsRelease: string, product: ProductIdentity): string {
  const b = parseOsRelease(baseOsRelease);
  const version = product.version || b.get('VERSION_ID') || '';
  const codename = b.get('VERSION_CODENAME') ?? b.get('UBUNTU_CODENAME') ?? '';
  return [
    `DISTRIB_ID=${product.name.replace(/\s+/g, '')}`,
    `DISTRIB_RELEASE=${version}`,
    `DISTRIB_CODENAME=${codename}`,
    `DISTRIB_DESCRIPTION=${osQuote([product.name, version].filter(Boolean).join(' '))}`,
    '',
  ].join('\n');
}

/** The look-and-feel package that makes the product's wallpaper Plasma's default: Breeze, with our wallpaper. */
export function lookAndFeelId(id: string): string {
  return `org.${id}.desktop`;
}

/**
 * metadata.json of that package. Plasma gives every look-and-feel package but Breeze Breeze as its fallback
 * (plasma-framework's LookAndFeel package structure), so only contents/defaults is ours; the layout script and
 * everything else come from Breeze, or from whatever this image puts there.
 */
export function renderLookAndFeelMetadata(id: string, productName: string): string {
  return `${JSON.stringify(
    {
      KPackageStructure: 'Plasma/LookAndFeel',
      KPlugin: {
        Authors: [{ Name: productName }],
        Category: '',
        Description: `${productName}: Breeze with the ${productName} wallpaper (written by ailinux)`,
        Id: lookAndFeelId(id),
        License: 'GPL-2.0-or-later',
        Name: productName,
        ServiceTypes: ['Plasma/LookAndFeel'],
        Version: '1.0',
      },
      'X-Plasma-APIVersion': '2',
      'X-Plasma-MainScript': 'defaults',
    },
    null,
    2,
  )}\n`;
}

/**
 * contents/defaults: Breeze's (noble's plasma-workspace 5.27), with the wallpaper package named. The image
 * wallpaper plugin takes a new desktop's picture from [Wallpaper] Image of the look-and-feel package kdeglobals
 * names (libkworkspace DefaultWallpaper::defaultWallpaperPackage), so this is what makes it the default.
 */
export function renderLookAndFeelDefaults(wallpaperPackage: string): string {
  return [
    '# Written by ailinux: Breeze, with the product wallpaper.',
    '[kdeglobals][KDE]',
    'widgetStyle=Breeze',
    '',
    '[kdeglobals][General]',
    'ColorScheme=BreezeLight',
    '',
    '[kdeglobals][Icons]',
    'Theme=breeze',
    '',
    '[plasmarc][Theme]',
    'name=default',
    '',
    '[Wallpaper]',
    `Image=${wallpaperPackage}`,
    '',
    '[kcminputrc][Mouse]',
    'cursorTheme=breeze_cursors',
    '',
    '[kwinrc][WindowSwitcher]',
    'LayoutName=org.kde.breeze.desktop',
    '',
    '[kwinrc][DesktopSwitcher]',
    'LayoutName=org.kde.breeze.desktop',
    '',
    '[kwinrc][org.kde.kdecoration2]',
    'library=org.kde.breeze',
    'theme=Breeze',
    '',
    '[KSplash]',
    'Theme=org.kde.Breeze',
    '',
  ].join('\n');
}

/** /etc/xdg/kdeglobals (system-wide defaults every user inherits): the look-and-feel package above. */
export function renderKdeglobals(id: string): string {
  return `# Written by ailinux: the product's look-and-feel package (its default wallpaper).\n[KDE]\nLookAndFeelPackage=${lookAndFeelId(id)}\n`;
}

/** The login screen's lock-screen twin: kscreenlocker shows the same picture. */
export function renderKscreenlockerrc(imagePath: string): string {
  return `# Written by ailinux: the lock screen shows the product wallpaper.\n[Greeter][Wallpaper][org.kde.image][General]\nImage=file://${imagePath}\n`;
}

/** SDDM's Breeze theme reads theme.conf.user over theme.conf: the background only. */
export function renderSddmThemeConfUser(imagePath: string): string {
  return `# Written by ailinux: the login screen's background.\n[General]\ntype=image\nbackground=${imagePath}\n`;
}

/** SDDM picks its theme from [Theme] Current; with none it shows its plain built-in one. */
export const SDDM_THEME_FILE = 'etc/sddm.conf.d/ailinux-theme.conf';
export function renderSddmThemeConf(theme: string): string {
  return `# Written by ailinux: the login screen's theme.\n[Theme]\nCurrent=${theme}\n`;
}
