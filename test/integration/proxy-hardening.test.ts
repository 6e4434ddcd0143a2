import { expect } from 'chai';
import { openRaw, startRawServer, type RawServer } from '../support/raw-http.js';
import { startUpstream, tableResource, type TestUpstream } from '../support/upstream.js';
import { eventually, rawExchange, send, startProxy, type TestProxy } from '../support/proxy.js';
import { keyHashes } from '../support/api-key.js';
import type { Policy } from '../../sidecar/policies/policy.js';

/** The status line and the `x-detour-error` code of a raw HTTP/1.1 answer. */
function head(answer: string): { status: number; reason: string; code: string | undefined } {
  const line = answer.slice(0, answer.indexOf('\r\n'));
  const match = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(line);
  const code = /\r\nx-detour-error: (\S+)\r\n/i.exec(answer)?.[1];
  return { status: Number(match?.[1] ?? 0), reason: match?.[2] ?? '', code };
}

/** A raw upstream on 127.0.0.5 that answers every connection with `answer` as is. */
function rawUpstream(answer: string | Buffer): Promise<RawServer> {
  return startRawServer('127.0.0.5', (socket) => {
    socket.once('data', () => socket.end(answer));
  });
}

describe('detour proxy: hardening (hostile requests and upstreams)', function () {
  this.timeout(30_000);
  let a: TestUpstream;
  let p: TestProxy;

  before(async () => {
    a = await startUpstream('a', '127.0.0.2');
    p = await startProxy({
      resources: [
        tableResource('my-namespace', [{ host: 'my-app.my-namespace', path: '/', upstreams: [a] }]),
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
    await a.close();
  });

  /** The proxy still routes a plain request: nothing above took it down. */
  async function stillServes(): Promise<void> {
    const ok = await send(p.origin, 'my-app.my-namespace', '/alive');
    expect(ok.status).to.equal(200);
  }

  it('refuses invalid Host values with 400 DETOUR_E_BAD_HOST before routing or DNS', async () => {
    const before = a.seen.length;
    for (const host of ['a/b', 'a?b', '%zz', 'a:b:c', 'a b', 'x:99999', '[::1', 'a..b']) {
      const answer = await rawExchange(
        p.port,
        `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      expect(head(answer), host).to.deep.include({ status: 400, code: 'DETOUR_E_BAD_HOST' });
    }
    expect(a.seen.length).to.equal(before);
    await stillServes();
  });

  it('refuses an invalid absolute-form authority the same way', async () => {
    const answer = await rawExchange(
      p.port,
      'GET http://a%zz/x HTTP/1.1\r\nHost: my-app.my-namespace\r\nConnection: close\r\n\r\n',
    );
    expect(head(answer)).to.deep.include({ status: 400, code: 'DETOUR_E_BAD_HOST' });
    await stillServes();
  });

  it('refuses a second Host header with 400 (RFC 9112 §3.2), forwarding nothing', async () => {
    const before = a.seen.length;
    const answer = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: elsewhere.example\r\nHost: my-app.my-namespace\r\n\r\n',
    );
    expect(head(answer)).to.deep.include({ status: 400, code: 'DETOUR_E_DUPLICATE_HEADER' });
    expect(a.seen.length).to.equal(before);
  });

  it('refuses two API-key headers (a wrong one first) with 400', async () => {
    const before = a.seen.length;
    const answer = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: locked.locked\r\nX-Routing-Api-Key: wrong\r\n' +
        'x-routing-api-key: s3cret\r\n\r\n',
    );
    expect(head(answer)).to.deep.include({ status: 400, code: 'DETOUR_E_DUPLICATE_HEADER' });
    expect(a.seen.length).to.equal(before);
  });

  it('matches the API-key header as nginx did: any case, `_` for `-`, and strips it', async () => {
    const answer = await send(p.origin, 'locked.locked', '/k', {
      headers: { X_Routing_Api_Key: 's3cret' },
    });
    expect(answer.status).to.equal(200);
    const echoed = answer.json() as { headers: Record<string, string> };
    expect(Object.keys(echoed.headers).filter((h) => /api.key/i.test(h))).to.deep.equal([]);
  });

  it('answers 501 to any transfer coding other than chunked alone, and closes', async () => {
    // (`chunked, chunked` never gets this far: Node's parser refuses it with a 400.)
    for (const te of ['gzip, chunked', 'deflate,chunked', 'identity, chunked']) {
      const before = a.seen.length;
      const answer = await rawExchange(
        p.port,
        `POST / HTTP/1.1\r\nHost: my-app.my-namespace\r\nTransfer-Encoding: ${te}\r\n\r\n` +
          '5\r\nhello\r\n0\r\n\r\n',
      );
      expect(head(answer), te).to.deep.include({ status: 501, code: 'DETOUR_E_TRANSFER_CODING' });
      expect(a.seen.length, te).to.equal(before);
    }
    await stillServes();
  });

  it('refuses CONNECT to an invalid target and Upgrade requests with a bad Host', async () => {
    const connect = await rawExchange(p.port, 'CONNECT a:b:c HTTP/1.1\r\nHost: a:b:c\r\n\r\n');
    expect(head(connect)).to.deep.include({ status: 400, code: 'DETOUR_E_BAD_HOST' });
    const upgrade = await rawExchange(
      p.port,
      'GET /ws HTTP/1.1\r\nHost: a/b\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(head(upgrade)).to.deep.include({ status: 400, code: 'DETOUR_E_BAD_HOST' });
    await stillServes();
  });

  it('answers an exception in a check with 500 for that request only, logged once with the code', async () => {
    const throwing: Policy = {
      name: 'throws',
      check: () => {
        throw new Error('boom in a policy');
      },
    };
    const q = await startProxy({
      resources: [tableResource('ns', [{ host: 'x.ns', path: '/', upstreams: [a] }])],
      policies: [throwing],
    });
    try {
      const answer = await send(q.origin, 'x.ns', '/');
      expect(answer.status).to.equal(500);
      expect(answer.json()).to.include({ error: 'DETOUR_E_INTERNAL' });
      expect(answer.json().requestId).to.be.a('string').and.not.equal('');
      await eventually(() => q.log.some((l) => l.code === 'DETOUR_E_INTERNAL'));
      const failures = q.log.filter((l) => l.code === 'DETOUR_E_INTERNAL');
      expect(failures).to.have.length(1);
      expect(failures[0]?.err).to.equal('boom in a policy');
      // The next request is answered too: the process and the server are fine.
      expect((await send(q.origin, 'x.ns', '/')).status).to.equal(500);
      expect((await send(q.origin, 'unknown.example', '/', {})).status).to.not.equal(undefined);
    } finally {
      await q.close();
    }
  });

  it('relays an upstream answer with a hostile reason phrase under the standard phrase', async () => {
    const up = await rawUpstream(
      Buffer.concat([
        Buffer.from('HTTP/1.1 200 '),
        Buffer.from('Ок', 'utf8'),
        Buffer.from('\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
      ]),
    );
    const q = await startProxy({
      resources: [
        tableResource('ns', [
          {
            host: 'odd.ns',
            path: '/',
            upstreams: [{ ...a, name: 'odd', host: '127.0.0.5', port: up.port }],
          },
        ]),
      ],
    });
    try {
      const answer = await rawExchange(
        q.port,
        'GET / HTTP/1.1\r\nHost: odd.ns\r\nConnection: close\r\n\r\n',
      );
      expect(head(answer)).to.deep.include({ status: 200, reason: 'OK' });
      expect(answer.endsWith('ok')).to.equal(true);
    } finally {
      up.close();
      await q.close();
    }
  });

  it('answers 502 (never hangs) when an upstream header cannot be relayed', async () => {
    for (const bad of ['x-bad: a\x01b', 'x-bad: a\x7fb', 'x-utf8: Ок']) {
      const up = await rawUpstream(
        Buffer.concat([
          Buffer.from('HTTP/1.1 200 OK\r\n'),
          Buffer.from(bad, 'utf8'),
          Buffer.from('\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
        ]),
      );
      const q = await startProxy({
        resources: [
          tableResource('ns', [
            {
              host: 'odd.ns',
              path: '/',
              upstreams: [{ ...a, name: 'odd', host: '127.0.0.5', port: up.port }],
            },
          ]),
        ],
      });
      try {
        const answer = await rawExchange(
          q.port,
          'GET / HTTP/1.1\r\nHost: odd.ns\r\nConnection: close\r\n\r\n',
          5_000,
        );
        // Relayed (the value is one Node can write) or refused as the upstream's fault.
        const { status } = head(answer);
        expect([200, 502], JSON.stringify(bad)).to.include(status);
        expect((await send(q.origin, 'odd.ns', '/again')).status).to.be.oneOf([200, 502]);
      } finally {
        up.close();
        await q.close();
      }
    }
  });
});

describe('detour proxy: deadlines and the upstream queue', function () {
  this.timeout(30_000);
  let a: TestUpstream;

  before(async () => {
    a = await startUpstream('a', '127.0.0.2');
  });

  after(async () => {
    await a.close();
  });

  it('cuts a client whose request head never ends, within the header deadline and a second', async () => {
    const p = await startProxy({ timeouts: { headersMs: 500 } });
    try {
      const raw = openRaw(p.port);
      raw.socket.write('GET / HTTP/1.1\r\nHost: my-app.my-namespace\r\nX-Slow: ');
      const started = Date.now();
      await raw.closed;
      const took = Date.now() - started;
      expect(took).to.be.below(2_000);
      expect(head(raw.received()).status).to.be.oneOf([0, 408]);
    } finally {
      await p.close();
    }
  });

  it('answers 408 DETOUR_E_BODY_TIMEOUT when the request body stops arriving', async () => {
    const p = await startProxy({
      timeouts: { bodyIdleMs: 400 },
      resources: [tableResource('ns', [{ host: 'x.ns', path: '/', upstreams: [a] }])],
    });
    try {
      const raw = openRaw(p.port);
      raw.socket.write(
        'POST /upload HTTP/1.1\r\nHost: x.ns\r\nContent-Length: 100\r\n\r\n0123456789',
      );
      await raw.closed;
      expect(head(raw.received())).to.deep.include({ status: 408, code: 'DETOUR_E_BODY_TIMEOUT' });
      await eventually(() => p.log.some((l) => l.error === 'DETOUR_E_BODY_TIMEOUT'));
    } finally {
      await p.close();
    }
  });

  it('queues behind a slow upload for a bounded time, then 503 DETOUR_E_UPSTREAM_BUSY; a full queue refuses at once', async () => {
    const p = await startProxy({
      upstreams: { connections: 1, queueLimit: 1, queueTimeoutMs: 500 },
      resources: [tableResource('ns', [{ host: 'x.ns', path: '/', upstreams: [a] }])],
    });
    try {
      // Holds the endpoint's only connection: the body arrives slowly.
      const slow = openRaw(p.port);
      slow.socket.write(
        'POST /slow HTTP/1.1\r\nHost: x.ns\r\nContent-Length: 20\r\n\r\n0123456789',
      );
      await eventually(() => p.proxy.upstreams.size === 1);
      await new Promise((r) => setTimeout(r, 50));
      const queued = send(p.origin, 'x.ns', '/queued');
      await new Promise((r) => setTimeout(r, 100));
      const full = await send(p.origin, 'x.ns', '/full');
      expect(full.status).to.equal(503);
      expect(full.json()).to.include({ error: 'DETOUR_E_UPSTREAM_BUSY' });
      expect(full.json().message).to.match(/queued/);
      const waited = await queued;
      expect(waited.status).to.equal(503);
      expect(waited.json().message).to.match(/no free connection in 500 ms/);
      // The upload finishes; its slot is free again and the endpoint serves.
      slow.socket.write('abcdefghij');
      await eventually(() => slow.received().includes('\r\n\r\n'));
      expect(head(slow.received()).status, slow.received()).to.equal(200);
      slow.socket.destroy();
      expect((await send(p.origin, 'x.ns', '/after')).status).to.equal(200);
      expect(a.seen).to.not.include('GET /full');
    } finally {
      await p.close();
    }
  });

  it('a queued request gets the slot as soon as it frees up', async () => {
    const p = await startProxy({
      upstreams: { connections: 1, queueTimeoutMs: 5_000 },
      resources: [tableResource('ns', [{ host: 'x.ns', path: '/', upstreams: [a] }])],
    });
    try {
      const first = send(p.origin, 'x.ns', '/delay/300');
      await new Promise((r) => setTimeout(r, 50));
      const second = await send(p.origin, 'x.ns', '/second');
      expect(second.status).to.equal(200);
      expect((await first).status).to.equal(200);
    } finally {
      await p.close();
    }
  });

  it('cuts an upstream answer whose body goes silent past the idle deadline', async () => {
    const stalling = await startRawServer('127.0.0.5', (socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
      });
    });
    const port = stalling.port;
    const p = await startProxy({
      upstreams: { bodyIdleTimeoutMs: 300 },
      resources: [
        tableResource('ns', [
          {
            host: 'stall.ns',
            path: '/',
            upstreams: [{ ...a, name: 's', host: '127.0.0.5', port }],
          },
        ]),
      ],
    });
    try {
      const raw = openRaw(p.port);
      raw.socket.write('GET / HTTP/1.1\r\nHost: stall.ns\r\n\r\n');
      const started = Date.now();
      await raw.closed;
      expect(Date.now() - started).to.be.below(3_000);
      expect(raw.received()).to.match(/^HTTP\/1\.1 200 OK/);
      expect(raw.received().endsWith('partial')).to.equal(true);
      await eventually(() => p.log.some((l) => l.error === 'DETOUR_E_TIMEOUT'));
    } finally {
      await p.close();
      stalling.close();
    }
  });
});
