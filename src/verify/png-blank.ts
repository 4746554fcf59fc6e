/**
 * Whether a screenshot shows nothing yet: a screen of one colour but for a few pixels (a text cursor on black, the
 * moment between the console and the display manager). The boot check's last screenshot waits past such screens,
 * as they are equal to each other long before the desktop is drawn. Reads the 8-bit, non-interlaced RGB or RGBA
 * PNGs qemu's screendump writes; any other PNG is taken as not blank, so an unknown picture is never waited past.
 */
import { inflateSync } from 'node:zlib';

/** At most this share of the pixels may differ from the screen's one colour for the screen to count as empty. */
export const BLANK_MAX_SHARE = 0.0005;

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** The raw pixels of an 8-bit RGB/RGBA non-interlaced PNG, or null for any other kind. */
export function decodePng(png: Buffer): { width: number; height: number; channels: number; pixels: Buffer } | null {
  if (png.length < 33 || png.readUInt32BE(0) !== 0x89504e47) return null;
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos + 8 <= png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (depth !== 8 || interlace !== 0 || (colour !== 2 && colour !== 6)) return null;
      channels = colour === 2 ? 3 : 4;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (width === 0 || height === 0 || channels === 0) return null;
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch {
    return null;
  }
  const stride = width * channels;
  if (raw.length < (stride + 1) * height) return null;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const line = y * (stride + 1) + 1;
    const out = y * stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[line + x] as number;
      const a = x >= channels ? (pixels[out + x - channels] as number) : 0;
      const b = y > 0 ? (pixels[out - stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (pixels[out - stride + x - channels] as number) : 0;
      const pred =
        filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
      if (filter > 4) return null;
      pixels[out + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** A screen of one colour but for at most BLANK_MAX_SHARE of its pixels (see the module comment). */
export function isBlankScreen(png: Buffer): boolean {
  const image = decodePng(png);
  if (!image) return false;
  const { pixels, channels } = image;
  const count = image.width * image.height;
  // the one colour is the first pixel's or the last one's: a cursor may sit on either corner, never on both
  const differing = (at: number): number => {
    let n = 0;
    for (let i = 0; i < pixels.length; i += channels)
      if (pixels[i] !== pixels[at] || pixels[i + 1] !== pixels[at + 1] || pixels[i + 2] !== pixels[at + 2]) n++;
    return n;
  };
  return Math.min(differing(0), differing(pixels.length - channels)) <= count * BLANK_MAX_SHARE;
}

/**
 * The share of pixels in which two screenshots differ (0 to 1); 1 when either is not a PNG this module reads or their
 * sizes differ, so an unknown picture never counts as nearly the same.
 */
export function differingShare(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return 0;
  const x = decodePng(a);
  const y = decodePng(b);
  if (!x || !y || x.width !== y.width || x.height !== y.height) return 1;
  let n = 0;
  for (let p = 0, q = 0; p < x.pixels.length; p += x.channels, q += y.channels)
    if (x.pixels[p] !== y.pixels[q] || x.pixels[p + 1] !== y.pixels[q + 1] || x.pixels[p + 2] !== y.pixels[q + 2]) n++;
  return n / (x.width * x.height);
}
