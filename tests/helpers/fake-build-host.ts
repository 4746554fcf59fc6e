/**
 * A whole build on the scripted FakeRunner: every command the steps send is answered as the real
 * tool would answer it for this config, and makes the files the steps look for next (the base tree,
 * the live user, the squashfs, boot images, an ISO whose reports and heads pass the checks). So a
 * profile's steps can run one after the other in one work dir, each over the layers of those before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildConfig } from '../../src/config/schema.js';
import type { FakeCall, FakeRunner } from '../../src/runtime/fake-runner.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { liveMedium } from '../../src/steps/live-medium.js';
import { NS_RUN, layerTreeDir, writeTree } from './step-context.js';

/** A real Calamares start on the serial line (the installer check boot of the ailinux ISO, trimmed). */
const CALAMARES_START_LOG = fileURLToPath(new URL('../fixtures/calamares/serial-installer-check.log', import.meta.url));

const BLOCK = 2048;
/** Where the fake ISO keeps what the checks read, in 2 KiB blocks (as the captured xorriso reports put them). */
const LBA = { biosImage: 75, grubCfg: 160, kernel: 100, initrd: 200, squashfs: 300, esp: 520 } as const;
const ISO_BLOCKS = 1100;

/** The command a call runs, without the namespace and chroot wrappers, and the step whose chroot it runs in. */
export function innerCommand(argv: readonly string[]): { command: string[]; chrootStep: string | null } {
  const ns = argv.indexOf(NS_RUN);
  let command = ns >= 0 ? argv.slice(argv.indexOf('--', ns) + 1) : [...argv];
  if (ns < 0 && command[0] === 'unshare') command = command.slice(command.indexOf('--') + 1);
  if (command[0] === 'setpriv') command = command.slice(command.indexOf('--') + 1);
  // env -u SOURCE_DATE_EPOCH -- mksquashfs (squashfs.ts)
  if (command[0] === 'env') command = command.slice(command.indexOf('--') + 1);
  if (command[0] === 'chroot') return { command: command.slice(2), chrootStep: path.basename(command[1]!) };
  return { command, chrootStep: null };
}

function allPackages(config: BuildConfig): string[] {
  const p = config.packages;
  return [
    ...new Set([...p.live, ...p.firmware, ...p.kernel, ...p.desktop, ...p.apps, ...p.installer, ...p.extra, 'locales']),
  ];
}

/** Everything the steps look for in the image, so each takes its longest path: sudo, SDDM, Calamares, plymouth, signed boot files. */
function baseTree(config: BuildConfig): Record<string, string> {
  // packages.remove's are in the base tree, so the packages-remove step finds them installed
  const status = [...new Set([...allPackages(config), ...config.packages.remove])]
    .map((p) => `Package: ${p}\nStatus: install ok installed\nVersion: 1.0\n`)
    .join('\n');
  const groups = [...new Set(['root', 'adm', 'sudo', 'users', ...config.liveUser.groups])];
  const efi = `MZ${'\0'.repeat(4094)}`;
  return {
    'etc/os-release': 'ID=test\n',
    'usr/bin/dpkg': '',
    'var/lib/dpkg/status': status,
    'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
    'etc/group': groups.map((g, i) => `${g}:x:${i}:\n`).join(''),
    'etc/resolv.conf': 'nameserver 127.0.0.53\n',
    'etc/ssh/sshd_config': '',
    'var/log/dpkg.log': 'x\n',
    'tmp/.keep': '',
    'var/tmp/.keep': '',
    'usr/sbin/update-initramfs': '',
    'usr/bin/sudo': '',
    'usr/bin/sddm': '',
    'usr/bin/calamares': '',
    // Plasma's shell, the applications panel.launchers pins, and the icon of the installer's launcher: what the
    // identity step's panel layout and the verify step's launcher check look for
    'usr/share/plasma/shells/org.kde.plasma.desktop/metadata.json': '{}',
    ...Object.fromEntries(
      config.panel.launchers.map((id) => [
        `usr/share/applications/${id}`,
        `[Desktop Entry]\nType=Application\nExec=sudo\nIcon=calamares\n`,
      ]),
    ),
    'usr/share/pixmaps/calamares.png': '',
    'usr/share/pixmaps/help-browser.png': '',
    'usr/sbin/plymouthd': '',
    'usr/sbin/plymouth-set-default-theme': '',
    'etc/alternatives/default.plymouth': '',
    // the desktop's parts branding themes: wallpapers, Breeze's look-and-feel, SDDM's Breeze theme
    'usr/share/wallpapers/Next/metadata.json': '{}',
    'usr/share/plasma/look-and-feel/org.kde.breeze.desktop/contents/defaults': '[Wallpaper]\nImage=Next\n',
    'usr/share/sddm/themes/breeze/theme.conf': '[General]\n',
    'usr/lib/shim/shimx64.efi.signed.latest': efi,
    'usr/lib/shim/mmx64.efi.signed': efi,
    'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed': efi,
    vmlinuz: 'kernel',
    'initrd.img': 'initrd',
    'boot/vmlinuz': 'kernel',
    'boot/initrd.img': 'initrd',
  };
}

