import { createHash, timingSafeEqual } from 'node:crypto';
import { scryptAsync } from '../../shared/api-key-hash.js';
import { BoundedCache } from '../../shared/bounded-cache.js';
import type { ApiKeyHash } from '../../shared/route-table-resource.js';
import type { Route } from '../route-table.js';
import type { Policy, PolicyRequest, Verdict } from './policy.js';
import { VerificationLimit } from './verification-limit.js';

export interface ApiKeyPolicyOptions {
  /** Keys verified right, per namespace key (default 1024). Only right keys get in. */
  maxVerified?: number;
  /** Keys found wrong (by SHA-256, in memory only), per namespace key (default 256). */
  maxRefused?: number;
  /** scrypt verifications at once (default 2 of libuv's 4 threads). */
  maxConcurrent?: number;
  /** Verifications waiting for a thread (default 64); beyond, 403 at once. */
  maxQueued?: number;
}

const NO_KEY: Verdict = { code: 'DETOUR_E_API_KEY', detail: 'no key sent' };
const WRONG_KEY: Verdict = { code: 'DETOUR_E_API_KEY', detail: 'key does not match' };
const BUSY: Verdict = {
  code: 'DETOUR_E_API_KEY',
  detail: 'key not verified: too many new keys are being verified; retry',
};
const UNVERIFIABLE: Verdict = {
  code: 'DETOUR_E_API_KEY',
  detail: 'the RouteTable holds no key this proxy can verify (written by an older controller)',
};

/**
 * The seed's API key: when the destination namespace has the key Secret, the request
 * must carry the plane's `API_KEY_HEADER` with its value. RouteTables carry salted
 * scrypt hashes only (shared/api-key-hash.ts, docs/adr/0007-api-key-hash.md), slow on
 * purpose, so:
 * - a key verified right is remembered (bounded LRU keyed by the namespace's hashes and
 *   the key): the next request with it costs one map lookup, and a new Secret value
 *   (new hashes) starts afresh;
 * - scrypt runs on the thread pool, never on the event loop; concurrent requests with
 *   the same new key share one verification;
 * - wrong keys cannot grow memory (only right keys enter the first cache; the small
 *   negative cache holds SHA-256 digests of the last wrong keys, so a client repeating
 *   one wrong key costs a lookup) nor pin the CPU (VerificationLimit: at most 2 at once
 *   and 64 waiting; more is refused with 403 and a detail saying why).
 * The header itself is removed before forwarding by hop-headers.ts.
 */
export class ApiKeyPolicy implements Policy {
  readonly name = 'api-key';
  readonly #verified: BoundedCache<string, true>;
  readonly #refused: BoundedCache<string, true>;
  readonly #pending = new Map<string, Promise<boolean>>();
  readonly #limit: VerificationLimit;
  /** A stable name for a namespace's hashes; hashes arrays are frozen and shared. */
  readonly #ids = new WeakMap<readonly ApiKeyHash[], string>();

  constructor(options: ApiKeyPolicyOptions = {}) {
    this.#verified = new BoundedCache(options.maxVerified ?? 1024);
    this.#refused = new BoundedCache(options.maxRefused ?? 256);
    this.#limit = new VerificationLimit(options.maxConcurrent ?? 2, options.maxQueued ?? 64);
  }

  /** For tests and metrics: how much each cache holds, and verifications under way. */
  get stats(): { verified: number; refused: number; verifying: number } {
    return {
      verified: this.#verified.size,
      refused: this.#refused.size,
      verifying: this.#limit.load,
    };
  }

  check(request: PolicyRequest): Verdict | Promise<Verdict> {
    const { route } = request;
    if (!route.apiKeyRequired) return undefined;
    const given = request.headers.apiKey;
    if (given === undefined) return NO_KEY;
    if (route.apiKeyHashes.length === 0) return UNVERIFIABLE;
    const id = this.#idOf(route);
    const key = `${id}\n${given}`;
    if (this.#verified.get(key) === true) return undefined;
    const refusedKey = `${id}\n${createHash('sha256').update(given).digest('base64')}`;
    if (this.#refused.get(refusedKey) === true) return WRONG_KEY;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      // A derivation that throws (parameters this Node cannot run) refuses the key.
      const started = this.#limit.run(() =>
        matchesAny(given, route.apiKeyHashes).catch(() => false),
      );
      if (started === undefined) return BUSY;
      pending = started.finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending.then((right) => {
      if (right) this.#verified.set(key, true);
      else this.#refused.set(refusedKey, true);
      return right ? undefined : WRONG_KEY;
    });
  }

  #idOf(route: Route): string {
    let id = this.#ids.get(route.apiKeyHashes);
    if (id === undefined) {
      id = route.apiKeyHashes.map((h) => `${h.salt}:${h.hash}`).join(',');
      this.#ids.set(route.apiKeyHashes, id);
    }
    return id;
  }
}

/**
 * One scrypt per distinct (parameters, salt, length): a Secret's two accepted values
 * share a salt, so one derivation is compared with both.
 */
async function matchesAny(given: string, hashes: readonly ApiKeyHash[]): Promise<boolean> {
  const groups = new Map<string, { hash: ApiKeyHash; expected: Buffer[] }>();
  for (const hash of hashes) {
    const expected = Buffer.from(hash.hash, 'base64');
    const groupKey = `${String(hash.n)},${String(hash.r)},${String(hash.p)},${hash.salt},${String(expected.length)}`;
    const group = groups.get(groupKey) ?? { hash, expected: [] };
    group.expected.push(expected);
    groups.set(groupKey, group);
  }
  let right = false;
  for (const { hash, expected } of groups.values()) {
    const first = expected[0];
    if (first === undefined || first.length === 0) continue;
    const derived = await scryptAsync(given, Buffer.from(hash.salt, 'base64'), hash, first.length);
    // Every candidate is compared (no early exit), in constant time per comparison.
    for (const candidate of expected) right = timingSafeEqual(candidate, derived) || right;
  }
  return right;
}
