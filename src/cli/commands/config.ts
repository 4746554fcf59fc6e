/**
 * ailinux config: the config a build would use here, merged, with the defaults filled in and where each value came
 * from (the config file, the built-in profile, or the schema's default), like `mkosi summary`. Secrets are masked.
 * It loads the config as `build` does (config discovery included) and refuses what build refuses. Reads only.
 */
import path from 'node:path';
import { fieldValues, maskedConfig, type FieldValue } from '../../config/provenance.js';
import { loadBuildConfig } from '../../engine/build.js';
import { terminalJson, terminalLine } from '../../runtime/terminal-text.js';
import { withDiscoveredConfig } from '../config-discovery.js';
import { EXIT } from '../exit-codes.js';
import type { CliIO } from '../io.js';

export interface ConfigCommandOptions {
  config?: string;
  profile?: string;
  json?: boolean;
}

/** A path as the user would type it from here: relative when it is under the current directory. */
function shownPath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `./${rel}` : file;
}

function showValue(v: FieldValue): string {
  if (v.secret) return String(v.value);
  if (typeof v.value === 'string') return v.value === '' ? '""' : terminalLine(v.value);
  return terminalLine(JSON.stringify(v.value));
}

/** A value cut into lines that fit `width` from column `indent`, after a comma where it can; width 0: one line. */
export function wrapValue(text: string, indent: number, width: number): string {
  const room = width - indent;
  if (width === 0 || room < 20 || text.length <= room) return text;
  const lines: string[] = [];
  let rest = text;
  while (rest.length > room) {
    const comma = rest.lastIndexOf(',', room - 1);
    const cut = comma > room / 2 ? comma + 1 : room;
    lines.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  lines.push(rest);
  return lines.join(`\n${' '.repeat(indent)}`);
}

export function runConfigCommand(options: ConfigCommandOptions, io: CliIO): number {
  // its own output names the found file ("config file: … (found in the current directory)"): no `using` line too
  const chosen = withDiscoveredConfig(options, io, null);
  const discovered = chosen.config !== undefined && options.config === undefined;
  const loaded = loadBuildConfig({ configFile: chosen.config ?? null, profile: chosen.profile ?? null, cwd: io.cwd });
  const { profile, configFile } = loaded.source;
  const values = fieldValues(loaded.config as Record<string, unknown>, loaded.layers);
  if (options.json) {
    const fields = values.map((v) => ({
      field: v.field,
      value: v.value,
      source: v.source,
      ...(v.source === 'profile' ? { profile } : v.source === 'file' ? { file: configFile } : {}),
      ...(v.secret ? { secret: true } : {}),
    }));
    const out = {
      profile,
      configFile,
      discovered,
      config: maskedConfig(loaded.config as Record<string, unknown>),
      fields,
    };
    io.stdout.write(terminalJson(`${JSON.stringify(out, null, 2)}\n`));
    return EXIT.ok;
  }
  const fileLabel = configFile ? shownPath(configFile, io.cwd) : null;
  const sourceLabel = (v: FieldValue) =>
    v.source === 'file' ? (fileLabel ?? 'file') : v.source === 'profile' ? `profile ${profile}` : 'default';
  const fieldWidth = Math.max(5, ...values.map((v) => v.field.length));
  const sourceWidth = Math.max(4, ...values.map((v) => sourceLabel(v).length));
  // on a terminal a long value wraps under its column; a pipe gets one line per field, for grep
  const width = io.stdout.isTTY ? (io.stdout.columns ?? 80) : 0;
  const counts = { file: 0, profile: 0, default: 0 };
  for (const v of values) counts[v.source]++;
  const lines = [
    `config file: ${configFile ? `${terminalLine(configFile)}${discovered ? ' (found in the current directory)' : ''}` : 'none (built-in profile only)'}`,
    `profile:     ${profile} (built in)`,
    `values:      ${counts.file} from the file, ${counts.profile} from the profile, ${counts.default} defaults`,
    '',
    `${'FIELD'.padEnd(fieldWidth)}  ${'FROM'.padEnd(sourceWidth)}  VALUE`,
    ...values.map((v) => {
      const lead = `${v.field.padEnd(fieldWidth)}  ${terminalLine(sourceLabel(v)).padEnd(sourceWidth)}  `;
      return `${lead}${wrapValue(showValue(v), lead.length, width)}`;
    }),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
