import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeNow, listenOn } from '../shared/server-lifecycle.js';
import type { Registry } from 'prom-client';

/**
 * The controller's small HTTP server: `/metrics` (Prometheus text), `/healthz` (the
 * process is alive), `/ready` (200 once the first sync and reconcile are done, so a
 * rollout waits for a replica that actually wrote tables).
 */
export class MetricsServer {
  readonly #server: http.Server;

  constructor(registry: Registry, ready: () => boolean) {
    this.#server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      };
      if (req.method !== 'GET') {
        send(405, 'method not allowed\n');
      } else if (path === '/healthz') {
        send(200, 'ok\n');
      } else if (path === '/ready') {
        if (ready()) send(200, 'ready\n');
        else send(503, 'not synced yet\n');
      } else if (path === '/metrics') {
        registry.metrics().then(
          (text) => {
            send(200, text, registry.contentType);
          },
          (err: unknown) => {
            send(500, `${String(err)}\n`);
          },
        );
      } else {
        send(404, 'not found\n');
      }
    });
  }

  listen(port: number, host = '0.0.0.0'): Promise<AddressInfo> {
    return listenOn(this.#server, port, host);
  }

  close(): Promise<void> {
    return closeNow(this.#server);
  }
}
