import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { splitAuthority } from './request-target.js';
import {
  Tunnel,
  connectFailure,
  connectUpstream,
  finishTunnel,
  refuseTunnel,
  splice,
} from './tunnel.js';
import type { ProxyServer } from './proxy-server.js';

/**
 * `CONNECT host:port` from clients configured with HTTP_PROXY/HTTPS_PROXY (proxy-env
 * capture): the proxy opens a TCP connection to host:port and pipes bytes both ways
 * without looking inside (usually TLS). Sidecar mode only: an edge gateway must not be
 * an open relay. https://www.rfc-editor.org/rfc/rfc9110#section-9.3.6
 */
export function handleConnect(
  proxy: ProxyServer,
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
  if (proxy.mode === 'gateway') {
    refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_METHOD', 'CONNECT is not served in gateway mode');
    return;
  }
  const { name, port } = splitAuthority(authority, 0);
  if (name === '' || port === 0) {
    refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_BAD_REQUEST', `CONNECT target ${authority}`);
    return;
  }
  tunnel.upstream = { key: `${name}:${port}` };
  const timeout = proxy.upstreams.options.connectTimeoutMs;
  const upstream = connectUpstream(name, port, timeout, (err) => {
    if (err !== undefined) {
      const { code, kind } = connectFailure(err);
      proxy.metrics.upstreamErrors.inc({ kind });
      refuseTunnel(proxy, tunnel, socket, code, err.code ?? err.message);
      return;
    }
    tunnel.status = 200;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    splice(socket, upstream, () => {
      finishTunnel(proxy, tunnel);
    });
  });
  tunnel.upstreamSocket = upstream;
}
