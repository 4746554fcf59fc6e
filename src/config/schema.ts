/**
 * The one config schema: validates at the edge and generates the JSON Schema for editors.
 * Value grammars (package names, hostnames, user names) are the real ones, since values reach argv.
 */
import { z } from 'zod';
import { CROSS_FIELD_RULES } from './cross-field-rules.js';
import { findSecrets, maskSecret } from './secrets.js';
import { valueAt } from './value-at.js';

/** Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters; starts alphanumeric. */
export const debianPackageName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9+.-]+$/,
    'a Debian package name (lower-case letters, digits, + - ., starting with a letter or digit)',
  );

/** RFC 1123 host name label(s), at most 253 characters. */
export const hostname = z
  .string()
  .max(253)
  .regex(
    /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/,
    'an RFC 1123 host name (letters, digits and inner hyphens, labels up to 63 characters)',
  );

/** POSIX portable user name, as useradd accepts it by default. */
export const userName = z
  .string()
  .max(32)
  .regex(/^[a-z_][a-z0-9_-]*$/, 'a user name (lower-case letter or _, then lower-case letters, digits, _ or -)');

const suiteName = z.string().regex(/^[a-z][a-z0-9-]*$/, 'a suite name such as bookworm or noble');
const componentName = z.string().regex(/^[a-z][a-z0-9-]*$/, 'an archive component such as main or universe');
const mirrorUrl = z
  .string()
  .regex(
    /^(https?|file):\/\/[^\s'"`$;&|<>\\]+$/,
    'an http://, https:// or file:// URL without spaces or shell characters',
  );
/**
 * A URL that lands in a one-line sources.list entry (and debootstrap's): no "#" (a comment), no control characters,
 * and "[" "]" only around an IPv6 host, so it can neither end the line early nor open an options bracket.
 */
const sourcesLineUri = mirrorUrl.refine(
  (u) => !/[[\]#\x00-\x1f\x7f]/.test(u.replace(/^[a-z]+:\/\/\[[0-9A-Fa-f:.]+\]/, '')),
  'a URL without "#", control characters, or "[" "]" other than around an IPv6 host: it lands in a sources.list line',
);
/** signed-by=... inside the "[ ]" options of a sources line: white space, "]", "," or "=" would add options or keys. */
const signedByPath = z
  .string()
  .max(512)
  .regex(
    /^(\/[A-Za-z0-9._+@-]+)+$/,
    'an absolute path inside the image of letters, digits, . _ + @ - (white space, "]", "," or "=" would add apt options to the sources line)',
  )
  .refine((p) => !p.split('/').includes('..'), 'a path without ".." parts');
const absoluteHostPath = z
  .string()
  .regex(/^\/[^\0\n]*$/, 'an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'a path without ".." parts');
const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, 'a sha256 in lower-case hex (64 characters)');
/** ISO 9660 volume ids: up to 32 characters of A-Z 0-9 _ (and - . which xorriso accepts). */
const volumeLabel = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'a volume label of 1 to 32 letters, digits, _ - or .');
const outputName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'a file name of letters, digits, _ - and . (no slashes)');
const kernelArg = z.string().regex(/^[A-Za-z0-9_.,:=/+@-]+$/, 'a kernel argument without spaces or quotes');
const localeName = z
  .string()
  .regex(/^[A-Za-z]{1,8}(_[A-Za-z]{2})?(\.[A-Za-z0-9-]+)?(@[a-z]+)?$/, 'a locale such as C.UTF-8 or en_US.UTF-8');
const timezone = z
  .string()
  .regex(/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/, 'a time zone such as Etc/UTC or Europe/Berlin');

/** A path relative to the config file's directory that cannot leave it: no absolute path, no "..". */
export const configRelativePath = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (p) => !p.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(p),
    'a path relative to the config file (an absolute path is refused)',
  )
  .refine(
    (p) => !p.split(/[\\/]+/).includes('..'),
    'a path inside the config file\'s directory ("..", which could escape it, is refused)',
  )
  .refine((p) => !/[\0\n\r]/.test(p), 'a path without NUL or newline characters');
