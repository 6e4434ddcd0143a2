import { expect } from 'chai';
import http from 'node:http';
import {
  startUpstream,
  tableResource,
  type EchoBody,
  type TestUpstream,
} from '../support/upstream.js';
import { eventually, send, startProxy, type TestProxy } from '../support/proxy.js';
import { keyHashes } from '../support/api-key.js';
import type { RoutePolicy } from '../../shared/api-policy.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';
import { closeNow, listenOn } from '../../shared/server-lifecycle.js';

/**
 * A forwardAuth service on loopback, as an API-management team would run it: `x-api-key:
 * good` is consumer alice (200 + x-consumer-id), `bob` is consumer bob, `slow` answers
 * after 1 s, anything else 401 with its own body and WWW-Authenticate.
 */
interface AuthServer {
  port: number;
  calls: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startAuth(): Promise<AuthServer> {
  const calls: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    calls.push({ ...req.headers, ':method': req.method ?? '', ':path': req.url ?? '' });
    const key = req.headers['x-api-key'];
    if (key === 'slow') {
      setTimeout(() => res.end('late'), 1_000);
      return;
    }
    if (key === 'good' || key === 'bob') {
      res.writeHead(204, { 'x-consumer-id': key === 'good' ? 'alice' : 'bob', 'x-other': 'no' });
      res.end();
      return;
    }
    const body = JSON.stringify({ error: 'unknown consumer key' });
    res.writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': 'ApiKey realm="apim"',
      'x-apim': 'denied',
    });
    res.end(body);
  });
  const { port } = await listenOn(server, 0, '127.0.0.6');
  return {
    port,
    calls,
    close: () => closeNow(server),
  };
}

/** A one-route table whose route carries `policy`. */
function withPolicy(
  host: string,
  upstream: TestUpstream,
  policy: RoutePolicy,
  keys: ReturnType<typeof keyHashes> = [],
): RouteTableResource {
  const namespace = host.split('.').at(-1) ?? 'ns';
  const resource = tableResource(namespace, [{ host, path: '/', upstreams: [upstream] }], keys);
  const route = resource.spec.routes[0];
  if (route !== undefined) route.policy = policy;
  return resource;
}

function echo(text: string): EchoBody {
  return JSON.parse(text) as EchoBody;
}

