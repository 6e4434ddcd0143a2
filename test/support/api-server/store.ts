import { randomUUID } from 'node:crypto';
import { ApiError } from './status.js';
import { objectKey, resourceId, type KubeObject, type ResourceDef } from './resources.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  def: ResourceDef;
  type: WatchEventType;
  object: KubeObject;
  /** The object before a MODIFIED, so selector watches can turn it into ADDED/DELETED. */
  previous: KubeObject | undefined;
}

/**
 * etcd, reduced to what the wire protocol exposes: one resourceVersion counter for the
 * whole store (monotonic across every kind, as etcd's revision is), the current objects,
 * and a bounded event history that watches replay from. Compaction drops history; a
 * watch or continue token older than the compacted revision gets 410 Gone.
 */
export class Store {
  #rv = 1;
  #compacted = 0;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: StoreEvent[] = [];
  readonly #listeners = new Set<(event: StoreEvent) => void>();

  constructor(private readonly historyLimit = 200_000) {}

  get resourceVersion(): number {
    return this.#rv;
  }

  get compactedRevision(): number {
    return this.#compacted;
  }

  #table(def: ResourceDef): Map<string, KubeObject> {
    const id = resourceId(def);
    let table = this.#objects.get(id);
    if (table === undefined) {
      table = new Map();
      this.#objects.set(id, table);
    }
    return table;
  }

  get(def: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.#table(def).get(objectKey(namespace, name));
    return obj === undefined ? undefined : structuredClone(obj);
  }

  /**
   * Objects sorted by namespace/name (the order etcd's keys give a real list), optionally
   * only those after key `after` that pass `filter`, at most `limit` (0: all). Only the
   * returned objects are copied, so paging through a large store stays cheap.
   */
  list(
    def: ResourceDef,
    namespace?: string,
    options: { filter?: (obj: KubeObject) => boolean; after?: string; limit?: number } = {},
  ): KubeObject[] {
    const table = this.#table(def);
    const keys = [...table.keys()].sort();
    const out: KubeObject[] = [];
    const limit = options.limit ?? 0;
    for (const key of keys) {
      if (options.after !== undefined && key <= options.after) continue;
      const obj = table.get(key);
      if (obj === undefined) continue;
      if (namespace !== undefined && obj.metadata.namespace !== namespace) continue;
      if (options.filter !== undefined && !options.filter(obj)) continue;
      if (limit > 0 && out.length === limit) break;
      out.push(structuredClone(obj));
    }
    return out;
  }

  create(def: ResourceDef, input: KubeObject): KubeObject {
    const name = input.metadata.name ?? '';
    const key = objectKey(input.metadata.namespace, name);
    const table = this.#table(def);
    if (table.has(key)) {
      throw new ApiError('AlreadyExists', `${def.plural} "${name}" already exists`, {
        name,
        kind: def.plural,
        group: def.group,
      });
    }
    const obj = structuredClone(input);
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return this.#commit(def, 'ADDED', obj, undefined);
  }

  /** Replaces an existing object; the caller has checked preconditions. */
  replace(def: ResourceDef, input: KubeObject): KubeObject {
    const key = objectKey(input.metadata.namespace, input.metadata.name ?? '');
    const previous = this.#table(def).get(key);
    if (previous === undefined) throw new Error(`replace of missing ${key}`);
    return this.#commit(def, 'MODIFIED', structuredClone(input), previous);
  }

  delete(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const key = objectKey(namespace, name);
    const table = this.#table(def);
    const previous = table.get(key);
    if (previous === undefined) {
      throw new ApiError('NotFound', `${def.plural} "${name}" not found`, {
        name,
        kind: def.plural,
        group: def.group,
      });
    }
    return this.#commit(def, 'DELETED', structuredClone(previous), previous);
  }

  #commit(
    def: ResourceDef,
    type: WatchEventType,
    obj: KubeObject,
    previous: KubeObject | undefined,
  ): KubeObject {
    this.#rv += 1;
    obj.metadata.resourceVersion = String(this.#rv);
    const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    if (type === 'DELETED') this.#table(def).delete(key);
    else this.#table(def).set(key, obj);
    const event: StoreEvent = { rv: this.#rv, def, type, object: obj, previous };
    this.#history.push(event);
    if (this.#history.length > this.historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.historyLimit);
      this.#compacted = dropped.at(-1)?.rv ?? this.#compacted;
    }
    for (const listener of this.#listeners) listener(event);
    return structuredClone(obj);
  }

  /** Events after `rv`, or an Expired error when history before it is gone. */
  eventsSince(rv: number): StoreEvent[] {
    if (rv < this.#compacted) {
      throw new ApiError(
        'Expired',
        `too old resource version: ${rv} (${this.#compacted})`,
        {},
        410,
      );
    }
    const first = this.#history.findIndex((e) => e.rv > rv);
    return first === -1 ? [] : this.#history.slice(first);
  }

  /** Forget history up to `rv` (etcd compaction): older watches will get 410. */
  compactTo(rv: number = this.#rv): void {
    this.#compacted = Math.max(this.#compacted, rv);
    const keep = this.#history.findIndex((e) => e.rv > this.#compacted);
    this.#history.splice(0, keep === -1 ? this.#history.length : keep);
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
