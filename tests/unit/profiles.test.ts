/**
 * The built-in profiles are data and only data: same schema, same steps code, no branch on a
 * profile's name anywhere in the sources; ailinux covers the twelve phases; docs/profiles.md
 * documents every schema field (and the profiles' differences) exactly as the code has them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configFieldRows, renderFieldTable, renderProfileDiff } from '../../src/config/field-docs.js';
import { loadConfig, mergeConfig } from '../../src/config/load.js';
import { builtInProfiles } from '../../src/config/profiles/index.js';
import { validateConfig } from '../../src/config/load.js';
import { PHASES } from '../../src/steps/phases.js';
import { allSteps, resolveSteps } from '../../src/steps/registry.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NAMES = Object.keys(builtInProfiles);

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|mts|js)$/.test(e.name) ? [p] : [];
  });
}

describe('profiles are data', () => {
  it('both built-in profiles are plain data (no functions, no classes) and validate against the one schema', () => {
    expect(NAMES.sort()).toEqual(['ailinux', 'minimal']);
    for (const name of NAMES) {
      const profile = builtInProfiles[name]!;
      expect(JSON.parse(JSON.stringify(profile)), name).toEqual(profile);
      expect(() => validateConfig(structuredClone(profile)), name).not.toThrow();
    }
  });

  it('minimal plus a data patch is exactly ailinux: the code needs nothing else to build one or the other', () => {
    const ailinux = loadConfig({ profile: 'ailinux' }).config;
    const minimal = loadConfig({ profile: 'minimal' }).config;
    // the patch: ailinux's values, every field spelled out, as a user's config file could give them
    const patch = structuredClone(ailinux) as unknown as Record<string, unknown>;
    const merged = validateConfig(
      mergeConfig(structuredClone(builtInProfiles['minimal']!) as Record<string, unknown>, patch),
    );
    expect(merged).toEqual(ailinux);
    expect(merged).not.toEqual(minimal);
    // and the sections that differ are the ones the issue names: suite, mirror, live system, package lists, steps (and their consequences)
    const differ = Object.keys(ailinux).filter(
      (k) =>
        JSON.stringify((ailinux as Record<string, unknown>)[k]) !==
        JSON.stringify((minimal as Record<string, unknown>)[k]),
    );
    expect(differ.sort()).toEqual([
      'branding',
      'description',
      'distribution',
      'hostname',
      'installer',
      'iso',
      'liveSystem',
      'liveUser',
      'locale',
      'name',
      'packages',
      'panel',
      'retry',
      'squashfs',
      'steps',
      'verify',
    ]);
  });

  it('no source file branches on a profile name (only src/config/profiles/ may name them)', () => {
    const offenders: string[] = [];
    // not profiles: the npm package's own name in package.json, and the program's own name in a hint's argv
    const allowed = new Set([
      "src/runtime/package-root.ts:if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'ailinux') {",
    ]);
    const names = NAMES.join('|');
    const branch = new RegExp(
      [
        `(===|!==|==|!=)\\s*['"\`](${names})['"\`]`, // x === 'ailinux'
        `['"\`](${names})['"\`]\\s*(===|!==|==|!=)`, // 'minimal' === x
        `case\\s+['"\`](${names})['"\`]\\s*:`, // case 'ailinux':
        `\\[\\s*['"\`](${names})['"\`]\\s*\\]\\s*\\.includes`, // ['ailinux'].includes(x)
      ].join('|'),
    );
    for (const dir of ['src', 'machines', 'state']) {
      for (const file of sourceFiles(path.join(REPO, dir))) {
        if (file.includes(`${path.sep}config${path.sep}profiles${path.sep}`)) continue;
        fs.readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (branch.test(line) && !allowed.has(`${path.relative(REPO, file)}:${line.trim()}`))
              offenders.push(`${path.relative(REPO, file)}:${i + 1}: ${line.trim()}`);
          });
      }
    }
    expect(offenders).toEqual([]);
    // the check itself catches one
    expect(branch.test("if (config.name === 'ailinux') {")).toBe(true);
    expect(branch.test("case 'minimal':")).toBe(true);
  });

  it('every step of every profile resolves through the same registry', () => {
    for (const name of NAMES) {
      const config = loadConfig({ profile: name }).config;
      expect(resolveSteps(config).map((s) => s.id)).toEqual(config.steps);
    }
  });
});

describe('the twelve phases', () => {
  it('every registered step names its phase, and the ailinux profile runs all twelve, in order', () => {
    for (const step of allSteps()) expect(step.phase, step.id).toBeGreaterThanOrEqual(1);
    const steps = resolveSteps(loadConfig({ profile: 'ailinux' }).config);
    const phases = steps.map((s) => s.phase!);
    expect([...new Set(phases)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(phases).toEqual([...phases].sort((a, b) => a - b));
    expect(Object.keys(PHASES)).toHaveLength(12);
  });
});

describe('docs/profiles.md', () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'profiles.md'), 'utf8');
  const between = (start: string, end: string) => doc.slice(doc.indexOf(start) + start.length, doc.indexOf(end)).trim();

  it('has the field table generated from the schema (regenerate with renderFieldTable() when a field changes)', () => {
    expect(between('<!-- fields:start -->', '<!-- fields:end -->')).toBe(renderFieldTable());
  });

  it('documents every field of the schema, with its default', () => {
    const table = between('<!-- fields:start -->', '<!-- fields:end -->');
    const rows = configFieldRows();
    expect(rows.length).toBeGreaterThan(100);
    for (const row of rows) {
      const line = table.split('\n').find((l) => l.startsWith(`| \`${row.path}\` |`));
      expect(line, row.path).toBeDefined();
      if (!['required', 'optional'].includes(row.default) && !row.default.startsWith('its '))
        expect(line, row.path).toContain(`\`${row.default}\``);
    }
    // a few that matter, by hand
    expect(table).toContain('| `iso.secureBoot` | boolean | `false` |');
    expect(table).toContain('| `iso.isolinux` | boolean | `false` |');
    expect(table).toContain('| `packages.firmware` | list of string | `[]` |');
    expect(table).toContain('| `branding.dir` | string | optional |');
  });

  it('lists every difference between ailinux and minimal', () => {
    const configs = [loadConfig({ profile: 'ailinux' }).config, loadConfig({ profile: 'minimal' }).config] as const;
    expect(between('<!-- diff:start -->', '<!-- diff:end -->')).toBe(
      renderProfileDiff(['ailinux', 'minimal'], configs),
    );
  });

  it('the guide to a custom profile exists and its example config loads', () => {
    const guide = fs.readFileSync(path.join(REPO, 'docs', 'custom-profile.md'), 'utf8');
    const example = /```json\n([\s\S]*?)\n```/.exec(guide);
    expect(example, 'a ```json example').not.toBeNull();
    const data = JSON.parse(example![1]!) as Record<string, unknown>;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-guide-'));
    try {
      const file = path.join(dir, 'my.config.json');
      fs.writeFileSync(file, JSON.stringify(data));
      const loaded = loadConfig({ configFile: file });
      expect(loaded.config.name).toBe(data['name']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
