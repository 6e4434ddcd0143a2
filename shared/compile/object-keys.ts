import { compareText } from '../compare-text.js';
import { objectKey as sharedObjectKey } from '../object-key.js';

/** Kubernetes' default namespace for an object that names none (as kubectl applies it). */
const DEFAULT_NAMESPACE = 'default';
/** A pod without creationTimestamp (hand-written YAML) claims as of the epoch. */
const EPOCH = '1970-01-01T00:00:00Z';

interface Keyed {
  metadata?: { name?: string; namespace?: string };
}

export function namespaceOf(object: Keyed): string {
  const namespace = object.metadata?.namespace;
  return namespace === undefined || namespace === '' ? DEFAULT_NAMESPACE : namespace;
}

/** Objects are keyed by namespace/name, a missing namespace read as kubectl reads it. */
export function objectKey(object: Keyed): string {
  return sharedObjectKey(object, DEFAULT_NAMESPACE);
}

/** One object per key (the later wins, as a later watch event does), sorted by key. */
export function latestByKey<T extends Keyed>(objects: readonly T[]): T[] {
  const byKey = new Map<string, T>();
  for (const object of objects) byKey.set(objectKey(object), object);
  return [...byKey.entries()].sort(([a], [b]) => compareText(a, b)).map(([, o]) => o);
}

/**
 * RFC 3339 in Kubernetes' form (seconds, `Z`) from a client-node `Date` or a YAML string;
 * a missing or unreadable time counts as the epoch, so the output stays deterministic.
 */
export function rfc3339(time: Date | string | undefined | null): string {
  if (time === undefined || time === null) return EPOCH;
  const ms = time instanceof Date ? time.getTime() : Date.parse(time);
  if (Number.isNaN(ms)) return EPOCH;
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}
