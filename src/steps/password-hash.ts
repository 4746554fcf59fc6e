/**
 * The live user's password as /etc/shadow holds it, hashed here with a salt derived from the build's inputs, so two
 * builds of the same config give the same /etc/shadow (chpasswd would salt it from /dev/urandom). The hash is
 * SHA-crypt with SHA-512 ($6$, Ulrich Drepper's specification, what chpasswd and `openssl passwd -6` write), at its
 * default 5000 rounds; the step hands it to `chpasswd -e` through stdin.
 */
import crypto from 'node:crypto';
import type { BuildConfig } from '../config/schema.js';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** SHA-crypt's longest salt; a longer one is cut to this. */
export const SALT_LENGTH = 16;
const ROUNDS = 5000;

function sha512(...parts: Buffer[]): Buffer {
  const h = crypto.createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `length` bytes of `digest` repeated (the P and S sequences of the specification). */
function repeatTo(digest: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 64) digest.copy(out, i, 0, Math.min(64, length - i));
  return out;
}

/** The byte triples of the specification's SHA-512 output encoding, each written as four characters. */
const ORDER: ReadonlyArray<readonly [number, number, number]> = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
];

function b64From24(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < n; i++) {
    out += ITOA64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

/** `$6$<salt>$<hash>`: SHA-crypt (SHA-512, 5000 rounds) of password under salt. */
export function sha512Crypt(password: string, salt: string): string {
  if (!/^[./0-9A-Za-z]+$/.test(salt)) throw new Error(`salt "${salt}" has characters outside [./0-9A-Za-z]`);
  const s = Buffer.from(salt.slice(0, SALT_LENGTH), 'latin1');
  const p = Buffer.from(password, 'utf8');
  const b = sha512(p, s, p);
  const a = crypto.createHash('sha512').update(p).update(s);
  let cnt = p.length;
  for (; cnt > 64; cnt -= 64) a.update(b);
  a.update(b.subarray(0, cnt));
  for (let i = p.length; i > 0; i >>= 1) a.update(i & 1 ? b : p);
  let c = a.digest();
  const dp = crypto.createHash('sha512');
  for (let i = 0; i < p.length; i++) dp.update(p);
  const pSeq = repeatTo(dp.digest(), p.length);
  const ds = crypto.createHash('sha512');
  for (let i = 0; i < 16 + c[0]!; i++) ds.update(s);
  const sSeq = repeatTo(ds.digest(), s.length);
  for (let r = 0; r < ROUNDS; r++) {
    const h = crypto.createHash('sha512');
    h.update(r & 1 ? pSeq : c);
    if (r % 3) h.update(sSeq);
    if (r % 7) h.update(pSeq);
    h.update(r & 1 ? c : pSeq);
    c = h.digest();
  }
  let out = '';
  for (const [x, y, z] of ORDER) out += b64From24(c[x]!, c[y]!, c[z]!, 4);
  out += b64From24(0, 0, c[63]!, 2);
  return `$6$${s.toString('latin1')}$${out}`;
}

/**
 * The salt of the live user's password: 16 characters of SHA-crypt's alphabet from the sha256 of what the identity
 * step's fingerprint covers that is not secret (the host name and the user's name) and
 * SOURCE_DATE_EPOCH. Never from the password: a salt computed from it would let a guess be checked with one sha256
 * instead of the 5000 rounds. Not from the fingerprint itself either: it holds the password as a keyed hash under the
 * work dir's random key, so it differs from one work dir to the next.
 */
export function passwordSalt(config: BuildConfig, sourceDateEpoch: number | null): string {
  const material = JSON.stringify({
    purpose: 'ailinux live user password salt',
    hostname: config.hostname,
    user: config.liveUser.name,
    sourceDateEpoch,
  });
  const digest = crypto.createHash('sha256').update(material).digest();
  let salt = '';
  for (let i = 0; i < SALT_LENGTH; i++) salt += ITOA64[digest[i]! & 0x3f];
  return salt;
}

/** The line `chpasswd -e` reads on stdin for the live user. */
export function chpasswdLine(config: BuildConfig, sourceDateEpoch: number | null): string {
  return `${config.liveUser.name}:${sha512Crypt(config.liveUser.password, passwordSalt(config, sourceDateEpoch))}\n`;
}
