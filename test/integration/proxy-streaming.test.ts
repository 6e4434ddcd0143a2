import { expect } from 'chai';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import WebSocket from 'ws';
import {
  patternBlock,
  patternSha256,
  startUpstream,
  tableResource,
  type EchoBody,
  type TestUpstream,
} from '../support/upstream.js';
import { eventually, send, startProxy, type TestProxy } from '../support/proxy.js';
import { keyHashes } from '../support/api-key.js';

const FIFTY_MB = 50 * 1024 * 1024;

function patternStream(total: number): Readable {
  let index = 0;
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const block = patternBlock(index++);
      const take = Math.min(block.length, total - sent);
      sent += take;
      this.push(take === block.length ? block : block.subarray(0, take));
    },
  });
}

describe('detour proxy: streams, WebSocket, updates and failures', function () {
  this.timeout(60_000);
  let a: TestUpstream;
  let b: TestUpstream;
  let p: TestProxy;

  before(async () => {
    a = await startUpstream('a', '127.0.0.2');
    b = await startUpstream('b', '127.0.0.3');
    p = await startProxy({
      clientMaxBodySize: 0,
      resources: [tableResource('ns', [{ host: 'big.ns', path: '/', upstreams: [a] }])],
    });
  });

  after(async () => {
    await p.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('streams a 50 MB request body to the upstream intact (SHA-256)', async () => {
    const res = await request(`${p.origin}/upload`, {
      method: 'PUT',
      headers: { host: 'big.ns', 'content-length': String(FIFTY_MB) },
      body: patternStream(FIFTY_MB),
    });
    const echo = (await res.body.json()) as EchoBody;
    expect(res.statusCode).to.equal(200);
    expect(echo.bytes).to.equal(FIFTY_MB);
    expect(echo.sha256).to.equal(patternSha256(FIFTY_MB));
  });

  it('streams a 50 MB chunked request body (no Content-Length) intact', async () => {
    const res = await request(`${p.origin}/upload-chunked`, {
      method: 'POST',
      headers: { host: 'big.ns' },
      body: patternStream(FIFTY_MB),
    });
    const echo = (await res.body.json()) as EchoBody;
    expect(echo.headers['transfer-encoding']).to.equal('chunked');
    expect(echo.sha256).to.equal(patternSha256(FIFTY_MB));
  });

  it('streams a 50 MB response body to the client intact (SHA-256)', async () => {
    const res = await request(`${p.origin}/download/${FIFTY_MB}`, { headers: { host: 'big.ns' } });
    expect(res.statusCode).to.equal(200);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      bytes += buf.length;
      hash.update(buf);
    }
    expect(bytes).to.equal(FIFTY_MB);
    expect(hash.digest('hex')).to.equal(patternSha256(FIFTY_MB));
  });

  it('stops the upstream download when the client leaves, and logs 499', async () => {
    p.setResources([tableResource('ns', [{ host: 'big.ns', path: '/', upstreams: [a] }])]);
    const raw = net.connect(p.port, '127.0.0.1');
    raw.write(`GET /download/${FIFTY_MB} HTTP/1.1\r\nHost: big.ns\r\nx-request-id: leaver\r\n\r\n`);
    await new Promise<void>((resolve) => {
      let seen = 0;
      raw.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > 1024 * 1024) {
          raw.destroy();
          resolve();
        }
      });
    });
    await eventually(() => p.log.some((l) => l.requestId === 'leaver'));
    const line = p.log.find((l) => l.requestId === 'leaver')!;
    expect(line.status).to.equal(499);
    expect(line.bytesOut).to.be.below(FIFTY_MB);
    await eventually(() => p.proxy.inFlight === 0);
  });

  it('proxies a WebSocket (Upgrade) and echoes messages both ways', async () => {
    p.setResources([tableResource('ns', [{ host: 'ws.ns', path: '/chat', upstreams: [b] }])]);
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/chat/room`, { headers: { host: 'ws.ns' } });
    const messages: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        messages.push(data.toString('utf8'));
        if (messages.length === 1) ws.send('ping-1');
        if (messages.length === 2) ws.send(Buffer.from([1, 2, 3]), { binary: true });
        if (messages.length === 3) resolve();
      });
      ws.on('error', reject);
    });
    await done;
    ws.close();
    expect(messages).to.deep.equal(['b:hello 127.0.0.1', 'b:ping-1', 'b:010203']);
    expect(b.seen).to.include('UPGRADE /chat/room');
    const refused = new WebSocket(`ws://127.0.0.1:${p.port}/elsewhere`, {
      headers: { host: 'ws.ns' },
    });
    const status = await new Promise<number>((resolve) => {
      refused.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
      });
      refused.on('error', () => {
        resolve(-1);
      });
    });
    expect(status).to.equal(404);
  });

  it('checks the API key on Upgrade requests too, and strips it', async () => {
    p.setResources([
      tableResource('locked', [{ host: 'ws.locked', path: '/', upstreams: [b] }], keyHashes('k')),
    ]);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p.port}/x`, { headers: { host: 'ws.locked' } });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
    });
    expect(status).to.equal(403);
    const hello = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p.port}/x`, {
        headers: { host: 'ws.locked', 'x-routing-api-key': 'k' },
      });
      ws.on('message', (data: Buffer) => {
        ws.close();
        resolve(data.toString('utf8'));
      });
      ws.on('error', reject);
    });
    expect(hello).to.equal('b:hello 127.0.0.1');
    const headers = b.upgradeHeaders.at(-1) ?? {};
    expect(headers).to.not.have.property('x-routing-api-key');
    expect(headers.upgrade).to.equal('websocket');
    expect(headers['x-detour-hops']).to.equal('1');
  });

  it('swaps the table during a stream of requests without failing any', async () => {
    p.setResources([tableResource('ns', [{ host: 'live.ns', path: '/', upstreams: [a] }])]);
    const statuses: number[] = [];
    const names: string[] = [];
    let sent = 0;
    const worker = async (): Promise<void> => {
      while (sent < 300) {
        sent++;
        if (sent === 100) {
          p.setResources([tableResource('ns', [{ host: 'live.ns', path: '/', upstreams: [b] }])]);
        }
        if (sent === 200) {
          p.setResources([
            tableResource('ns', [{ host: 'live.ns', path: '/', upstreams: [a, b] }]),
          ]);
        }
        const r = await send(p.origin, 'live.ns', `/n/${sent}`);
        statuses.push(r.status);
        names.push((r.json() as unknown as EchoBody).name);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(statuses).to.have.length(300);
    expect(statuses.every((s) => s === 200)).to.equal(true);
    expect(names.slice(0, 90).every((n) => n === 'a')).to.equal(true);
    expect(names.slice(105, 190).every((n) => n === 'b')).to.equal(true);
    expect(names.slice(210)).to.include.members(['a', 'b']);
  });

  it('ejects a killed upstream and retries idempotent requests on the other one', async () => {
    const doomed = await startUpstream('doomed', '127.0.0.5');
    const survivor = await startUpstream('survivor', '127.0.0.6');
    p.setResources([
      tableResource('ns', [{ host: 'ha.ns', path: '/', upstreams: [doomed, survivor] }]),
    ]);
    try {
      for (let i = 0; i < 4; i++) {
        expect((await send(p.origin, 'ha.ns', '/warm')).status).to.equal(200);
      }
      await doomed.close();
      const statuses: number[] = [];
      const names: string[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await send(p.origin, 'ha.ns', `/after/${i}`);
        statuses.push(r.status);
        names.push((r.json() as unknown as EchoBody).name);
      }
      expect(statuses.every((s) => s === 200)).to.equal(true);
      expect(names.every((n) => n === 'survivor')).to.equal(true);
      const metrics = await p.proxy.metrics.registry.metrics();
      expect(metrics).to.match(/detour_proxy_ejections_total\{reason="connect"\} [1-9]/);
      expect(metrics).to.match(/detour_proxy_retries_total [1-9]/);
      expect(p.proxy.upstreams.isEjected(doomed.key)).to.equal(true);
    } finally {
      await survivor.close();
    }
  });
});
