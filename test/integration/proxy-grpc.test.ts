import { expect } from 'chai';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import type { RoutePolicy } from '../../shared/api-policy.js';
import { tableResource } from '../support/upstream.js';
import { eventually, startProxy, type TestProxy } from '../support/proxy.js';
import { keyHashes } from '../support/api-key.js';
import {
  clientThrough,
  ECHO_SERVICE,
  grpc,
  startGrpcServer,
  unary,
  type EchoClient,
  type TestGrpcServer,
} from '../support/grpc.js';

const HOST = 'echo.grpc-ns';

/** Metadata from plain pairs. */
function md(pairs: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) m.set(k, v);
  return m;
}

/** A server-streaming call's messages, or its error. */
function collect(call: grpc.ClientReadableStream<Buffer>): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    call.on('data', (m: Buffer) => got.push(m));
    call.on('error', reject);
    call.on('end', () => {
      resolve(got);
    });
  });
}

/** A call's error, as the client saw it (fails the test if the call succeeds). */
async function failure(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

/** The access-log lines of h2 streams for `path`. */
function h2Lines(p: TestProxy, path: string): Record<string, unknown>[] {
  return p.log.filter((l) => l.protocol === 'h2' && l.path === path);
}

describe('detour proxy: gRPC over h2c (prior knowledge)', function () {
  this.timeout(30_000);
  let a: TestGrpcServer;
  let b: TestGrpcServer;
  let p: TestProxy;
  let client: EchoClient;
  let closedPort = 0;

  before(async () => {
    a = await startGrpcServer('a', '127.0.0.2');
    b = await startGrpcServer('b', '127.0.0.3');
    const closed = await startGrpcServer('closed', '127.0.0.4');
    await closed.close(); // its port now refuses connections
    closedPort = closed.port;
    const limited = tableResource('limited', [
      { host: 'limited.limited', path: '/', upstreams: [a] },
    ]);
    const policy: RoutePolicy = {
      name: 'limited/one-a-minute',
      rateLimit: { requests: 1, windowSeconds: 60, key: 'none' },
    };
    (limited.spec.routes[0] as { policy?: RoutePolicy }).policy = policy;
    p = await startProxy({
      // Counts a whole request stream, as for an HTTP/1 body: 30 x 512 KiB fit.
      clientMaxBodySize: 64 * 1024 * 1024,
      resources: [
        tableResource('grpc-ns', [
          { host: HOST, path: '/detour.test.Echo', upstreams: [a] },
          { host: 'both.grpc-ns', path: '/', upstreams: [a, b] },
          { host: 'empty.grpc-ns', path: '/', upstreams: [] },
          { host: 'down.grpc-ns', path: '/', upstreams: [closed] },
          { host: 'half.grpc-ns', path: '/', upstreams: [closed, b] },
        ]),
        tableResource(
          'locked',
          [{ host: 'keyed.locked', path: '/', upstreams: [a] }],
          keyHashes('s3cret'),
        ),
        limited,
      ],
    });
    client = clientThrough(p.port, HOST);
  });

  after(async () => {
    client.close();
    await p.close();
    await a.close();
    await b.close();
  });

  it('relays a unary call: reply, metadata and trailers both ways, one h2 log line', async () => {
    const { reply, headers, status } = await unary(
      client,
      Buffer.from('hello'),
      md({ 'x-echo': 'round-trip' }),
    );
    expect(reply.toString()).to.equal('a|hello');
    expect(status.code).to.equal(grpc.status.OK);
    expect(headers.get('x-server')).to.deep.equal(['a']);
    expect(headers.get('x-echo')).to.deep.equal(['round-trip']);
    expect(status.metadata.get('x-trailer')).to.deep.equal(['a']);
    expect(a.lastMetadata?.get('x-detour-hops')).to.deep.equal(['1']);
    await eventually(() => h2Lines(p, ECHO_SERVICE.unary.path).length === 1);
    const line = h2Lines(p, ECHO_SERVICE.unary.path)[0] as Record<string, unknown>;
    expect(line).to.include({ protocol: 'h2', status: 200, grpcStatus: 0, host: HOST });
    expect(line.route).to.be.a('string').and.not.equal('-');
  });

  it('streams from the server: 40 messages of 1 MiB, in order, with the trailers', async () => {
    const call = client.makeServerStreamRequest(
      ECHO_SERVICE.serverStream.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from('40:1048576'),
    );
    let trailers: grpc.Metadata | undefined;
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
    });
    const got = await collect(call);
    expect(got).to.have.length(40);
    got.forEach((m, i) => {
      expect(m.length).to.equal(1048576);
      expect(m[0]).to.equal(i % 251);
    });
    await eventually(() => trailers !== undefined);
    expect(trailers?.get('x-trailer')).to.deep.equal(['a']);
  });

  it('streams from the client: 30 messages of 512 KiB arrive intact (SHA-256)', async () => {
    const hash = createHash('sha256');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const call = client.makeClientStreamRequest(
        ECHO_SERVICE.clientStream.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        (err: grpc.ServiceError | null, value?: Buffer) => {
          if (err !== null) reject(err);
          else resolve(value as Buffer);
        },
      );
      for (let i = 0; i < 30; i++) {
        const m = Buffer.alloc(512 * 1024, i);
        hash.update(m);
        call.write(m);
      }
      call.end();
    });
    expect(reply.toString()).to.equal(`30:${30 * 512 * 1024}:${hash.digest('hex')}`);
  });

  it('streams both ways: 50 messages of 64 KiB echoed in order, metadata both ways', async () => {
    const call = client.makeBidiStreamRequest(
      ECHO_SERVICE.bidi.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      md({ 'x-echo': 'bidi' }),
    );
    let headers: grpc.Metadata | undefined;
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
    const got: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (m: Buffer) => got.push(m));
      call.on('end', resolve);
      call.on('error', reject);
    });
    // One at a time: each message goes out only after the previous one came back.
    for (let i = 0; i < 50; i++) {
      call.write(Buffer.alloc(64 * 1024, i));
      await eventually(() => got.length === i + 1);
    }
    call.end();
    await done;
    expect(headers?.get('x-echo')).to.deep.equal(['bidi']);
    got.forEach((m, i) => {
      expect(m.subarray(0, 2).toString()).to.equal('a|');
      expect(m.length).to.equal(2 + 64 * 1024);
      expect(m[2]).to.equal(i);
    });
  });

  it("passes the upstream's own status, message and trailers through", async () => {
    const err = await failure(unary(client, Buffer.from('x'), md({ 'x-fail': '5' })));
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
    expect(err.details).to.equal('failed as asked (a)');
    expect(err.metadata.get('x-trailer')).to.deep.equal(['a']);
    await eventually(() => p.log.some((l) => l.protocol === 'h2' && l.grpcStatus === 5));
  });

  it('round-robins calls across two servers', async () => {
    const both = clientThrough(p.port, 'both.grpc-ns');
    try {
      const names: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { reply } = await unary(both, Buffer.from('rr'));
        names.push(reply.toString().split('|')[0] as string);
      }
      expect([...names].sort()).to.deep.equal(['a', 'a', 'b', 'b']);
      expect(names[0]).to.not.equal(names[1]);
    } finally {
      both.close();
    }
  });

  it('retries a call whose connection was refused on the next endpoint, and ejects the first', async () => {
    const half = clientThrough(p.port, 'half.grpc-ns');
    const retries = (await p.proxy.metrics.retries.get()).values[0]?.value ?? 0;
    try {
      // Whichever endpoint round robin starts with, both calls end at b.
      for (let i = 0; i < 2; i++) {
        const { reply } = await unary(half, Buffer.from('again'));
        expect(reply.toString()).to.equal('b|again');
      }
      const after = (await p.proxy.metrics.retries.get()).values[0]?.value ?? 0;
      expect(after).to.be.at.least(retries + 1);
      expect(p.proxy.upstreams.isEjected('127.0.0.4:' + String(closedPort))).to.equal(true);
    } finally {
      half.close();
    }
  });

  it('honours a client deadline: DEADLINE_EXCEEDED, the server sees the call cancelled', async () => {
    const before = a.cancelled;
    const started = Date.now();
    const err = await failure(
      unary(client, Buffer.from('slow'), md({ 'x-delay-ms': '3000' }), {
        deadline: Date.now() + 300,
      }),
    );
    expect(err.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).to.be.below(2_000);
    await eventually(() => a.cancelled > before);
  });

  it('enforces grpc-timeout itself: trailers-only DEADLINE_EXCEEDED, upstream call cancelled', async () => {
    // A raw HTTP/2 client that does not enforce the deadline itself: only detour can.
    const before = a.cancelled;
    const session = http2.connect(`http://127.0.0.1:${p.port}`);
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': ECHO_SERVICE.unary.path,
        ':authority': HOST,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '200m',
        'x-delay-ms': '3000',
      });
      req.end(Buffer.from([0, 0, 0, 0, 1, 0x61]));
      const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((resolve) => {
        req.on('response', (h, f) => {
          resolve([h, f]);
        });
      });
      expect(flags & http2.constants.NGHTTP2_FLAG_END_STREAM).to.not.equal(0);
      expect(headers).to.include({
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': '4',
        'x-detour-error': 'DETOUR_E_TIMEOUT',
      });
      await eventually(() => a.cancelled > before);
    } finally {
      session.close();
    }
  });

  it('cancels an upstream call silent past --response-idle-timeout: DEADLINE_EXCEEDED', async () => {
    const idle = await startProxy({
      upstreams: { bodyIdleTimeoutMs: 300 },
      resources: [tableResource('grpc-ns', [{ host: HOST, path: '/', upstreams: [a] }])],
    });
    const c = clientThrough(idle.port, HOST);
    const before = a.cancelled;
    try {
      const started = Date.now();
      const err = await failure(unary(c, Buffer.from('x'), md({ 'x-delay-ms': '3000' })));
      expect(err.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      expect(err.metadata.get('x-detour-error')).to.deep.equal(['DETOUR_E_TIMEOUT']);
      expect(Date.now() - started).to.be.below(2_000);
      await eventually(() => a.cancelled > before);
    } finally {
      c.close();
      await idle.close();
    }
  });

  describe("detour's own answers are trailers-only with the registry's gRPC status", () => {
    const cases: [string, string, grpc.status, string][] = [
      ['no API key', 'keyed.locked', grpc.status.PERMISSION_DENIED, 'DETOUR_E_API_KEY'],
      ['no ready endpoint', 'empty.grpc-ns', grpc.status.UNAVAILABLE, 'DETOUR_E_NO_ENDPOINT'],
      ['connection refused', 'down.grpc-ns', grpc.status.UNAVAILABLE, 'DETOUR_E_CONNECT'],
    ];
    for (const [what, authority, code, error] of cases) {
      it(`${what}: ${grpc.status[code]} (${code})`, async () => {
        const c = clientThrough(p.port, authority);
        try {
          const err = await failure(unary(c, Buffer.from('x')));
          expect(err.code).to.equal(code);
          expect(err.metadata.get('x-detour-error')).to.deep.equal([error]);
          await eventually(() =>
            p.log.some((l) => l.protocol === 'h2' && l.host === authority && l.error === error),
          );
          const line = p.log.find((l) => l.host === authority && l.error === error);
          expect(line).to.include({ status: 200, grpcStatus: code });
        } finally {
          c.close();
        }
      });
    }

    it('unknown path on a known host: UNIMPLEMENTED (12), message percent-encoded', async () => {
      const c = clientThrough(p.port, HOST);
      try {
        // The route is /detour.test.Echo: another service on the same host has none.
        const err = await failure(
          new Promise((resolve, reject) => {
            c.makeUnaryRequest(
              '/other.Service/Método',
              (b: Buffer) => b,
              (b: Buffer) => b,
              Buffer.from('x'),
              (e: grpc.ServiceError | null, v?: Buffer) => {
                if (e !== null) reject(e);
                else resolve(v);
              },
            );
          }),
        );
        expect(err.code).to.equal(grpc.status.UNIMPLEMENTED);
        expect(err.details).to.contain('no route for this path on this host');
        expect(err.details).to.contain('Método');
      } finally {
        c.close();
      }
    });

    it('with the API key as metadata, the keyed route answers, and the key is not passed on', async () => {
      const c = clientThrough(p.port, 'keyed.locked');
      try {
        const { reply } = await unary(c, Buffer.from('k'), md({ 'x-routing-api-key': 's3cret' }));
        expect(reply.toString()).to.equal('a|k');
        expect(a.lastMetadata?.get('x-routing-api-key')).to.deep.equal([]);
      } finally {
        c.close();
      }
    });

    it('over the rate limit: RESOURCE_EXHAUSTED (8) with Retry-After', async () => {
      const c = clientThrough(p.port, 'limited.limited');
      try {
        await unary(c, Buffer.from('1'));
        const err = await failure(unary(c, Buffer.from('2')));
        expect(err.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
        expect(err.metadata.get('x-detour-error')).to.deep.equal(['DETOUR_E_RATE_LIMITED']);
        expect(err.metadata.get('retry-after')).to.have.length(1);
      } finally {
        c.close();
      }
    });

    it('a body over CLIENT_MAX_BODY_SIZE: RESOURCE_EXHAUSTED (8)', async () => {
      const small = await startProxy({
        clientMaxBodySize: 1000,
        resources: [tableResource('grpc-ns', [{ host: HOST, path: '/', upstreams: [a] }])],
      });
      const c = clientThrough(small.port, HOST);
      try {
        const err = await failure(unary(c, Buffer.alloc(5000, 1)));
        expect(err.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
        await eventually(() => small.log.some((l) => l.error === 'DETOUR_E_BODY_TOO_LARGE'));
      } finally {
        c.close();
        await small.close();
      }
    });

    it('gateway mode, unknown host: UNIMPLEMENTED (12)', async () => {
      const gw = await startProxy({ mode: 'gateway', resources: [] });
      const c = clientThrough(gw.port, 'nobody.example');
      try {
        const err = await failure(unary(c, Buffer.from('x')));
        expect(err.code).to.equal(grpc.status.UNIMPLEMENTED);
        expect(err.metadata.get('x-detour-error')).to.deep.equal(['DETOUR_E_UNKNOWN_HOST']);
      } finally {
        c.close();
        await gw.close();
      }
    });
  });

  it('counts h2 streams by direction and gRPC status in the metrics', async () => {
    const text = await p.proxy.metrics.registry.metrics();
    expect(text).to.match(
      /detour_proxy_h2_streams_total\{direction="outbound",grpc_status="0"\} \d+/,
    );
    expect(p.proxy.metrics.h2Streams.count('outbound', 5)).to.be.at.least(1);
  });
});
