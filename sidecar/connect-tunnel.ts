import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { decideConnect } from './request-pipeline.js';
import {
  Tunnel,
  connectFailure,
  connectUpstream,
  finishTunnel,
  refuseTunnel,
  splice,
  type TunnelContext,
} from './tunnel.js';

/**
 * `CONNECT host:port` from clients configured with HTTP_PROXY/HTTPS_PROXY (proxy-env
 * capture): the proxy opens a TCP connection to host:port and pipes bytes both ways
 * without looking inside (usually TLS). Sidecar mode only: an edge gateway must not be
 * an open relay. https://www.rfc-editor.org/rfc/rfc9110#section-9.3.6
 *
 * One exception: a CONNECT to a host of the route table whose first bytes are not a TLS
 * handshake is plain HTTP for a route. Node 24's env proxy (NODE_USE_ENV_PROXY, undici's
 * ProxyAgent) tunnels even `http://` URLs, and the name is often resolvable nowhere but
 * in the table; so the tunnel is handed to this proxy's own HTTP server as a connection,
 * and the requests in it are routed, checked and logged like any other.
 */
export function handleConnect(
  proxy: TunnelContext,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  const authority = req.url ?? '';
  const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
  const tunnel = new Tunnel('CONNECT', authority, '', requestId);
  tunnel.routeLabel = 'tunnel';
  proxy.trackTunnel(socket);
  socket.on('error', () => socket.destroy());
  const decision = decideConnect(proxy.pipeline, authority);
  if (decision.kind === 'refuse') {
    refuseTunnel(proxy, tunnel, socket, decision.code, decision.detail);
    return;
  }
  const { name, port } = decision;
  if (proxy.hasHost(name)) {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    firstBytes(socket, head, proxy.firstBytesTimeoutMs, (first) => {
      // 0x16: a TLS record carrying a handshake (https://www.rfc-editor.org/rfc/rfc8446#section-5.1).
      if (first === 0x16) {
        tunnelRaw(proxy, tunnel, socket, name, port, false);
        return;
      }
      proxy.serveAsHttp(socket);
    });
    return;
  }
  tunnelRaw(proxy, tunnel, socket, name, port, true, head);
}

/**
 * Calls back with the first byte the client sends after the 200 (it stays unread). A
 * client that sends nothing within `timeoutMs` is hung up on, as a slow head would be.
 */
function firstBytes(
  socket: Socket,
  head: Buffer,
  timeoutMs: number,
  done: (first: number | undefined) => void,
): void {
  if (head.length > 0) {
    socket.unshift(head);
    done(head[0]);
    return;
  }
  const timer = setTimeout(() => {
    socket.destroy();
  }, timeoutMs);
  socket.once('readable', () => {
    clearTimeout(timer);
    const chunk = socket.read() as Buffer | null;
    if (chunk !== null) socket.unshift(chunk);
    done(chunk?.[0]);
  });
}

function tunnelRaw(
  proxy: TunnelContext,
  tunnel: Tunnel,
  socket: Socket,
  name: string,
  port: number,
  answer: boolean,
  head: Buffer = Buffer.alloc(0),
): void {
  tunnel.upstream = { key: `${name}:${port}` };
  const upstream = connectUpstream(name, port, proxy.connectTimeoutMs, (err) => {
    if (err !== undefined) {
      const { code, kind } = connectFailure(err);
      proxy.metrics.upstreamErrors.inc({ kind });
      if (answer) refuseTunnel(proxy, tunnel, socket, code, err.code ?? err.message);
      else {
        socket.destroy(); // the 200 is out already: all that is left is to hang up
        finishTunnel(proxy, tunnel);
      }
      return;
    }
    tunnel.status = 200;
    if (answer) socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    splice(socket, upstream, () => {
      finishTunnel(proxy, tunnel);
    });
  });
  tunnel.upstreamSocket = upstream;
}
