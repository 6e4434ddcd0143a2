import type { RoutePolicy } from '../../shared/api-policy.js';
import type { Route } from '../route-table.js';
import type { Policy, PolicyRequest, Verdict } from './policy.js';

type RateLimit = NonNullable<RoutePolicy['rateLimit']>;

/** One bucket: `tokens` left at `at` (ms), refilled continuously up to the limit. */
interface Bucket {
  tokens: number;
  at: number;
}

/**
 * An ApiPolicy's `rateLimit`: a token bucket per policy and key (none, source-namespace,
 * source-pod, api-key, header:NAME) in each enforcing proxy: a destination with N
 * replicas that enforce inbound lets N times the rate through in all (say so to users).
 * A bucket holds `requests` tokens and refills `requests` per window, so a quiet client
 * may burst up to the limit at once, as Envoy's local rate limit does
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/local_rate_limit_filter).
 *
 * The number of buckets is bounded: a map in least-recently-used order, the oldest
 * dropped past `maxBuckets`. A dropped bucket starts full again, so an attacker who
 * cycles through many keys can reset others' buckets, never grow memory.
 * Over the limit: 429 with `Retry-After` and the IETF httpapi draft's fields
 * (https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/).
 */
export class RateLimitPolicy implements Policy {
  readonly name = 'rate-limit';
  readonly maxBuckets: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  readonly #onLimited: (policy: string) => void;

  constructor(
    options: { maxBuckets?: number; now?: () => number; onLimited?: (policy: string) => void } = {},
  ) {
    this.maxBuckets = options.maxBuckets ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#onLimited = options.onLimited ?? (() => undefined);
  }

  get size(): number {
    return this.#buckets.size;
  }

  check(request: PolicyRequest): Verdict {
    const policy = request.route.policy;
    const limit = policy?.rateLimit;
    if (policy === undefined || limit === undefined) return undefined;
    request.notes.policy = policy.name;
    const key = `${policy.name}\u0000${keyOf(limit, request)}`;
    const now = this.#now();
    const perMs = limit.requests / (limit.windowSeconds * 1000);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: limit.requests, at: now };
      if (this.#buckets.size >= this.maxBuckets) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    } else {
      this.#buckets.delete(key); // re-inserted below: most recently used last
      bucket.tokens = Math.min(limit.requests, bucket.tokens + (now - bucket.at) * perMs);
      bucket.at = now;
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    request.notes.rateLimited = true;
    this.#onLimited(policy.name);
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
    const name = JSON.stringify(policy.name);
    return {
      code: 'DETOUR_E_RATE_LIMITED',
      detail: `${limit.requests} requests per ${limit.windowSeconds} s (${describeKey(limit)})`,
      headers: [
        'retry-after',
        String(retryAfter),
        'ratelimit-policy',
        `${name};q=${limit.requests};w=${limit.windowSeconds}`,
        'ratelimit',
        `${name};r=0;t=${retryAfter}`,
      ],
    };
  }

  describe(route: Route): string | undefined {
    return describeRateLimit(route);
  }
}

/** The rateLimit step of `route`'s policy, for `detour routes --explain`. */
export function describeRateLimit(route: Route): string | undefined {
  const limit = route.policy?.rateLimit;
  if (limit === undefined) return undefined;
  return `at most ${limit.requests} requests per ${limit.windowSeconds} s per ${describeKey(limit)} (token bucket in this proxy), else 429`;
}

function describeKey(limit: RateLimit): string {
  return limit.key === 'none' ? 'policy' : limit.key;
}

function keyOf(limit: RateLimit, request: PolicyRequest): string {
  const key = limit.key;
  switch (key) {
    case 'none':
      return '';
    case 'source-namespace':
      return request.source?.namespace ?? '';
    case 'source-pod':
      return request.source === undefined
        ? ''
        : `${request.source.namespace}/${request.source.pod}`;
    case 'api-key':
      return request.headers.apiKey ?? '';
    default:
      return headerValue(request.headers.forward, key.slice('header:'.length));
  }
}

/** The first value of header `name` (lower case) in a flat list, '' when absent. */
function headerValue(list: readonly string[], name: string): string {
  for (let i = 0; i < list.length; i += 2) {
    if ((list[i] as string).toLowerCase() === name) return list[i + 1] as string;
  }
  return '';
}
