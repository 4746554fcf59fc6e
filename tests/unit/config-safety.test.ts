/**
 * Issue 9, findings 7, 8 and 13: configs that today pass the schema and then inject apt options, put a host file
 * into the image, or start a build no step list or firmware could finish. Each is refused at load (ConfigError,
 * exit 2) naming its field; the loader is called as the CLI calls it, on a config file in a temp dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CROSS_FIELD_RULES } from '../../src/config/cross-field-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { SYSTEM_ACCOUNTS } from '../../src/config/system-accounts.js';
import { ConfigError } from '../../src/errors.js';
import { allSteps, resolveSteps } from '../../src/steps/registry.js';

let tmp = '';
let n = 0;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-config-safety-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A config dir with the config (extends minimal) and the files it names; returns the loader's error or null. */
function load(config: object, files: Record<string, string> = {}, links: Record<string, string> = {}): ConfigError {
  const dir = path.join(tmp, `c${++n}`);
  fs.mkdirSync(dir);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  for (const [rel, target] of Object.entries(links)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(dir, rel));
  }
  const configFile = path.join(dir, 'ailinux.config.json');
  fs.writeFileSync(configFile, JSON.stringify({ extends: 'minimal', ...config }));
  try {
    resolveSteps(loadConfig({ configFile }).config);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`the config was accepted: ${JSON.stringify(config)}`);
}

function accepts(config: object, files: Record<string, string> = {}, links: Record<string, string> = {}): void {
  expect(() => load(config, files, links)).toThrow(/the config was accepted/);
}

const source = (over: object) => ({
  distribution: {
    sources: [{ uri: 'http://deb.debian.org/debian', suites: ['bookworm'], components: ['main'], ...over }],
  },
});

