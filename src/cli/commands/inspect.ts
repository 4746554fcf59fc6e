/**
 * ailinux inspect: the build machine as a picture (svg, html, dot, mermaid, json), drawn from its
 * real definition with the work dir's ledger marked on it; or, with --serve, a live page of the
 * build on 127.0.0.1. Reads only; needs no root.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readStateReadOnly } from '../../../state/store.js';
import { didYouMean } from '../../config/nearest-name.js';
import { loadBuildConfig } from '../../engine/build.js';
import { UsageError } from '../../errors.js';
import { InspectCollector } from '../../inspect/collect.js';
import { modelFromOrder } from '../../inspect/model.js';
import {
  EXTENSIONS,
  FORMATS,
  formatForFile,
  renderModel,
  renderPayload,
  type InspectFormat,
} from '../../inspect/render.js';
import { startInspectServer } from '../../inspect/server.js';
import { workPaths } from '../../runtime/paths.js';
import { resolveSteps } from '../../steps/registry.js';
import { EXIT } from '../exit-codes.js';
import { DEFAULT_INSPECT_PORT } from '../command-constants.js';
import { withDiscoveredConfig } from '../config-discovery.js';
import type { CliIO } from '../io.js';
import { statusReport } from './status.js';

export { DEFAULT_INSPECT_PORT };

export interface InspectCommandOptions {
  workDir: string;
  /** True when --work-dir was given on the command line (not the default). */
  workDirGiven?: boolean;
  profile?: string;
  config?: string;
  format?: string;
  output?: string;
  serve?: boolean;
  port?: string;
  host?: string;
  allowRemote?: boolean;
  /** Draw the whole machine (every step's sub-states) instead of one node per step. */
  detail?: boolean;
}

/** The machine a profile (or config) would run, for when there is no build to draw. */
function profileMachine(options: InspectCommandOptions, io: CliIO): { title: string; order: string[] } {
  const loaded = loadBuildConfig({ configFile: options.config ?? null, profile: options.profile ?? null, cwd: io.cwd });
  return { title: `${loaded.config.name} (as it would run)`, order: resolveSteps(loaded.config).map((s) => s.id) };
}

/** --format, else the output's extension, else svg; a file whose name says another format is refused, unwritten. */
function parseFormat(options: InspectCommandOptions): InspectFormat {
  const named = options.format;
  if (named !== undefined && !(FORMATS as readonly string[]).includes(named)) {
    throw new UsageError(`unknown format "${named}"${didYouMean(named, FORMATS)}`, {
      hint: `use one of: ${FORMATS.join(', ')}`,
    });
  }
  const given = named as InspectFormat | undefined;
  if (!options.output || options.output === '-') return given ?? 'svg';
  const fromName = formatForFile(options.output);
  const extension = path.extname(options.output);
  const writable = Object.keys(EXTENSIONS).join(' ');
  if (fromName === null) {
    // a name without an extension says nothing: --format decides
    if (extension === '' && given) return given;
    if (extension === '')
      throw new UsageError(`cannot tell which format to write to ${options.output}: it has no extension`, {
        hint: `name the file with one of ${writable}, or give --format (${FORMATS.join(', ')})`,
      });
    throw new UsageError(`cannot write a ${extension} file: inspect writes ${writable}`, {
      hint: `name the file with one of those extensions`,
    });
  }
  if (given && given !== fromName) {
    throw new UsageError(`--format ${given} does not match ${options.output}, whose name says ${fromName}`, {
      hint: `leave out --format, or name the file ${Object.keys(EXTENSIONS).find((e) => EXTENSIONS[e] === given)}`,
    });
  }
  return fromName;
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_INSPECT_PORT;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535)
    throw new UsageError(`--port ${text} is not a port number`, { hint: 'use 1-65535, or 0 for any free port' });
  return Number(text);
}

/** Where the picture comes from: the work dir's state, or (no build there, or -p/-c alone) a profile. */
function useWorkDir(options: InspectCommandOptions): boolean {
  if (options.workDirGiven) return true;
  if (options.profile || options.config) return false;
  return fs.existsSync(workPaths(options.workDir).stateFile);
}

export async function runInspectCommand(options: InspectCommandOptions, io: CliIO): Promise<number> {
  if (options.serve) return serve(options, io);
  const format = parseFormat(options);
  let text: string;
  if (useWorkDir(options)) {
    const paths = workPaths(options.workDir);
    // read first: a state file that cannot be read is an error here, not a fallback picture
    const state = readStateReadOnly(paths.stateFile);
    // no build to draw: the default profile would be drawn, unless a config in the current directory comes first
    const chosen = state ? options : withDiscoveredConfig(options, io);
    if (!state && !chosen.profile && !chosen.config) {
      io.stderr.write(`no build in ${paths.workDir}; drawing the default profile's machine as it would run\n`);
    }
    const collector = new InspectCollector({
      workDir: paths.workDir,
      statusReport,
      fallback: profileMachine(chosen, io),
      detail: options.detail === true,
      // only the HTML page expands a step on click
      stepPictures: format === 'html',
    });
    const { payload, model } = await collector.collectWithModel();
    text = await renderPayload(format, payload, model, options.detail === true);
  } else {
    const chosen = withDiscoveredConfig(options, io);
    if (!chosen.profile && !chosen.config)
      io.stderr.write(
        `no build in ${workPaths(options.workDir).workDir}; drawing the default profile's machine as it would run\n`,
      );
    const m = profileMachine(chosen, io);
    text = await renderModel(format, modelFromOrder(m.title, m.order), options.detail === true);
  }
  if (!options.output || options.output === '-') {
    io.stdout.write(text);
    return EXIT.ok;
  }
  const out = path.resolve(io.cwd, options.output);
  const stateDir = workPaths(options.workDir).stateDir;
  if (out === stateDir || out.startsWith(`${stateDir}${path.sep}`)) {
    throw new UsageError(`refusing to write ${out}: it is inside the work dir's state directory`, {
      hint: 'write the picture somewhere else',
    });
  }
  fs.writeFileSync(out, text);
  io.stderr.write(`wrote ${out} (${format})\n`);
  return EXIT.ok;
}

async function serve(options: InspectCommandOptions, io: CliIO): Promise<number> {
  const paths = workPaths(options.workDir);
  // the picture until a build starts in the work dir: a config in the current directory, else the default profile
  const chosen = fs.existsSync(paths.stateFile) ? options : withDiscoveredConfig(options, io);
  const collector = new InspectCollector({
    workDir: paths.workDir,
    statusReport,
    fallback: profileMachine(chosen, io),
    detail: options.detail === true,
  });
  const server = await startInspectServer({
    host: options.host ?? '127.0.0.1',
    port: parsePort(options.port),
    allowRemote: options.allowRemote === true,
    collector,
    warn: (m) => io.stderr.write(`warning: ${m}\n`),
  });
  io.stdout.write(`ailinux inspect: serving ${paths.workDir} at ${server.url} (reads only; Ctrl-C to stop)\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stop = (s: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(s);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  io.stderr.write(`ailinux inspect: ${signal}: stopped serving\n`);
  return EXIT.ok;
}
