/**
 * `ailinux shell --keep`: a session's overlayfs upper saved as an overlay directory (src/steps/kept-overlay.ts).
 * Whiteouts (deletions) are reported and listed in the manifest, never dropped in silence; setid bits are left off
 * the host copies and reported; owners other than root and a changed directory go into the manifest; a directory
 * the session only passed through is left out; a FIFO is reported as not kept. The manifest it writes is one the
 * overlay steps read. Whiteouts and owners need root (mknod, chown); skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { BuildConfig } from '../../src/config/schema.js';
import { keepSessionChanges } from '../../src/steps/kept-overlay.js';
import { scanOverlays } from '../../src/steps/overlays.js';
import { isRoot } from '../helpers/root.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-kept-overlay-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function put(root: string, rel: string, content: string | null, mode: number): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  if (content === null) fs.mkdirSync(p, { recursive: true });
  else fs.writeFileSync(p, content);
  fs.chmodSync(p, mode);
}

describe('keepSessionChanges', () => {
  it('copies new and changed entries with their modes, and keeps nothing the session did not change', () => {
    const lower = path.join(tmp, 'a-lower');
    const upper = path.join(tmp, 'a-upper');
    const dest = path.join(tmp, 'a-dest');
    put(lower, 'etc/motd', 'old\n', 0o644);
    put(lower, 'usr/share/doc', null, 0o755);
    fs.chmodSync(path.join(lower, 'etc'), 0o755);
    // copied up as the parent of a file the session wrote and then removed: nothing kept under it
    put(upper, 'usr/share/doc', null, 0o755);
    fs.chmodSync(path.join(upper, 'usr'), 0o755);
    fs.chmodSync(path.join(upper, 'usr/share'), 0o755);
    put(upper, 'etc/motd', 'new\n', 0o600);
    fs.chmodSync(path.join(upper, 'etc'), 0o755);
    put(upper, 'opt/tool/run', '#!/bin/sh\n', 0o750);
    fs.symlinkSync('run', path.join(upper, 'opt/tool/go'));
    fs.mkdirSync(dest);
    const kept = keepSessionChanges(upper, [lower], dest);
    expect(kept.kept).toEqual(['etc', 'etc/motd', 'opt', 'opt/tool', 'opt/tool/go', 'opt/tool/run']);
    expect(kept.deleted).toEqual([]);
    expect(fs.existsSync(path.join(dest, 'usr'))).toBe(false);
    expect(fs.readFileSync(path.join(dest, 'etc/motd'), 'utf8')).toBe('new\n');
    expect(fs.statSync(path.join(dest, 'etc/motd')).mode & 0o7777).toBe(0o600);
    expect(fs.statSync(path.join(dest, 'opt/tool/run')).mode & 0o7777).toBe(0o750);
    expect(fs.readlinkSync(path.join(dest, 'opt/tool/go'))).toBe('run');
    // as root every owner is root:root and nothing needs reporting: no manifest
    if (isRoot) expect(kept.manifest).toBe(false);
  });

  it.skipIf(!isRoot)(
    'reports deletions, setid bits, owners, a changed directory and a FIFO in the manifest and its result',
    () => {
      const lower = path.join(tmp, 'b-lower');
      const upper = path.join(tmp, 'b-upper');
      const dest = path.join(tmp, 'b-dest');
      put(lower, 'etc/os-release', 'x\n', 0o644);
      put(lower, 'var/log', null, 0o755);
      fs.chmodSync(path.join(lower, 'var'), 0o755);
      fs.chmodSync(path.join(lower, 'etc'), 0o755);
      put(upper, 'etc', null, 0o755);
      const mknod = spawnSync('mknod', [path.join(upper, 'etc/os-release'), 'c', '0', '0']);
      expect(mknod.status).toBe(0);
      put(upper, 'usr/local/bin/su-tool', 'bin\n', 0o4755);
      put(upper, 'home/user/notes', 'n\n', 0o644);
      fs.chownSync(path.join(upper, 'home/user'), 1000, 1000);
      fs.chownSync(path.join(upper, 'home/user/notes'), 1000, 100);
      put(upper, 'var/log', null, 0o700);
      fs.chmodSync(path.join(upper, 'var'), 0o755);
      expect(spawnSync('mkfifo', [path.join(upper, 'var/log/pipe')]).status).toBe(0);
      fs.mkdirSync(dest);
      const kept = keepSessionChanges(upper, [lower], dest);
      expect(kept.deleted).toEqual(['etc/os-release']);
      expect(kept.setidDropped).toEqual(['usr/local/bin/su-tool']);
      expect(kept.skipped).toEqual([
        { rel: 'var/log/pipe', why: 'a device, FIFO or socket, which an overlay cannot hold' },
      ]);
      // the whiteout is not copied as anything, and the etc it sat in held nothing else
      expect(fs.existsSync(path.join(dest, 'etc'))).toBe(false);
      expect(fs.statSync(path.join(dest, 'usr/local/bin/su-tool')).mode & 0o7777).toBe(0o755);
      expect(fs.statSync(path.join(dest, 'var/log')).mode & 0o7777).toBe(0o700);
      const text = fs.readFileSync(path.join(dest, '.ailinux-overlay.yaml'), 'utf8');
      expect(text).toContain('#   /etc/os-release');
      expect(text).toContain('#   /usr/local/bin/su-tool');
      expect(text).toContain('#   /var/log/pipe: a device, FIFO or socket');
      expect(parseYaml(text)).toEqual({
        paths: {
          'home/user': { owner: '1000:1000' },
          'home/user/notes': { owner: '1000:100' },
          'var/log': { owner: '0:0' },
        },
      });
      // the overlay steps read it as it is: owners from the manifest, the changed directory named
      const config = { overlays: { early: [], late: ['b-dest'] } } as unknown as BuildConfig;
      const entries = scanOverlays(config, tmp, 'late', () => 'hash');
      expect(entries.map((e) => [e.rel, e.kind, e.uid, e.gid, e.named])).toEqual([
        ['home', 'dir', 0, 0, false],
        ['home/user', 'dir', 1000, 1000, true],
        ['home/user/notes', 'file', 1000, 100, true],
        ['usr', 'dir', 0, 0, false],
        ['usr/local', 'dir', 0, 0, false],
        ['usr/local/bin', 'dir', 0, 0, false],
        ['usr/local/bin/su-tool', 'file', 0, 0, false],
        ['var', 'dir', 0, 0, false],
        ['var/log', 'dir', 0, 0, true],
      ]);
    },
  );
});
