/**
 * Fingerprints decide which checkpoints a build reuses, so every input must move them and nothing
 * else may: the declared config fields, the input files' bytes, SOURCE_DATE_EPOCH where the step
 * writes the image, the step version and the step before. Written against the survivors of
 * `npm run mutation` (docs/testing.md).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { canonicalJson, fingerprintMaterial, fingerprintOf, fingerprintSteps } from '../../src/engine/fingerprint.js';
import { resolveSteps } from '../../src/steps/registry.js';
import type { StepDef } from '../../src/steps/types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-fp-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const config = loadConfig({ profile: 'minimal' }).config;
const noEpoch = { sourceDateEpoch: null };

function step(over: Partial<StepDef>): StepDef {
  return {
    id: 'probe',
    title: 'probe',
    version: 1,
    layer: 'overlay',
    phase: 1,
    configFields: [],
    run: async () => [],
    verify: async () => {},
    undo: async () => {},
    ...over,
  } as StepDef;
}

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,1]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('sorts keys by code unit, so upper case comes before lower case and a prefix before its extension', () => {
    expect(canonicalJson({ b: 0, B: 0, a: 0, aa: 0 })).toBe('{"B":0,"a":0,"aa":0,"b":0}');
  });

  it('writes undefined as null on its own and leaves undefined fields out, so an unset field hashes like an absent one', () => {
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
  });

  it('escapes strings and keys as JSON does', () => {
    expect(canonicalJson({ 'k"1': 'a"b\\c\n' })).toBe('{"k\\"1":"a\\"b\\\\c\\n"}');
    expect(canonicalJson([true, 0, -1.5, 'x'])).toBe('[true,0,-1.5,"x"]');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson([])).toBe('[]');
  });
});

describe('fingerprintMaterial', () => {
  it('takes exactly the declared config fields, dotted paths read through the config, and null for an unset one', () => {
    const s = step({ configFields: ['hostname', 'iso.menuTimeout', 'helper'] as StepDef['configFields'] });
    const m = fingerprintMaterial(s, config, dir, 'prev', noEpoch);
    expect(m).toEqual({
      stepVersion: 1,
      config: { hostname: config.hostname, 'iso.menuTimeout': config.iso.menuTimeout, helper: null },
      files: {},
      previous: 'prev',
    });
  });

  it('hashes each input file by its bytes, relative names against the base dir, and marks a missing one', () => {
    fs.writeFileSync(path.join(dir, 'logo.png'), 'logo bytes');
    const abs = path.join(dir, 'abs.key');
    fs.writeFileSync(abs, 'key bytes');
    const s = step({ inputFiles: () => ['logo.png', abs, 'gone.png'] });
    const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
    expect(fingerprintMaterial(s, config, dir, null, noEpoch).files).toEqual({
      'logo.png': sha('logo bytes'),
      [abs]: sha('key bytes'),
      'gone.png': 'missing',
    });
  });

  it('adds SOURCE_DATE_EPOCH for every step that writes the image (layers too, not a host-only one), and only when set', () => {
    const epoch = { sourceDateEpoch: 1700000000 };
    expect(fingerprintMaterial(step({ layer: 'none' }), config, dir, null, epoch).config).toEqual({
      'env.SOURCE_DATE_EPOCH': 1700000000,
    });
    expect(fingerprintMaterial(step({ layer: 'none' }), config, dir, null, { sourceDateEpoch: 0 }).config).toEqual({
      'env.SOURCE_DATE_EPOCH': 0,
    });
    expect(fingerprintMaterial(step({ layer: 'none' }), config, dir, null, noEpoch).config).toEqual({});
    expect(fingerprintMaterial(step({ layer: 'none', hostOnly: true }), config, dir, null, epoch).config).toEqual({});
    for (const layer of ['overlay', 'base'] as const) {
      expect(fingerprintMaterial(step({ layer }), config, dir, null, epoch).config).toEqual({
        'env.SOURCE_DATE_EPOCH': 1700000000,
      });
      expect(fingerprintMaterial(step({ layer }), config, dir, null, noEpoch).config).toEqual({});
    }
  });
});

describe('fingerprintOf', () => {
  const material = { stepVersion: 2, config: { hostname: 'a' }, files: { 'k.gpg': 'abc' }, previous: null };

  it('is the sha256 of the canonical step id and material, so checkpoints written by an earlier release still match', () => {
    expect(fingerprintOf('identity', material)).toBe(
      crypto
        .createHash('sha256')
        .update(
          '{"config":{"hostname":"a"},"files":{"k.gpg":"abc"},"previous":null,"stepId":"identity","stepVersion":2}',
        )
        .digest('hex'),
    );
  });

  it('moves with each of its inputs', () => {
    const base = fingerprintOf('identity', material);
    expect(fingerprintOf('packages', material)).not.toBe(base);
    expect(fingerprintOf('identity', { ...material, stepVersion: 3 })).not.toBe(base);
    expect(fingerprintOf('identity', { ...material, config: { hostname: 'b' } })).not.toBe(base);
    expect(fingerprintOf('identity', { ...material, files: { 'k.gpg': 'abd' } })).not.toBe(base);
    expect(fingerprintOf('identity', { ...material, previous: 'x' })).not.toBe(base);
    expect(fingerprintOf('identity', { ...material })).toBe(base);
  });
});

describe('fingerprintSteps', () => {
  it('chains each step to the fingerprint of the one before, the first to none', () => {
    const steps = resolveSteps(config);
    const fps = fingerprintSteps(steps, config, dir, noEpoch);
    expect(fps.map((f) => f.id)).toEqual(steps.map((s) => s.id));
    expect(fps[0]!.material.previous).toBeNull();
    for (let i = 1; i < fps.length; i++) expect(fps[i]!.material.previous).toBe(fps[i - 1]!.fingerprint);
    for (const f of fps) expect(f.fingerprint).toBe(fingerprintOf(f.id, f.material));
  });

  it("moves a step's fingerprint for each config field it declares (a declared path that reads nothing would not)", () => {
    const base = loadConfig({ profile: 'ailinux' }).config;
    // input files and trees (packages.local's .deb files) left out: they are read from the config too, and a field set
    // to a stand-in value has no files
    for (const s of resolveSteps(base).map((d) => ({ ...d, inputFiles: undefined, inputTree: undefined }))) {
      const before = fingerprintMaterial(s, base, dir, null, noEpoch);
      for (const field of s.configFields) {
        const changed = structuredClone(base) as unknown as Record<string, unknown>;
        const parts = field.split('.');
        let cur = changed;
        // an optional object the profile leaves out (helper) is made, so a field declared under it can change
        for (const part of parts.slice(0, -1)) cur = (cur[part] ??= {}) as Record<string, unknown>;
        cur[parts.at(-1)!] = { changed: field };
        const after = fingerprintMaterial(s, changed as unknown as typeof base, dir, null, noEpoch);
        expect(fingerprintOf(s.id, after), `${s.id}: ${field}`).not.toBe(fingerprintOf(s.id, before));
      }
    }
  });
});
