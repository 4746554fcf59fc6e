/**
 * chroot-cleanup (phase 9) and squashfs (phase 10) for ailinux: the initramfs rebuilt when the image
 * has update-initramfs, /etc/resolv.conf as the distribution ships it, name resolution kept working
 * for apt after a package replaced resolv.conf, filesystem.size, and fixed times under SOURCE_DATE_EPOCH.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeRunner } from '../../src/runtime/fake-runner.js';
import {
  chrootCleanupStep,
  cleanupCommands,
  initramfsCommands,
  kernelVersions,
} from '../../src/steps/chroot-cleanup.js';
import { chrootCommandEnv, initramfsMadeLater } from '../../src/steps/layer-step.js';
import { packagesStep } from '../../src/steps/packages.js';
import { parseSizeList, sizeListArgv, squashfsStep } from '../../src/steps/squashfs.js';
import { StepError } from '../../src/errors.js';
import {
  layerTreeDir,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
} from '../helpers/step-context.js';

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-cleanup-');
});
afterEach(() => removeWorkDir(workDir));

const layerDir = (id: string) => layerTreeDir(workDir, id);
const inChroot = (argv: readonly string[]) => argv.slice(argv.indexOf('chroot') + 2);

describe('chroot-cleanup (ailinux)', () => {
  it('makes the initramfs and its links once per kernel (casper.conf and the splash are in it), restores the resolv.conf symlink, in this order', async () => {
    writeTree(layerDir('bootstrap'), {
      'usr/sbin/update-initramfs': '',
      'usr/bin/linux-update-symlinks': '',
      'boot/vmlinuz-6.8.0-155-generic': 'k',
      'boot/vmlinuz-6.8.0-40-generic': 'k',
      'boot/config-6.8.0-155-generic': '',
      'etc/ssh/ssh_host_ed25519_key': 'k',
      'var/log/apt/history.log': 'x',
      'tmp/.keep': '',
    });
    writeTree(layerDir('configure'), {
      'etc/resolv.conf': 'nameserver 10.0.0.1\n',
      'usr/sbin/policy-rc.d': 'exit 101\n',
    });
    const config = profileConfig('ailinux');
    const ctx = stepContext({ config, workDir, stepId: 'chroot-cleanup' });
    await chrootCleanupStep.run(ctx);
    expect(ctx.runner.calls.map((c) => inChroot(c.argv))).toEqual([
      ['apt-get', 'clean'],
      // version order, 40 before 155
      ['update-initramfs', '-c', '-k', '6.8.0-40-generic'],
      ['linux-update-symlinks', 'install', '6.8.0-40-generic', '/boot/vmlinuz-6.8.0-40-generic'],
      ['update-initramfs', '-c', '-k', '6.8.0-155-generic'],
      ['linux-update-symlinks', 'install', '6.8.0-155-generic', '/boot/vmlinuz-6.8.0-155-generic'],
      ['rm', '-f', '/usr/sbin/policy-rc.d', '/var/lib/dbus/machine-id'],
      ['truncate', '-s', '0', '/etc/machine-id'],
      ['ln', '-sfn', '../run/systemd/resolve/stub-resolv.conf', '/etc/resolv.conf'],
      ['find', '/etc/ssh', '-maxdepth', '1', '-name', 'ssh_host_*', '-delete'],
      ['find', '/var/log', '-type', 'f', '-exec', 'truncate', '-s', '0', '{}', '+'],
      ['find', '/tmp', '/var/tmp', '-mindepth', '1', '-delete'],
      ['rm', '-f', '/var/cache/ldconfig/aux-cache'],
    ]);
    // its commands make the initramfs: INITRD=No, which every step before it has on casper, is not in their env
    for (const call of ctx.runner.calls) {
      expect(call.options.env).not.toHaveProperty('INITRD');
      expect(call.options.env).toMatchObject({ DPKG_FORCE: 'security-mac,downgrade,unsafe-io' });
    }
  });

  it('the kernels are the /boot/vmlinuz-<version> files of all layers, in version order; without linux-update-symlinks only update-initramfs runs', () => {
    writeTree(layerDir('bootstrap'), {
      'usr/sbin/update-initramfs': '',
      'boot/vmlinuz-6.8.0-155-generic': 'k',
      'boot/vmlinuz.old': 'not a version',
      'boot/vmlinuz-not-a-kernel/x': 'a directory',
    });
    writeTree(layerDir('packages'), { 'boot/vmlinuz-6.8.0-40-generic': 'k', 'boot/initrd.img-6.8.0-40-generic': '' });
    const ctx = stepContext({ config: profileConfig('ailinux'), workDir, stepId: 'chroot-cleanup' });
    expect(kernelVersions(ctx.layers)).toEqual(['6.8.0-40-generic', '6.8.0-155-generic']);
    expect(
      cleanupCommands(ctx.config, ctx.layers)
        .filter((c) => c[0] !== 'apt-get' && c[0] !== 'rm')
        .slice(0, 2),
    ).toEqual([
      ['update-initramfs', '-c', '-k', '6.8.0-40-generic'],
      ['update-initramfs', '-c', '-k', '6.8.0-155-generic'],
    ]);
    expect(initramfsCommands(['6.8.0-155-generic'], true)).toEqual([
      ['update-initramfs', '-c', '-k', '6.8.0-155-generic'],
      ['linux-update-symlinks', 'install', '6.8.0-155-generic', '/boot/vmlinuz-6.8.0-155-generic'],
    ]);
  });

  it('INITRD=No (no initramfs at a kernel install) only on casper, before chroot-cleanup, when the build has it', () => {
    const casper = profileConfig('ailinux');
    const at = (config: typeof casper, stepId: string) =>
      initramfsMadeLater(config, stepContext({ config, workDir, stepId }).layers);
    for (const step of ['packages', 'desktop', 'installer', 'identity']) expect(at(casper, step)).toBe(true);
    // chroot-cleanup's own commands make it
    expect(at(casper, 'chroot-cleanup')).toBe(false);
    // a hook after chroot-cleanup: the cleanup's layer is below it, so its kernel install makes its own initramfs
    const hook = stepContext({ config: casper, workDir, stepId: 'chroot-cleanup' }).layers;
    const afterCleanup = {
      ...hook,
      own: { ...hook.own!, stepId: 'hook-late' },
      below: [hook.own!.upper, ...hook.below],
    };
    expect(initramfsMadeLater(casper, afterCleanup)).toBe(false);
    expect(chrootCommandEnv({ config: casper, sourceDateEpoch: null, layers: afterCleanup })).not.toHaveProperty(
      'INITRD',
    );
    expect(chrootCommandEnv({ config: casper, sourceDateEpoch: null, layers: hook })).not.toHaveProperty('INITRD');
    const before = stepContext({ config: casper, workDir, stepId: 'packages' }).layers;
    expect(chrootCommandEnv({ config: casper, sourceDateEpoch: null, layers: before })).toMatchObject({ INITRD: 'No' });
    // without chroot-cleanup nothing would make it later: the kernel's install does, as before
    const noCleanup = { ...casper, steps: casper.steps.filter((s) => s !== 'chroot-cleanup') };
    expect(initramfsMadeLater(noCleanup, before)).toBe(false);
    // live-boot's initramfs embeds nothing later steps write: the kernel's install in packages makes it
    expect(at(profileConfig('minimal'), 'packages')).toBe(false);
  });

  it('the minimal profile truncates resolv.conf, and does not rebuild the initramfs its kernel install already built (live-boot embeds nothing later steps change)', () => {
    writeTree(layerDir('bootstrap'), { 'var/log/x': '', 'usr/sbin/update-initramfs': '' });
    const config = profileConfig('minimal');
    const ctx = stepContext({ config, workDir, stepId: 'chroot-cleanup' });
    expect(cleanupCommands(config, ctx.layers)).toEqual([
      ['apt-get', 'clean'],
      ['rm', '-f', '/usr/sbin/policy-rc.d', '/var/lib/dbus/machine-id'],
      ['truncate', '-s', '0', '/etc/machine-id', '/etc/resolv.conf'],
      ['find', '/var/log', '-type', 'f', '-exec', 'truncate', '-s', '0', '{}', '+'],
      ['rm', '-f', '/var/cache/ldconfig/aux-cache'],
    ]);
  });

  it('verify fails when resolv.conf is not the symlink the profile asks for', async () => {
    writeTree(layerDir('configure'), { 'etc/resolv.conf': 'nameserver 10.0.0.1\n' });
    const ctx = stepContext({ config: profileConfig('ailinux'), workDir, stepId: 'chroot-cleanup' });
    await chrootCleanupStep.run(ctx); // the fake ln changes nothing
    await expect(chrootCleanupStep.verify(ctx)).rejects.toThrow(
      new StepError(
        'chroot-cleanup',
        '/etc/resolv.conf is not the symlink to ../run/systemd/resolve/stub-resolv.conf the profile asks for',
      ),
    );
    fs.mkdirSync(`${layerDir('chroot-cleanup')}/etc`, { recursive: true });
    fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', `${layerDir('chroot-cleanup')}/etc/resolv.conf`);
    await expect(chrootCleanupStep.verify(ctx)).resolves.toBeUndefined();
  });
});

describe('name resolution for apt inside the chroot', () => {
  it("when a package made /etc/resolv.conf a symlink into /run, the host's file goes into the step's layer before each network call", async () => {
    writeTree(layerDir('bootstrap'), { 'etc/os-release': 'ID=ubuntu\n', 'var/lib/dpkg/status': '' });
    fs.mkdirSync(`${layerDir('configure')}/etc`, { recursive: true });
    fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', `${layerDir('configure')}/etc/resolv.conf`);
    const host = fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '';
    const seen: string[] = [];
    const runner = new FakeRunner().on((argv) => argv.includes('apt-get'), {
      effect: () => {
        const file = `${layerDir('packages')}/etc/resolv.conf`;
        seen.push(fs.lstatSync(file).isFile() ? fs.readFileSync(file, 'utf8') : 'not a file');
        // systemd-resolved's postinst makes it a symlink again, mid-step
        fs.rmSync(file);
        fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', file);
      },
    });
    await packagesStep.run(stepContext({ config: profileConfig('ailinux'), workDir, stepId: 'packages', runner }));
    // both apt calls (userland, then the kernel) found a real resolv.conf
    expect(seen).toEqual([host, host]);
  });
});

describe('squashfs (ailinux)', () => {
  /** The package database and Ubuntu's kernel links in the layers; dpkg-query, find and mksquashfs faked. */
  function scriptTools(runner: FakeRunner): void {
    writeTree(layerDir('bootstrap'), { 'var/lib/dpkg/status': 'Package: casper\n' });
    writeTree(layerDir('packages'), { 'boot/vmlinuz-6.8.0-31-generic': 'MZ kernel', 'boot/initrd.img': 'initrd' });
    fs.symlinkSync('vmlinuz-6.8.0-31-generic', `${layerDir('packages')}/boot/vmlinuz`);
    runner.on('dpkg-query', { stdout: 'casper\t1.498\n' });
    // one directory (a block) and a file: 5 GiB
    runner.on('find', { stdout: 'd\n2049:17 5368705024\n' });
    runner.on('mksquashfs', {
      effect: (call) =>
        fs.writeFileSync(
          call.argv[call.argv.indexOf('mksquashfs') + 2]!,
          Buffer.concat([Buffer.from('hsqs'), Buffer.alloc(60)]),
        ),
    });
  }

  it('writes filesystem.size from find over the read-only view, leaving out what mksquashfs leaves out', async () => {
    const config = profileConfig('ailinux', (c) => (c.squashfs.exclude = ['var/cache/apt', 'root']));
    const ctx = stepContext({ config, workDir, stepId: 'squashfs' });
    scriptTools(ctx.runner);
    await squashfsStep.run(ctx);
    const mnt = `${workDir}/mnt/squashfs`;
    const du = ctx.runner.calls.find((c) => c.argv.includes('find'))!.argv;
    expect(du.slice(du.indexOf('find'))).toEqual([
      'find',
      mnt,
      '-xdev',
      '(',
      '-path',
      `${mnt}/var/cache/apt`,
      '-o',
      '-path',
      `${mnt}/root`,
      ')',
      '-prune',
      '-o',
      '(',
      '-type',
      'd',
      '-printf',
      'd\\n',
      '-o',
      '-printf',
      '%D:%i %s\\n',
      ')',
    ]);
    expect(du).not.toContain('chroot');
    expect(fs.readFileSync(`${workDir}/iso/casper/filesystem.size`, 'utf8')).toBe('5368709120\n');
    await expect(squashfsStep.verify(ctx)).resolves.toBeUndefined();
    fs.writeFileSync(`${workDir}/iso/casper/filesystem.size`, 'lots\n');
    await expect(squashfsStep.verify(ctx)).rejects.toThrow(
      `${workDir}/iso/casper/filesystem.size does not hold a byte count`,
    );
  });

  it('under SOURCE_DATE_EPOCH every file it writes into the ISO tree has that time', async () => {
    const ctx = stepContext({
      config: profileConfig('ailinux'),
      workDir,
      stepId: 'squashfs',
      sourceDateEpoch: 1700000000,
    });
    scriptTools(ctx.runner);
    await squashfsStep.run(ctx);
    const live = `${workDir}/iso/casper`;
    expect(fs.readdirSync(live).sort()).toEqual([
      'filesystem.manifest',
      'filesystem.size',
      'filesystem.squashfs',
      'initrd.img',
      'vmlinuz',
    ]);
    for (const f of fs.readdirSync(live)) expect(fs.statSync(`${live}/${f}`).mtimeMs, f).toBe(1700000000 * 1000);
  });

  it("find's listing is summed strictly: a directory is one block whatever its size, a hard link counts once", () => {
    expect(parseSizeList('d\n2049:5 100\n2049:6 20\n2049:5 100\nd\n')).toBe(2 * 4096 + 120);
    expect(() => parseSizeList('find: cannot access\n')).toThrow('find printed a line that is no size');
    expect(() => parseSizeList('')).toThrow('find listed nothing');
    expect(sizeListArgv(profileConfig('minimal'), '/m').slice(0, 8)).toEqual([
      'find',
      '/m',
      '-xdev',
      '(',
      '-path',
      '/m/boot',
      ')',
      '-prune',
    ]);
  });
});
