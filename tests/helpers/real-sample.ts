/**
 * Samples in the docs that only a real build can make (a booted ISO, real El Torito records): the end-to-end
 * tier compares their shape with what its own real run printed, so a renamed check, a new row or a changed
 * message fails the tier, while the figures that differ from run to run (sizes, offsets, times, hashes, the
 * ISO's path) do not.
 */
import fs from 'node:fs';

/** The fenced block after `<!-- real-sample:NAME … -->` in a docs file, without its `$ …` command lines. */
export function realSample(docFile: string, name: string): string {
  const text = fs.readFileSync(docFile, 'utf8');
  const marker = text.indexOf(`<!-- real-sample:${name} `);
  if (marker < 0) throw new Error(`${docFile} has no <!-- real-sample:${name} --> marker`);
  const open = text.indexOf('```\n', marker);
  const close = text.indexOf('\n```', open + 4);
  if (open < 0 || close < 0) throw new Error(`${docFile}: no fenced block after the real-sample:${name} marker`);
  return text
    .slice(open + 4, close)
    .split('\n')
    .filter((line) => !line.startsWith('$ '))
    .join('\n');
}

/** The text with what changes from run to run replaced: the ISO's path, hashes, numbers, and column padding. */
export function sampleShape(output: string): string[] {
  return output
    .trim()
    .split('\n')
    .map((line) =>
      line
        .replace(/^\/\S*?([^/\s]+\.iso)\b/, '<iso>')
        .replace(/\b[0-9a-f]{12,}…?/g, '<hash>')
        .replace(/\d+(\.\d+)?/g, '#')
        .replace(/\s+/g, ' ')
        .trimEnd(),
    );
}
