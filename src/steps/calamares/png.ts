/** A small solid-colour PNG, made without image tools: the placeholder logo until branding assets replace it. */
import { rgbPng } from '../../runtime/png.js';

/** An RGB PNG of one colour ("#rrggbb"); deterministic bytes for the same arguments. */
export function solidPng(width: number, height: number, colour: string): Buffer {
  const rgb = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour);
  if (!rgb) throw new Error(`not a #rrggbb colour: ${colour}`);
  const [r, g, b] = [1, 2, 3].map((i) => parseInt(rgb[i]!, 16));
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set([r!, g!, b!], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return rgbPng(width, height, raw, 9);
}
