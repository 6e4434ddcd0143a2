import { createHash, timingSafeEqual } from 'node:crypto';
import type { Route } from '../route-table.js';
import type { Policy, PolicyRequest, Verdict } from './policy.js';

/**
 * The seed's API key: when the destination namespace has the key Secret, the request
 * must carry the plane's `API_KEY_HEADER` with its value (RouteTables carry SHA-256
 * digests only, never the key). Comparing digests with timingSafeEqual keeps the
 * comparison time independent of how much of the key matched. The header itself is
 * removed before forwarding by hop-headers.ts (it is scanned out of the forwarded list).
 */
export class ApiKeyPolicy implements Policy {
  readonly name = 'api-key';
  /** Decoded digests per route object; routes are immutable and replaced on update. */
  readonly #digests = new WeakMap<Route, Buffer[]>();

  check(request: PolicyRequest): Verdict {
    const expected = request.route.apiKeySha256;
    if (expected.length === 0) return undefined;
    const given = request.headers.apiKey;
    if (given === undefined) return { code: 'DETOUR_E_API_KEY', detail: 'no key sent' };
    const digest = createHash('sha256').update(given).digest();
    for (const candidate of this.#digestsOf(request.route)) {
      if (candidate.length === digest.length && timingSafeEqual(candidate, digest)) {
        return undefined;
      }
    }
    return { code: 'DETOUR_E_API_KEY', detail: 'key does not match' };
  }

  #digestsOf(route: Route): Buffer[] {
    let digests = this.#digests.get(route);
    if (digests === undefined) {
      digests = route.apiKeySha256.map((hex) => Buffer.from(hex, 'hex'));
      this.#digests.set(route, digests);
    }
    return digests;
  }
}

/** Hex SHA-256 of a key, as the compiler stores it (for tests and tools). */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
