import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { ApiKeyHash, RouteTableResource } from '../../shared/route-table-resource.js';
import { privateTable } from './route-tables.js';

/**
 * A real HTTP upstream for proxy tests, bound to a loopback address of the test's
 * choosing (127.0.0.x), port 0. Paths:
 * - default: JSON echo `{ name, method, url, headers, bytes, sha256 }` of the request
 *   (the body is hashed as it streams, never buffered);
 * - `.../status/NNN`: answers NNN with the echo;
 * - `.../download/N`: N deterministic bytes (see `patternBlock`), streamed;
 * - `.../delay/MS`: answers after MS milliseconds;
 * - `.../early-hints...`: a 103 Early Hints before the answer;
 * - WebSocket upgrades on any path: echoes every message, prefixed with the name (another
 *   `Upgrade` protocol: 400 with `x-upstream`).
 */
export interface TestUpstream {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly key: string;
  /** Requests seen, in order (method + url). */
  readonly seen: string[];
  /** Headers of the upgrade requests seen, in order. */
  readonly upgradeHeaders: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

export interface EchoBody {
  name: string;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  sha256: string;
}

/** The identity fields every test upstream carries (HTTP/1, h2c, gRPC). */
export function upstreamIdentity(
  name: string,
  host: string,
  port: number,
): Pick<TestUpstream, 'name' | 'host' | 'port' | 'key' | 'seen' | 'upgradeHeaders'> {
  return { name, host, port, key: `${host}:${port}`, seen: [], upgradeHeaders: [] };
}

export async function startUpstream(name: string, host = '127.0.0.1'): Promise<TestUpstream> {
  const seen: string[] = [];
  const upgradeHeaders: http.IncomingHttpHeaders[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
    handle(name, req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push(`UPGRADE ${req.url ?? ''}`);
    upgradeHeaders.push(req.headers);
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      // ws would refuse it too, anonymously: this refusal says who answered.
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nx-upstream: ${name}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => {
        const bytes = Buffer.isBuffer(data)
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.from(data);
        const text = isBinary ? bytes.toString('hex') : bytes.toString('utf8');
        ws.send(`${name}:${text}`);
      });
      ws.send(`${name}:hello ${String(req.headers['x-forwarded-for'] ?? '')}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    host,
    port,
    key: `${host}:${port}`,
    seen,
    upgradeHeaders,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function handle(name: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const download = /\/download\/(\d+)/.exec(url);
  if (download !== null) {
    streamPattern(res, Number(download[1]));
    return;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    const body: EchoBody = {
      name,
      method: req.method ?? '',
      url,
      headers: req.headers,
      bytes,
      sha256: hash.digest('hex'),
    };
    const status = /\/status\/(\d{3})/.exec(url);
    const delay = /\/delay\/(\d+)/.exec(url);
    const send = (): void => {
      const text = JSON.stringify(body);
      res.writeHead(status === null ? 200 : Number(status[1]), {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'x-upstream': name,
        // A hop-by-hop header the proxy must not pass back.
        'keep-alive': 'timeout=5',
        connection: `${req.headers.connection === 'close' ? 'close' : 'keep-alive'}, x-upstream-private`,
        'x-upstream-private': 'hop',
      });
      res.end(text);
    };
    if (url.includes('/early-hints')) res.writeEarlyHints({ link: '</style.css>; rel=preload' });
    if (delay === null) send();
    else setTimeout(send, Number(delay[1]));
  });
}

/** Deterministic bytes: block i of 64 KiB is filled with (i * 7) & 0xff then counted up. */
export function patternBlock(index: number, size = 65536): Buffer {
  const block = Buffer.allocUnsafe(size);
  for (let j = 0; j < size; j++) block[j] = (index * 7 + j) & 0xff;
  return block;
}

export function patternSha256(total: number): string {
  const hash = createHash('sha256');
  for (let i = 0, sent = 0; sent < total; i++) {
    const block = patternBlock(i);
    const take = Math.min(block.length, total - sent);
    hash.update(take === block.length ? block : block.subarray(0, take));
    sent += take;
  }
  return hash.digest('hex');
}

function streamPattern(res: http.ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  let sent = 0;
  let index = 0;
  const pump = (): void => {
    while (sent < total) {
      const block = patternBlock(index++);
      const take = Math.min(block.length, total - sent);
      sent += take;
      if (!res.write(take === block.length ? block : block.subarray(0, take))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** A one-namespace RouteTable resource for tests: `routes` host+path -> upstreams. */
export function tableResource(
  namespace: string,
  routes: { host: string; path: string; upstreams: readonly TestUpstream[] }[],
  apiKeyHashes: ApiKeyHash[] = [],
): RouteTableResource {
  return privateTable(
    namespace,
    routes.map((r) => ({
      host: r.host,
      path: r.path,
      endpoints: r.upstreams.map((u) => ({ ip: u.host, port: u.port, pod: u.name })),
    })),
    { apiKeyHashes },
  );
}
