import { ANNOTATIONS, DOMAIN, INJECT_KEY, STATUS_ANNOTATION } from '../shared/labels.js';
import type { ObjectMeta } from './pod-types.js';

/**
 * Every `detour.dev/` key means something to the injector, so one it does not know is
 * almost certainly a typo (`detour.dev/captur`), and a typo silently ignored is a pod
 * that runs without the setting its owner asked for. Each gets a warning (the
 * admission response's `warnings`, shown by kubectl; stderr of `detour inject`) with
 * the nearest known key.
 */
const KNOWN_ANNOTATIONS: readonly string[] = [
  INJECT_KEY,
  STATUS_ANNOTATION,
  ...Object.values(ANNOTATIONS),
];
const KNOWN_LABELS: readonly string[] = [INJECT_KEY];

// Warnings are short and few: the API server may truncate long ones, and kubectl prints
// each on its own line.
// https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response
const MAX_WARNINGS = 10;
const MAX_KEY_SHOWN = 80;

export function unknownDetourKeys(metadata: ObjectMeta | undefined): string[] {
  return [
    ...warn('label', Object.keys(metadata?.labels ?? {}), KNOWN_LABELS),
    ...warn('annotation', Object.keys(metadata?.annotations ?? {}), KNOWN_ANNOTATIONS),
  ].slice(0, MAX_WARNINGS);
}

function warn(what: string, keys: readonly string[], known: readonly string[]): string[] {
  return keys
    .filter((key) => key.startsWith(`${DOMAIN}/`) && !known.includes(key))
    .map((key) => {
      const near = nearest(key, known);
      const shown = key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}…` : key;
      const hint = near === undefined ? 'no such detour setting' : `did you mean ${near}?`;
      return `detour: unknown ${what} ${shown} is ignored; ${hint}`;
    });
}

/** The known key at the smallest edit distance, if that distance is small (<= 3). */
function nearest(key: string, known: readonly string[]): string | undefined {
  // Quadratic in the key's length: a key far longer than any known one is no typo.
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of known) {
    const d = editDistance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

// Levenshtein distance, one row at a time.
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitute = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitute));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}
