/**
 * `ailinux schema` describes the config as users write it (issue 10, point 10): the README's and the docs' example
 * configs, and every config file under examples/, validate against it with a real JSON Schema validator (ajv), every
 * field of a merged object is optional (a config extends a profile), `extends` and the step ids are enums, and every
 * object has a description. The examples also load as ailinux loads them: laid over their profile, validated, and
 * every field they set read by a step of their steps; a file under examples/ is loaded from its own directory too
 * (loadConfig: its paths inside it, its hook scripts there).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { loadConfig, mergeConfig, validateConfig } from '../../src/config/load.js';
import { builtInProfiles, DEFAULT_PROFILE } from '../../src/config/profiles/index.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { unusedFields } from '../../src/steps/field-use.js';
import { checkHookScripts } from '../../src/steps/hooks.js';
import { allSteps, withPlacedSteps } from '../../src/steps/registry.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function schemaOutput(): Promise<string> {
  let stdout = '';
  const io: CliIO = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => true },
    env: {},
    cwd: '/nonexistent-ailinux-schema',
    uid: 1000,
    commandLine: 'ailinux schema',
  };
  expect(await main(['schema'], io)).toBe(0);
  return stdout;
}

/** Every fenced yaml or json block in a Markdown file that holds a config (it names `extends`). */
function exampleConfigs(file: string): Array<{ where: string; data: Record<string, unknown> }> {
  const text = fs.readFileSync(path.join(REPO, file), 'utf8');
  const out: Array<{ where: string; data: Record<string, unknown> }> = [];
  for (const m of text.matchAll(/^```(yaml|json)\n([\s\S]*?)^```$/gm)) {
    const body = m[2]!;
    if (!/^\s*"?extends"?\s*:/m.test(body)) continue;
    const line = text.slice(0, m.index).split('\n').length;
    out.push({ where: `${file}:${line}`, data: (m[1] === 'json' ? JSON.parse(body) : YAML.parse(body)) as never });
  }
  return out;
}

/** Every YAML or JSON file under examples/ (what git would ship: no debs/ or work dir a build left there). */
function exampleFiles(dir = 'examples'): string[] {
  return fs.readdirSync(path.join(REPO, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return ['debs', 'ailinux-build'].includes(e.name) ? [] : exampleFiles(rel);
    return /\.(ya?ml|json)$/.test(e.name) ? [rel] : [];
  });
}

/** The config files under examples/: every YAML or JSON file there that names `extends` at its top. */
const exampleDirConfigs = exampleFiles().flatMap((file) => {
  const text = fs.readFileSync(path.join(REPO, file), 'utf8');
  const data = (file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text)) as unknown;
  const isConfig = data !== null && typeof data === 'object' && !Array.isArray(data) && 'extends' in data;
  return isConfig ? [{ where: file, data: data as Record<string, unknown> }] : [];
});

