/**
 * Which layers may go through the shared cache by their fingerprints (src/steps/layer-cache.ts): the fingerprints as
 * the engine makes them (fingerprintSteps), with the work dir's key for the live user's password and the archive read
 * or not.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildConfig } from '../../src/config/schema.js';
import { fingerprintSteps } from '../../src/engine/fingerprint.js';
import { type ReleaseInfo, suiteKey } from '../../src/runtime/archive-release.js';
import { LAYER_CACHE_ENV, SHARED_LAYER_STEPS, unsharedLayerReasons } from '../../src/steps/layer-cache.js';
import { allSteps, resolveSteps } from '../../src/steps/registry.js';
import type { StepDef } from '../../src/steps/types.js';
import { profileConfig } from '../helpers/step-context.js';

/** An ar member: 60-byte header, data, a pad byte to an even length. */
function arMember(name: string, data: Buffer): Buffer {
  const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(data.length).padEnd(10)}\`\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), data, data.length % 2 ? Buffer.from('\n') : Buffer.alloc(0)]);
}

/** What packages.local checks of a .deb (its ar members); nothing here reads more. */
function debShape(): Buffer {
  return Buffer.concat([
    Buffer.from('!<arch>\n'),
    arMember('debian-binary', Buffer.from('2.0\n')),
    arMember('control.tar.xz', Buffer.from('c')),
    arMember('data.tar.xz', Buffer.from('d')),
  ]);
}

function releasesFor(steps: readonly StepDef[], config: BuildConfig): Map<string, ReleaseInfo> {
  const out = new Map<string, ReleaseInfo>();
  for (const step of steps)
    for (const s of step.archiveSuites?.(config) ?? [])
      out.set(suiteKey(s), {
        ...s,
        url: `${s.uri}/dists/${s.suite}/InRelease`,
        file: 'InRelease',
        sha256: 'a'.repeat(64),
        date: '2026-12-07T08:15:02Z',
      });
  return out;
}

function reasons(config: BuildConfig, archive: 'checked' | 'offline' = 'checked', baseDir = '/nonexistent') {
  const steps = resolveSteps(config);
  const planned = fingerprintSteps(steps, config, baseDir, {
    sourceDateEpoch: null,
    secretKey: crypto.randomBytes(32),
    archive:
      archive === 'checked'
        ? { mode: 'checked', releases: releasesFor(steps, config) }
        : { mode: 'offline', stored: () => undefined },
  });
  return Object.fromEntries(unsharedLayerReasons(steps, planned, config));
}

describe('which layers the shared cache may hold', () => {
  it('minimal: the layers below the live user’s password are shared, those from identity on are not', () => {
    const r = reasons(profileConfig('minimal'));
    expect(r['bootstrap']).toBeNull();
    expect(r['configure']).toBeNull();
    expect(r['packages']).toBeNull();
    expect(r['identity']).toBe("identity's fingerprint holds a secret as a hash under this work dir's own key");
    expect(r['chroot-cleanup']).toBe(r['identity']);
    expect(r['squashfs']).toBe('no layer');
  });

  it('AILINUX_LAYER_CACHE=off keeps every layer out of it, bootstrap included; any other value changes nothing', () => {
    const before = process.env[LAYER_CACHE_ENV];
    try {
      process.env[LAYER_CACHE_ENV] = 'off';
      const off = reasons(profileConfig('minimal'));
      expect(off['bootstrap']).toBe('AILINUX_LAYER_CACHE=off: no layer is taken from or kept in the shared cache');
      expect(off['configure']).toBe(off['bootstrap']);
      expect(off['packages']).toBe(off['bootstrap']);
      expect(off['squashfs']).toBe('no layer');
      process.env[LAYER_CACHE_ENV] = 'on';
      expect(reasons(profileConfig('minimal'))['packages']).toBeNull();
    } finally {
      if (before === undefined) delete process.env[LAYER_CACHE_ENV];
      else process.env[LAYER_CACHE_ENV] = before;
    }
  });

  it('a debconf password answer in configure keeps every layer from configure on out of it', () => {
    const r = reasons(
      profileConfig('minimal', (c) => {
        c.debconf = [{ package: 'user-setup', question: 'passwd/root-password', type: 'password', value: 'secret' }];
      }),
    );
    expect(r['bootstrap']).toBeNull();
    expect(r['configure']).toMatch(/^configure's fingerprint holds a secret/);
    expect(r['packages']).toBe(r['configure']);
  });

  it('--offline in a work dir with no earlier run: no archive state in the fingerprints, nothing shared', () => {
    const r = reasons(profileConfig('minimal'), 'offline');
    expect(r['bootstrap']).toMatch(
      /^bootstrap's fingerprint has no archive state for http:\/\/deb.debian.org\/debian bookworm \(--offline\)$/,
    );
    expect(r['configure']).toBe(r['bootstrap']);
    expect(r['packages']).toBe(r['bootstrap']);
  });

  it('packages.local: the packages step runs (it makes the local repository); the steps after it may share', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-cache-local-'));
    try {
      fs.mkdirSync(path.join(dir, 'debs'));
      fs.writeFileSync(path.join(dir, 'debs', 'hello_1.0_amd64.deb'), debShape());
      const r = reasons(
        profileConfig('ailinux', (c) => {
          c.packages.local = 'debs';
        }),
        'checked',
        dir,
      );
      expect(r['packages']).toMatch(/^packages\.local is set/);
      expect(r['configure']).toBeNull();
      expect(r['desktop']).toBeNull();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a hook step is not shared, nor a layer above it; every built-in layer step is named', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-cache-hook-'));
    try {
      fs.writeFileSync(path.join(dir, 'hook.sh'), '#!/bin/sh\ncurl -o /etc/motd http://example.invalid/motd\n');
      const r = reasons(
        profileConfig('minimal', (c) => {
          c.hooks = [{ name: 'fetch', script: 'hook.sh', after: 'configure', binary: false }];
        }),
        'checked',
        dir,
      );
      expect(r['configure']).toBeNull();
      expect(r['hook-fetch']).toBe(
        'hook-fetch is not known to make the same layer for the same fingerprint (a hook may fetch anything)',
      );
      expect(r['packages']).toBe(r['hook-fetch']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const layerSteps = allSteps().filter((s) => s.layer === 'overlay');
    expect(layerSteps.map((s) => s.id).filter((id) => !SHARED_LAYER_STEPS.has(id))).toEqual([]);
  });
});
