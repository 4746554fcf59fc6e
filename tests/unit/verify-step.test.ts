/**
 * verifyStep with the scripted FakeRunner on a synthetic image file (ISO 9660 signature, the file
 * heads and the FAT boot sector where the captured reports put them): the argv it sends, the result
 * file, verify() and undo, and the precise StepError that keeps a build from reporting success.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { renderHintText } from '../../src/cli/hint.js';
import { StepError } from '../../src/errors.js';
import type { FakeRunner } from '../../src/runtime/fake-runner.js';
import { describeBootCheck, secureBootCheck, verifyResultFile, verifyStep } from '../../src/steps/verify.js';
import { OVMF_SECURE_BOOT, qemuArgv } from '../../src/verify/boot.js';
import { renderSettingsConf } from '../../src/steps/calamares/settings.js';
import type { VerifyReport } from '../../src/verify/types.js';
import {
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  type TestStepContext,
} from '../helpers/step-context.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const GRUB = fixture('grub/minimal-real.grub.cfg');
const ESP_LBA = 520; // where the bios-uefi report puts the UEFI image
const LISTING = [
  "dr-xr-xr-x    1 0        0               0 Nov 29 12:37 '/'",
  "dr-xr-xr-x    1 0        0               0 Nov 29 12:37 '/boot'",
  "dr-xr-xr-x    1 0        0               0 Nov 29 12:37 '/boot/grub'",
  "-r--r--r--    1 0        0           65536 Nov 29 12:37 '/boot/grub/bios.img'",
  "-r--r--r--    1 0        0             628 Nov 29 12:37 '/boot/grub/grub.cfg'",
  "dr-xr-xr-x    1 0        0               0 Nov 29 12:37 '/live'",
  "-r--r--r--    1 0        0           4096 Nov 29 12:37 '/live/filesystem.squashfs'",
  "-r--r--r--    1 0        0           4096 Nov 29 12:37 '/live/initrd.img'",
  "-r--r--r--    1 0        0           4096 Nov 29 12:37 '/live/vmlinuz'",
  'Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path',
  "File data lba:  0 ,       75 ,       32 ,    65536 , '/boot/grub/bios.img'",
  "File data lba:  0 ,      160 ,        1 ,      628 , '/boot/grub/grub.cfg'",
  "File data lba:  0 ,      300 ,        2 ,     4096 , '/live/filesystem.squashfs'",
  "File data lba:  0 ,      200 ,        2 ,     4096 , '/live/initrd.img'",
  "File data lba:  0 ,      100 ,        2 ,     4096 , '/live/vmlinuz'",
].join('\n');

/** An image file with just the bytes the verifier reads: CD001, the kernel, initrd and squashfs heads, the FAT boot sector. */
function writeImage(file: string): void {
  const image = Buffer.alloc(1100 * 2048);
  image.write('CD001', 16 * 2048 + 1, 'latin1');
  image.write('HdrS', 100 * 2048 + 0x202, 'latin1');
  image.write('070701', 200 * 2048, 'latin1');
  image.write('hsqs', 300 * 2048, 'latin1');
  image.write('FAT12   ', ESP_LBA * 2048 + 0x36, 'latin1');
  image.writeUInt16BE(0x55aa, ESP_LBA * 2048 + 510);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, image);
  const sum = crypto.createHash('sha256').update(image).digest('hex');
  fs.writeFileSync(`${file}.sha256`, `${sum}  ${path.basename(file)}\n`);
}

/** What the installer check boot prints on the serial line (a test sets it). */
let installerLog = '';

function scriptRunner(runner: FakeRunner, grub = GRUB): FakeRunner {
  return (
    runner
      .on(['xorriso', '-indev'], {
        stdout: `${fixture('xorriso/bios-uefi.stdout.txt')}${LISTING}\n`,
        stderr: fixture('xorriso/bios-uefi.stderr.txt'),
      })
      .on(['xorriso', '-osirrox'], { effect: (call) => fs.writeFileSync(call.argv[7]!, grub) })
      .on('mdir', { stdout: '::/EFI/BOOT/BOOTX64.EFI\n' })
      // qemu prints the marker and powers off; the installer check boot (-kernel) prints installerLog
      .on('qemu-system-x86_64', {
        delayMs: 30,
        effect: (call) =>
          fs.writeFileSync(
            call.argv[call.argv.indexOf('-serial') + 1]!.slice('file:'.length),
            call.argv.includes('-kernel') ? installerLog : 'Welcome\nailinux-minimal login: ',
          ),
      })
  );
}

