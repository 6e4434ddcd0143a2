import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { request } from 'undici';
import {
  startUpstream,
  tableResource,
  type EchoBody,
  type TestUpstream,
} from '../support/upstream.js';
import { eventually, rawExchange, send, startProxy, type TestProxy } from '../support/proxy.js';
import { keyHashes } from '../support/api-key.js';

describe('detour proxy: routing, policies and answers', function () {
  this.timeout(30_000);
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  let p: TestProxy;

  before(async () => {
    a = await startUpstream('a', '127.0.0.2');
    b = await startUpstream('b', '127.0.0.3');
    c = await startUpstream('c', '127.0.0.4');
    p = await startProxy({
      clientMaxBodySize: 1024,
      upstreams: { connectTimeoutMs: 1_000, headersTimeoutMs: 1_500 },
      resources: [
        tableResource('my-namespace', [
          { host: 'my-app.my-namespace', path: '/', upstreams: [c] },
          { host: 'my-app.my-namespace', path: '/nodejs', upstreams: [a] },
          { host: 'my-app.my-namespace', path: '/nodejs/deep', upstreams: [b] },
          { host: 'pool.my-namespace', path: '/', upstreams: [a, b] },
          { host: 'empty.my-namespace', path: '/', upstreams: [] },
          // A port nothing listens on (bound then closed by the test OS: 127.0.0.9:9).
          {
            host: 'down.my-namespace',
            path: '/',
            upstreams: [{ ...a, name: 'down', host: '127.0.0.9', port: 9 }],
          },
          { host: 'slow.my-namespace', path: '/', upstreams: [c] },
        ]),
        tableResource(
          'locked',
          [{ host: 'locked.locked', path: '/', upstreams: [a] }],
          keyHashes('s3cret'),
        ),
      ],
    });
  });

  after(async () => {
    await p.close();
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('routes by host (any case, port ignored) and the longest segment-wise path prefix', async () => {
    const cases: [string, string, string][] = [
      ['my-app.my-namespace', '/nodejs', 'a'],
      ['MY-APP.my-namespace:80', '/nodejs/x?q=1', 'a'],
      ['my-app.my-namespace', '/nodejs/deep/er', 'b'],
      ['my-app.my-namespace', '/nodejsfoo', 'c'],
      ['my-app.my-namespace', '/', 'c'],
    ];
    for (const [host, path, name] of cases) {
      const r = await send(p.origin, host, path);
      expect(r.status, `${host}${path}`).to.equal(200);
      const echo = r.json() as unknown as EchoBody;
      expect(echo.name, `${host}${path}`).to.equal(name);
      expect(echo.url).to.equal(path); // the path is not rewritten
      expect(echo.headers.host).to.equal(host); // Host preserved
    }
  });

  it('spreads requests round robin over the endpoints of a pool', async () => {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await send(p.origin, 'pool.my-namespace', '/rr');
      names.push((r.json() as unknown as EchoBody).name);
    }
    expect(names.filter((n) => n === 'a')).to.have.length(3);
    expect(names.filter((n) => n === 'b')).to.have.length(3);
    for (let i = 1; i < names.length; i++) expect(names[i]).to.not.equal(names[i - 1]);
  });

  it('asks for the API key (403) and removes it before forwarding', async () => {
    const none = await send(p.origin, 'locked.locked', '/x');
    expect(none.status).to.equal(403);
    expect(none.json().error).to.equal('DETOUR_E_API_KEY');
    const wrong = await send(p.origin, 'locked.locked', '/x', {
      headers: { 'X-ROUTING-API-KEY': 'guess' },
    });
    expect(wrong.status).to.equal(403);
    const right = await send(p.origin, 'locked.locked', '/x', {
      headers: { 'x-routing-api-key': 's3cret' },
    });
    expect(right.status).to.equal(200);
    expect((right.json() as unknown as EchoBody).headers).to.not.have.property('x-routing-api-key');
  });

  it('answers a flood of wrong keys with 403 and still serves the right key (and other routes)', async () => {
    const flood = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        send(p.origin, 'locked.locked', '/x', {
          headers: { 'x-routing-api-key': `guess-${String(i)}` },
        }),
      ),
    );
    expect(flood.every((r) => r.status === 403)).to.equal(true);
    // Some were refused at once (more than 2 running and 64 waiting), none were let in.
    expect(flood.some((r) => /too many/.test(String(r.json().message)))).to.equal(true);
    const open = await send(p.origin, 'my-app.my-namespace', '/nodejs');
    expect(open.status).to.equal(200);
    const right = await send(p.origin, 'locked.locked', '/x', {
      headers: { 'x-routing-api-key': 's3cret' },
    });
    expect(right.status).to.equal(200);
  });

  it('answers 413 for a declared Content-Length over CLIENT_MAX_BODY_SIZE', async () => {
    const r = await send(p.origin, 'my-app.my-namespace', '/nodejs', {
      method: 'POST',
      body: Buffer.alloc(2048, 1),
    });
    expect(r.status).to.equal(413);
    expect(r.json().error).to.equal('DETOUR_E_BODY_TOO_LARGE');
    const ok = await send(p.origin, 'my-app.my-namespace', '/nodejs', {
      method: 'POST',
      body: Buffer.alloc(1000, 1),
    });
    expect(ok.status).to.equal(200);
    expect((ok.json() as unknown as EchoBody).bytes).to.equal(1000);
  });

  it('answers 413 when a chunked body crosses the limit while streaming', async () => {
    const chunk = 'a'.repeat(600);
    const hex = chunk.length.toString(16);
    const raw = await rawExchange(
      p.port,
      'POST /nodejs HTTP/1.1\r\nHost: my-app.my-namespace\r\nTransfer-Encoding: chunked\r\n\r\n' +
        `${hex}\r\n${chunk}\r\n${hex}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    expect(raw).to.match(/^HTTP\/1\.1 413 /);
    expect(raw).to.contain('DETOUR_E_BODY_TOO_LARGE');
  });

  it('answers 404 for a known host with an unknown path', async () => {
    const p2 = await startProxy({
      resources: [tableResource('ns', [{ host: 'only.ns', path: '/api', upstreams: [a] }])],
    });
    try {
      const miss = await send(p2.origin, 'only.ns', '/apix');
      expect(miss.status).to.equal(404);
      const body = miss.json();
      expect(body.error).to.equal('DETOUR_E_UNKNOWN_PATH');
      expect(body.requestId).to.be.a('string').and.not.equal('');
      expect(miss.headers['x-request-id']).to.equal(body.requestId);
    } finally {
      await p2.close();
    }
  });

  it('answers 503 when the route has no ready endpoint', async () => {
    const r = await send(p.origin, 'empty.my-namespace', '/');
    expect(r.status).to.equal(503);
    expect(r.json().error).to.equal('DETOUR_E_NO_ENDPOINT');
  });

  it('answers 502 when the endpoint refuses the connection', async () => {
    const r = await send(p.origin, 'down.my-namespace', '/', { method: 'POST', body: 'x' });
    expect(r.status).to.equal(502);
    expect(r.json().error).to.equal('DETOUR_E_CONNECT');
  });

  it('answers 504 when the upstream does not send headers in time', async () => {
    const r = await send(p.origin, 'slow.my-namespace', '/delay/4000');
    expect(r.status).to.equal(504);
    expect(r.json().error).to.equal('DETOUR_E_TIMEOUT');
  });

  it('strips hop-by-hop headers both ways, passes traceparent, keeps x-request-id', async () => {
    const raw = await rawExchange(
      p.port,
      'GET /nodejs HTTP/1.1\r\nHost: my-app.my-namespace\r\n' +
        'Connection: close, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=9\r\n' +
        'TE: trailers\r\nProxy-Authorization: Basic eA==\r\n' +
        'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n' +
        'x-request-id: req-42\r\nX-Forwarded-For: 198.18.0.7\r\n\r\n',
    );
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    expect(head).to.match(/^HTTP\/1\.1 200 /);
    expect(head.toLowerCase()).to.not.contain('x-upstream-private');
    expect(head.toLowerCase()).to.not.contain('keep-alive: timeout=5');
    const echo = JSON.parse(body) as EchoBody;
    expect(echo.headers).to.not.have.property('x-private');
    expect(echo.headers).to.not.have.property('te');
    expect(echo.headers).to.not.have.property('proxy-authorization');
    expect(echo.headers).to.not.have.property('keep-alive');
    expect(echo.headers.traceparent).to.equal(
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    );
    expect(echo.headers['x-request-id']).to.equal('req-42');
    expect(echo.headers['x-forwarded-for']).to.equal('198.18.0.7, 127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).to.equal('http');
    expect(echo.headers['x-forwarded-host']).to.equal('my-app.my-namespace');
  });

  it('passes the final answer after an informational 103 from the upstream', async () => {
    const r = await send(p.origin, 'my-app.my-namespace', '/nodejs/early-hints');
    expect(r.status).to.equal(200);
    expect((r.json() as unknown as EchoBody).url).to.equal('/nodejs/early-hints');
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const r = await send(p.origin, 'my-app.my-namespace', '/nodejs/head', { method: 'HEAD' });
    expect(r.status).to.equal(200);
    expect(Number(r.headers['content-length'])).to.be.greaterThan(0);
    expect(r.text).to.equal('');
    const next = await send(p.origin, 'my-app.my-namespace', '/nodejs/after-head');
    expect(next.status).to.equal(200); // the connection is still in step
  });

  it('creates an x-request-id when the client sent none', async () => {
    const r = await send(p.origin, 'my-app.my-namespace', '/nodejs');
    const id = (r.json() as unknown as EchoBody).headers['x-request-id'];
    expect(id).to.match(/^[0-9a-f-]{36}$/);
  });

  it('answers 508 past the hop limit (a routing loop)', async () => {
    const r = await send(p.origin, 'my-app.my-namespace', '/nodejs', {
      headers: { 'x-detour-hops': '10' },
    });
    expect(r.status).to.equal(508);
    expect(r.json().error).to.equal('DETOUR_E_LOOP');
  });

  it('stops a real loop: a passthrough to itself comes back until the hop limit', async () => {
    const r = await send(p.origin, `127.0.0.1:${p.port}`, '/loop');
    expect(r.status).to.equal(508);
  });

  it('sidecar mode forwards an unknown host to the host the app asked for', async () => {
    const r = await send(p.origin, `127.0.0.4:${c.port}`, '/anywhere', {
      headers: { 'x-routing-api-key': 'app-own' },
    });
    expect(r.status).to.equal(200);
    const echo = r.json() as unknown as EchoBody;
    expect(echo.name).to.equal('c');
    expect(echo.headers['x-routing-api-key']).to.equal('app-own');
  });

  it('gateway mode answers 404 for an unknown host', async () => {
    const g = await startProxy({ mode: 'gateway' });
    try {
      const r = await send(g.origin, `127.0.0.4:${c.port}`, '/anywhere');
      expect(r.status).to.equal(404);
      expect(r.json().error).to.equal('DETOUR_E_UNKNOWN_HOST');
    } finally {
      await g.close();
    }
  });

  it('routes absolute-form requests (HTTP_PROXY clients) by the URL authority', async () => {
    const raw = await rawExchange(
      p.port,
      'GET http://my-app.my-namespace/nodejs/abs?x=1 HTTP/1.1\r\nHost: ignored.example\r\n' +
        'Proxy-Connection: keep-alive\r\nConnection: close\r\n\r\n',
    );
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    expect(head).to.match(/^HTTP\/1\.1 200 /);
    const echo = JSON.parse(body) as EchoBody;
    expect(echo.name).to.equal('a');
    expect(echo.url).to.equal('/nodejs/abs?x=1');
    expect(echo.headers.host).to.equal('my-app.my-namespace');
    expect(echo.headers).to.not.have.property('proxy-connection');
  });

  it('tunnels CONNECT host:port as raw TCP', async () => {
    const raw = await rawExchange(
      p.port,
      `CONNECT 127.0.0.3:${b.port} HTTP/1.1\r\nHost: 127.0.0.3:${b.port}\r\n\r\n` +
        `GET /through-tunnel HTTP/1.1\r\nHost: tunnelled\r\nConnection: close\r\n\r\n`,
    );
    expect(raw).to.match(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 /);
    const echo = JSON.parse(raw.slice(raw.lastIndexOf('\r\n\r\n') + 4)) as EchoBody;
    expect(echo.name).to.equal('b');
    // Not looked inside: no proxy headers were added to the tunnelled request.
    expect(echo.headers).to.not.have.property('x-forwarded-for');
  });

  it('serves plain HTTP inside a CONNECT to a route host (Node 24 env proxy), raw TLS passes', async () => {
    // The request follows the CONNECT in the same packet (head), then a second one.
    const raw = await rawExchange(
      p.port,
      'CONNECT my-app.my-namespace:80 HTTP/1.1\r\nHost: my-app.my-namespace:80\r\n\r\n' +
        'GET /nodejs/in-tunnel HTTP/1.1\r\nHost: my-app.my-namespace\r\nConnection: close\r\n\r\n',
    );
    expect(raw).to.match(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 /);
    const echo = JSON.parse(raw.slice(raw.lastIndexOf('\r\n\r\n') + 4)) as EchoBody;
    expect(echo.name).to.equal('a');
    expect(echo.headers['x-forwarded-for']).to.equal('127.0.0.1'); // routed by detour

    // A TLS ClientHello to a route host is not HTTP: it goes through raw (here to an
    // HTTP server, which refuses the bytes).
    const tlsPool = await startProxy({
      resources: [tableResource('ns', [{ host: '127.0.0.3', path: '/', upstreams: [b] }])],
    });
    try {
      const tls = await rawExchange(
        tlsPool.port,
        Buffer.concat([
          Buffer.from(`CONNECT 127.0.0.3:${b.port} HTTP/1.1\r\nHost: 127.0.0.3\r\n\r\n`),
          Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 13, 10, 13, 10]),
        ]),
      );
      expect(tls).to.match(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 400 /);
    } finally {
      await tlsPool.close();
    }
  });

  it('works with a real HTTP_PROXY client: Node 24 fetch with NODE_USE_ENV_PROXY=1', async () => {
    const script =
      "const get = (p) => fetch('http://my-app.my-namespace' + p).then(async (r) => r.status + ' ' + (await r.json()).name);" +
      "Promise.all([get('/nodejs/env-1'), get('/nodejs/deep/env-2')]).then((r) => console.log(r.join(',')), (e) => { console.log('ERR', String(e.cause ?? e)); });";
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['-e', script], {
        env: { ...process.env, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: p.origin, NO_PROXY: '' },
      });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.on('close', () => {
        resolve(text.trim());
      });
    });
    expect(out).to.equal('200 a,200 b');
  });

  it('writes one access-log line per request with the documented fields', async () => {
    const r = await send(p.origin, 'my-app.my-namespace', '/nodejs/logged?q=1', {
      method: 'POST',
      body: 'hello',
      headers: { 'x-request-id': 'log-1' },
    });
    expect(r.status).to.equal(200);
    await eventually(() => p.log.some((l) => l.requestId === 'log-1'));
    const line = p.log.find((l) => l.requestId === 'log-1')!;
    expect(line).to.include({
      msg: 'request',
      method: 'POST',
      host: 'my-app.my-namespace',
      path: '/nodejs/logged?q=1',
      status: 200,
      route: 'my-app.my-namespace/nodejs',
      upstream: a.key,
      bytesIn: 5,
      bytesOut: Buffer.byteLength(r.text),
    });
    expect(line.time).to.be.a('string');
    expect(line.durationMs).to.be.a('number').and.at.least(0);
    expect(p.log.filter((l) => l.requestId === 'log-1')).to.have.length(1);
  });

  it('counts requests, errors and table size in the metrics', async () => {
    await send(p.origin, 'pool.my-namespace', '/m');
    const text = await p.proxy.metrics.registry.metrics();
    expect(text).to.match(
      /detour_proxy_requests_total\{direction="outbound",route="pool.my-namespace\/",status="200"\} \d+/,
    );
    expect(text).to.match(
      /detour_proxy_requests_total\{direction="outbound",route="down.my-namespace\/",status="502"\} 1/,
    );
    expect(text).to.match(
      /detour_proxy_request_duration_seconds_bucket\{le="0.005",direction="outbound",route="pool.my-namespace\/"\}/,
    );
    expect(text).to.match(/detour_proxy_upstream_errors_total\{kind="connect"\} [1-9]/);
    expect(text).to.match(/detour_proxy_upstream_errors_total\{kind="timeout"\} [1-9]/);
    expect(text).to.match(/detour_proxy_ejections_total\{reason="connect"\} [1-9]/);
    expect(text).to.match(/detour_proxy_routes 8/);
    expect(text).to.match(/detour_proxy_table_updates_total 1/);
    expect(text).to.match(/detour_proxy_requests_in_flight 0/);
    const res = await request(`${p.origin}/`, { headers: { host: 'pool.my-namespace' } });
    await res.body.dump();
  });
});
