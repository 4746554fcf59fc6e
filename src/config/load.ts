/**
 * Config at the edge: read a JSON or YAML file, lay it over its built-in profile, validate once.
 * Errors name the field path, the value and what was expected; nothing is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { issueLine } from './issue-line.js';
import { knownFieldsAt } from './known-fields.js';
import { didYouMean, nearestName } from './nearest-name.js';
import { checkOwnFilesInside } from './own-files.js';
import { parseConfigText } from './parse-config-text.js';
import { configSchema, type BuildConfig } from './schema.js';
import { holdsSecret, isSecretPart, maskSecret } from './secrets.js';
import { builtInProfiles, DEFAULT_PROFILE } from './profiles/index.js';
import { valueAt } from './value-at.js';

export { showValue } from './issue-line.js';

export interface ConfigSource {
  profile: string;
  configFile: string | null;
}

export interface LoadedConfig {
  config: BuildConfig;
  source: ConfigSource;
  /** Directory relative input paths in the config resolve against. */
  baseDir: string;
  /**
   * What each layer gave before the schema's defaults: the built-in profile, and the file as written (without
   * `extends` and `$schema`; empty without a file). Where a value came from, and which fields the user set.
   */
  layers: { profile: Record<string, unknown>; file: Record<string, unknown> };
}

// config discovery lives in its own module, which `ailinux build`'s fast path loads without the schema
export { DISCOVERED_NAMES, discoverConfigFile } from './discover-config.js';

const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_NESTING = 32;

/** Depth of nested objects and arrays, counted without recursion so a hostile file cannot overflow the stack. */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return deepest;
}

export function loadConfig(options: {
  configFile?: string | null;
  profile?: string | null;
  cwd?: string;
}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  let fileData: Record<string, unknown> = {};
  let configFile: string | null = null;
  if (options.configFile) {
    configFile = path.resolve(cwd, options.configFile);
    fileData = readConfigFile(configFile);
  }
  const extendsValue = fileData['extends'];
  // not left to the schema: "extends" is removed before validation, so a list or number would be ignored unseen
  if (extendsValue !== undefined && typeof extendsValue !== 'string') {
    throw new ConfigError(
      `"extends" in ${configFile} must name a built-in profile`,
      [{ path: 'extends', value: extendsValue, expected: `one of: ${Object.keys(builtInProfiles).join(', ')}` }],
      configFile ?? undefined,
    );
  }
  // "$schema" is removed before validation too: a value that is no string would go unseen
  if (fileData['$schema'] !== undefined && typeof fileData['$schema'] !== 'string') {
    throw new ConfigError(
      `"$schema" in ${configFile} must be a string`,
      [{ path: '$schema', value: fileData['$schema'], expected: 'a path or URL of the JSON Schema (a string)' }],
      configFile ?? undefined,
    );
  }
  const fromFile = extendsValue ?? null;
  if (options.profile && fromFile && options.profile !== fromFile) {
    throw new ConfigError(
      `--profile ${options.profile} conflicts with "extends": "${fromFile}" in ${configFile}`,
      [
        {
          path: 'extends',
          value: fromFile,
          expected: `the same profile as --profile (${options.profile}), or leave one out`,
        },
      ],
      configFile ?? undefined,
    );
  }
  const profileName = options.profile ?? fromFile ?? DEFAULT_PROFILE;
  const profile = builtInProfiles[profileName];
  if (!profile) {
    throw new ConfigError(
      `unknown profile "${profileName}"${didYouMean(profileName, Object.keys(builtInProfiles))}`,
      [
        {
          path: options.profile ? '--profile' : 'extends',
          value: profileName,
          expected: `one of: ${Object.keys(builtInProfiles).join(', ')}`,
        },
      ],
      configFile ?? undefined,
    );
  }
  const merged = mergeConfig(structuredClone(profile) as Record<string, unknown>, fileData);
  delete merged['extends'];
  delete merged['$schema'];
  const config = validateConfig(merged, configFile);
  const baseDir = configFile ? path.dirname(configFile) : cwd;
  checkOwnFilesInside(config, baseDir, configFile);
  const { extends: _extends, $schema: _schema, ...written } = fileData;
  return {
    config,
    source: { profile: profileName, configFile },
    baseDir,
    layers: { profile: structuredClone(profile) as Record<string, unknown>, file: written },
  };
}

