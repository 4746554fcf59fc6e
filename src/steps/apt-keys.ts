/** Repository keys: OpenPGP key files as apt's signed-by wants them (binary; an armored key is decoded). */
import { StepError } from '../errors.js';

const ARMOR = /-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n([\s\S]*?)-----END PGP PUBLIC KEY BLOCK-----/;

/** gpg --dearmor, without gpg: the base64 body of the armor (headers and checksum line dropped). */
export function dearmorKey(data: Buffer, field: string): Buffer {
  const text = data.toString('latin1');
  if (!text.includes('-----BEGIN PGP')) return data;
  const m = ARMOR.exec(text);
  if (!m)
    throw new StepError('configure', `${field}: the key file is ASCII-armored but not an OpenPGP public key block`);
  const lines = m[1]!.split(/\r?\n/);
  const blank = lines.findIndex((l) => l.trim() === '');
  const body = lines.slice(blank + 1).filter((l) => l.trim() !== '' && !l.startsWith('='));
  const bytes = Buffer.from(body.join(''), 'base64');
  // an OpenPGP packet starts with a tag byte whose high bit is set
  if (bytes.length === 0 || (bytes[0]! & 0x80) === 0)
    throw new StepError('configure', `${field}: the armored key does not decode to OpenPGP data`);
  return bytes;
}

/** Where a repository's key lives in the image. */
export function keyringPathOf(name: string): string {
  return `/etc/apt/keyrings/${name}.gpg`;
}
