import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import { isObject } from './admission-review.js';

/**
 * Makes a node of a parsed YAML Document hold `after` where it held `before` (both the
 * plain values, as `toJS()` gives them), changing only what differs. Untouched nodes
 * keep their comments, quoting, flow style and source form (`defaultMode: 0400` stays
 * `0400`); an item of a list that moved (the pod's init containers, after ours) moves
 * with its comments; a changed item with the same `name` (a container that gained env
 * vars) is edited in place. Returns the node to use: the same one, edited, or a new one
 * where nothing could be kept.
 *
 * A null member counts as absent (the API server decodes it so, and the injector reads
 * it so): it is kept when `after` lacks it.
 */
export function updateNode(
  doc: YAML.Document,
  node: unknown,
  before: unknown,
  after: unknown,
): unknown {
  if (isDeepStrictEqual(before, after)) return node;
  if (YAML.isMap(node) && isObject(before) && isObject(after)) {
    updateMap(doc, node, before, after);
    return node;
  }
  if (
    YAML.isSeq(node) &&
    Array.isArray(before) &&
    Array.isArray(after) &&
    node.items.length === before.length
  ) {
    updateSeq(doc, node, before, after);
    return node;
  }
  const fresh = doc.createNode(after);
  if (YAML.isNode(node)) {
    fresh.commentBefore = node.commentBefore;
    fresh.comment = node.comment;
    fresh.spaceBefore = node.spaceBefore;
  }
  return fresh;
}

function updateMap(
  doc: YAML.Document,
  map: YAML.YAMLMap,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): void {
  const seen = new Set<string>();
  map.items = map.items.filter((pair) => {
    const key = keyOf(pair);
    // Keys we cannot name (complex keys, `<<` merges) are not ours to drop.
    if (key === undefined || !Object.hasOwn(before, key)) return true;
    seen.add(key);
    if (Object.hasOwn(after, key)) {
      pair.value = updateNode(doc, pair.value, before[key], after[key]);
      return true;
    }
    return before[key] === null;
  });
  for (const [key, value] of Object.entries(after)) {
    if (!seen.has(key)) map.items.push(doc.createPair(key, value));
  }
}

function updateSeq(
  doc: YAML.Document,
  seq: YAML.YAMLSeq,
  before: unknown[],
  after: unknown[],
): void {
  const used = new Set<number>();
  const claim = (match: (item: unknown) => boolean): number => {
    const index = before.findIndex((item, i) => !used.has(i) && match(item));
    if (index >= 0) used.add(index);
    return index;
  };
  seq.items = after.map((item) => {
    const same = claim((b) => isDeepStrictEqual(b, item));
    if (same >= 0) return seq.items[same];
    const name = isObject(item) ? item.name : undefined;
    const named = typeof name === 'string' ? claim((b) => isObject(b) && b.name === name) : -1;
    if (named >= 0) return updateNode(doc, seq.items[named], before[named], item);
    return doc.createNode(item);
  });
}

function keyOf(pair: YAML.Pair): string | undefined {
  const key = pair.key;
  if (!YAML.isScalar(key)) return undefined;
  const value = key.value;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : undefined;
}

/**
 * Replaces every alias (`*base`, also under a `<<` merge) by a copy of what it names,
 * so that editing one object's template cannot edit another's through a shared anchor
 * (kubectl reads each alias as a copy too). Anchors stay on their nodes, unused.
 */
export function inlineAliases(doc: YAML.Document): void {
  YAML.visit(doc, {
    Alias(_, alias) {
      const copy = alias.resolve(doc)?.clone() as YAML.Node | undefined;
      if (copy === undefined) return undefined;
      YAML.visit(copy, (_key, node) => {
        if (YAML.isNode(node)) delete node.anchor;
      });
      return copy;
    },
  });
}
