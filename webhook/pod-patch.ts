import fastJsonPatch, { type Operation } from 'fast-json-patch';

export type { Operation };

/**
 * The RFC 6902 JSON patch that turns `original` into `injected`. It is computed against
 * the raw object the API server sent, so `add` operations create missing parents
 * (`/spec/initContainers`, `/metadata/annotations`) whole instead of assuming them, and
 * keys containing `/` are escaped as `~1` (RFC 6901 section 4).
 * https://www.rfc-editor.org/rfc/rfc6902  https://www.rfc-editor.org/rfc/rfc6901#section-4
 */
export function createPatch(original: object, injected: object): Operation[] {
  return fastJsonPatch.compare(original, injected);
}

/** Applies a patch to a copy (for tests and `detour inject` round trips). */
export function applyPatch<T extends object>(document: T, patch: readonly Operation[]): T {
  return fastJsonPatch.applyPatch(structuredClone(document), [...patch], true, false).newDocument;
}
