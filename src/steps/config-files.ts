/** Host files the config names (branding assets, helper files, repository keys): where they are and whether they are the pinned ones. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readOwnFile } from '../config/own-files.js';
import { StepError } from '../errors.js';
import type { StepContext } from './types.js';

/** A config path on the host: absolute as given, relative against the config file's directory. */
export function hostPathOf(ctx: Pick<StepContext, 'baseDir'>, file: string): string {
  return path.resolve(ctx.baseDir ?? process.cwd(), file);
}

export function sha256Of(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Reads a host file the config names, refusing a missing file or (when pinned) one with another sha256. */
export function readPinnedFile(
  step: string,
  ctx: Pick<StepContext, 'baseDir'>,
  file: string,
  field: string,
  sha256?: string,
): Buffer {
  const host = hostPathOf(ctx, file);
  let data: Buffer;
  try {
    data = fs.readFileSync(host);
  } catch {
    throw new StepError(step, `${field}: the file ${file} does not exist (looked for ${host})`, {
      hint: "relative paths are read from the config file's directory; fix the path or add the file",
    });
  }
  if (sha256 !== undefined) {
    const actual = crypto.createHash('sha256').update(data).digest('hex');
    if (actual !== sha256) {
      throw new StepError(step, `${field}: ${file} has sha256 ${actual}, but the config pins ${sha256}`, {
        hint: 'use the file the config pins, or update the sha256 in the config if you trust the new file',
      });
    }
  }
  return data;
}

/**
 * One of the user's own files (a branding asset, a helper file), as the fingerprint hashed it: read once, through
 * descriptors inside the config's directory (own-files.ts), never again by path.
 */
export function readOwnConfigFile(
  step: string,
  ctx: Pick<StepContext, 'baseDir' | 'config'>,
  file: string,
  field: string,
): Buffer {
  const data = readOwnFile(ctx.config, ctx.baseDir ?? process.cwd(), file);
  if (data === null) {
    throw new StepError(
      step,
      `${field}: the file ${file} does not exist, is not a regular file or cannot be read (looked for ${hostPathOf(ctx, file)})`,
      {
        hint: "relative paths are read from the config file's directory; fix the path or add the file",
      },
    );
  }
  return data;
}
