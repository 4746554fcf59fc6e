/** The one dotted-path getter: the value at `iso.bios` or ['iso', 'bios'] in a config, parsed or raw. */

/**
 * Walks own and inherited keys alike (an array index is its key, '0'); undefined as soon as a step
 * meets null or a non-object, so a missing field and one set to undefined read the same.
 */
export function valueAt(root: unknown, at: string | readonly string[]): unknown {
  let cur = root;
  for (const part of typeof at === 'string' ? at.split('.') : at) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
