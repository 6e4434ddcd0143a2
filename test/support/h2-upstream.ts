import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { startUpstream, tableResource, upstreamIdentity, type TestUpstream } from './upstream.js';
import { startProxy, type TestProxy } from './proxy.js';

/**
 * A plain (not gRPC) h2c upstream for proxy tests, on a loopback address of the test's
 * choosing. Paths:
 * - `/download/N`: N MiB, written with backpressure; `written` counts what left it;
 * - `/reset/CODE`: headers and one DATA frame, then RST_STREAM with CODE;
 * - anything else: JSON `{ name, method, path, headers }`.
 */
export interface TestH2Upstream extends TestUpstream {
  /** Bytes `/download` wrote into its streams so far. */
  readonly written: () => number;
}

export async function startH2Upstream(name: string, host = '127.0.0.1'): Promise<TestH2Upstream> {
  let written = 0;
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = headers[':path'] ?? '/';
    const download = /^\/download\/(\d+)$/.exec(path);
    const reset = /^\/reset\/(\d+)$/.exec(path);
    if (download !== null) {
      const total = Number(download[1]) * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 7);
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = (): void => {
        while (sent < total && !stream.destroyed) {
          sent += chunk.length;
          written += chunk.length;
          if (!stream.write(chunk)) {
            stream.once('drain', pump);
            return;
          }
        }
        if (!stream.destroyed) stream.end();
      };
      pump();
      return;
    }
    if (reset !== null) {
      // waitForTrailers: without it Node's close() after a write ends the stream cleanly
      // (END_STREAM) instead of resetting it.
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.write('partial', () => {
        stream.close(Number(reset[1]));
      });
      return;
    }
    stream.resume();
    const body = JSON.stringify({ name, method: headers[':method'], path, headers });
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': name });
    stream.end(body);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    ...upstreamIdentity(name, host, port),
    written: () => written,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * A proxy with an h2c upstream (`h2.ns`, on 127.0.0.2) and an HTTP/1 one (`h1.ns`, on
 * 127.0.0.3): the setup of the HTTP/2 tests that check both protocols on one listener.
 */
export async function startH2Pair(): Promise<{
  h2: TestH2Upstream;
  h1: TestUpstream;
  p: TestProxy;
  close(): Promise<void>;
}> {
  const h2 = await startH2Upstream('h2', '127.0.0.2');
  const h1 = await startUpstream('h1', '127.0.0.3');
  const p = await startProxy({
    resources: [
      tableResource('ns', [
        { host: 'h2.ns', path: '/', upstreams: [h2] },
        { host: 'h1.ns', path: '/', upstreams: [h1] },
      ]),
    ],
  });
  return {
    h2,
    h1,
    p,
    close: async () => {
      await p.close();
      await h2.close();
      await h1.close();
    },
  };
}
