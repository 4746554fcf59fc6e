/**
 * The work dir's key for the keyed hashes of secret config fields: 32 random bytes in state/fingerprint.key,
 * mode 0600, never in the world-readable state file. Without it a fingerprint's HMAC cannot be tested against a
 * dictionary of passwords; with it lost, the steps that read a secret simply run again.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeNewFileWhole } from '../runtime/new-file.js';

export const FINGERPRINT_KEY_FILE = 'fingerprint.key';
const KEY_BYTES = 32;

export function fingerprintKeyPath(stateDir: string): string {
  return path.join(stateDir, FINGERPRINT_KEY_FILE);
}

/** The key, or null when there is none yet (or the file is not one: a build writes a new one). Reads only. */
export function readFingerprintKey(stateDir: string): Buffer | null {
  let fd: number;
  try {
    fd = fs.openSync(fingerprintKeyPath(stateDir), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    const key = Buffer.alloc(KEY_BYTES + 1);
    return fs.readSync(fd, key, 0, key.length, 0) === KEY_BYTES ? key.subarray(0, KEY_BYTES) : null;
  } finally {
    fs.closeSync(fd);
  }
}

/** The key, made first when missing; the caller holds the work dir's lock. Written whole (temp file, rename). */
export function ensureFingerprintKey(stateDir: string): Buffer {
  const existing = readFingerprintKey(stateDir);
  if (existing) return existing;
  const key = crypto.randomBytes(KEY_BYTES);
  const temp = path.join(stateDir, `.${FINGERPRINT_KEY_FILE}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`);
  writeNewFileWhole(temp, key, 0o600);
  fs.renameSync(temp, fingerprintKeyPath(stateDir));
  return key;
}
