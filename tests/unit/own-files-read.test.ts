/**
 * Issue 9, finding 8: the config's own files (branding assets, helper files) were checked to stay inside the config
 * dir at load, then read again by path by the fingerprint and by the branding step, so a directory swapped for a
 * symlink in between led the read out. Now one walk by descriptors does the check and the read, once per loaded
 * config, and the fingerprint and the step use those same bytes. The decoy lives in its own temp dir, never a host path.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { ConfigError } from '../../src/errors.js';
import { brandingStep } from '../../src/steps/branding.js';
import { solidPng } from '../../src/steps/calamares/png.js';
import { resolveSteps } from '../../src/steps/registry.js';
import { makeWorkDir, removeWorkDir, stepContext, writeTree } from '../helpers/step-context.js';

const LOGO = solidPng(32, 32, '#112233');
const DECOY_LOGO = solidPng(32, 32, '#ff0000');
const HELPER = '#!/bin/sh\necho the helper\n';
const DECOY_HELPER = '#!/bin/sh\necho DECOY-SECRET-7f3a\n';

let workDir: string;
let configDir: string;
let decoyDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-own-read-');
  configDir = path.join(workDir, 'config');
  decoyDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-own-decoy-')));
  fs.writeFileSync(path.join(decoyDir, 'logo.png'), DECOY_LOGO);
  fs.writeFileSync(path.join(decoyDir, 'h.sh'), DECOY_HELPER);
  writeTree(configDir, { 'art/.keep': '', 'bin/.keep': '' });
  fs.writeFileSync(path.join(configDir, 'art', 'logo.png'), LOGO);
  fs.writeFileSync(path.join(configDir, 'bin', 'h.sh'), HELPER);
});
afterEach(() => {
  removeWorkDir(workDir);
  fs.rmSync(decoyDir, { recursive: true, force: true });
});

const sha = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest('hex');

function load() {
  const configFile = path.join(configDir, 'ailinux.config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      extends: 'ailinux',
      branding: { dir: 'art', logo: 'logo.png' },
      helper: { name: 'h', title: 'H', files: [{ source: 'bin/h.sh', destination: '/usr/local/bin/h', mode: '0755' }] },
    }),
  );
  return loadConfig({ configFile });
}

/** The directory name in the config dir becomes a symlink to the decoy dir (its real contents move aside). */
function swapForDecoy(name: string): void {
  fs.renameSync(path.join(configDir, name), path.join(configDir, `${name}.real`));
  fs.symlinkSync(decoyDir, path.join(configDir, name));
}

function brandingFiles(loaded: ReturnType<typeof load>): Record<string, string> {
  const steps = resolveSteps(loaded.config);
  const fps = fingerprintSteps(steps, loaded.config, loaded.baseDir, { sourceDateEpoch: null });
  return fps.find((f) => f.id === 'branding')!.material.files;
}

async function runBranding(loaded: ReturnType<typeof load>) {
  writeTree(`${workDir}/layers/bootstrap/root`, { 'etc/os-release': 'ID=ubuntu\n', 'usr/share/.keep': '' });
  const ctx = stepContext({ config: loaded.config, workDir, stepId: 'branding' });
  ctx.baseDir = loaded.baseDir;
  await brandingStep.run(ctx);
  const upper = `${workDir}/layers/branding/upper`;
  return {
    logo: fs.readFileSync(`${upper}/usr/share/ailinux/logo.png`),
    helper: fs.readFileSync(`${upper}/usr/local/bin/h`, 'utf8'),
  };
}

describe("the config's own files are read once, inside the config dir, and used as hashed", () => {
  it('the step installs the bytes the fingerprint hashed, though both dirs became symlinks to a decoy since', async () => {
    const loaded = load();
    const files = brandingFiles(loaded);
    expect(files).toEqual({ 'art/logo.png': sha(LOGO), 'bin/h.sh': sha(HELPER) });
    swapForDecoy('art');
    swapForDecoy('bin');
    const installed = await runBranding(loaded);
    expect(installed.logo.equals(LOGO)).toBe(true);
    expect(installed.helper).toBe(HELPER);
  });

  it('a dir swapped for a symlink out after the load is refused at the first read, naming the field and the link; the decoy is never read', () => {
    const loaded = load();
    swapForDecoy('bin');
    let error: unknown;
    try {
      brandingFiles(loaded);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain('helper.files.0.source: bin/h.sh leads out of the config file');
    expect(message).toContain(`symlink bin -> ${decoyDir}`);
    expect(message).not.toContain('DECOY-SECRET');
  });

  it('links that stay inside are followed by the walk: absolute into the dir, and relative through ".."', async () => {
    fs.renameSync(path.join(configDir, 'art'), path.join(configDir, 'art.real'));
    fs.symlinkSync(path.join(fs.realpathSync(configDir), 'art.real'), path.join(configDir, 'art'));
    fs.renameSync(path.join(configDir, 'bin', 'h.sh'), path.join(configDir, 'h.sh.real'));
    fs.symlinkSync('../h.sh.real', path.join(configDir, 'bin', 'h.sh'));
    const loaded = load();
    expect(brandingFiles(loaded)).toEqual({ 'art/logo.png': sha(LOGO), 'bin/h.sh': sha(HELPER) });
    const installed = await runBranding(loaded);
    expect(installed.logo.equals(LOGO)).toBe(true);
    expect(installed.helper).toBe(HELPER);
  });

  it('a FIFO where a helper file should be is no regular file: hashed as missing and refused, never opened', async () => {
    fs.rmSync(path.join(configDir, 'bin', 'h.sh'));
    execFileSync('mkfifo', [path.join(configDir, 'bin', 'h.sh')]);
    const loaded = load();
    expect(brandingFiles(loaded)['bin/h.sh']).toBe('missing');
    await expect(runBranding(loaded)).rejects.toThrow(
      'helper.files.0.source: the file bin/h.sh does not exist, is not a regular file or cannot be read',
    );
  });
});
