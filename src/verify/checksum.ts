/** The checksum file beside the ISO (<iso>.sha256, else <iso>.md5), in the format sha256sum -c reads. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CheckResult } from './types.js';

export interface ChecksumFile {
  file: string;
  algorithm: 'sha256' | 'md5';
}

const HEX_LENGTH = { sha256: 64, md5: 32 } as const;

export function findChecksumFile(iso: string): ChecksumFile | null {
  for (const algorithm of ['sha256', 'md5'] as const) {
    const file = `${iso}.${algorithm}`;
    if (fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return { file, algorithm };
  }
  return null;
}

export interface ChecksumEntry {
  hash: string;
  name: string;
}

/** Lines of "<hash>  <name>" (or "<hash> *<name>", binary mode); blank lines and comments skipped. */
export function parseChecksumFile(text: string): ChecksumEntry[] {
  const entries: ChecksumEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9A-Fa-f]+) [ *](.+)$/.exec(line.trim());
    if (m) entries.push({ hash: m[1]!.toLowerCase(), name: m[2]! });
  }
  return entries;
}

export async function hashFile(
  file: string,
  algorithms: readonly ('sha256' | 'md5')[],
): Promise<Record<string, string>> {
  const hashes = algorithms.map((a) => [a, crypto.createHash(a)] as const);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) {
    for (const [, h] of hashes) h.update(chunk as Buffer);
  }
  return Object.fromEntries(hashes.map(([a, h]) => [a, h.digest('hex')]));
}

export interface ChecksumOutcome {
  result: CheckResult;
  /** The ISO's sha256, when it was computed. */
  sha256: string | null;
}

/** Hashes a file in the given algorithms; the build's verify step passes its digest memo, `ailinux verify` reads. */
export type FileHasher = (file: string, algorithms: readonly ('sha256' | 'md5')[]) => Promise<Record<string, string>>;

export async function checkChecksum(
  iso: string,
  options: { require: boolean; hash?: FileHasher },
): Promise<ChecksumOutcome> {
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: 'checksum',
    name: 'checksum file',
    status,
    detail,
  });
  const name = path.basename(iso);
  const found = findChecksumFile(iso);
  if (!found) {
    const detail = `no ${name}.sha256 or ${name}.md5 beside the ISO`;
    return {
      result: options.require
        ? row('fail', detail)
        : row('missing', `${detail} (not required; --require-checksum makes this a failure)`),
      sha256: null,
    };
  }
  const shown = path.basename(found.file);
  const entries = parseChecksumFile(fs.readFileSync(found.file, 'utf8'));
  const mine = entries.filter((e) => path.posix.basename(e.name) === name);
  if (entries.length === 0) return { result: row('fail', `${shown} holds no "<hash>  <name>" line`), sha256: null };
  if (mine.length === 0) {
    return {
      result: row('fail', `${shown} lists ${entries.map((e) => e.name).join(', ')}, not ${name}`),
      sha256: null,
    };
  }
  const recorded = mine[0]!.hash;
  if (recorded.length !== HEX_LENGTH[found.algorithm]) {
    return {
      result: row(
        'fail',
        `${shown} holds a ${recorded.length}-digit hash, not a ${found.algorithm} (${HEX_LENGTH[found.algorithm]} hex digits)`,
      ),
      sha256: null,
    };
  }
  const sums = await (options.hash ?? hashFile)(iso, found.algorithm === 'sha256' ? ['sha256'] : ['sha256', 'md5']);
  const actual = sums[found.algorithm]!;
  const sha256 = sums['sha256'] ?? null;
  if (actual !== recorded) {
    return { result: row('fail', `${shown} says ${recorded}, but the ISO's ${found.algorithm} is ${actual}`), sha256 };
  }
  return { result: row('ok', `${shown} matches (${found.algorithm} ${actual.slice(0, 16)}…)`), sha256 };
}
