/**
 * Server-side apply, reduced: field ownership per (manager, subresource) recorded in
 * `metadata.managedFields` as FieldsV1, conflicts with other appliers unless `force`,
 * removal of fields a manager stopped applying, and no write when nothing changed.
 * Maps merge key by key; lists are atomic (as for a CRD list without
 * `x-kubernetes-list-type: map`). https://kubernetes.io/docs/reference/using-api/server-side-apply/
 */
import { isDeepStrictEqual } from 'node:util';
import { ApiError } from './status.js';
import type { KubeObject } from './resources.js';

type Json = Record<string, unknown>;
type Path = readonly string[];

interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Json;
  subresource?: string;
}

const IDENTITY = new Set(['apiVersion', 'kind']);
const METADATA_APPLIED = new Set(['labels', 'annotations']);

function isMap(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Leaf paths of an applied configuration (maps recurse, everything else is a leaf). */
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (!isMap(value) || (Object.keys(value).length === 0 && prefix.length > 0)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

function appliedFields(applied: KubeObject, subresource: string | undefined): string[][] {
  const paths: string[][] = [];
  for (const [key, value] of Object.entries(applied)) {
    if (IDENTITY.has(key)) continue;
    if (key === 'metadata') {
      for (const [mk, mv] of Object.entries(applied.metadata)) {
        if (METADATA_APPLIED.has(mk)) paths.push(...leafPaths(mv, ['metadata', mk]));
      }
      continue;
    }
    if ((subresource === 'status') !== (key === 'status')) continue;
    paths.push(...leafPaths(value, [key]));
  }
  return paths;
}

function toFieldsV1(paths: readonly Path[]): Json {
  const root: Json = {};
  for (const path of paths) {
    let node = root;
    for (const part of path) {
      const key = `f:${part}`;
      node[key] ??= {};
      node = node[key] as Json;
    }
  }
  return root;
}

function fromFieldsV1(fields: Json, prefix: string[] = []): string[][] {
  const entries = Object.entries(fields).filter(([k]) => k.startsWith('f:'));
  if (entries.length === 0) return prefix.length > 0 ? [prefix] : [];
  return entries.flatMap(([k, v]) => fromFieldsV1(isMap(v) ? v : {}, [...prefix, k.slice(2)]));
}

function getAt(obj: unknown, path: Path): unknown {
  let node = obj;
  for (const part of path) node = isMap(node) ? node[part] : undefined;
  return node;
}

function setAt(obj: Json, path: Path, value: unknown): void {
  let node = obj;
  for (const part of path.slice(0, -1)) {
    if (!isMap(node[part])) node[part] = {};
    node = node[part] as Json;
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = structuredClone(value);
}

function deleteAt(obj: Json, path: Path): void {
  const parent = getAt(obj, path.slice(0, -1));
  const last = path.at(-1);
  if (isMap(parent) && last !== undefined) Reflect.deleteProperty(parent, last);
}

const key = (p: Path): string => p.join('\u0000');

export interface ApplyResult {
  object: KubeObject;
  changed: boolean;
}

/**
 * Other managers' fields that the applied config sets: with the same value they become
 * shared; with another value they are a conflict, or, with `force`, taken from them.
 */
function takeOwnership(
  others: ManagedFieldsEntry[],
  newKeys: ReadonlySet<string>,
  context: { base: KubeObject; applied: KubeObject; force: boolean },
): void {
  const conflicts: string[] = [];
  for (const entry of others) {
    const kept = fromFieldsV1(entry.fieldsV1).filter((p) => {
      if (!newKeys.has(key(p))) return true;
      if (isDeepStrictEqual(getAt(context.base, p), getAt(context.applied, p))) return true;
      if (!context.force) conflicts.push(`.${p.join('.')} (owned by "${entry.manager}")`);
      return false;
    });
    entry.fieldsV1 = toFieldsV1(kept);
  }
  if (conflicts.length > 0) {
    throw new ApiError(
      'Conflict',
      `Apply failed with ${conflicts.length} conflict(s): ${conflicts.join(', ')}`,
    );
  }
}

/**
 * Applies `applied` as `manager` onto `current` (undefined: the object is created).
 * Throws a 409 Conflict naming the fields another manager owns with a different value.
 */
export function serverSideApply(
  current: KubeObject | undefined,
  applied: KubeObject,
  options: { manager: string; force: boolean; subresource: string | undefined },
): ApplyResult {
  const { manager, force, subresource } = options;
  const base: KubeObject = current === undefined ? { metadata: {} } : structuredClone(current);
  const entries = (base.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  const mine = (e: ManagedFieldsEntry): boolean =>
    e.manager === manager && e.subresource === subresource;
  const newPaths = appliedFields(applied, subresource);
  const newKeys = new Set(newPaths.map(key));

  const others = entries.filter((e) => !mine(e));
  takeOwnership(others, newKeys, { base, applied, force });

  const previous = entries.find(mine);
  const stillOwned = new Set(others.flatMap((e) => fromFieldsV1(e.fieldsV1)).map(key));
  for (const p of previous === undefined ? [] : fromFieldsV1(previous.fieldsV1)) {
    if (!newKeys.has(key(p)) && !stillOwned.has(key(p))) deleteAt(base, p);
  }
  for (const p of newPaths) setAt(base, p, getAt(applied, p));

  const apiVersion = applied.apiVersion ?? base.apiVersion ?? '';
  base.apiVersion = apiVersion;
  if (applied.kind !== undefined) base.kind = applied.kind;
  base.metadata.name ??= applied.metadata.name;
  base.metadata.namespace ??= applied.metadata.namespace;

  const unchanged =
    current !== undefined && isDeepStrictEqual(stripManaged(base), stripManaged(current));
  const entry: ManagedFieldsEntry = {
    manager,
    operation: 'Apply',
    apiVersion,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(newPaths),
    ...(subresource === undefined ? {} : { subresource }),
  };
  const nextEntries = [...others.filter((e) => Object.keys(e.fieldsV1).length > 0), entry];
  const sameOwnership =
    previous !== undefined && isDeepStrictEqual(previous.fieldsV1, entry.fieldsV1);
  if (unchanged && sameOwnership && nextEntries.length === entries.length) {
    return { object: current, changed: false };
  }
  base.metadata.managedFields = nextEntries;
  return { object: base, changed: true };
}

function stripManaged(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  delete copy.metadata.managedFields;
  delete copy.metadata.resourceVersion;
  return copy;
}
