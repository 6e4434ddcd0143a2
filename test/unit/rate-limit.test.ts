import { expect } from 'chai';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { RateLimitPolicy } from '../../sidecar/policies/rate-limit.js';
import type { PolicyRequest } from '../../sidecar/policies/policy.js';
import { scanRequestHeaders } from '../../sidecar/hop-headers.js';
import type { Route } from '../../sidecar/route-table.js';
import type { RoutePolicy } from '../../shared/api-policy.js';

function route(rateLimit: NonNullable<RoutePolicy['rateLimit']>): Route {
  return {
    id: 'a.ns/',
    host: 'a.ns',
    path: '/',
    namespace: 'ns',
    endpoints: [],
    apiKeyRequired: false,
    apiKeyHashes: [],
    enforcedAt: 'caller',
    claimedAt: '',
    policy: { name: 'ns/limit', rateLimit },
  };
}

function request(r: Route, consumer: string): PolicyRequest {
  return {
    req: new IncomingMessage(new Socket()),
    route: r,
    headers: scanRequestHeaders(['x-consumer-id', consumer], 'x-routing-api-key'),
    requestId: 'r',
    host: r.host,
    path: '/',
    direction: 'outbound',
    source: { namespace: 'caller-ns', pod: 'caller-0' },
    notes: { policy: undefined, auth: undefined, authMs: undefined, rateLimited: undefined },
  };
}

describe('rate-limit policy (token buckets)', () => {
  it('refills continuously: a full bucket, then one token per window/requests', () => {
    let now = 0;
    const policy = new RateLimitPolicy({ now: () => now });
    const r = route({ requests: 2, windowSeconds: 10, key: 'none' });
    expect(policy.check(request(r, 'a'))).to.equal(undefined);
    expect(policy.check(request(r, 'a'))).to.equal(undefined);
    const refused = policy.check(request(r, 'a'));
    expect(refused?.code).to.equal('DETOUR_E_RATE_LIMITED');
    expect(refused?.headers).to.include.members(['retry-after', '5']);
    now = 5_000; // half the window: one token back
    expect(policy.check(request(r, 'a'))).to.equal(undefined);
    expect(policy.check(request(r, 'a'))?.code).to.equal('DETOUR_E_RATE_LIMITED');
  });

  it('keeps a bucket per key and never more than maxBuckets (least recently used dropped)', () => {
    const policy = new RateLimitPolicy({ maxBuckets: 3, now: () => 0 });
    const r = route({ requests: 1, windowSeconds: 60, key: 'header:x-consumer-id' });
    for (const consumer of ['a', 'b', 'c'])
      expect(policy.check(request(r, consumer))).to.equal(undefined);
    expect(policy.check(request(r, 'a'))?.code).to.equal('DETOUR_E_RATE_LIMITED');
    for (let i = 0; i < 1_000; i++) policy.check(request(r, `flood-${i}`));
    expect(policy.size).to.equal(3);
    // `a`'s bucket was dropped under the flood: it starts full again (documented trade-off).
    expect(policy.check(request(r, 'a'))).to.equal(undefined);
  });

  it('keys by the source the caller asserts', () => {
    const policy = new RateLimitPolicy({ now: () => 0 });
    const r = route({ requests: 1, windowSeconds: 60, key: 'source-pod' });
    expect(policy.check(request(r, 'x'))).to.equal(undefined);
    const refused = request(r, 'y');
    expect(policy.check(refused)?.code).to.equal('DETOUR_E_RATE_LIMITED');
    expect(refused.notes).to.include({ policy: 'ns/limit', rateLimited: true });
    expect(policy.describe(r)).to.match(/at most 1 requests per 60 s per source-pod/);
  });
});