/** A file on the build host: absolute, or relative to the config file; never with "..". */
const hostFilePath = z.union([absoluteHostPath, configRelativePath]);
/** A path inside the image: absolute, plain characters, no "..". */
const imagePath = z
  .string()
  .max(512)
  .regex(
    /^(\/[A-Za-z0-9._+@-]+)+$/,
    'an absolute path inside the image (letters, digits, . _ + @ -), without a trailing /',
  )
  .refine((p) => !p.split('/').includes('..') && !p.split('/').includes('.'), 'a path without "." or ".." parts');
/** File mode as an octal string; setuid, setgid and sticky bits are refused. */
const fileMode = z
  .string()
  .regex(/^0?[0-7]{3}$/, 'an octal file mode such as "0644" or "0755" (no setuid, setgid or sticky bit)');
/** One line of human text, for names shown to users. */
const textLine = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\n\r\0"\\]*$/, 'one line of text without double quotes or backslashes');
const pngFileName = configRelativePath.refine(
  (p) => /\.png$/i.test(p),
  'a PNG file (ending in .png): the installer, plymouth and launchers all read PNG',
);
const wallpaperFileName = configRelativePath.refine(
  (p) => /\.(png|jpe?g)$/i.test(p),
  'an image file ending in .png, .jpg or .jpeg',
);
/** Calamares module names, with an optional @instance. */
const calamaresModule = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(@[a-z0-9_-]+)?$/, 'a Calamares module name such as partition or shellprocess@cleanup');
const brandingId = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'an id of lower-case letters, digits, _ and - (used in file names)');

/**
 * An HTTP proxy as http_proxy and apt take it: http://host[:port][/]. No credentials: the config is printed, planned
 * and stored in the state, so a password in the URL would land there.
 */
const proxyUrl = z
  .string()
  .max(300)
  .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), {
    message:
      'a proxy URL without user:password@: the config is printed and stored in the state (use a proxy on this host that adds them)',
    abort: true,
    // the URL holds a password: the error shows only its start
    params: { secret: true },
  })
  .regex(
    /^http:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?\/?$/,
    'an HTTP proxy URL such as http://proxy.example.org:3128 or http://127.0.0.1:3142 (http://, a host, an optional port)',
  );

/** debconf's question types, as debconf-set-selections takes them. */
export const DEBCONF_TYPES = [
  'boolean',
  'string',
  'select',
  'multiselect',
  'password',
  'note',
  'text',
  'title',
] as const;

export const debconfSelectionSchema = z
  .object({
    package: debianPackageName.describe('The package that owns the question (the first word of the selection line)'),
    question: z
      .string()
      .max(200)
      .regex(
        /^[a-z0-9][a-z0-9+.-]*\/[A-Za-z0-9_+.:/-]+$/,
        'a debconf question such as tzdata/Areas or keyboard-configuration/xkb-keymap (owner/name, no spaces)',
      )
      .describe('The question, owner/name (debconf-get-selections prints them)'),
    type: z.enum(DEBCONF_TYPES).describe("The question's type; a password's value is never shown or stored"),
    value: z
      .string()
      .max(2000)
      .regex(/^[^\n\r\0]*$/, 'one line of text')
      .describe('The answer: the rest of the selection line (true or false for a boolean)'),
  })
  .strict()
  .refine((s) => s.type !== 'boolean' || s.value === 'true' || s.value === 'false', {
    message: '"true" or "false" (the value of a boolean answer)',
    path: ['value'],
  })
  .describe('One debconf answer: debconf-set-selections gets "package question type value"');

export const aptSourceSchema = z
  .object({
    uri: sourcesLineUri.describe('Archive URL'),
    suites: z.array(suiteName).min(1).describe('Suites, one deb line each'),
    components: z.array(componentName).min(1).describe('Components of every line'),
    signedBy: signedByPath.optional().describe('Path of the key inside the image (Signed-By)'),
  })
  .strict()
  .describe('An apt source of the image: one deb line per suite');

