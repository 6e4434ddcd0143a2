import { expect } from 'chai';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { DEFAULT_H2_SESSION_OPTIONS } from '../../sidecar/h2/h2-sessions.js';
import { eventually, startProxy, type TestProxy } from '../support/proxy.js';
import { until } from '../support/eventually.js';
import { tableResource, upstreamIdentity } from '../support/upstream.js';

/** One request through `session`; resolves with its headers (and trailers) and body. */
function call(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':authority': 'busy.ns', ...headers });
    let got: http2.IncomingHttpHeaders = {};
    let body = '';
    req.on('response', (h) => {
      got = h;
    });
    req.on('trailers', (t: http2.IncomingHttpHeaders) => {
      got = { ...got, ...t };
    });
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('error', reject);
    req.on('close', () => {
      resolve({ headers: got, body });
    });
    req.end();
  });
}

/**
 * ADR 0009: per endpoint, at most `sessionsPerEndpoint` h2c connections, each carrying
 * what the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS allows. With every one full, a call
 * is answered at once (503, or UNAVAILABLE to a gRPC caller) instead of queueing, and
 * the endpoint serves again as soon as its streams end.
 */
describe('detour proxy: every h2c connection to an endpoint is full', function () {
  this.timeout(30_000);
  const held: http2.ServerHttp2Stream[] = [];
  let upstream: http2.Http2Server;
  let p: TestProxy;
  let client: http2.ClientHttp2Session;
  const pending: Promise<unknown>[] = [];

  before(async () => {
    // One stream per connection: each held call fills a connection of its own.
    upstream = http2.createServer({ settings: { maxConcurrentStreams: 1 } });
    upstream.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      if (headers[':path'] === '/hold') {
        stream.respond({ ':status': 200 });
        held.push(stream);
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end('served');
    });
    upstream.listen(0, '127.0.0.4');
    await once(upstream, 'listening');
    const port = (upstream.address() as AddressInfo).port;
    // The table only needs where the endpoint is; `after` closes the server itself.
    const identity = {
      ...upstreamIdentity('busy', '127.0.0.4', port),
      close: () => Promise.resolve(),
    };
    p = await startProxy({
      resources: [tableResource('ns', [{ host: 'busy.ns', path: '/', upstreams: [identity] }])],
    });
    client = http2.connect(`http://127.0.0.1:${p.port}`);
  });

  after(async () => {
    for (const stream of held) stream.close();
    await Promise.allSettled(pending);
    client.close();
    await p.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('answers 503 DETOUR_E_UPSTREAM_BUSY (UNAVAILABLE to gRPC) at once, and serves once a stream ends', async () => {
    const connections = DEFAULT_H2_SESSION_OPTIONS.sessionsPerEndpoint;
    // Fill them one at a time, so that each held call has seen its connection's SETTINGS.
    for (let i = 1; i <= connections; i++) {
      pending.push(call(client, { ':path': '/hold' }));
      await eventually(() => held.length === i);
    }
    const busy = await call(client, { ':path': '/one-more' });
    expect(busy.headers[':status']).to.equal(503);
    expect(JSON.parse(busy.body)).to.include({ error: 'DETOUR_E_UPSTREAM_BUSY' });
    const grpcBusy = await call(client, {
      ':method': 'POST',
      ':path': '/pkg.Service/Method',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    expect(grpcBusy.headers['grpc-status']).to.equal('14'); // UNAVAILABLE
    expect(held).to.have.length(connections); // neither reached the endpoint
    const log = p.log.find((l) => l.path === '/one-more');
    expect(log).to.include({ status: 503, protocol: 'h2' });

    // One held call ends: its connection has room again.
    held[0]?.end('done');
    await until(
      async () => (await call(client, { ':path': '/again' })).body === 'served',
      'a call served after one stream ended',
    );
  });
});