describe('finding 7: nothing breaks the one-line sources.list format', () => {
  it.each([
    ['an apt option after signedBy', { signedBy: '/k.gpg trusted=yes' }, 'distribution.sources.0.signedBy'],
    ['a "]" closing the options early', { signedBy: '/k.gpg]' }, 'distribution.sources.0.signedBy'],
    ['a second key after a comma', { signedBy: '/k.gpg,/other.gpg' }, 'distribution.sources.0.signedBy'],
    ['a tab in signedBy', { signedBy: '/k.gpg\ttrusted=yes' }, 'distribution.sources.0.signedBy'],
    ['a comment mark in the URI', { uri: 'http://deb.debian.org/debian#x' }, 'distribution.sources.0.uri'],
    ['a "]" in the URI', { uri: 'http://deb.debian.org/debian]' }, 'distribution.sources.0.uri'],
    ['a control character in the URI', { uri: 'http://deb.debian.org/\x1bdebian' }, 'distribution.sources.0.uri'],
    ['a space in a suite', { suites: ['bookworm main'] }, 'distribution.sources.0.suites.0'],
    ['an option as a component', { components: ['[trusted=yes]'] }, 'distribution.sources.0.components.0'],
  ])('refuses %s, naming the field', (_name, over, field) => {
    const error = load(source(over));
    expect(error.issues.map((i) => i.path)).toContain(field);
  });

  it('says why for signedBy, and refuses the same in extra repositories and the mirror', () => {
    expect(load(source({ signedBy: '/k.gpg trusted=yes' })).issues[0]!.expected).toMatch(/add apt options/);
    const repo = {
      name: 'extra',
      uri: 'https://repo.example.org/apt#x',
      suites: ['stable'],
      components: ['main'],
      key: { path: '/k.gpg', sha256: 'a'.repeat(64) },
    };
    expect(load({ distribution: { extraRepositories: [repo] } }).issues[0]!.path).toBe(
      'distribution.extraRepositories.0.uri',
    );
    expect(load({ distribution: { mirror: 'http://x/debian#y' } }).issues[0]!.path).toBe('distribution.mirror');
  });

  it('keeps plain keys and an IPv6 mirror', () => {
    accepts(source({ signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' }));
    accepts(source({ uri: 'http://[2001:db8::1]:3142/debian' }));
  });
});

describe("finding 8: the user's own files stay in the config's directory", () => {
  const helper = (src: string) => ({
    helper: { name: 'h', title: 'H', files: [{ source: src, destination: '/usr/local/bin/h', mode: '0755' }] },
  });

  it('refuses a helper file that is a symlink to a host file, naming the field and the link', () => {
    const error = load(helper('h.sh'), {}, { 'h.sh': '/etc/passwd' });
    expect(error.issues[0]!.path).toBe('helper.files.0.source');
    expect(error.message).toContain('resolves to /etc/passwd');
    expect(error.message).toContain('symlink h.sh -> /etc/passwd');
  });

  it('refuses a branding dir that links out, and a branding file under a linked dir', () => {
    expect(load({ branding: { dir: 'art' } }, {}, { art: '/etc' }).issues[0]!.path).toBe('branding.dir');
    const error = load({ branding: { dir: 'art', logo: 'logo.png' } }, {}, { 'art/logo.png': '/etc/hostname' });
    expect(error.issues[0]!.path).toBe('branding.logo');
    expect(error.message).toMatch(/symlink art\/logo\.png -> \/etc\/hostname/);
  });

  it('refuses a link that points out through "..", and a dangling link out', () => {
    expect(load(helper('up/h.sh'), {}, { up: '../..' }).issues[0]!.path).toBe('helper.files.0.source');
    expect(load(helper('gone'), {}, { gone: '/nonexistent-ailinux/x' }).issues[0]!.path).toBe('helper.files.0.source');
  });

  it('refuses "../x" directly, in the schema', () => {
    expect(load(helper('../x')).issues[0]!.path).toBe('helper.files.0.source');
    expect(load({ branding: { dir: '../art' } }).issues[0]!.path).toBe('branding.dir');
  });

  it('keeps files, and links that stay inside the directory', () => {
    accepts({ branding: { dir: 'art', logo: 'logo.png' } }, { 'art/logo.png': 'png' });
    accepts({ branding: { dir: 'art', logo: 'logo.png' } }, { 'real/logo.png': 'png' }, { art: 'real' });
    accepts(helper('bin/h.sh'), { 'files/h.sh': '#!/bin/sh\n' }, { 'bin/h.sh': '../files/h.sh' });
  });
});

describe('finding 13 and point 12: rules across fields, before anything is written', () => {
  it('refuses a step list out of order, naming both steps and their places', () => {
    const error = load({ steps: ['iso', 'bootstrap', 'configure', 'packages', 'squashfs', 'bootloaders'] });
    expect(error.message).toBe('step "iso" (steps.0) needs step "squashfs" (steps.4) to run before it');
    expect(error.issues[0]!.path).toBe('steps.0');
  });

  it('refuses a step whose prerequisite is missing', () => {
    const error = load({ steps: ['bootstrap', 'configure', 'squashfs'] });
    expect(error.message).toBe('step "squashfs" needs step "packages", which the step list does not have');
    expect(error.issues[0]!.path).toBe('steps.2');
  });

  it('refuses an image with neither BIOS nor UEFI boot', () => {
    const error = load({ iso: { bios: false, uefi: false } });
    expect(error.issues.map((i) => i.path)).toEqual(['iso.bios']);
    expect(error.issues[0]!.expected).toMatch(/iso\.bios and iso\.uefi are both false/);
  });

  it('refuses Secure Boot without UEFI', () => {
    const error = load({ iso: { uefi: false, secureBoot: true } });
    expect(error.issues.map((i) => i.path)).toEqual(['iso.secureBoot']);
    expect(error.issues[0]!.expected).toMatch(/iso\.secureBoot is on, .* iso\.uefi is false/);
  });

  it.each([...SYSTEM_ACCOUNTS])('refuses the system account %s as the live user', (name) => {
    const error = load({ liveUser: { name } });
    expect(error.issues.map((i) => i.path)).toEqual(['liveUser.name']);
    expect(error.issues[0]!.expected).toContain(`"${name}" is one of base-passwd's`);
  });

  it('keeps the rules it has no quarrel with: one firmware, Secure Boot with UEFI, an ordinary user', () => {
    accepts({ iso: { bios: false, uefi: true, secureBoot: true } });
    accepts({ iso: { bios: true, uefi: false } });
    accepts({ liveUser: { name: 'rooter' } });
  });

  it('every need names a step that exists, and the built-in profiles keep every rule', () => {
    const ids = new Set(allSteps().map((s) => s.id));
    for (const step of allSteps()) for (const need of step.needs ?? []) expect(ids, `${step.id}`).toContain(need);
    for (const profile of ['minimal', 'ailinux']) {
      const { config } = loadConfig({ profile });
      expect(() => resolveSteps(config)).not.toThrow();
      for (const rule of CROSS_FIELD_RULES) expect(rule.check(config), `${profile}: ${rule.rule}`).toBeNull();
    }
  });

  it('docs/profiles.md lists every rule with its fields', () => {
    const docs = fs.readFileSync(path.join(import.meta.dirname, '../../docs/profiles.md'), 'utf8');
    for (const rule of CROSS_FIELD_RULES) {
      expect(docs).toContain(rule.rule);
      for (const field of rule.fields) expect(docs).toContain(`\`${field}\``);
    }
    for (const step of allSteps().filter((s) => s.needs?.length))
      expect(docs).toContain(`| \`${step.id}\` | ${step.needs!.map((id) => `\`${id}\``).join(', ')} |`);
  });
});
