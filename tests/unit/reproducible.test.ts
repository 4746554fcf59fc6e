/**
 * Reproducible builds (issue 11, point 8): the pieces that make two builds of the same inputs give the same bytes,
 * with the fake runner. The live user's password hash with a salt derived from the build's inputs (SHA-crypt checked
 * against the specification's vector and, when the host has it, `openssl passwd -6`); SOURCE_DATE_EPOCH in the clean
 * environment of every chroot command; the caches chroot-cleanup drops; the times mksquashfs and xorriso are given;
 * SOURCE_DATE_EPOCH in the fingerprint of every step that writes the image. The real proof, two builds compared byte
 * for byte, is tests/e2e/minimal.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprintMaterial } from '../../src/engine/fingerprint.js';
import { commandLabel } from '../../src/errors.js';
import { workPaths } from '../../src/runtime/paths.js';
import { chrootCleanupStep, cleanupCommands } from '../../src/steps/chroot-cleanup.js';
import { identityStep } from '../../src/steps/identity.js';
import { isoArgv } from '../../src/steps/iso.js';
import { chrootCommandEnv } from '../../src/steps/layer-step.js';
import { chpasswdLine, passwordSalt, sha512Crypt } from '../../src/steps/password-hash.js';
import { stepById } from '../../src/steps/registry.js';
import { mksquashfsArgv } from '../../src/steps/squashfs.js';
import {
  layerTreeDir,
  makeWorkDir,
  profileConfig,
  removeWorkDir,
  stepContext,
  writeTree,
} from '../helpers/step-context.js';

const EPOCH = 1733500000;

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-repro-');
});
afterEach(() => removeWorkDir(workDir));

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('the live user password hash', () => {
  it("is SHA-crypt (SHA-512, 5000 rounds): the specification's test vector, a long password and a 16-character salt", () => {
    expect(sha512Crypt('Hello world!', 'saltstring')).toBe(
      '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
    );
    // a salt longer than 16 characters is cut, as the specification says (openssl passwd -6 -salt saltstringsaltstring)
    expect(sha512Crypt('Hello world!', 'saltstringsaltstring')).toBe(
      '$6$saltstringsaltst$e.3mR68CqZEpesEX1HlFZT6sEanSOjM/b5UoDyDo00a8syek2cJldMjrbtKP86.FJvzluVR7nc3DNzelAwTxj.',
    );
    expect(() => sha512Crypt('x', 'bad salt')).toThrow(/outside/);
  });

  it.skipIf(!hasOpenssl)(
    'matches openssl passwd -6 for passwords of 4 to 200 bytes, UTF-8 and shell characters',
    () => {
      for (const password of ['live', 'x'.repeat(64), 'y'.repeat(200), 'pässwörd ✓', `a'b"c$(x);\\`]) {
        const salt = 'abcdefghijklmnop';
        const r = spawnSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${password}\n` });
        expect(sha512Crypt(password, salt), password).toBe(r.stdout.toString().trim());
      }
    },
  );

  it('salts from the host name, the user name and SOURCE_DATE_EPOCH: the same for the same inputs, never from the password', () => {
    const minimal = profileConfig('minimal');
    // pinned: a change to the derivation changes every image's /etc/shadow, so it must be on purpose
    expect(passwordSalt(minimal, null)).toBe('Z1VLyOi0zLvdazZp');
    expect(passwordSalt(minimal, EPOCH)).toBe('BWhPdi1hIlCraluX');
    expect(passwordSalt(profileConfig('minimal'), EPOCH)).toBe(passwordSalt(minimal, EPOCH));
    const other = profileConfig('minimal', (c) => (c.liveUser.password = 'something else'));
    expect(passwordSalt(other, EPOCH)).toBe(passwordSalt(minimal, EPOCH));
    const salts = new Set([
      passwordSalt(minimal, EPOCH),
      passwordSalt(
        profileConfig('minimal', (c) => (c.hostname = 'other')),
        EPOCH,
      ),
      passwordSalt(
        profileConfig('minimal', (c) => (c.liveUser.name = 'other')),
        EPOCH,
      ),
      passwordSalt(minimal, EPOCH + 1),
    ]);
    expect(salts.size).toBe(4);
    for (const salt of salts) expect(salt).toMatch(/^[./0-9A-Za-z]{16}$/);
  });

  it('the identity step pipes `user:$6$salt$hash` to chpasswd --encrypted, with SOURCE_DATE_EPOCH in its environment', async () => {
    const config = profileConfig('minimal');
    writeTree(layerTreeDir(workDir, 'bootstrap'), { 'etc/passwd': 'root:x:0:0::/root:/bin/bash\n', 'etc/group': '' });
    const ctx = stepContext({ config, workDir, stepId: 'identity', sourceDateEpoch: EPOCH });
    await identityStep.run(ctx);
    const chpasswd = ctx.runner.calls.find((c) => c.argv.includes('chpasswd'))!;
    expect(chpasswd.argv.slice(chpasswd.argv.indexOf('chpasswd'))).toEqual(['chpasswd', '--encrypted']);
    expect(chpasswd.options.input).toBe(`live:${sha512Crypt('live', 'BWhPdi1hIlCraluX')}\n`);
    expect(chpasswd.options.input).toBe(chpasswdLine(config, EPOCH));
    for (const call of ctx.runner.calls) {
      expect(call.options.cleanEnv).toBe(true);
      expect(call.options.env?.['SOURCE_DATE_EPOCH'], call.argv.join(' ')).toBe(String(EPOCH));
    }
  });
});

describe('SOURCE_DATE_EPOCH', () => {
  it('reaches every chroot command when set (0 included), and is absent when unset', () => {
    const config = profileConfig('minimal');
    expect(chrootCommandEnv({ config, sourceDateEpoch: EPOCH })['SOURCE_DATE_EPOCH']).toBe(String(EPOCH));
    expect(chrootCommandEnv({ config, sourceDateEpoch: 0 })['SOURCE_DATE_EPOCH']).toBe('0');
    expect(chrootCommandEnv({ config, sourceDateEpoch: null })).not.toHaveProperty('SOURCE_DATE_EPOCH');
  });

  it('pins mksquashfs (-mkfs-time, -all-time) and xorriso (volume dates, file dates, GPT GUID)', () => {
    const config = profileConfig('minimal');
    const squash = mksquashfsArgv(config, '/r', '/o', 2, EPOCH);
    expect(squash.slice(squash.indexOf('-mkfs-time'), squash.indexOf('-mkfs-time') + 4)).toEqual([
      '-mkfs-time',
      String(EPOCH),
      '-all-time',
      String(EPOCH),
    ]);
    // mksquashfs 4.5 exits 1 on these options while SOURCE_DATE_EPOCH is in its environment (found by a real build)
    expect(squash.slice(0, 5)).toEqual(['env', '-u', 'SOURCE_DATE_EPOCH', '--', 'mksquashfs']);
    const unset = mksquashfsArgv(config, '/r', '/o', 2, null);
    expect(unset[0]).toBe('mksquashfs');
    expect(unset).not.toContain('-all-time');
    expect(commandLabel(['unshare', '--', 'ailinux-ns-run', '--', ...squash])).toBe('mksquashfs');
    const iso = isoArgv(config, workPaths(workDir), EPOCH);
    // 2024-12-06 15:46:40 UTC
    expect(iso).toContain('--modification-date=2024120615464000');
    expect(iso.slice(iso.indexOf('--set_all_file_dates'), iso.indexOf('--set_all_file_dates') + 4)).toEqual([
      '--set_all_file_dates',
      '2024120615464000',
      '--gpt_disk_guid',
      'modification-date',
    ]);
  });

  it('is in the fingerprint of every step that writes the image, layer steps included, and not of preflight', () => {
    const config = profileConfig('ailinux');
    for (const id of ['bootstrap', 'packages', 'identity', 'chroot-cleanup', 'squashfs', 'iso']) {
      const material = fingerprintMaterial(stepById(id)!, config, workDir, null, { sourceDateEpoch: EPOCH });
      expect(material.config['env.SOURCE_DATE_EPOCH'], id).toBe(EPOCH);
    }
    const preflight = fingerprintMaterial(stepById('preflight')!, config, workDir, null, { sourceDateEpoch: EPOCH });
    expect(preflight.config).not.toHaveProperty('env.SOURCE_DATE_EPOCH');
  });
});

describe('chroot-cleanup', () => {
  it("drops ldconfig's aux-cache and the -old copies of debconf and dpkg, as chroot commands under SOURCE_DATE_EPOCH", async () => {
    const config = profileConfig('minimal');
    writeTree(layerTreeDir(workDir, 'bootstrap'), {
      'var/cache/debconf/config.dat': '',
      'var/lib/dpkg/status': '',
    });
    const ctx = stepContext({ config, workDir, stepId: 'chroot-cleanup', sourceDateEpoch: EPOCH });
    const commands = cleanupCommands(config, ctx.layers);
    expect(commands.slice(-3)).toEqual([
      ['rm', '-f', '/var/cache/ldconfig/aux-cache'],
      ['find', '/var/cache/debconf', '-maxdepth', '1', '-name', '*-old', '-type', 'f', '-delete'],
      ['find', '/var/lib/dpkg', '-maxdepth', '1', '-name', '*-old', '-type', 'f', '-delete'],
    ]);
    await chrootCleanupStep.run(ctx);
    expect(ctx.runner.calls).toHaveLength(commands.length);
    for (const call of ctx.runner.calls) expect(call.options.env?.['SOURCE_DATE_EPOCH']).toBe(String(EPOCH));
  });

  it('leaves out the find over a directory the image does not have', () => {
    const config = profileConfig('minimal');
    const ctx = stepContext({ config, workDir, stepId: 'chroot-cleanup' });
    const commands = cleanupCommands(config, ctx.layers);
    expect(commands.at(-1)).toEqual(['rm', '-f', '/var/cache/ldconfig/aux-cache']);
  });
});
