/** "Did you mean": the known name nearest to a misspelt one (a config key, step, profile or log name). */
import { closestMatch } from 'leven';

/**
 * The known name within a third of the input's length in edits (at least one), else undefined: "pakages" finds
 * "packages" and "hostnmae" finds "hostname", but "gentoo" finds no profile and "x" no field.
 */
export function nearestName(input: string, known: readonly string[]): string | undefined {
  const maxDistance = Math.max(1, Math.ceil(input.length / 3));
  // case aside: "Hostname" and "MINIMAL" are near their names too
  const lower = known.map((k) => k.toLowerCase());
  const near = closestMatch(input.toLowerCase(), lower, { maxDistance });
  const name = near === undefined ? undefined : known[lower.indexOf(near)];
  // a known name is not a misspelling of itself
  return name === input ? undefined : name;
}

/** `; did you mean "packages"?`, or '' when nothing known is near: for the end of a message. */
export function didYouMean(input: string, known: readonly string[]): string {
  const near = nearestName(input, known);
  return near === undefined ? '' : `; did you mean "${near}"?`;
}