describe('ApiPolicy in the proxy: forwardAuth, rateLimit, header rules', function () {
  this.timeout(30_000);
  let app: TestUpstream;
  let auth: AuthServer;
  let p: TestProxy;
  const authUrl = (path = '/check'): string => `http://127.0.0.6:${auth.port}${path}`;
  const forwardAuth = (
    extra: Partial<NonNullable<RoutePolicy['forwardAuth']>> = {},
  ): NonNullable<RoutePolicy['forwardAuth']> => ({
    url: authUrl(),
    timeoutMs: 300,
    failureMode: 'closed',
    responseHeaders: ['x-consumer-id'],
    cacheSeconds: 0,
    ...extra,
  });

  before(async () => {
    app = await startUpstream('app', '127.0.0.2');
    auth = await startAuth();
    p = await startProxy({
      resources: [
        withPolicy('auth.apim', app, { name: 'apim/auth', forwardAuth: forwardAuth() }),
        withPolicy('open.apim', app, {
          name: 'apim/open',
          forwardAuth: forwardAuth({ failureMode: 'open' }),
        }),
        withPolicy('cached.apim', app, {
          name: 'apim/cached',
          forwardAuth: forwardAuth({ cacheSeconds: 60, requestHeaders: ['x-api-key'] }),
        }),
        withPolicy('down.apim', app, {
          name: 'apim/down',
          forwardAuth: forwardAuth({ url: 'http://127.0.0.9:9/check' }),
        }),
        withPolicy('limited.apim', app, {
          name: 'apim/limited',
          forwardAuth: forwardAuth(),
          rateLimit: { requests: 2, windowSeconds: 60, key: 'header:x-consumer-id' },
        }),
        withPolicy('headers.apim', app, {
          name: 'apim/headers',
          requestHeaders: { set: { 'x-env': 'prod' }, add: {}, remove: ['x-debug'] },
          responseHeaders: { set: { 'x-served-by': 'detour' }, add: {}, remove: ['x-upstream'] },
        }),
        withPolicy(
          'keyed.locked',
          app,
          { name: 'locked/auth', forwardAuth: forwardAuth() },
          keyHashes('s3cret'),
        ),
      ],
    });
  });

  after(async () => {
    await p.close();
    await app.close();
    await auth.close();
  });

  it('lets a call through on 2xx with the consumer header the auth service named (a client copy is replaced)', async () => {
    const res = await send(p.origin, 'auth.apim', '/orders?id=1', {
      headers: { 'x-api-key': 'good', 'x-consumer-id': 'mallory' },
    });
    expect(res.status).to.equal(200);
    const seen = echo(res.text).headers;
    expect(seen['x-consumer-id']).to.equal('alice');
    expect(seen).to.not.have.property('x-other');
    const call = auth.calls.at(-1) ?? {};
    expect(call).to.include({
      ':method': 'GET',
      ':path': '/check',
      'x-forwarded-method': 'GET',
      'x-forwarded-uri': '/orders?id=1',
      'x-forwarded-host': 'auth.apim',
      'x-forwarded-proto': 'http',
      'x-detour-route': 'auth.apim/',
      'x-api-key': 'good',
    });
    expect(call).to.not.have.property('content-length');
    await eventually(() => p.log.some((l) => l.policy === 'apim/auth' && l.auth === 'allowed'));
  });

  it("relays the auth service's refusal as it answered: status, body and headers", async () => {
    const before = app.seen.length;
    const res = await send(p.origin, 'auth.apim', '/orders', { headers: { 'x-api-key': 'nope' } });
    expect(res.status).to.equal(401);
    expect(res.json()).to.deep.equal({ error: 'unknown consumer key' });
    expect(res.headers['www-authenticate']).to.equal('ApiKey realm="apim"');
    expect(res.headers['x-apim']).to.equal('denied');
    expect(app.seen.length).to.equal(before);
    await eventually(() => p.log.some((l) => l.auth === 'denied' && l.status === 401));
  });

  it('answers 503 DETOUR_E_AUTH_UNAVAILABLE when the auth service is slow or down (failureMode closed)', async () => {
    const started = Date.now();
    const slow = await send(p.origin, 'auth.apim', '/x', { headers: { 'x-api-key': 'slow' } });
    expect(slow.status).to.equal(503);
    expect(slow.json()).to.include({ error: 'DETOUR_E_AUTH_UNAVAILABLE' });
    expect(Date.now() - started).to.be.below(900);
    const down = await send(p.origin, 'down.apim', '/x', { headers: { 'x-api-key': 'good' } });
    expect(down.status).to.equal(503);
    await eventually(() => p.log.some((l) => l.auth === 'unavailable'));
  });

  it('lets the call through when the auth service fails and failureMode is open, and logs it', async () => {
    const res = await send(p.origin, 'open.apim', '/x', { headers: { 'x-api-key': 'slow' } });
    expect(res.status).to.equal(200);
    await eventually(() => p.log.some((l) => l.policy === 'apim/open' && l.auth === 'open'));
  });

  it('caches 2xx answers by method, host, path and the forwarded headers', async () => {
    const before = auth.calls.length;
    for (let i = 0; i < 3; i++) {
      const res = await send(p.origin, 'cached.apim', '/same', {
        headers: { 'x-api-key': 'good' },
      });
      expect(res.status).to.equal(200);
      expect(echo(res.text).headers['x-consumer-id']).to.equal('alice');
    }
    expect(auth.calls.length - before).to.equal(1);
    await send(p.origin, 'cached.apim', '/same', { headers: { 'x-api-key': 'bob' } });
    await send(p.origin, 'cached.apim', '/other', { headers: { 'x-api-key': 'good' } });
    expect(auth.calls.length - before).to.equal(3);
    await eventually(() => p.log.some((l) => l.auth === 'cached'));
  });

  it('limits per consumer with a token bucket: 429 with Retry-After and the RateLimit fields', async () => {
    for (let i = 0; i < 2; i++) {
      const ok = await send(p.origin, 'limited.apim', '/r', { headers: { 'x-api-key': 'good' } });
      expect(ok.status).to.equal(200);
    }
    const limited = await send(p.origin, 'limited.apim', '/r', {
      headers: { 'x-api-key': 'good' },
    });
    expect(limited.status).to.equal(429);
    expect(limited.json()).to.include({ error: 'DETOUR_E_RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).to.be.within(1, 60);
    expect(limited.headers['ratelimit-policy']).to.equal('"apim/limited";q=2;w=60');
    expect(limited.headers.ratelimit).to.match(/^"apim\/limited";r=0;t=\d+$/);
    // Another consumer has a bucket of its own.
    const bob = await send(p.origin, 'limited.apim', '/r', { headers: { 'x-api-key': 'bob' } });
    expect(bob.status).to.equal(200);
    const text = await p.proxy.metrics.registry.metrics();
    expect(text).to.match(/detour_proxy_rate_limited_total\{policy="apim\/limited"\} 1/);
    await eventually(() => p.log.some((l) => l.rateLimited === true && l.status === 429));
  });

  it('sets and removes request and response headers, never framing ones', async () => {
    const res = await send(p.origin, 'headers.apim', '/h', { headers: { 'x-debug': '1' } });
    expect(res.status).to.equal(200);
    const seen = echo(res.text).headers;
    expect(seen['x-env']).to.equal('prod');
    expect(seen).to.not.have.property('x-debug');
    expect(res.headers['x-served-by']).to.equal('detour');
    expect(res.headers).to.not.have.property('x-upstream');
    expect(res.headers['content-length']).to.be.a('string');
  });

  it('checks the API key before calling the auth service', async () => {
    const before = auth.calls.length;
    const res = await send(p.origin, 'keyed.locked', '/k', { headers: { 'x-api-key': 'good' } });
    expect(res.status).to.equal(403);
    expect(auth.calls.length).to.equal(before);
    const ok = await send(p.origin, 'keyed.locked', '/k', {
      headers: { 'x-api-key': 'good', 'x-routing-api-key': 's3cret' },
    });
    expect(ok.status).to.equal(200);
    expect(auth.calls.length).to.equal(before + 1);
  });

  it('counts auth calls by result with their latency', async () => {
    const text = await p.proxy.metrics.registry.metrics();
    expect(text).to.match(/detour_proxy_auth_requests_total\{result="allowed"\} \d+/);
    expect(text).to.match(/detour_proxy_auth_requests_total\{result="denied"\} \d+/);
    expect(text).to.match(/detour_proxy_auth_duration_seconds_count\{result="allowed"\} \d+/);
  });
});
