/** The one dotted-path getter: the value at `iso.bios` or ['iso', 'bios'] in a config, parsed or raw. */

/**
 * Walks own and inherited keys alike (an array index is its key, '0'); undefined as soon as a step
 * meets null or a non-object, so a missing field and one set to undefined read the same. In a list of
 * named entries, a part that is no index is an entry's name: `hooks.motd` is the hook named motd.
 */
export function valueAt(root: unknown, at: string | readonly string[]): unknown {
  let cur = root;
  for (const part of typeof at === 'string' ? at.split('.') : at) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur) && !/^\d+$/.test(part)) {
      cur = cur.find((e) => e !== null && typeof e === 'object' && (e as { name?: unknown }).name === part);
      continue;
    }
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
