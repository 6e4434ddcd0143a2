/**
 * The runtime's floor for a proxy (issue 13): Node's HTTP server relaying every request
 * to one upstream through an undici Pool, streaming both ways with backpressure, and
 * nothing else: no routing, checks, access log or metrics. bench/proxy/node-relay.ts
 * bundles it as `npm run build` bundles detour's proxy and runs it with the injected
 * env, so the gap between its row and detour's is what detour's own code costs.
 *
 * Usage: node node-relay.js LISTEN_PORT UPSTREAM_PORT   (both on 127.0.0.1)
 */
import { Pool, type Dispatcher } from 'undici';
import { responseHeaders } from '../../../sidecar/hop-headers.js';
import { http } from '../../../sidecar/node-http.js';
import { relayPorts, requestHeaders } from './relay-headers.js';

const [listenPort, upstreamPort] = relayPorts();

// detour's upstream pools keep up to 128 connections per endpoint (README, "Endpoints").
const pool = new Pool(`http://127.0.0.1:${String(upstreamPort)}`, { connections: 128 });

http
  .createServer((req, res) => {
    const headers = requestHeaders(req.rawHeaders);
    const bodyless = req.method === 'GET' || req.method === 'HEAD';
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {
        // undici 8 asks for it; the relay never aborts, so it keeps no controller.
      },
      onResponseStart(_controller, statusCode, answer) {
        if (statusCode >= 200) res.writeHead(statusCode, responseHeaders(answer));
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) {
          controller.pause();
          res.once('drain', () => {
            controller.resume();
          });
        }
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      },
    };
    pool.dispatch(
      { path: req.url ?? '/', method: req.method ?? 'GET', headers, body: bodyless ? null : req },
      handler,
    );
  })
  .listen(listenPort, '127.0.0.1');
