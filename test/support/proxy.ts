import net from 'node:net';
import { until } from './eventually.js';
import { PassThrough } from 'node:stream';
import { request } from 'undici';
import { AccessLog } from '../../sidecar/access-log.js';
import { ProxyMetrics } from '../../sidecar/proxy-metrics.js';
import {
  ProxyServer,
  type ClientTimeouts,
  type ProxyMode,
  type ProxyServerOptions,
} from '../../sidecar/proxy-server.js';
import type { Policy } from '../../sidecar/policies/policy.js';
import { RouteTable } from '../../sidecar/route-table.js';
import type { UpstreamOptions } from '../../sidecar/upstreams.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';

/** An in-process proxy on 127.0.0.1:0 with its access log captured as parsed lines. */
export interface TestProxy {
  readonly proxy: ProxyServer;
  readonly port: number;
  readonly origin: string;
  /** Access-log records written so far. */
  readonly log: Record<string, unknown>[];
  setResources(resources: RouteTableResource[]): void;
  close(): Promise<void>;
}

export async function startProxy(
  options: {
    mode?: ProxyMode;
    resources?: RouteTableResource[];
    clientMaxBodySize?: number;
    apiKeyHeader?: string;
    upstreams?: Partial<UpstreamOptions>;
    timeouts?: Partial<ClientTimeouts>;
    /** Checks in place of the default chain (API key, body size). */
    policies?: readonly Policy[];
    pod?: ProxyServerOptions['pod'];
    /** Inbound capture (with `pod`): the captured ports (listen with `listenInbound`). */
    inbound?: ProxyServerOptions['inbound'];
    /** false: leave the proxy as before its first table (`/ready` says 503). */
    ready?: boolean;
  } = {},
): Promise<TestProxy> {
  const log: Record<string, unknown>[] = [];
  const destination = new PassThrough();
  let pending = '';
  destination.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl = pending.indexOf('\n');
    while (nl !== -1) {
      log.push(JSON.parse(pending.slice(0, nl)) as Record<string, unknown>);
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
  });
  const proxy = new ProxyServer({
    mode: options.mode ?? 'sidecar',
    config: {
      apiKeyHeader: options.apiKeyHeader ?? 'x-routing-api-key',
      clientMaxBodySize: options.clientMaxBodySize ?? 1024 * 1024,
    },
    accessLog: new AccessLog({ format: 'json', destination }),
    metrics: new ProxyMetrics(),
    upstreams: options.upstreams,
    timeouts: options.timeouts,
    policies: options.policies,
    pod: options.pod,
    inbound: options.inbound,
  });
  if (options.ready !== false) {
    proxy.setTable(RouteTable.fromResources(options.resources ?? []));
    proxy.markReady();
  }
  const address = await proxy.listen(0, '127.0.0.1');
  return {
    proxy,
    port: address.port,
    origin: `http://127.0.0.1:${address.port}`,
    log,
    setResources: (resources) => {
      proxy.setTable(RouteTable.fromResources(resources));
    },
    close: () => proxy.close(),
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** One request through the proxy with a chosen Host header. */
export async function send(
  origin: string,
  host: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const res = await request(`${origin}${path}`, {
    method: (options.method ?? 'GET') as 'GET',
    headers: { host, ...options.headers },
    body: options.body,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

/** Waits until `predicate` holds, polling, for at most `ms` (then throws). */
export function eventually(predicate: () => boolean, ms = 5_000): Promise<void> {
  return until(predicate, 'the condition', ms);
}

/** Writes `text` as is to 127.0.0.1:port and collects everything until the server closes. */
export async function rawExchange(
  port: number,
  text: string | Buffer,
  timeoutMs = 10_000,
): Promise<string> {
  return (await rawBytes(port, text, timeoutMs)).toString('latin1');
}

/** rawExchange's bytes as they came (binary protocols: HTTP/2 frames). */
export function rawBytes(
  port: number,
  bytes: string | Buffer,
  timeoutMs = 10_000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => {
      socket.destroy(new Error('raw exchange timed out'));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      resolve(Buffer.concat(chunks));
    });
    socket.write(bytes);
  });
}
