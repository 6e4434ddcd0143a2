import { expect } from 'chai';
import { openRaw, startRawServer, type RawServer } from '../support/raw-http.js';
import { WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { startUpstream, tableResource, type TestUpstream } from '../support/upstream.js';
import { eventually, rawExchange, startProxy, type TestProxy } from '../support/proxy.js';
import { keyHashes } from '../support/api-key.js';
import { sniffKind } from '../../sidecar/inbound-listener.js';

/** Status code of a raw HTTP/1.1 answer (0 when there is none). */
function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
}

/** A TCP "app" on 127.0.0.2: echoes (or greets first, then echoes). */
function tcpApp(greeting?: string): Promise<RawServer> {
  return startRawServer('127.0.0.2', (socket) => {
    if (greeting !== undefined) socket.write(greeting);
    socket.pipe(socket);
  });
}

describe('detour proxy: inbound (enforce at the destination)', function () {
  this.timeout(30_000);
  let app: TestUpstream;
  let echo: RawServer;
  let greeter: RawServer;
  let p: TestProxy;
  /** Inbound listener port by app port. */
  const listener = new Map<number, number>();

  before(async () => {
    app = await startUpstream('app', '127.0.0.2');
    echo = await tcpApp();
    greeter = await tcpApp('220 smtp ready\r\n');
    p = await startProxy({
      timeouts: { headersMs: 600 },
      resources: [
        tableResource(
          'locked',
          [{ host: 'my-app.locked', path: '/api', upstreams: [app] }],
          keyHashes('s3cret'),
        ),
        tableResource('other', [{ host: 'other.other', path: '/', upstreams: [app] }]),
      ],
      pod: { namespace: 'locked', name: 'app-0', podIp: '127.0.0.2' },
      inbound: [app.port, echo.port, greeter.port].map((appPort) => ({
        appPort,
        listenerPort: 0,
      })),
    });
    const addresses = await p.proxy.listenInbound('127.0.0.1');
    [app.port, echo.port, greeter.port].forEach((appPort, i) => {
      listener.set(appPort, (addresses[i] as AddressInfo).port);
    });
  });

  after(async () => {
    await p.close();
    await app.close();
    echo.close();
    greeter.close();
  });

  const httpPort = (): number => listener.get(app.port) ?? 0;

  it('refuses a request without the key, whatever the Host, and forwards nothing', async () => {
    const before = app.seen.length;
    for (const host of ['my-app.locked', '127.0.0.2', 'other.other', 'anything.example']) {
      const answer = await rawExchange(
        httpPort(),
        `GET /api/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      expect(statusOf(answer), host).to.equal(403);
      expect(answer).to.contain('DETOUR_E_API_KEY');
    }
    expect(app.seen.length).to.equal(before);
  });

  it('lets the request with the key through to the app on its own port, without the key header', async () => {
    const answer = await rawExchange(
      httpPort(),
      'GET /api/x HTTP/1.1\r\nHost: 127.0.0.2\r\nX-Routing-Api-Key: s3cret\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(answer)).to.equal(200);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
      name: string;
      url: string;
      headers: Record<string, string>;
    };
    expect(body.name).to.equal('app');
    expect(body.url).to.equal('/api/x');
    expect(body.headers).to.not.have.property('x-routing-api-key');
    await eventually(() =>
      p.log.some((l) => l.direction === 'inbound' && l.path === '/api/x' && l.status === 200),
    );
    const line = p.log.find((l) => l.direction === 'inbound' && l.status === 200);
    expect(line).to.include({ route: 'locked/*', protocol: 'http' });
  });

  it('checks a request for one of the namespace routes as that route', async () => {
    const answer = await rawExchange(
      httpPort(),
      'GET /api/y HTTP/1.1\r\nHost: my-app.locked\r\nX-Routing-Api-Key: s3cret\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(answer)).to.equal(200);
    await eventually(() =>
      p.log.some((l) => l.path === '/api/y' && l.route === 'my-app.locked/api'),
    );
    expect(p.proxy.metrics.requests.count('my-app.locked/api', 200, 'inbound')).to.equal(1);
  });

  it('checks WebSocket upgrades inbound too, and splices them to the app', async () => {
    const url = `ws://127.0.0.1:${httpPort()}/ws`;
    const denied = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url, { headers: { host: 'my-app.locked' } });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', () => {
        resolve(-1);
      });
    });
    expect(denied).to.equal(403);
    const hello = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers: { host: 'my-app.locked', 'x-routing-api-key': 's3cret' },
      });
      ws.on('message', (data: Buffer) => {
        ws.close();
        resolve(data.toString('utf8'));
      });
      ws.on('error', reject);
    });
    expect(hello).to.match(/^app:hello /);
    expect(app.upgradeHeaders.at(-1)).to.not.have.property('x-routing-api-key');
  });

  it('does not let a client that waits before speaking skip the checks', async () => {
    const c = openRaw(httpPort());
    await new Promise((r) => setTimeout(r, 300)); // past the 100 ms sniff
    c.socket.write('GET /api/late HTTP/1.1\r\nHost: my-app.locked\r\nConnection: close\r\n\r\n');
    await c.closed;
    expect(statusOf(c.received())).to.equal(403);
    expect(app.seen).to.not.include('GET /api/late');
  });

  it('hangs up on a client that starts a method token and stalls', async () => {
    const c = openRaw(httpPort());
    c.socket.write('GE');
    const started = Date.now();
    await c.closed;
    expect(Date.now() - started).to.be.below(2_000);
    expect(c.received()).to.equal('');
  });

  it('splices anything that is not HTTP/1.x through byte for byte, logged as tcp', async () => {
    const c = openRaw(listener.get(echo.port) ?? 0);
    const payload = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x80]);
    c.socket.write(payload);
    await eventually(() => c.received().length >= payload.length);
    expect(Buffer.from(c.received(), 'latin1').equals(payload)).to.equal(true);
    c.socket.end();
    await c.closed;
    await eventually(() => p.log.some((l) => l.protocol === 'tcp' && l.direction === 'inbound'));
    const line = p.log.find((l) => l.protocol === 'tcp');
    expect(line).to.include({ route: 'inbound-tcp', upstream: `127.0.0.2:${echo.port}` });
  });

  it('relays a server-first greeting, then splices', async () => {
    const c = openRaw(listener.get(greeter.port) ?? 0);
    await eventually(() => c.received().includes('220 smtp ready'));
    c.socket.write('HELO x\r\n');
    await eventually(() => c.received().includes('HELO x'));
    expect(c.received()).to.equal('220 smtp ready\r\nHELO x\r\n');
    c.socket.destroy();
  });

  it('tells HTTP/1.x request lines from other first bytes', () => {
    expect(sniffKind(Buffer.from('GET / HTTP/1.1'))).to.equal('http');
    expect(sniffKind(Buffer.from('M-SEARCH * HTTP/1.1'))).to.equal('http');
    expect(sniffKind(Buffer.from('GE'))).to.equal('more');
    expect(sniffKind(Buffer.from('PRI * HTTP/2.0\r\n'))).to.equal('more');
    expect(sniffKind(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).to.equal('h2');
    expect(sniffKind(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'))).to.equal('other');
    expect(sniffKind(Buffer.from([0x16, 0x03]))).to.equal('other');
    expect(sniffKind(Buffer.from(' GET'))).to.equal('other');
    expect(sniffKind(Buffer.from('get / HTTP/1.1'))).to.equal('other');
    expect(sniffKind(Buffer.from('A'.repeat(30)))).to.equal('other');
  });
});

describe('detour proxy: inbound in a namespace without a key', function () {
  this.timeout(10_000);

  it('passes requests to the app, logged as inbound', async () => {
    const app = await startUpstream('open-app', '127.0.0.2');
    const p = await startProxy({
      pod: { namespace: 'open', name: 'open-0', podIp: '127.0.0.2' },
      inbound: [{ appPort: app.port, listenerPort: 0 }],
    });
    try {
      const [address] = await p.proxy.listenInbound('127.0.0.1');
      const answer = await rawExchange(
        (address as AddressInfo).port,
        'POST /x HTTP/1.1\r\nHost: 127.0.0.2\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
      );
      expect(statusOf(answer)).to.equal(200);
      expect(answer).to.contain('"bytes":5');
      await eventually(() => p.log.some((l) => l.direction === 'inbound' && l.route === 'open/*'));
    } finally {
      await p.close();
      await app.close();
    }
  });
});
