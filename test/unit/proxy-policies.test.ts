import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { ApiKeyPolicy } from '../../sidecar/policies/api-key.js';
import { keyHashes } from '../support/api-key.js';
import { BodyLimit, BodySizePolicy, BodyTooLargeError } from '../../sidecar/policies/body-size.js';
import { PolicyPipeline, type Policy, type PolicyRequest } from '../../sidecar/policies/policy.js';
import { scanRequestHeaders } from '../../sidecar/hop-headers.js';
import { RouteTable, type Route } from '../../sidecar/route-table.js';
import { answerBody } from '../../sidecar/error-response.js';
import type { RouteTableSpec } from '../../shared/route-table-resource.js';
import { privateTable } from '../support/route-tables.js';

/** The route `a.ns/` of a table whose key fields are `keys`. */
function routeWith(keys: Pick<RouteTableSpec, 'apiKeyHashes' | 'apiKeySha256'>): Route {
  const table = RouteTable.fromResources([privateTable('ns', [{ host: 'a.ns', path: '/' }], keys)]);
  const match = table.match('a.ns', '/');
  if (match.kind !== 'route') throw new Error('no route');
  return match.route;
}

function routeWithKeys(keys: string[]): Route {
  return routeWith({ apiKeyHashes: keyHashes(...keys) });
}

function request(route: Route, raw: string[]): PolicyRequest {
  return {
    req: new IncomingMessage(new Socket()),
    route,
    headers: scanRequestHeaders(raw, 'x-routing-api-key'),
    requestId: 'r',
    host: route.host,
    path: '/',
    direction: 'outbound',
    source: undefined,
    notes: { policy: undefined, auth: undefined, authMs: undefined, rateLimited: undefined },
  };
}