export function readConfigFile(file: string): Record<string, unknown> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new ConfigError(`config file ${file} does not exist`, [], file, { hint: 'check the --config path' });
  }
  if (!stat.isFile()) throw new ConfigError(`config file ${file} is not a regular file`, [], file);
  if (stat.size > MAX_CONFIG_BYTES) {
    throw new ConfigError(`config file ${file} is ${stat.size} bytes; the limit is ${MAX_CONFIG_BYTES}`, [], file);
  }
  const text = fs.readFileSync(file, 'utf8');
  if (text.trim() === '') {
    throw new ConfigError(`config file ${file} is empty`, [], file, { hint: 'write at least {"extends": "minimal"}' });
  }
  const ext = path.extname(file).toLowerCase();
  const format = ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : null;
  if (!format) throw new ConfigError(`config file ${file} must end in .json, .yaml or .yml`, [], file);
  const data = parseConfigText(text, format, file);
  if (nestingDepth(data, MAX_NESTING) > MAX_NESTING) {
    throw new ConfigError(
      `config file ${file} is nested more than ${MAX_NESTING} levels deep; no config field needs that`,
      [
        {
          path: '(top level)',
          value: '(deeply nested)',
          expected: `at most ${MAX_NESTING} levels of objects and arrays`,
        },
      ],
      file,
    );
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(
      `config file ${file} must hold an object at the top level`,
      [{ path: '(top level)', value: data, expected: 'an object' }],
      file,
    );
  }
  return data as Record<string, unknown>;
}

/** Objects merge field by field; arrays and scalars replace. */
export function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(override)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      throw new ConfigError(`config field "${key}" is not allowed`, [
        { path: key, value: '(object)', expected: 'a config field name' },
      ]);
    }
    const current = base[key];
    if (isPlainObject(current) && isPlainObject(value)) base[key] = mergeConfig({ ...current }, value);
    else base[key] = value;
  }
  return base;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function validateConfig(data: unknown, file: string | null = null): BuildConfig {
  // reportInput: zod 4 leaves an issue's input out unless asked
  const result = configSchema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((issue) => toConfigIssues(issue, data));
  const where = file ? ` in ${file}` : '';
  const summary = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  throw new ConfigError(
    `invalid config${where} (${summary}); first: ${issueLine(issues[0]!)}`,
    issues,
    file ?? undefined,
  );
}

function toConfigIssues(issue: z.core.$ZodIssue, data: unknown): ConfigIssue[] {
  const base = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const known = knownFieldsAt(base);
    return issue.keys.map((key) => {
      const near = nearestName(key, known);
      return {
        path: [...base, key].join('.'),
        value: valueAt(data, [...base, key]),
        expected: near ? `did you mean "${near}"?` : `the fields here are ${known.join(', ')}`,
        kind: 'unknown-field' as const,
      };
    });
  }
  // a union where the value took one alternative's shape (an object) and failed inside it: name the inner field
  if (issue.code === 'invalid_union') {
    const inside = issue.errors.filter((alt) => alt.length > 0 && alt.every((i) => i.path.length > 0));
    if (inside.length === 1)
      return inside[0]!.flatMap((i) => toConfigIssues({ ...i, path: [...issue.path, ...i.path] } as typeof i, data));
  }
  // a value refused as a secret is never echoed back whole, and a secret field's value not at all
  const secret = issue.code === 'custom' && (issue.params as { secret?: unknown } | undefined)?.secret === true;
  // a rule over the whole config (superRefine) reports the whole config as its input: read the field instead
  const value = issue.code === 'custom' ? valueAt(data, base) : issue.input;
  const hidden = typeof value === 'string' && (holdsSecret(base.join('.')) || isSecretPart(data, base));
  return [
    {
      path: base.join('.') || '(top level)',
      value: hidden ? `(${value.length} characters, not shown: a secret)` : secret ? maskSecret(value) : value,
      expected: describeExpected(issue, value),
    },
  ];
}

/** `value` is the one the issue is about. */
function describeExpected(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? `${issue.expected} (the field is required)` : issue.expected;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `at least ${issue.minimum} item(s)`
        : issue.origin === 'string'
          ? `at least ${issue.minimum} character(s)`
          : `a number >= ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `at most ${issue.maximum} item(s)`
        : issue.origin === 'string'
          ? `at most ${issue.maximum} character(s)`
          : `a number <= ${issue.maximum}`;
    case 'invalid_union': {
      // each alternative's first complaint, e.g. "an absolute path" or "a path relative to the config file"
      const first = (alt: z.core.$ZodIssue[]) =>
        alt[0] ? describeExpected(alt[0], valueAt(value, alt[0].path.map(String))) : '';
      const options = [...new Set(issue.errors.map(first).filter(Boolean))];
      if (options.length === 1) return options[0]!;
      return options.length ? `one of: ${options.join('; or ')}` : issue.message;
    }
    default:
      return issue.message;
  }
}