let workDir = '';
let iso = '';
beforeEach(() => {
  workDir = makeWorkDir('ailinux-verify-step-');
  iso = path.join(workDir, 'output', 'ailinux-minimal-amd64.iso');
  writeImage(iso);
});
afterEach(() => removeWorkDir(workDir));

function context(patch?: (c: BuildConfig) => void, grub?: string): TestStepContext {
  // static checks only unless a test turns the boot on (the minimal profile boots by default)
  const config = profileConfig('minimal', (c) => {
    c.verify.boot = false;
    patch?.(c);
  });
  // the step's layer is 'none': any step of the profile gives the same context
  const ctx = stepContext({ config, workDir, stepId: 'checksums' });
  scriptRunner(ctx.runner, grub);
  return ctx;
}

describe('verifyStep', () => {
  it('runs the static checks through xorriso and mdir, writes the result file, verifies it, and undo removes only it', async () => {
    const ctx = context();
    const artifacts = await verifyStep.run(ctx);
    expect(artifacts.map((a) => a.path)).toEqual(['output/ailinux-minimal-amd64.verify.json']);
    const argv = ctx.runner.calls.map((c) => c.argv);
    expect(argv[0]).toEqual([
      'xorriso',
      '-indev',
      iso,
      '-report_el_torito',
      'plain',
      '-report_system_area',
      'plain',
      '-find',
      '/',
      '-exec',
      'lsdl',
      '--',
      '-find',
      '/',
      '-type',
      'f',
      '-exec',
      'report_lba',
      '--',
    ]);
    expect(argv[1]!.slice(0, 7)).toEqual([
      'xorriso',
      '-osirrox',
      'on',
      '-indev',
      iso,
      '-extract',
      '/boot/grub/grub.cfg',
    ]);
    expect(argv[1]![7]).toMatch(new RegExp(`^${workDir}/tmp/verify/ailinux-verify-[^/]+/cfg-0$`));
    expect(argv[2]).toEqual(['mdir', '-b', '-i', `${iso}@@${ESP_LBA * 2048}`, '::/EFI/BOOT']);
    expect(ctx.runner.calls[2]!.options.env).toEqual({ MTOOLS_SKIP_CHECK: '1' });
    expect(argv).toHaveLength(3); // verify.boot is off here
    expect(fs.existsSync(path.join(workDir, 'tmp', 'verify')), 'the extraction dir is gone').toBe(false);

    const report = JSON.parse(fs.readFileSync(verifyResultFile(ctx.config, ctx.paths), 'utf8')) as VerifyReport;
    expect(report).toMatchObject({
      iso,
      ok: true,
      volumeId: 'AILINUX_MINIMAL',
      liveSystem: 'live-boot',
      size: fs.statSync(iso).size,
      boots: [],
    });
    expect(report.checks.map((c) => `${c.id}:${c.status}`)).toEqual([
      'eltorito-bios:ok',
      'eltorito-uefi:ok',
      'layout:ok',
      'volume-id:ok',
      'grub-config:ok',
      'kernel:ok',
      'initrd:ok',
      'squashfs:ok',
      'boot-param:ok',
      'checksum:ok',
      // no rootfs layers in this work dir
      'desktop-launchers:skipped',
    ]);
    expect(
      ctx.infos.some((l) => /^boot parameter\s+ok\s+boot=live on 3 linux lines/.test(l)),
      ctx.infos.join('\n'),
    ).toBe(true);
    await verifyStep.verify(ctx);

    // an ISO rewritten after the check is not the one that passed
    fs.utimesSync(iso, new Date(), new Date(Date.now() + 5000));
    await expect(verifyStep.verify(ctx)).rejects.toThrow(`${iso} changed after it was verified`);

    const before = fs.readdirSync(path.join(workDir, 'output')).sort();
    await verifyStep.undo(ctx);
    expect(fs.readdirSync(path.join(workDir, 'output')).sort()).toEqual(
      before.filter((f) => !f.endsWith('.verify.json')),
    );
    await expect(verifyStep.verify(ctx)).rejects.toThrow('ailinux-minimal-amd64.verify.json is missing or not JSON');
    await verifyStep.undo(ctx); // idempotent
  });

  it('with verify.boot boots each firmware the ISO is built for, with the configured marker, memory and timeout', async () => {
    const ctx = context((c) => {
      c.verify = {
        ...c.verify,
        boot: true,
        bios: true,
        uefi: true,
        marker: 'ailinux-minimal login:',
        memoryMb: 768,
        timeoutSec: 60,
      };
    });
    await verifyStep.run(ctx);
    const qemu = ctx.runner.calls.filter((c) => c.argv[0] === 'qemu-system-x86_64').map((c) => c.argv);
    const serial = (fw: string) => `file:${path.join(workDir, 'logs', 'verify', `serial-${fw}.log`)}`;
    // the QMP socket for the screenshots sits beside the serial log (the temp work dir's path is short enough)
    const qmp = (fw: string) =>
      `unix:${path.join(workDir, 'logs', 'verify', `serial-${fw}.log.qmp`)},server=on,wait=off`;
    expect(qemu).toEqual([
      [
        'qemu-system-x86_64',
        '-m',
        '768',
        '-display',
        'none',
        '-monitor',
        'none',
        '-qmp',
        qmp('bios'),
        '-serial',
        serial('bios'),
        '-no-reboot',
        '-net',
        'none',
        '-drive',
        `file=${iso},media=cdrom,if=ide,index=2,format=raw,readonly=on`,
        '-boot',
        'd',
      ],
      [
        'qemu-system-x86_64',
        '-m',
        '768',
        '-display',
        'none',
        '-monitor',
        'none',
        '-qmp',
        qmp('uefi'),
        '-serial',
        serial('uefi'),
        '-no-reboot',
        '-net',
        'none',
        '-drive',
        `file=${iso},media=cdrom,if=ide,index=2,format=raw,readonly=on`,
        '-boot',
        'd',
        '-bios',
        '/usr/share/ovmf/OVMF.fd',
      ],
    ]);
    const report = JSON.parse(fs.readFileSync(verifyResultFile(ctx.config, ctx.paths), 'utf8')) as VerifyReport;
    expect(report.boots.map((b) => [b.firmware, b.ok, b.outcome])).toEqual([
      ['bios', true, 'marker'],
      ['uefi', true, 'marker'],
    ]);
    expect(report.checks.slice(-2).map((c) => `${c.name}:${c.status}`)).toEqual([
      'boot BIOS (qemu):ok',
      'boot UEFI (qemu):ok',
    ]);
    await verifyStep.verify(ctx);
  });

  it('fails with the failed check named, writes no result file, and does not boot an ISO that failed the static checks', async () => {
    const ctx = context(
      (c) => {
        c.verify = { ...c.verify, boot: true };
      },
      GRUB.replace(/boot=live/g, 'boot=casper'),
    );
    const error = await verifyStep.run(ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).step).toBe('verify');
    expect((error as StepError).message).toBe(
      'ailinux-minimal-amd64.iso failed verification: boot parameter: the GRUB config says boot=casper, but the live system is live-boot (boot=live, /live)',
    );
    expect((error as StepError).hint).toBe(
      `the full table is in the step log (\`ailinux log verify\`); to check by hand: \`ailinux verify --require-checksum --boot --marker login: --timeout 300 --memory 1024 ${iso}\``,
    );
    // as the CLI prints it after `build -w /x -c my.yaml`: the log command gets the work dir, verify takes none
    expect(renderHintText((error as StepError).hint!, { workDir: '/x', config: 'my.yaml' })).toBe(
      `the full table is in the step log (\`ailinux log verify --work-dir /x\`); to check by hand: \`ailinux verify --require-checksum --boot --marker login: --timeout 300 --memory 1024 ${iso}\``,
    );
    expect(ctx.runner.calls.some((c) => c.argv[0] === 'qemu-system-x86_64')).toBe(false);
    expect(
      ctx.infos.some((l) =>
        /^boot BIOS \(qemu\)\s+skipped\s+not run: 1 static check\(s\) failed \(boot parameter\)/.test(l),
      ),
      ctx.infos.join('\n'),
    ).toBe(true);
    expect(fs.existsSync(verifyResultFile(ctx.config, ctx.paths))).toBe(false);
  });

  it('checks the launchers and icons of the rootfs layers, names each one that points to nothing, and then boots nothing', async () => {
    const root = path.join(workDir, 'layers', 'bootstrap', 'root');
    const put = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), text);
    };
    put('usr/bin/true', '');
    put('etc/skel/Desktop/ok.desktop', '[Desktop Entry]\nType=Application\nExec=true\nIcon=/usr/bin/true\n');
    put('etc/skel/Desktop/tool.desktop', '[Desktop Entry]\nType=Application\nExec=/opt/tool\nIcon=tool-icon\n');
    const ctx = context((c) => {
      c.verify = { ...c.verify, boot: true };
    });
    const error = (await verifyStep.run(ctx).catch((e: unknown) => e)) as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.message).toMatch(/failed verification: launchers and icons \(rootfs\): 2 launcher\(s\) or icon\(s\)/);
    const table = ctx.infos.join('\n');
    expect(table).toContain('launcher tool.desktop runs /opt/tool, which is not in the image');
    expect(table).toContain('launcher tool.desktop has the icon tool-icon, which is in none of the icon themes');
    expect(table).not.toContain('launcher ok.desktop');
    expect(ctx.runner.calls.some((c) => c.argv[0] === 'qemu-system-x86_64')).toBe(false);
  });

  it('with verify.installerCheck boots the ISO kernel directly, starts Calamares, and passes on every module of the settings.conf in the layers', async () => {
    const root = path.join(workDir, 'layers', 'bootstrap', 'root');
    const ailinux = profileConfig('ailinux');
    const put = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), text);
    };
    put('etc/calamares/settings.conf', renderSettingsConf(ailinux));
    put('etc/calamares/modules/users.conf', '---\n');
    installerLog = fs.readFileSync(
      new URL('../fixtures/calamares/serial-installer-check.log', import.meta.url),
      'latin1',
    );
    const ctx = context((c) => {
      c.steps = [...c.steps.slice(0, 3), 'installer', ...c.steps.slice(3)];
      c.verify.installerCheck = true;
    });
    await verifyStep.run(ctx);
    const qemu = ctx.runner.calls.filter((c) => c.argv[0] === 'qemu-system-x86_64').map((c) => c.argv);
    expect(qemu).toHaveLength(1);
    const append = qemu[0]![qemu[0]!.indexOf('-append') + 1]!;
    // the ISO's own kernel arguments (its GRUB config's first entry), then the check's
    expect(append).toMatch(
      /^boot=live .*systemd\.run="\/bin\/sh -c '.*calamares -d.*'" systemd\.run_success_action=poweroff/,
    );
    const extracted = ctx.runner.calls
      .filter((c) => c.argv[0] === 'xorriso' && c.argv[1] === '-osirrox')
      .map((c) => c.argv[6]);
    expect(extracted).toEqual(['/boot/grub/grub.cfg', '/live/vmlinuz', '/live/initrd.img']);
    const report = JSON.parse(fs.readFileSync(verifyResultFile(ctx.config, ctx.paths), 'utf8')) as VerifyReport;
    expect(report.checks.at(-1)).toMatchObject({ id: 'installer-start', status: 'ok' });
    expect(report.installer).toMatchObject({ ok: true, calamaresVersion: '3.3.5' });
    expect(report.installer!.modules).toHaveLength(22);
    await verifyStep.verify(ctx);

    // a result without the installer check is not one verify.installerCheck accepts
    fs.writeFileSync(verifyResultFile(ctx.config, ctx.paths), JSON.stringify({ ...report, installer: null }));
    await expect(verifyStep.verify(ctx)).rejects.toThrow(/records no passed installer check/);
  });

  it('fails the step when a module does not load, naming it and how to turn the check off', async () => {
    const root = path.join(workDir, 'layers', 'bootstrap', 'root');
    fs.mkdirSync(path.join(root, 'etc/calamares'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/calamares/settings.conf'), 'sequence:\n- show:\n  - welcome\n  - aihelper\n');
    const realLog = fs.readFileSync(
      new URL('../fixtures/calamares/serial-installer-check.log', import.meta.url),
      'latin1',
    );
    installerLog = realLog.replace(
      'STARTUP: loadModules for all modules done',
      'ERROR: STARTUP: failed modules are ("aihelper@aihelper")',
    );
    const ctx = context((c) => {
      c.steps = [...c.steps.slice(0, 3), 'installer', ...c.steps.slice(3)];
      c.verify.installerCheck = true;
    });
    const error = await verifyStep.run(ctx).then(
      () => null,
      (e: unknown) => e as StepError,
    );
    expect(error).toBeInstanceOf(StepError);
    expect(error!.message).toContain(
      "installer starts (qemu, Calamares -d): modules of settings.conf's sequence that did not load: aihelper@aihelper",
    );
    const table = ctx.infos.join('\n');
    expect(table).toContain('ERROR: STARTUP: failed modules are ("aihelper@aihelper")');
    expect(table).toContain('set verify.installerCheck to false');
    expect(fs.existsSync(verifyResultFile(ctx.config, ctx.paths))).toBe(false);
  });

  it('boots UEFI with Secure Boot enforced for an ISO built for it, from OVMF with the Microsoft keys, when the host has it', () => {
    const config = profileConfig('ailinux');
    expect(config.verify).toMatchObject({
      boot: true,
      bios: true,
      uefi: true,
      marker: 'Reached target graphical.target',
    });
    const all = () => true;
    expect(secureBootCheck(config, all)).toEqual(OVMF_SECURE_BOOT);
    expect(secureBootCheck(config, (p) => !p.endsWith('OVMF_VARS_4M.ms.fd'))).toBeNull();
    expect(secureBootCheck({ ...config, iso: { ...config.iso, secureBoot: false } }, all)).toBeNull();
    const noInstallerCheck = { ...config, verify: { ...config.verify, installerCheck: false } };
    expect(describeBootCheck(noInstallerCheck, all)).toBe(
      'boots the ISO in qemu (BIOS; UEFI with Secure Boot enforced (OVMF, Microsoft keys enrolled)), each until "Reached target graphical.target" on the serial console, at most 900 s',
    );
    expect(describeBootCheck(noInstallerCheck, () => false)).toMatch(/; Secure Boot not checked: the host lacks/);
    expect(describeBootCheck({ ...config, verify: { ...config.verify, boot: false, installerCheck: false } })).toBe(
      'boot check off (verify.boot: false)',
    );
    // the ailinux profile starts Calamares in a boot of its own; without the installer step there is nothing to start
    expect(describeBootCheck(config, all)).toMatch(
      /at most 900 s; then one more boot \(the ISO's kernel, booted directly\) starts Calamares -d on the framebuffer: every module of settings.conf's sequence must load with no configuration error, at most 900 s, and its welcome page is shot \(verify.installerCheck\)$/,
    );
    expect(describeBootCheck({ ...config, steps: config.steps.filter((s) => s !== 'installer') }, all)).toMatch(
      /; installer check not run: the profile has no installer step$/,
    );
    const argv = qemuArgv({
      iso: '/i.iso',
      firmware: 'uefi',
      memoryMb: 4096,
      logFile: '/l/serial-uefi.log',
      secureBoot: { ...OVMF_SECURE_BOOT, varsCopy: '/l/serial-uefi.log.OVMF_VARS.fd' },
    });
    expect(argv.slice(1, 9)).toEqual([
      '-machine',
      'q35,smm=on',
      '-global',
      'driver=cfi.pflash01,property=secure,value=on',
      '-drive',
      'if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.ms.fd,readonly=on',
      '-drive',
      'if=pflash,format=raw,unit=1,file=/l/serial-uefi.log.OVMF_VARS.fd',
    ]);
    expect(argv).not.toContain('-bios');
  });

  it('requires the checksum file the checksums step writes, and a matching one', async () => {
    fs.rmSync(`${iso}.sha256`);
    await expect(verifyStep.run(context())).rejects.toThrow(
      'ailinux-minimal-amd64.iso failed verification: checksum file: no ailinux-minimal-amd64.iso.sha256 or ailinux-minimal-amd64.iso.md5 beside the ISO',
    );
    fs.writeFileSync(`${iso}.sha256`, `${'0'.repeat(64)}  ailinux-minimal-amd64.iso\n`);
    await expect(verifyStep.run(context())).rejects.toThrow(
      /checksum file: ailinux-minimal-amd64\.iso\.sha256 says 0{64}, but the ISO's sha256 is [0-9a-f]{64}$/,
    );
  });

  it('refuses a boot test with nothing to boot, and a missing ISO, before doing anything', async () => {
    const ctx = context((c) => {
      c.verify = { ...c.verify, boot: true, bios: false, uefi: false };
    });
    await expect(verifyStep.run(ctx)).rejects.toThrow(
      'verify.boot is on, but there is nothing to boot: neither verify.bios with iso.bios nor verify.uefi with iso.uefi is set',
    );
    fs.rmSync(iso);
    const missing = (await verifyStep.run(context()).catch((e: unknown) => e)) as StepError;
    expect(missing.message).toBe(`${iso} does not exist`);
    expect(missing.hint).toBe('run the build again so the iso and checksums steps run before verify');
    expect(ctx.runner.calls).toEqual([]);
  });
});
