/**
 * The committed SVG art (assets/branding) rendered by the real rsvg-convert (librsvg2-bin), as the branding step
 * does: every rendition is a PNG of exactly the size asked for, and the whole branding step on a small fake image
 * installs them. Needs rsvg-convert (scripts/install-host-tools.sh); skips without it, fails under
 * AILINUX_REQUIRE_ROOT_TIERS=1.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import {
  artSourcePath,
  GRUB_BACKGROUND,
  RENDITIONS,
  renderArt,
  WALLPAPER_RENDITIONS,
} from '../../src/steps/branding-art.js';
import { brandingStep, imageSize } from '../../src/steps/branding.js';
import { skipWithout } from '../helpers/root.js';
import { makeWorkDir, profileConfig, removeWorkDir, stepContext, writeTree } from '../helpers/step-context.js';

function missingRsvg(): string | null {
  try {
    execFileSync('rsvg-convert', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'rsvg-convert is not installed (apt-get install librsvg2-bin)';
  }
}

let workDir: string;
beforeEach(() => {
  workDir = makeWorkDir('ailinux-branding-render-');
});
afterEach(() => removeWorkDir(workDir));

const silent = { runner: new ExecaRunner(), signal: new AbortController().signal, log: { info() {}, line() {} } };

describe.skipIf(skipWithout(missingRsvg()))('the committed SVGs through the real rsvg-convert', () => {
  it('every rendition is a PNG of exactly the size asked for', async () => {
    expect(fs.existsSync(artSourcePath('logo'))).toBe(true);
    expect(fs.existsSync(artSourcePath('wallpaper'))).toBe(true);
    // GRUB_BACKGROUND is the 4:3 cut of the 16:9 wallpaper (--page-width/--left): the crop path of the real tool
    const all = [...Object.values(RENDITIONS), ...WALLPAPER_RENDITIONS, GRUB_BACKGROUND];
    const started = Date.now();
    const out = await renderArt(silent, path.join(workDir, 'render'), all);
    const ms = Date.now() - started;
    for (const r of all) {
      const data = out.get(r.name)!;
      expect(imageSize(data), r.name).toEqual({ width: r.width, height: r.height });
      // not a blank canvas: the art has colour (more than a few hundred bytes even at the smallest size)
      expect(data.length, r.name).toBeGreaterThan(2000);
      expect(fs.readFileSync(path.join(workDir, 'render', `${r.name}.png`)).equals(data)).toBe(true);
    }
    console.log(
      `rendered ${all.length} PNGs in ${ms} ms: ${all.map((r) => `${r.name} ${out.get(r.name)!.length} B`).join(', ')}`,
    );
  });

  it('the branding step with the real renderer installs the rendered images', async () => {
    writeTree(`${workDir}/layers/bootstrap/root`, {
      'etc/os-release': 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n',
      'usr/share/wallpapers/.keep': '',
    });
    const ctx = { ...stepContext({ config: profileConfig('ailinux'), workDir, stepId: 'branding' }), ...silent };
    await brandingStep.run(ctx);
    const upper = `${workDir}/layers/branding/upper`;
    expect(imageSize(fs.readFileSync(`${upper}/usr/share/ailinux/logo.png`))).toEqual({ width: 256, height: 256 });
    expect(fs.readdirSync(`${upper}/usr/share/wallpapers/ailinux/contents/images`).sort()).toEqual([
      '1920x1080.png',
      '2560x1440.png',
      '3840x2160.png',
    ]);
    expect(fs.readFileSync(`${upper}/etc/os-release`, 'utf8')).toContain('\nID=ailinux\nID_LIKE="ubuntu debian"\n');
    expect(fs.existsSync(`${workDir}/tmp/branding`)).toBe(false);
  });
});
