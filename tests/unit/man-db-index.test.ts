/**
 * man-db's index made once, by chroot-cleanup (src/steps/man-db.ts, docs/performance.md#dpkg-and-apt-in-the-chroot):
 * configure answers man-db/auto-update false before any package, chroot-cleanup answers true and reconfigures man-db
 * (or purges the answer when the image has no man-db), and a config that answers the question itself keeps it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { chrootCleanupStep, manIndexCalls } from '../../src/steps/chroot-cleanup.js';
import { configureStep } from '../../src/steps/configure.js';
import { manIndexMadeLater } from '../../src/steps/man-db.js';
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
  workDir = makeWorkDir('ailinux-man-db-');
});
afterEach(() => removeWorkDir(workDir));

const inChroot = (argv: readonly string[]) => argv.slice(argv.indexOf('chroot') + 2);
const userAnswer = (value: 'true' | 'false') => (c: BuildConfig) => {
  c.debconf = [{ package: 'man-db', question: 'man-db/auto-update', type: 'boolean', value }];
};

describe('manIndexMadeLater', () => {
  it('both profiles defer the index: they have configure and, after it, chroot-cleanup', () => {
    expect(manIndexMadeLater(profileConfig('minimal'))).toBe(true);
    expect(manIndexMadeLater(profileConfig('ailinux'))).toBe(true);
  });

  it('not without chroot-cleanup, nor with it before configure, nor when the config answers the question', () => {
    const without = profileConfig('minimal', (c) => {
      c.steps = c.steps.filter((id) => id !== 'chroot-cleanup');
    });
    expect(manIndexMadeLater(without)).toBe(false);
    const before = profileConfig('minimal');
    expect(manIndexMadeLater({ ...before, steps: ['bootstrap', 'chroot-cleanup', 'configure'] })).toBe(false);
    expect(manIndexMadeLater(profileConfig('minimal', userAnswer('true')))).toBe(false);
  });

  it("is in configure's fingerprint material (pinned), so removing chroot-cleanup reruns configure", () => {
    const config = profileConfig('minimal');
    expect(configureStep.pinned?.(config)).toEqual({ manIndexMadeLater: true });
    config.steps = config.steps.filter((id) => id !== 'chroot-cleanup');
    expect(configureStep.pinned?.(config)).toEqual({ manIndexMadeLater: false });
  });
});

describe('configure', () => {
  it('answers man-db/auto-update false on stdin after the config answers, and removes the flag a bootstrap with man-db has', async () => {
    const config = profileConfig('minimal', (c) => {
      c.debconf = [{ package: 'tzdata', question: 'tzdata/Areas', type: 'select', value: 'Europe' }];
    });
    writeTree(layerTreeDir(workDir, 'bootstrap'), { 'var/lib/man-db/auto-update': '' });
    const ctx = stepContext({ config, workDir, stepId: 'configure' });
    await configureStep.run(ctx);
    const calls = ctx.runner.calls.map((c) => ({ argv: inChroot(c.argv), input: c.options.input }));
    expect(calls.slice(1, 4)).toEqual([
      { argv: ['debconf-set-selections'], input: 'tzdata tzdata/Areas select Europe\n' },
      { argv: ['debconf-set-selections'], input: 'man-db man-db/auto-update boolean false\n' },
      { argv: ['rm', '-f', '/var/lib/man-db/auto-update'], input: undefined },
    ]);
    expect(calls[4]?.argv).toEqual(['apt-get', 'update']);
  });

  it("leaves man-db alone when the config answers man-db/auto-update itself: the user's answer is the only one", async () => {
    const config = profileConfig('minimal', userAnswer('false'));
    writeTree(layerTreeDir(workDir, 'bootstrap'), { 'var/lib/man-db/auto-update': '' });
    const ctx = stepContext({ config, workDir, stepId: 'configure' });
    await configureStep.run(ctx);
    const selections = ctx.runner.calls.filter((c) => inChroot(c.argv)[0] === 'debconf-set-selections');
    expect(selections.map((c) => c.options.input)).toEqual(['man-db man-db/auto-update boolean false\n']);
    expect(ctx.runner.calls.some((c) => c.argv.includes('/var/lib/man-db/auto-update'))).toBe(false);
  });
});

describe('chroot-cleanup', () => {
  it('with man-db: the answer true again, no old index, dpkg-reconfigure man-db, first; the -old copies debconf leaves are dropped after', async () => {
    const config = profileConfig('minimal');
    writeTree(layerTreeDir(workDir, 'packages'), {
      'usr/bin/mandb': '',
      'var/cache/debconf/config.dat': '',
    });
    const ctx = stepContext({ config, workDir, stepId: 'chroot-cleanup' });
    await chrootCleanupStep.run(ctx);
    const calls = ctx.runner.calls.map((c) => ({ argv: inChroot(c.argv), input: c.options.input }));
    expect(calls.slice(0, 4)).toEqual([
      { argv: ['debconf-set-selections'], input: 'man-db man-db/auto-update boolean true\n' },
      { argv: ['rm', '-f', '/var/cache/man/index.db'], input: undefined },
      { argv: ['dpkg-reconfigure', 'man-db'], input: undefined },
      { argv: ['apt-get', 'clean'], input: undefined },
    ]);
    const oldCopies = calls.findIndex((c) => c.argv.join(' ').startsWith('find /var/cache/debconf'));
    expect(oldCopies).toBeGreaterThan(2);
  });

  it('without man-db: PURGE through debconf-communicate as man-db, nothing else of man-db', () => {
    const config = profileConfig('minimal');
    const ctx = stepContext({ config, workDir, stepId: 'chroot-cleanup' });
    expect(manIndexCalls(config, ctx.layers)).toEqual([{ argv: ['debconf-communicate', 'man-db'], input: 'PURGE\n' }]);
  });

  it("nothing when the config answers the question (its answer ships), or without configure's answer", () => {
    writeTree(layerTreeDir(workDir, 'packages'), { 'usr/bin/mandb': '' });
    for (const config of [
      profileConfig('minimal', userAnswer('true')),
      profileConfig('minimal', (c) => {
        c.steps = c.steps.filter((id) => id !== 'configure');
      }),
    ]) {
      const ctx = stepContext({ config, workDir, stepId: 'chroot-cleanup' });
      expect(manIndexCalls(config, ctx.layers)).toEqual([]);
    }
  });
});