const examples = [
  'README.md',
  ...fs
    .readdirSync(path.join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]
  .flatMap(exampleConfigs)
  .concat(exampleDirConfigs);

function validator(schema: object) {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  return ajv.compile(schema);
}

describe('ailinux schema against the example configs', () => {
  it('finds the README example and the docs examples', () => {
    expect(examples.filter((e) => e.where.startsWith('README.md')).length).toBeGreaterThanOrEqual(1);
    expect(examples.filter((e) => e.where.startsWith('docs/')).length).toBeGreaterThanOrEqual(2);
  });

  it('finds every config file under examples/, by content and by name', () => {
    expect(exampleDirConfigs.map((e) => e.where)).toContain('examples/custom/ailinux.config.yaml');
    // a file named like a config is one: it names extends, so none is left out of the checks below
    for (const file of exampleFiles().filter((f) => /(^|\/)[^/]*\.?config\.(ya?ml|json)$/.test(f)))
      expect(
        exampleDirConfigs.map((e) => e.where),
        file,
      ).toContain(file);
  });

  for (const example of exampleDirConfigs) {
    it(`${example.where} loads from its own directory as ailinux loads it: paths inside it, hook scripts there`, () => {
      const file = path.join(REPO, example.where);
      const loaded = loadConfig({ configFile: file });
      expect(loaded.baseDir).toBe(path.dirname(file));
      expect(() => checkHookScripts(loaded.config, loaded.baseDir, file)).not.toThrow();
      for (const dir of [...loaded.config.overlays.early, ...loaded.config.overlays.late])
        expect(fs.statSync(path.join(loaded.baseDir, dir)).isDirectory(), dir).toBe(true);
    });
  }

  for (const example of examples) {
    it(`${example.where} is valid against ailinux schema, and loads over its profile`, async () => {
      const validate = validator(JSON.parse(await schemaOutput()));
      expect(validate(example.data), JSON.stringify(validate.errors, null, 2)).toBe(true);
      const profile = builtInProfiles[(example.data['extends'] as string) ?? DEFAULT_PROFILE]!;
      const { extends: _e, $schema: _s, ...written } = example.data;
      const config = validateConfig(mergeConfig(structuredClone(profile) as Record<string, unknown>, written));
      // with the steps its fields bring in (the overlays), as the build has them
      expect(unusedFields(written, withPlacedSteps({ config }).config.steps)).toEqual([]);
    });
  }

  it("the README's example fails the schema as it was (name, distribution, packages... required): the fix is real", () => {
    const readme = examples.find((e) => e.where.startsWith('README.md'))!;
    const raw = validator(configJsonSchema());
    expect(raw(readme.data)).toBe(false);
    expect(raw.errors?.map((e) => e.message).join('; ')).toMatch(/required property 'name'/);
  });

  it('refuses what ailinux refuses: an unknown profile, an unknown step, an unknown field, a bad value', async () => {
    const validate = validator(JSON.parse(await schemaOutput()));
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ extends: 'ubuntu' }, /must be equal to one of the allowed values/],
      [{ extends: 'minimal', steps: ['bootstrap', 'pakages'] }, /must be equal to one of the allowed values/],
      [{ extends: 'minimal', hostnmae: 'x' }, /must NOT have additional properties/],
      [{ extends: 'minimal', squashfs: { compression: 'rar' } }, /must be equal to one of the allowed values/],
      [{ extends: 'minimal', helper: { files: [{ source: 'a' }] } }, /must have required property 'destination'/],
    ];
    for (const [data, error] of bad) {
      expect(validate(data), JSON.stringify(data)).toBe(false);
      expect(validate.errors?.map((e) => e.message).join('; ')).toMatch(error);
    }
  });
});

describe('what ailinux schema says', () => {
  type Node = Record<string, unknown>;
  /** Every schema node, with its JSON pointer. */
  function nodes(node: unknown, at = ''): Array<[string, Node]> {
    if (node === null || typeof node !== 'object') return [];
    if (Array.isArray(node)) return node.flatMap((n, i) => nodes(n, `${at}/${i}`));
    const here: Array<[string, Node]> = [[at || '/', node as Node]];
    return [...here, ...Object.entries(node).flatMap(([k, v]) => nodes(v, `${at}/${k}`))];
  }

  it('every object has a description', async () => {
    const schema = JSON.parse(await schemaOutput());
    const objects = nodes(schema).filter(([, n]) => n['type'] === 'object');
    expect(objects.length).toBeGreaterThan(20);
    expect(
      objects.filter(([, n]) => typeof n['description'] !== 'string' || n['description'] === '').map(([p]) => p),
    ).toEqual([]);
  });

  it('no field of a merged object is required; list entries keep theirs', async () => {
    const schema = JSON.parse(await schemaOutput());
    const withRequired = nodes(schema)
      .filter(([, n]) => Array.isArray(n['required']))
      .map(([p]) => p);
    // only inside a list's items or a choice's alternatives, whose values replace the profile's whole
    expect(withRequired.length).toBeGreaterThan(0);
    for (const p of withRequired) expect(p, p).toMatch(/\/items(\/|$)|\/anyOf\//);
    expect(schema.required).toBeUndefined();
  });

  it('extends and the step ids are enums of the built-in profiles and the registered steps', async () => {
    const schema = JSON.parse(await schemaOutput());
    expect(schema.properties.extends.enum).toEqual(Object.keys(builtInProfiles));
    expect(schema.properties.steps.items.enum).toEqual(allSteps().map((s) => s.id));
  });

  it('docs/ailinux.config.schema.json is its output (regenerate with npm run schema)', async () => {
    expect(fs.readFileSync(path.join(REPO, 'docs/ailinux.config.schema.json'), 'utf8')).toBe(await schemaOutput());
  });
});
