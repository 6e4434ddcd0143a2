/**
 * node-relay-main.ts with Node's own HTTP client in place of undici: a keep-alive Agent
 * of 128 sockets, the response piped back. It shares the server's native llhttp parser
 * (no WebAssembly), so it shows what undici costs against the client Node ships.
 *
 * Usage: node node-relay-http.js LISTEN_PORT UPSTREAM_PORT   (both on 127.0.0.1)
 */
import { responseHeaders } from '../../../sidecar/hop-headers.js';
import { http } from '../../../sidecar/node-http.js';
import { relayPorts, requestHeaders } from './relay-headers.js';

const [listenPort, upstreamPort] = relayPorts();
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

http
  .createServer((req, res) => {
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: requestHeaders(req.rawHeaders),
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, responseHeaders(answer.headers));
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    });
    req.pipe(upstream);
  })
  .listen(listenPort, '127.0.0.1');
