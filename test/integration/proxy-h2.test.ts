import { expect } from 'chai';
import http2 from 'node:http2';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { tableResource } from '../support/upstream.js';
import { eventually, send, startProxy, type TestProxy } from '../support/proxy.js';
import { startH2Pair, type TestH2Upstream } from '../support/h2-upstream.js';
import { keyHashes } from '../support/api-key.js';
import {
  clientThrough,
  grpc,
  startGrpcServer,
  unary,
  type TestGrpcServer,
} from '../support/grpc.js';

const run = promisify(execFile);

/** One request on `session`; resolves with the response headers, body and RST code. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer; rstCode: number }> {
  return new Promise((resolve) => {
    const req = session.request(headers);
    let got: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      got = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('close', () => {
      resolve({ headers: got, body: Buffer.concat(chunks), rstCode: req.rstCode });
    });
    req.end();
  });
}

describe('detour proxy: the HTTP/2 side is loaded by the first h2c connection', function () {
  this.timeout(30_000);

  it('serves HTTP/1.1 without node:http2, then h2c from the first connection on', async () => {
    const pair = await startH2Pair();
    try {
      const { p } = pair;
      expect((await send(p.origin, 'h1.ns', '/first')).status).to.equal(200);
      expect(p.proxy.h2.loaded, 'loaded before any h2c connection').to.equal(false);
      const session = http2.connect(`http://127.0.0.1:${p.port}`);
      try {
        const first = await h2Request(session, { ':path': '/lazy', ':authority': 'h2.ns' });
        expect(first.headers[':status']).to.equal(200);
        expect(p.proxy.h2.loaded).to.equal(true);
      } finally {
        session.close();
      }
    } finally {
      await pair.close();
    }
  });
});

describe('detour proxy: plain HTTP/2 (h2c) beside HTTP/1.1 on one port', function () {
  this.timeout(30_000);
  let h2: TestH2Upstream;
  let p: TestProxy;
  let session: http2.ClientHttp2Session;

  let pair: Awaited<ReturnType<typeof startH2Pair>>;

  before(async () => {
    pair = await startH2Pair();
    ({ h2, p } = pair);
    session = http2.connect(`http://127.0.0.1:${p.port}`);
  });

  after(async () => {
    session.close();
    await pair.close();
  });

  it('serves curl --http2-prior-knowledge and HTTP/1.1 on the same listener', async () => {
    const { stdout } = await run('curl', [
      '-s',
      '--http2-prior-knowledge',
      '-H',
      'host: h2.ns',
      '-w',
      '\n%{http_version} %{http_code}',
      `http://127.0.0.1:${p.port}/via/curl?q=1`,
    ]);
    const [body, last] = stdout.split('\n') as [string, string];
    expect(last).to.equal('2 200');
    const echo = JSON.parse(body) as {
      name: string;
      path: string;
      headers: Record<string, string>;
    };
    expect(echo).to.include({ name: 'h2', path: '/via/curl?q=1' });
    expect(echo.headers[':authority']).to.equal('h2.ns');
    expect(echo.headers['x-forwarded-for']).to.equal('127.0.0.1');
    const http1 = await send(p.origin, 'h1.ns', '/via/http1');
    expect(http1.status).to.equal(200);
    expect(http1.json()).to.include({ name: 'h1', url: '/via/http1' });
    await eventually(() => p.log.some((l) => l.path === '/via/curl?q=1' && l.protocol === 'h2'));
    expect(p.log.find((l) => l.path === '/via/http1')).to.include({ protocol: 'http' });
  });

  it('answers plain HTTP/2 clients with the JSON answers, by `host` when `:authority` is absent', async () => {
    const { stdout } = await run('curl', [
      '-s',
      '--http2-prior-knowledge',
      '-H',
      'host: 127.0.0.9:1',
      '-w',
      '\n%{http_code}',
      `http://127.0.0.1:${p.port}/x`,
    ]);
    // Sidecar mode passes unknown hosts through, to a port nothing listens on here.
    const [body, code] = stdout.split('\n') as [string, string];
    expect(code).to.equal('502');
    expect(JSON.parse(body)).to.include({ error: 'DETOUR_E_CONNECT' });
    const gw = await startProxy({ mode: 'gateway', resources: [] });
    const s = http2.connect(`http://127.0.0.1:${gw.port}`);
    try {
      const res = await h2Request(s, { ':path': '/', host: 'unknown.example' });
      expect(res.headers[':status']).to.equal(404);
      expect(res.headers['x-detour-error']).to.equal('DETOUR_E_UNKNOWN_HOST');
      expect(JSON.parse(res.body.toString())).to.include({ error: 'DETOUR_E_UNKNOWN_HOST' });
      await eventually(() => gw.log.length === 1);
      expect(gw.log[0]).to.include({ host: 'unknown.example', protocol: 'h2', status: 404 });
    } finally {
      s.close();
      await gw.close();
    }
  });

  it("passes the upstream's RST_STREAM code on to the client", async () => {
    const res = await h2Request(session, { ':path': '/reset/11', ':authority': 'h2.ns' });
    expect(res.headers[':status']).to.equal(200);
    expect(res.rstCode).to.equal(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await eventually(() => p.log.some((l) => l.path === '/reset/11'));
    expect(p.log.find((l) => l.path === '/reset/11')).to.include({
      error: 'DETOUR_E_UPSTREAM_RESET',
      status: 502,
    });
  });

  it('respects flow control: a client that stops reading stops the upstream, then gets it all', async () => {
    const before = h2.written();
    const req = session.request({ ':path': '/download/64', ':authority': 'h2.ns' });
    req.pause();
    req.end();
    await new Promise((r) => setTimeout(r, 800));
    const stalled = h2.written() - before;
    // Windows and socket buffers on the way hold a few MiB, not the 64 MiB asked for.
    expect(stalled).to.be.below(16 * 1024 * 1024);
    let received = 0;
    req.on('data', (c: Buffer) => (received += c.length));
    req.resume();
    await new Promise<void>((resolve) => req.on('end', resolve));
    expect(received).to.equal(64 * 1024 * 1024);
  });

  it("propagates the client's RST_STREAM to the upstream stream", async () => {
    const before = h2.written();
    const req = session.request({ ':path': '/download/256', ':authority': 'h2.ns' });
    req.on('error', () => undefined);
    await new Promise<void>((resolve) =>
      req.once('response', () => {
        resolve();
      }),
    );
    req.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => p.log.some((l) => l.path === '/download/256'));
    const line = p.log.find((l) => l.path === '/download/256');
    expect(line).to.include({ status: 499, protocol: 'h2' });
    const after = h2.written();
    await new Promise((r) => setTimeout(r, 300));
    // The upstream stopped writing: its stream was reset, not left to fill windows.
    expect(h2.written()).to.equal(after);
    expect(after - before).to.be.below(256 * 1024 * 1024);
  });
});

describe('detour proxy: gRPC inbound (enforce at the destination)', function () {
  this.timeout(30_000);
  let app: TestGrpcServer;
  let p: TestProxy;
  let listener: number;

  before(async () => {
    app = await startGrpcServer('app', '127.0.0.2');
    p = await startProxy({
      resources: [
        tableResource(
          'locked',
          [{ host: 'my-app.locked', path: '/', upstreams: [app] }],
          keyHashes('s3cret'),
        ),
      ],
      pod: { namespace: 'locked', name: 'app-0', podIp: '127.0.0.2' },
      inbound: [{ appPort: app.port, listenerPort: 0 }],
    });
    const [address] = await p.proxy.listenInbound('127.0.0.1');
    listener = (address as AddressInfo).port;
  });

  after(async () => {
    await p.close();
    await app.close();
  });

  it('checks a gRPC call that skipped its own sidecar, by pod IP, and forwards it to the app', async () => {
    // Dialled by pod IP (what a caller without a sidecar does): the namespace's key applies.
    const noKey = clientThrough(listener, '127.0.0.2');
    try {
      const denied = await unary(noKey, Buffer.from('x')).then(
        () => undefined,
        (err: unknown) => err as grpc.ServiceError,
      );
      expect(denied?.code).to.equal(grpc.status.PERMISSION_DENIED);
      const md = new grpc.Metadata();
      md.set('x-routing-api-key', 's3cret');
      const { reply } = await unary(noKey, Buffer.from('in'), md);
      expect(reply.toString()).to.equal('app|in');
      await eventually(() =>
        p.log.some((l) => l.direction === 'inbound' && l.protocol === 'h2' && l.grpcStatus === 0),
      );
    } finally {
      noKey.close();
    }
  });
});