export const extraRepositorySchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9._-]{0,62}$/,
        'a repository name (lower-case letters, digits, . _ -): the key lands in /etc/apt/keyrings/<name>.gpg',
      )
      .describe('Repository name: its key becomes /etc/apt/keyrings/<name>.gpg'),
    uri: sourcesLineUri.describe('Repository URL'),
    suites: z.array(suiteName).min(1).describe('Suites, one deb line each'),
    components: z.array(componentName).min(1).describe('Components of every line'),
    key: z
      .object({
        path: hostFilePath.describe(
          'Host file (absolute, or relative to the config file); never fetched from the network',
        ),
        sha256: sha256Hex.describe('Its sha256: a different file is refused'),
      })
      .strict()
      .describe('The repository signing key: a host file, pinned by sha256'),
  })
  .strict()
  .describe('An apt repository beyond the distribution, with its pinned signing key');

/** A YYYYMMDDTHHMMSSZ time that names a real moment (no 31 February, no hour 24). */
function snapshotTimeValid(t: string): boolean {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(t);
  if (!m) return true; // the regex reports it
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  return at.getUTCMonth() === mo - 1 && at.getUTCDate() === d && at.getUTCHours() === h && mi < 60 && se < 60;
}

export const configSchema = z
  .object({
    $schema: z.string().optional().describe('Path or URL of the JSON Schema, for editors'),
    extends: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/)
      .optional()
      .describe('The built-in profile this config builds on'),
    name: z.string().min(1).max(64).describe('Profile name'),
    description: z.string().max(500).default('').describe('One line about the image (.disk/info, the report)'),
    architecture: z.enum(['amd64']).default('amd64').describe('Target architecture'),
    distribution: z
      .object({
        family: z
          .enum(['debian', 'ubuntu'])
          .describe(
            "Distribution family: where the kernel links are, casper.conf values, the signed GRUB's EFI directory",
          ),
        suite: suiteName.describe('Suite to bootstrap (bookworm, noble)'),
        mirror: sourcesLineUri.describe('Archive the base system is bootstrapped from'),
        components: z.array(componentName).min(1).describe('Archive components of the bootstrap'),
        keyring: z
          .object({
            path: hostFilePath.describe('Keyring file on the host: absolute, or relative to the config file'),
            sha256: sha256Hex.optional().describe('Its sha256: a different file is refused'),
          })
          .strict()
          .optional()
          .describe(
            "Keyring that verifies the archive; needed on hosts that do not ship the target's (Ubuntu's on Debian)",
          ),
        debootstrapScript: absoluteHostPath
          .optional()
          .describe("debootstrap script for a suite the host's debootstrap does not know (noble on bookworm: gutsy)"),
        snapshot: z
          .string()
          .regex(
            /^\d{8}T\d{6}Z$/,
            'a UTC time as the snapshot services write it: YYYYMMDDTHHMMSSZ, e.g. 20240301T000000Z',
          )
          .refine((t) => snapshotTimeValid(t), 'a real date and time (month 01-12, day, hour 00-23, ...)')
          .optional()
          .describe(
            "Build from the distribution's snapshot service (snapshot.debian.org, snapshot.ubuntu.com) as the archive was at this UTC time, YYYYMMDDTHHMMSSZ: a fully reproducible package set",
          ),
        sources: z.array(aptSourceSchema).min(1).describe('apt sources written into the image'),
        extraRepositories: z
          .array(extraRepositorySchema)
          .default([])
          .describe('More apt repositories, each with its pinned signing key, written after the distribution sources'),
        resolvConf: z
          .union([
            z.literal('empty'),
            z
              .object({
                symlink: z
                  .string()
                  .regex(/^[A-Za-z0-9._/-]+$/, 'a symlink target such as ../run/systemd/resolve/stub-resolv.conf')
                  .describe('Where /etc/resolv.conf points'),
              })
              .strict()
              .describe('/etc/resolv.conf as a symlink (systemd-resolved)'),
          ])
          .default('empty')
          .describe(
            'What /etc/resolv.conf is in the shipped image: an empty file (NetworkManager fills it) or a symlink (systemd-resolved)',
          ),
      })
      .strict()
      .describe('The distribution: what is bootstrapped, from where, and the apt sources the image keeps'),
    bootstrap: z
      .object({
        tool: z.enum(['debootstrap', 'mmdebstrap']).default('debootstrap').describe('Bootstrap tool'),
        variant: z.enum(['minbase', 'buildd', 'default']).default('minbase').describe('Bootstrap variant'),
        include: z
          .array(debianPackageName)
          .default([])
          .describe('Extra packages in the base layer (ca-certificates for https repositories)'),
      })
      .strict()
      .prefault({})
      .describe('How the base system is bootstrapped (the bootstrap step)'),
    apt: z
      .object({
        proxy: proxyUrl
          .optional()
          .describe(
            'HTTP proxy for debootstrap and every apt download of the build (http_proxy and https_proxy of those commands); never written into the image and not part of any fingerprint',
          ),
      })
      .strict()
      .prefault({})
      .describe('How the build reaches the archives; nothing here changes what is built'),
    cache: z
      .object({
        dir: z
          .string()
          .min(1)
          .optional()
          .describe(
            "The shared deb cache: a directory outside the work dir (a relative path resolves against the config file's directory); default $XDG_CACHE_HOME/ailinux or ~/.cache/ailinux (as root /root/.cache/ailinux); AILINUX_CACHE_DIR overrides it. Never / or a system directory. Where, not what: in no fingerprint, and nothing of it reaches the image",
          ),
        maxSize: z
          .string()
          .regex(/^\d+(?:\.\d+)?\s*[KMGTkmgt]?(?:i?B)?$/, 'a size such as 10GiB, 500M or 1.5G (binary units)')
          .default('10GiB')
          .describe(
            'How large the shared deb cache may grow (10GiB, 500M, bytes); past it, the files least recently used go first, after each apt call and on `ailinux cache prune`',
          ),
      })
      .strict()
      .prefault({})
      .describe('The shared deb cache (docs/performance.md#the-shared-deb-cache); nothing here changes what is built'),
    liveSystem: z
      .enum(['live-boot', 'casper'])
      .describe('live-boot (Debian, boot=live) or casper (Ubuntu, boot=casper)'),
    packages: z
      .object({
        live: z.array(debianPackageName).min(1).describe('Userland and live system, installed first'),
        kernel: z
          .array(debianPackageName)
          .min(1)
          .describe('Kernel, in its own apt call so the initramfs is built once'),
        firmware: z
          .array(debianPackageName)
          .default([])
          .describe('Firmware, installed with the live system (packages step)'),
        remove: z
          .array(debianPackageName)
          .max(500)
          .default([])
          .describe(
            'Packages purged after the last package step, then apt-get autoremove --purge (the packages-remove step, which joins the steps when this is set); one that is not installed then fails the step, naming it',
          ),
        desktop: z
          .array(debianPackageName)
          .default([])
          .describe('Desktop environment, display manager and X server (desktop step)'),
        apps: z
          .array(debianPackageName)
          .default([])
          .describe('Applications, installed with the desktop (desktop step)'),
        installer: z
          .array(debianPackageName)
          .default([])
          .describe('Installer and what it needs to install a bootloader (installer step)'),
        extra: z
          .array(debianPackageName)
          .default([])
          .describe('More packages, installed with the live system (packages step)'),
        local: configRelativePath
          .optional()
          .describe(
            'A directory of .deb files, relative to the config file: made a local apt repository for the package steps, and every package in it installed with the live system (packages step); apt picks versions as always, so a local package replaces an archive one only when its version is higher',
          ),
        installRecommends: z
          .boolean()
          .default(false)
          .describe('Install Recommends too (every apt-get install of the build)'),
      })
      .strict()
      .describe('The package lists, installed by the packages, desktop and installer steps'),
    hostname: hostname.describe('Host name of the live system (set late, in identity: changing it reinstalls nothing)'),
    liveUser: z
      .object({
        name: userName.describe('Live user name'),
        fullName: z
          .string()
          .regex(/^[^:,\n\0]*$/, 'a full name without : , or newlines')
          .max(100)
          .default('Live user')
          .describe('Full name (GECOS)'),
        groups: z
          .array(userName)
          .default([])
          .describe('Groups, where the image has them (others are left out, and logged)'),
        shell: absoluteHostPath.default('/bin/bash').describe('Login shell'),
        password: z
          .string()
          .regex(/^[^:\n\0]*$/, 'a password without : or newlines')
          .max(128)
          .default('live')
          .describe('Password of the live user (given to chpasswd on stdin)'),
        autologin: z
          .boolean()
          .default(true)
          .describe('Log the live user in at once when the image has SDDM (/etc/sddm.conf.d/autologin.conf)'),
        session: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a session name such as plasma')
          .default('plasma')
          .describe('Desktop session of the autologin (a file name in /usr/share/xsessions without .desktop)'),
      })
      .strict()
      .describe('The user of the live system (the identity step)'),
    locale: z
      .object({
        lang: localeName.default('C.UTF-8').describe('LANG of the image'),
        generate: z
          .array(localeName)
          .default([])
          .describe('Locales generated with locale-gen (installs the locales package)'),
        timezone: timezone.default('Etc/UTC').describe('Time zone'),
        keyboardLayout: z
          .string()
          .regex(/^[a-z]{2,8}$/)
          .default('us')
          .describe('XKB keyboard layout'),
      })
      .strict()
      .prefault({})
      .describe('Language, generated locales, time zone and keyboard of the image'),
    debconf: z
      .array(debconfSelectionSchema)
      .max(500)
      .default([])
      .describe(
        'Answers given to debconf-set-selections in the chroot before any package is installed (the configure step); a password answer is never shown or stored',
      ),
    squashfs: z
      .object({
        compression: z.enum(['zstd', 'xz', 'lz4', 'gzip']).default('zstd').describe('zstd (fast), xz (smallest ISO)'),
        level: z.number().int().min(1).max(22).optional().describe('Compression level (zstd 1-22, gzip 1-9)'),
        exclude: z
          .array(
            z
              .string()
              .regex(/^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/, 'a path relative to the rootfs')
              .refine(
                (p) => !p.split('/').some((part) => part === '.' || part === '..'),
                'a path relative to the rootfs without "." or ".." parts',
              ),
          )
          .default(['boot'])
          .describe('Paths left out of the squashfs (and of filesystem.size)'),
        layers: z
          .boolean()
          .default(false)
          .describe(
            'One image per rootfs layer, stacked by the live system at boot (live-boot from filesystem.module, casper from layerfs-path=); an unchanged layer keeps its image. false: one merged image, for distribution',
          ),
      })
      .strict()
      .prefault({})
      .describe('The compressed root file system of the medium (the squashfs step)'),
    iso: z
      .object({
        volumeLabel: volumeLabel.describe('ISO volume label; the boot loaders find the medium by it'),
        outputName: outputName.describe('File name of the ISO in output/, without .iso'),
        bios: z.boolean().default(true).describe('Bootable on BIOS (El Torito and hybrid MBR)'),
        uefi: z.boolean().default(true).describe('Bootable on UEFI (El Torito EFI entry and a GPT ESP)'),
        kernelArgs: z.array(kernelArg).default([]).describe('Kernel arguments of every boot menu entry'),
        menuTimeout: z.number().int().min(0).max(300).default(5).describe('Seconds before the first entry boots'),
        serialConsole: z
          .boolean()
          .default(true)
          .describe('GRUB and the kernel also use ttyS0, so a headless boot can be watched'),
        isolinux: z
          .boolean()
          .default(false)
          .describe(
            "BIOS boot through ISOLINUX (the host's isolinux and syslinux-common) instead of a GRUB core image",
          ),
        secureBoot: z
          .boolean()
          .default(false)
          .describe("UEFI boot through the distribution's signed shim and signed GRUB, taken from the image"),
      })
      .strict()
      .describe('The ISO image: its label and name, the boot firmware it supports and the boot menu'),
    branding: z
      .object({
        id: brandingId
          .default('ailinux')
          .describe('Short id: /usr/share/<id>, /etc/calamares/branding/<id>, the plymouth theme name'),
        productName: textLine(64).default('AILinux').describe('Product name shown by the installer and launchers'),
        version: textLine(32).default('').describe('Version shown by the installer'),
        url: mirrorUrl.optional().describe('Product web site shown by the installer'),
        dir: configRelativePath.optional().describe('Directory of branding assets, relative to the config file'),
        logo: pngFileName.optional().describe('Logo, relative to branding.dir: installer logo, /usr/share/<id>/logo'),
        welcome: pngFileName
          .optional()
          .describe('Installer welcome image, relative to branding.dir (default: the logo)'),
        splash: pngFileName
          .optional()
          .describe('Boot splash image, relative to branding.dir: a plymouth theme when the image has plymouth'),
        wallpaper: wallpaperFileName
          .optional()
          .describe('Wallpaper, relative to branding.dir: a KDE wallpaper package in /usr/share/wallpapers/<id>'),
      })
      .strict()
      .refine(
        (b) =>
          b.dir !== undefined ||
          (b.logo === undefined && b.welcome === undefined && b.splash === undefined && b.wallpaper === undefined),
        {
          message: 'branding.dir must be set when branding files are named',
          path: ['dir'],
        },
      )
      .prefault({})
      .describe('The product name, id and look: installer, boot splash, wallpaper (the branding step)'),
    helper: z
      .object({
        name: z
          .string()
          .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a name of lower-case letters, digits and - (used in file names)')
          .describe('Helper id: the launcher is <name>.desktop'),
        title: textLine(64).describe('Launcher name'),
        comment: textLine(200).default('').describe('Launcher comment'),
        files: z
          .array(
            z
              .object({
                source: configRelativePath.describe('Host file, relative to the config file'),
                destination: imagePath.describe('Where it goes in the image'),
                mode: fileMode.describe('Its mode in the image, always explicit ("0755", "0644")'),
              })
              .strict()
              .describe('A file of the helper: where it comes from, where it goes, its mode'),
          )
          .min(1)
          .max(200)
          .describe('The files to install; a file that holds an API key is refused'),
        launcher: z
          .object({
            exec: z
              .string()
              .max(300)
              .regex(
                /^\/[A-Za-z0-9._+@/-]+( [A-Za-z0-9._+@/=:,-]+)*$/,
                'an absolute program path and plain arguments (no quotes, no shell characters)',
              )
              .describe('Command line (Exec=)'),
            icon: z
              .string()
              .max(200)
              .regex(/^[A-Za-z0-9._+@/-]+$/, 'an icon name or an absolute path')
              .optional()
              .describe('Icon name or path (Icon=)'),
            terminal: z.boolean().default(false).describe('Run in a terminal (Terminal=)'),
          })
          .strict()
          .optional()
          .describe('A desktop launcher for the helper (menu, Desktop and /etc/skel/Desktop)'),
      })
      .strict()
      .optional()
      .describe('An optional helper application, given as files to install; never a secret'),
    overlays: z
      .object({
        early: z
          .array(configRelativePath.describe('A directory relative to the config file, copied into the rootfs'))
          .max(32)
          .default([])
          .describe(
            'Overlay directories copied into the rootfs right after bootstrap, before the package steps (apt and dpkg configuration); the overlay-early step',
          ),
        late: z
          .array(configRelativePath.describe('A directory relative to the config file, copied into the rootfs'))
          .max(32)
          .default([])
          .describe(
            'Overlay directories copied into the rootfs after the last package step, before the live user is made; the overlay-late step',
          ),
      })
      .strict()
      .prefault({})
      .describe(
        "Directory trees copied into the rootfs (modes, symlinks and empty directories kept; owners root:root unless the overlay's .ailinux-overlay.yaml says otherwise); docs/custom-profile.md",
      ),
    hooks: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(
                /^[a-z0-9][a-z0-9-]{0,39}$/,
                'lower-case letters, digits and - (up to 40; the step is hook-<name>)',
              )
              .describe("The hook's name: its step is hook-<name>, its log logs/steps/hook-<name>.log"),
            after: z
              .string()
              .regex(/^[a-z][a-z0-9-]*$/, 'a step id, e.g. packages')
              .describe(
                'The step it runs right after: a rootfs step (bootstrap to chroot-cleanup) for a chroot hook, a step from squashfs up to (not including) iso for a binary hook',
              ),
            script: configRelativePath.describe(
              'The script, relative to the config file: run in the chroot (by its #! line), or on the host for a binary hook',
            ),
            binary: z
              .boolean()
              .default(false)
              .describe(
                'Run on the host (in the sandbox) against the ISO tree before the ISO is made, adding files to the medium',
              ),
          })
          .strict()
          .describe(
            'A hook: a script of yours that runs as a step of its own, hook-<name>, right after the step it names',
          ),
      )
      .max(32)
      .default([])
      .superRefine((hooks, ctx) => {
        hooks.forEach((h, i) => {
          if (hooks.findIndex((o) => o.name === h.name) !== i)
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `hook name "${h.name}" is used twice (hooks.${hooks.findIndex((o) => o.name === h.name)}.name too); give each hook its own name`,
            });
        });
      })
      .describe(
        'Scripts that run at named points of the build, each a step of its own (hook-<name>), not listed in steps; docs/custom-profile.md',
      ),
    installer: z
      .object({
        showSequence: z
          .array(calamaresModule)
          .min(1)
          .default(['welcome', 'locale', 'keyboard', 'partition', 'users', 'summary'])
          .describe('Calamares pages before the installation'),
        execSequence: z
          .array(calamaresModule)
          .min(1)
          .default([
            'partition',
            'mount',
            'unpackfs',
            'machineid',
            'fstab',
            'locale',
            'keyboard',
            'localecfg',
            'users',
            'displaymanager',
            'networkcfg',
            'hwclock',
            'removeuser',
            'packages',
            'initramfscfg',
            'initramfs',
            'grubcfg',
            'bootloader',
            'umount',
          ])
          .describe('Calamares jobs that install the system'),
        finishedSequence: z
          .array(calamaresModule)
          .default(['finished'])
          .describe('Calamares pages after the installation'),
        filesystem: z
          .enum(['ext4', 'btrfs', 'xfs'])
          .default('ext4')
          .describe('Default file system of the installed root'),
        swap: z.enum(['none', 'small', 'suspend', 'file']).default('file').describe('Initial swap choice'),
        userGroups: z
          .array(userName)
          .default(['adm', 'cdrom', 'dip', 'lpadmin', 'plugdev', 'sudo'])
          .describe('Groups of the user the installer creates'),
        removePackages: z
          .array(debianPackageName)
          .default([])
          .describe('Packages the installer removes from the installed system (the live system, the installer)'),
        efiBootloaderId: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,32}$/)
          .optional()
          .describe("EFI directory of the installed bootloader (ubuntu for Ubuntu's signed GRUB)"),
        launcher: z.boolean().default(true).describe('An "Install" launcher on the live user\'s desktop'),
      })
      .strict()
      .prefault({})
      .describe('The Calamares installer of the live system (the installer step)'),
    panel: z
      .object({
        launchers: z
          .array(
            z
              .string()
              .regex(
                /^[A-Za-z0-9][A-Za-z0-9_.-]*\.desktop$/,
                'a desktop file name in /usr/share/applications, such as org.kde.dolphin.desktop',
              ),
          )
          .max(32)
          .refine((ids) => new Set(ids).size === ids.length, 'each launcher once')
          .default([])
          .describe(
            "Applications pinned to Plasma's panel, as desktop file names; each must be installed (empty: Plasma's own default panel)",
          ),
      })
      .strict()
      .prefault({})
      .describe("Plasma's panel at the first login (the identity step writes its layout template)"),
    verify: z
      .object({
        boot: z
          .boolean()
          .default(false)
          .describe('The verify step also boots the ISO in qemu and waits for the marker'),
        bios: z.boolean().default(true).describe('Boot test with BIOS firmware'),
        uefi: z.boolean().default(false).describe('Boot test with UEFI firmware (OVMF)'),
        marker: z
          .string()
          .min(1)
          .max(200)
          .regex(/^[^\n\0]+$/, 'one line of text')
          .default('login:')
          .describe('Text on the serial console that proves the live system came up'),
        timeoutSec: z
          .number()
          .int()
          .min(10)
          .max(3600)
          .default(300)
          .describe('Seconds the boot test waits for the marker'),
        memoryMb: z.number().int().min(256).max(16384).default(1024).describe('Memory of the test machine'),
        installerCheck: z
          .boolean()
          .default(false)
          .describe(
            "One more boot (the ISO's kernel, booted directly) that starts Calamares with -d: every module of settings.conf's sequence must load, with no configuration error; nothing of it is in the ISO",
          ),
      })
      .strict()
      .prefault({})
      .describe('The checks of the finished ISO, and its boot test in qemu (the verify step)'),
    resources: z
      .object({
        minFreeDiskMb: z
          .number()
          .int()
          .min(0)
          .max(1_000_000)
          .default(1024)
          .describe('Below this much free space in the work dir a running step is stopped and the build pauses'),
        checkEstimates: z
          .boolean()
          .default(true)
          .describe('Before each step, pause unless its estimated need plus the floor is free'),
        sampleIntervalMs: z
          .number()
          .int()
          .min(100)
          .max(60_000)
          .default(2000)
          .describe('How often disk, memory and load are sampled'),
      })
      .strict()
      .prefault({})
      .describe('Disk space and host sampling during the build'),
    retry: z
      .object({
        maxAttempts: z
          .number()
          .int()
          .min(1)
          .max(10)
          .default(3)
          .describe('Attempts of a step whose failure is transient (network)'),
        backoffMs: z.number().int().min(0).max(600_000).default(5000).describe('Wait before the first retry'),
        backoffFactor: z.number().min(1).max(10).default(2).describe('Each further wait is this much longer'),
      })
      .strict()
      .prefault({})
      .describe('Retries of a step whose failure is transient (the network)'),
    steps: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*$/))
      .min(1)
      .describe('The ordered step list of the build'),
  })
  .strict()
  .describe(
    'An ailinux build config (ailinux.config.json, .yaml or .yml): a built-in profile (extends) with the fields this file changes; objects merge field by field, lists and values replace',
  )
  .superRefine((config, ctx) => {
    for (const rule of CROSS_FIELD_RULES) {
      const problem = rule.check(config);
      if (problem) ctx.addIssue({ code: 'custom', path: rule.fields[0]!.split('.'), message: problem });
    }
    for (const found of findSecrets(config, TEXT_FIELDS)) {
      ctx.addIssue({
        code: 'custom',
        path: found.path,
        message: `no secret: this looks like ${found.kind}, and secrets must never be baked into an image (${maskSecret(valueAt(config, found.path))})`,
        params: { secret: true },
      });
    }
  });

/** Fields meant for human text: a long random word there is refused as a probable key. */
export const TEXT_FIELDS: ReadonlySet<string> = new Set([
  'name',
  'description',
  'liveUser.fullName',
  'branding.productName',
  'branding.version',
  'helper.title',
  'helper.comment',
  'verify.marker',
]);

export type ConfigInput = z.input<typeof configSchema>;
export type BuildConfig = z.output<typeof configSchema>;

/** The JSON Schema editors use for ailinux.config.json and .yaml. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