describe('policies', () => {
  it('api-key: passes without a Secret, 403 without or with a wrong key, passes the right one', async () => {
    const policy = new ApiKeyPolicy();
    expect(policy.check(request(routeWithKeys([]), []))).to.equal(undefined);
    const route = routeWithKeys(['s3cret', 'czNjcmV0']);
    expect(await policy.check(request(route, []))).to.include({ code: 'DETOUR_E_API_KEY' });
    expect(await policy.check(request(route, ['X-Routing-Api-Key', 'nope']))).to.include({
      code: 'DETOUR_E_API_KEY',
    });
    expect(await policy.check(request(route, ['X-Routing-Api-Key', 's3cret']))).to.equal(undefined);
    expect(await policy.check(request(route, ['x-routing-api-key', 'czNjcmV0']))).to.equal(
      undefined,
    );
  });

  it('api-key: a verified key is answered synchronously from the cache (no scrypt)', async () => {
    const policy = new ApiKeyPolicy();
    const route = routeWithKeys(['s3cret']);
    const first = policy.check(request(route, ['x-routing-api-key', 's3cret']));
    expect(first).to.be.instanceOf(Promise);
    expect(await first).to.equal(undefined);
    expect(policy.check(request(route, ['x-routing-api-key', 's3cret']))).to.equal(undefined);
    // A wrong key repeated is refused from the negative cache, synchronously too.
    expect(await policy.check(request(route, ['x-routing-api-key', 'wrong']))).to.include({
      detail: 'key does not match',
    });
    expect(policy.check(request(route, ['x-routing-api-key', 'wrong']))).to.include({
      detail: 'key does not match',
    });
  });

  it('api-key: caches stay within their bounds, and wrong keys never enter the verified cache', async () => {
    const policy = new ApiKeyPolicy({ maxVerified: 2, maxRefused: 3, maxQueued: 100 });
    const route = routeWithKeys(['k1', 'k2', 'k3', 'k4']);
    const wrong = Array.from({ length: 10 }, (_, i) => `wrong-${String(i)}`);
    await Promise.all(
      wrong.map(async (k) => policy.check(request(route, ['x-routing-api-key', k]))),
    );
    expect(policy.stats).to.deep.equal({ verified: 0, refused: 3, verifying: 0 });
    for (const k of ['k1', 'k2', 'k3', 'k4']) {
      expect(await policy.check(request(route, ['x-routing-api-key', k]))).to.equal(undefined);
    }
    expect(policy.stats.verified).to.equal(2);
  });

  it('api-key: bounds verifications in flight; beyond the queue a new key gets 403 at once', async () => {
    const policy = new ApiKeyPolicy({ maxConcurrent: 1, maxQueued: 2 });
    const route = routeWithKeys(['s3cret']);
    const pending = ['a', 'b', 'c'].map((k) =>
      policy.check(request(route, ['x-routing-api-key', k])),
    );
    expect(pending.every((p) => p instanceof Promise)).to.equal(true);
    expect(policy.stats.verifying).to.equal(3);
    const refused = policy.check(request(route, ['x-routing-api-key', 'd']));
    expect(refused).to.include({ code: 'DETOUR_E_API_KEY' });
    expect((refused as { detail: string }).detail).to.match(/too many/);
    // The same key asked again while in flight shares the verification.
    const again = policy.check(request(route, ['x-routing-api-key', 'a']));
    expect(policy.stats.verifying).to.equal(3);
    await Promise.all([...pending, again]);
    expect(policy.stats.verifying).to.equal(0);
  });

  it('api-key: refuses every key on a table with SHA-256 digests only (fails closed)', async () => {
    const legacy = routeWith({ apiKeySha256: [createHash('sha256').update('k').digest('hex')] });
    expect(await new ApiKeyPolicy().check(request(legacy, ['x-routing-api-key', 'k']))).to.include({
      code: 'DETOUR_E_API_KEY',
    });
  });

  it('body-size: refuses a declared length over the limit up front, 0 disables', () => {
    const route = routeWithKeys([]);
    const big = request(route, ['content-length', '2048']);
    expect(new BodySizePolicy(1024).check(big)).to.deep.include({
      code: 'DETOUR_E_BODY_TOO_LARGE',
      close: true,
    });
    expect(new BodySizePolicy(4096).check(big)).to.equal(undefined);
    expect(new BodySizePolicy(0).check(big)).to.equal(undefined);
  });

  it('body-size: a streamed body fails once it crosses the limit', async () => {
    const chunks = [Buffer.alloc(600), Buffer.alloc(600)];
    let error: unknown;
    try {
      await pipeline(
        Readable.from(chunks),
        new BodyLimit(1000),
        async (source: AsyncIterable<Buffer>) => {
          for await (const chunk of source) expect(chunk.length).to.be.greaterThan(0);
        },
      );
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(BodyTooLargeError);
  });

  it('the pipeline stops at the first rejection and awaits asynchronous checks', async () => {
    const calls: string[] = [];
    const pass = (name: string): Policy => ({
      name,
      check: () => {
        calls.push(name);
        return undefined;
      },
    });
    const slowReject: Policy = {
      name: 'slow',
      check: async () => {
        calls.push('slow');
        await new Promise((r) => setTimeout(r, 5));
        return { code: 'DETOUR_E_API_KEY' };
      },
    };
    const req = request(routeWithKeys([]), []);
    expect(new PolicyPipeline([pass('a'), pass('b')]).run(req)).to.equal(undefined);
    const verdict = await new PolicyPipeline([pass('c'), slowReject, pass('never')]).run(req);
    expect(verdict?.code).to.equal('DETOUR_E_API_KEY');
    expect(calls).to.deep.equal(['a', 'b', 'c', 'slow']);
  });

  it('answers carry the code, a message and the request id', () => {
    expect(JSON.parse(answerBody('DETOUR_E_NO_ENDPOINT', 'req-1', 'a.ns/'))).to.deep.equal({
      error: 'DETOUR_E_NO_ENDPOINT',
      message: 'no ready endpoint for this route: a.ns/',
      requestId: 'req-1',
    });
  });
});
