import type * as NodeHttp from 'node:http';
import { http } from './node-http.js';
import { closeNow, listenOn } from '../shared/server-lifecycle.js';
import type { AddressInfo } from 'node:net';
import type { ProxyServer } from './proxy-server.js';
import { APP_HEALTH_PREFIX } from '../shared/app-probes.js';
import { errorMessage } from '../shared/errors.js';
import { ERROR_CODES } from '../shared/error-codes.js';
import { AppHealth } from './app-health.js';
import { detourVersion } from '../shared/version.js';

/**
 * The proxy's admin port (15000, on every address: the kubelet probes it and Prometheus
 * scrapes it from outside the pod). `/routes` and `/routes/explain` name hosts, pod IPs
 * and which namespaces need a key: they answer loopback peers only (`kubectl exec`,
 * `kubectl port-forward`, both of which arrive from the pod's loopback).
 * `/healthz` (the process runs), `/ready` (200 only once the first complete table is in
 * and until draining starts; the native sidecar's startupProbe waits on it), `/metrics`,
 * `/routes` (the table as JSON) and `/routes/explain?url=` (sidecar/explain.ts).
 * Plain node:http: four read-only endpoints do not need a framework.
 */
export class AdminServer {
  readonly server: NodeHttp.Server;
  readonly #proxy: ProxyServer;
  readonly #source: string;
  readonly #appHealth: AppHealth;

  constructor(proxy: ProxyServer, source: string, appHealth = new AppHealth({}, '127.0.0.1')) {
    this.#proxy = proxy;
    this.#source = source;
    this.#appHealth = appHealth;
    this.server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        // Never a second throw from here: an unhandled rejection would end the process.
        if (res.headersSent) res.destroy();
        else send(res, 500, { error: 'DETOUR_E_INTERNAL', message: errorMessage(err) });
      });
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  async #handle(req: NodeHttp.IncomingMessage, res: NodeHttp.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      send(res, 400, { error: 'DETOUR_E_BAD_REQUEST', message: 'invalid request target' });
      return;
    }
    const proxy = this.#proxy;
    // The kubelet's rewritten probes (sidecar/app-health.ts): open to every peer.
    if (url.pathname.startsWith(APP_HEALTH_PREFIX)) {
      const outcome = await this.#appHealth.check(
        url.pathname.slice(APP_HEALTH_PREFIX.length),
        req.headers,
      );
      send(res, outcome.status, outcome.body);
      return;
    }
    switch (url.pathname) {
      case '/healthz':
        send(res, 200, { status: 'ok' });
        return;
      case '/ready':
        // proxyVersion and the table's sources let `detour status` (through the API
        // server's pods/proxy) say which proxies are old or behind.
        if (proxy.ready) {
          send(res, 200, {
            status: 'ready',
            proxyVersion: detourVersion(),
            tableVersion: proxy.table.version,
            routeTables: proxy.table.sources,
          });
        } else {
          send(res, 503, {
            status: proxy.draining ? 'draining' : 'waiting for the first route table',
            proxyVersion: detourVersion(),
            source: this.#source,
          });
        }
        return;
      case '/metrics': {
        const body = await proxy.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': proxy.metrics.registry.contentType });
        res.end(body);
        return;
      }
      case '/routes':
        if (!fromLoopback(req)) {
          refuseRemote(res);
          return;
        }
        send(res, 200, { source: this.#source, ready: proxy.ready, ...proxy.table.toJSON() });
        return;
      case '/routes/explain': {
        if (!fromLoopback(req)) {
          refuseRemote(res);
          return;
        }
        const target = url.searchParams.get('url');
        if (target === null || target === '') {
          send(res, 400, { error: 'missing', message: 'pass ?url=http://host/path' });
          return;
        }
        // Loaded on first use: the admin server does not pay for it at start.
        const { explain } = await import('./explain.js');
        send(
          res,
          200,
          explain(proxy.table, target, {
            mode: proxy.mode,
            apiKeyHeader: proxy.apiKeyHeader,
            clientMaxBodySize: proxy.clientMaxBodySize,
          }),
        );
        return;
      }
      default:
        send(res, 404, {
          error: 'not found',
          endpoints: ['/healthz', '/ready', '/metrics', '/routes', '/routes/explain?url='],
        });
    }
  }
}

/** 127.0.0.0/8, ::1, or 127.x mapped into IPv6 (a dual-stack listener's form). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

function fromLoopback(req: NodeHttp.IncomingMessage): boolean {
  return isLoopbackAddress(req.socket.remoteAddress);
}

function refuseRemote(res: NodeHttp.ServerResponse): void {
  const code = 'DETOUR_E_ROUTES_LOOPBACK';
  send(res, ERROR_CODES[code].status, { error: code, message: ERROR_CODES[code].message });
}

function send(res: NodeHttp.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
