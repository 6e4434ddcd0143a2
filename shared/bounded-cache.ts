/**
 * A least-recently-used map with a hard size bound (a Map keeps insertion order: a hit
 * re-inserts the entry at the end, and the first entry is the eviction candidate).
 * Used where an attacker or a large cluster could otherwise grow memory without bound:
 * the controller's scrypt memo and the proxy's verified-key cache.
 */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, V>();

  readonly maxEntries: number;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }
}