/** The layer trees of the work dir, as plain directories (nothing is mounted). */
function layerTrees(workDir: string): string[] {
  const layers = path.join(workDir, 'layers');
  if (!fs.existsSync(layers)) return [];
  return fs.readdirSync(layers).map((id) => layerTreeDir(workDir, id));
}

function mergedFile(workDir: string, rel: string): string {
  for (const tree of layerTrees(workDir).reverse()) {
    const file = path.join(tree, rel);
    if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
  }
  return '';
}

/** xorriso's El Torito and system area reports for the ISO this config asks for. */
function xorrisoReport(config: BuildConfig): string {
  const { bios, uefi, isolinux } = config.iso;
  const lines = [
    'El Torito catalog  : 74  1',
    'El Torito cat path : /boot/grub/boot.cat',
    'El Torito images   :   N  Pltf  B   Emul  Ld_seg  Hdpt  Ldsiz         LBA',
  ];
  if (bios) lines.push(`El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4          ${LBA.biosImage}`);
  if (uefi) lines.push(`El Torito boot img :   2  UEFI  y   none  0x0000  0x00   2048         ${LBA.esp}`);
  if (bios) {
    lines.push(
      `El Torito img path :   1  ${isolinux ? '/isolinux/isolinux.bin' : '/boot/grub/bios.img'}`,
      `El Torito img opts :   1  boot-info-table${isolinux ? '' : ' grub2-boot-info'}`,
    );
  }
  const mbr = bios ? (isolinux ? 'isohybrid' : 'grub2-mbr') : '';
  lines.push(
    `System area summary: MBR protective-msdos-label ${mbr} cyl-align-off GPT`,
    'MBR partition table:   N Status  Type        Start       Blocks',
    `MBR partition      :   1   0x00  0xee            1         ${ISO_BLOCKS * 4 - 1}`,
  );
  if (bios) lines.push('MBR partition      :   2   0x80  0x00            0            1');
  if (uefi) {
    lines.push(
      'GPT type GUID      :   2  28732ac11ff8d211ba4b00a0c93ec93b',
      `GPT start and size :   2  ${LBA.esp * 4}  2048`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The `-find / -exec lsdl` and `report_lba` part of the verifier's xorriso run: the tree the config's ISO has. The
 * squashfs images are those the squashfs step left in the work dir's ISO tree (one, or a layered medium's), each read
 * at the one squashfs head of the image.
 */
function xorrisoListing(config: BuildConfig, workDir: string): string {
  const dir = liveMedium(config).dir;
  const bootImage = config.iso.isolinux ? '/isolinux/isolinux.bin' : '/boot/grub/bios.img';
  const liveTree = path.join(workDir, 'iso', dir);
  const images = fs.existsSync(liveTree) ? fs.readdirSync(liveTree).filter((n) => n.endsWith('.squashfs')) : [];
  const files: Array<[string, number, number]> = [
    ['/boot/grub/grub.cfg', LBA.grubCfg, 2048],
    [`/${dir}/vmlinuz`, LBA.kernel, 4096],
    [`/${dir}/initrd.img`, LBA.initrd, 4096],
    ...(images.length > 0 ? images.sort() : ['filesystem.squashfs']).map(
      (n) => [`/${dir}/${n}`, LBA.squashfs, 4096] as [string, number, number],
    ),
    ...(config.iso.bios ? [[bootImage, LBA.biosImage, 2048] as [string, number, number]] : []),
  ];
  const dirs = ['/', '/boot', '/boot/grub', `/${dir}`, ...(config.iso.isolinux ? ['/isolinux'] : [])];
  return [
    ...dirs.map((d) => `dr-xr-xr-x    1 0        0               0 Nov 29 12:37 '${d}'`),
    ...files.map(([f, , size]) => `-r--r--r--    1 0        0  ${String(size).padStart(14)} Nov 29 12:37 '${f}'`),
    'Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path',
    ...files.map(
      ([f, lba, size]) =>
        `File data lba:  0 , ${String(lba).padStart(8)} , ${String(size / BLOCK).padStart(8)} , ${String(size).padStart(8)} , '${f}'`,
    ),
    '',
  ].join('\n');
}

/** An image file with just the bytes the checks read: CD001, kernel, initrd and squashfs heads, a FAT boot sector. */
function writeIsoImage(file: string): void {
  const image = Buffer.alloc(ISO_BLOCKS * BLOCK);
  image.write('CD001', 16 * BLOCK + 1, 'latin1');
  image.write('HdrS', LBA.kernel * BLOCK + 0x202, 'latin1');
  image.write('070701', LBA.initrd * BLOCK, 'latin1');
  image.write('hsqs', LBA.squashfs * BLOCK, 'latin1');
  image.write('FAT12   ', LBA.esp * BLOCK + 0x36, 'latin1');
  image.writeUInt16BE(0x55aa, LBA.esp * BLOCK + 510);
  fs.writeFileSync(file, image);
}

/** Every file the fake tools touch is in the work dir: a step that sent a host path fails instead of writing there. */
function insideWorkDir(workDir: string, file: string): string {
  const resolved = path.resolve(file);
  if (!resolved.startsWith(`${workDir}/`)) throw new Error(`the fake host refuses ${file}: it is outside ${workDir}`);
  return resolved;
}

/** Scripts runner to play the host and the image for a whole build of config in workDir. */
export function scriptBuildHost(runner: FakeRunner, config: BuildConfig, workDir: string): FakeRunner {
  const writeFile = (file: string, data: string | Buffer) => {
    const inside = insideWorkDir(workDir, file);
    fs.mkdirSync(path.dirname(inside), { recursive: true });
    fs.writeFileSync(inside, data);
  };
  const is =
    (name: string, ...args: string[]) =>
    (argv: readonly string[]) => {
      const { command } = innerCommand(argv);
      return command[0] === name && args.every((a, i) => command[i + 1] === a);
    };
  const inner = (call: FakeCall) => innerCommand(call.argv);
  const chrootTree = (call: FakeCall) => layerTreeDir(workDir, inner(call).chrootStep!);
  const bootstrapped = {
    effect: () => writeTree(layerTreeDir(workDir, 'bootstrap'), baseTree(config), 0o755),
  };
  const policy = allPackages(config)
    .map((p) => `${p}:\n  Installed: 1.0\n  Candidate: 1.0\n`)
    .join('');
  return (
    runner
      .on(is('debootstrap'), bootstrapped)
      .on(is('mmdebstrap'), bootstrapped)
      .on(is('apt-cache', 'policy'), { stdout: policy })
      // apt-get purge takes the named packages out of dpkg's status, in the step's own layer
      .on(is('apt-get', 'purge'), {
        effect: (call) => {
          const names = new Set(inner(call).command.slice(3));
          const status = mergedFile(workDir, 'var/lib/dpkg/status')
            .split(/\n\n/)
            .filter((stanza) => !names.has(/^Package: (.+)$/m.exec(stanza)?.[1] ?? ''))
            .join('\n\n');
          writeFile(path.join(chrootTree(call), 'var/lib/dpkg/status'), status);
        },
      })
      .on(is('useradd'), {
        effect: (call) => {
          const name = inner(call).command.at(-1)!;
          const passwd = `${mergedFile(workDir, 'etc/passwd')}${name}:x:1000:1000::/home/${name}:/bin/bash\n`;
          writeFile(path.join(chrootTree(call), 'etc/passwd'), passwd);
        },
      })
      // a real overlay would hide the file with a whiteout; the plain layer dirs lose it instead
      .on(is('rm', '-f'), {
        effect: (call) => {
          for (const rel of inner(call).command.slice(2))
            for (const tree of layerTrees(workDir))
              fs.rmSync(insideWorkDir(workDir, path.join(tree, rel)), { force: true });
        },
      })
      .on(is('ln'), {
        effect: (call) => {
          const command = inner(call).command;
          const link = insideWorkDir(workDir, path.join(chrootTree(call), command.at(-1)!));
          fs.mkdirSync(path.dirname(link), { recursive: true });
          fs.rmSync(link, { force: true });
          fs.symlinkSync(command.at(-2)!, link);
        },
      })
      .on(is('dpkg-query'), {
        stdout: allPackages(config)
          .map((p) => `${p}\t1.0\n`)
          .join(''),
      })
      .on(is('cp'), { effect: (call) => writeFile(call.argv.at(-1)!, `copy of ${call.argv.at(-2)}`) })
      .on(is('find', `${workDir}/mnt/squashfs`), { stdout: 'd\n2049:2 119360\n' })
      .on(is('mksquashfs'), { effect: (call) => writeFile(inner(call).command[2]!, `hsqs${'\0'.repeat(4092)}`) })
      // rsvg-convert renders the built-in art on the host: a PNG of the page size asked for
      .on(is('rsvg-convert'), {
        effect: (call) => {
          const arg = (name: string) => call.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
          const width = Number(arg('page-width') ?? arg('width'));
          const height = Number(arg('page-height') ?? arg('height'));
          writeFile(arg('output')!, solidPng(width, height, '#10264a'));
        },
      })
      .on(is('grub-mkimage'), {
        effect: (call) => {
          const output = call.argv.find((a) => a.startsWith('--output='))!.slice('--output='.length);
          writeFile(output, `MZ${'\0'.repeat(65534)}`);
        },
      })
      .on(is('mkfs.vfat'), {
        effect: (call) => {
          const sector = Buffer.alloc(1024 * 1024);
          sector.writeUInt16BE(0x55aa, 510);
          writeFile(call.argv.at(-2)!, sector);
        },
      })
      .on(is('xorriso', '-as', 'mkisofs'), {
        effect: (call) => writeIsoImage(insideWorkDir(workDir, call.argv[call.argv.indexOf('-output') + 1]!)),
      })
      .on(is('xorriso', '-indev'), {
        // read when the verifier asks, after the squashfs step wrote the images it lists
        get stdout() {
          return `${xorrisoReport(config)}${xorrisoListing(config, workDir)}`;
        },
        stderr: `Volume id    : '${config.iso.volumeLabel}'\n`,
      })
      .on(is('xorriso', '-osirrox'), {
        effect: (call) => writeFile(call.argv[7]!, fs.readFileSync(path.join(workDir, 'iso/boot/grub/grub.cfg'))),
      })
      .on(is('mdir'), {
        stdout: `::/EFI/BOOT/BOOTX64.EFI\n${config.iso.secureBoot ? '::/EFI/BOOT/grubx64.efi\n' : ''}`,
      })
      // qemu prints the marker and powers off; the installer check boot (-kernel) prints a real Calamares start
      .on(is('qemu-system-x86_64'), {
        delayMs: 20,
        effect: (call) =>
          writeFile(
            call.argv[call.argv.indexOf('-serial') + 1]!.slice('file:'.length),
            call.argv.includes('-kernel') ? fs.readFileSync(CALAMARES_START_LOG) : `Welcome\n${config.verify.marker} `,
          ),
      })
  );
}
