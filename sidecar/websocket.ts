import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { addProxyHeaders, scanRequestHeaders, type ScannedRequest } from './hop-headers.js';
import { splitAuthority, splitRequestTarget } from './request-target.js';
import {
  Tunnel,
  connectFailure,
  connectUpstream,
  finishTunnel,
  refuseTunnel,
  splice,
} from './tunnel.js';
import type { Verdict } from './policies/policy.js';
import type { ProxyServer } from './proxy-server.js';
import type { Route } from './route-table.js';
import type { Upstream } from './upstreams.js';

/**
 * `Upgrade` requests (WebSocket and friends): routed and checked like any request, then
 * the upgrade request is written to the chosen endpoint over a fresh TCP connection and
 * the two sockets are piped raw; the upstream's `101 Switching Protocols` (or refusal)
 * reaches the client byte for byte. undici is not involved: its pools are for
 * request/response exchanges. https://www.rfc-editor.org/rfc/rfc9110#section-7.8
 */
export function handleUpgrade(
  proxy: ProxyServer,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  const scanned = scanRequestHeaders(req.rawHeaders, proxy.apiKeyHeader);
  const requestId = scanned.requestId ?? randomUUID();
  const target = splitRequestTarget(req.url ?? '/');
  const tunnel = new Tunnel(
    req.method ?? 'GET',
    target?.authority ?? scanned.host,
    target?.path ?? req.url ?? '',
    requestId,
  );
  proxy.trackTunnel(socket);
  socket.on('error', () => socket.destroy());
  if (target === undefined) {
    refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_BAD_REQUEST');
    return;
  }
  if (scanned.hops >= proxy.maxHops) {
    refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_LOOP');
    return;
  }
  const match = proxy.table.match(tunnel.host, tunnel.path);
  if (match.kind === 'unknown-path') {
    refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_UNKNOWN_PATH');
    return;
  }
  if (match.kind === 'unknown-host') {
    if (proxy.mode === 'gateway' || tunnel.host === '') {
      refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_UNKNOWN_HOST');
      return;
    }
    tunnel.routeLabel = 'passthrough';
    if (scanned.apiKey !== undefined) scanned.forward.push(proxy.apiKeyHeader, scanned.apiKey);
    const { name, port } = splitAuthority(tunnel.host, 80);
    open(proxy, socket, head, scanned, tunnel, name, port, undefined);
    return;
  }
  const route = match.route;
  tunnel.routeLabel = route.id;
  const verdict = proxy.pipeline.run({ req, route, headers: scanned, requestId });
  if (verdict instanceof Promise) {
    verdict.then(
      (v) => {
        checked(proxy, req, socket, head, scanned, tunnel, route, v);
      },
      () => {
        refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_BAD_REQUEST');
      },
    );
  } else {
    checked(proxy, req, socket, head, scanned, tunnel, route, verdict);
  }
}

function checked(
  proxy: ProxyServer,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  scanned: ScannedRequest,
  tunnel: Tunnel,
  route: Route,
  verdict: Verdict,
): void {
  if (verdict !== undefined) {
    refuseTunnel(proxy, tunnel, socket, verdict.code, verdict.detail);
    return;
  }
  const upstream = proxy.upstreams.pick(route);
  if (upstream === undefined) {
    refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_NO_ENDPOINT');
    return;
  }
  tunnel.upstream = upstream;
  const endpoint = route.endpoints.find((e) => e.key === upstream.key);
  if (endpoint === undefined) {
    refuseTunnel(proxy, tunnel, socket, 'DETOUR_E_NO_ENDPOINT');
    return;
  }
  open(proxy, socket, head, scanned, tunnel, endpoint.ip, endpoint.port, upstream);
}

function open(
  proxy: ProxyServer,
  socket: Socket,
  head: Buffer,
  scanned: ScannedRequest,
  tunnel: Tunnel,
  host: string,
  port: number,
  pooled: Upstream | undefined,
): void {
  tunnel.upstream = pooled ?? { key: `${host}:${port}` };
  const headers = addProxyHeaders(
    scanned,
    tunnel.host,
    socket.remoteAddress ?? '',
    tunnel.requestId,
  );
  let text = `${tunnel.method} ${tunnel.path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2)
    text += `${headers[i] ?? ''}: ${headers[i + 1] ?? ''}\r\n`;
  text += `connection: upgrade\r\nupgrade: ${scanned.upgrade ?? 'websocket'}\r\n\r\n`;
  const timeout = proxy.upstreams.options.connectTimeoutMs;
  const upstream = connectUpstream(host, port, timeout, (err) => {
    if (err !== undefined) {
      if (pooled !== undefined) proxy.upstreams.connectFailed(pooled);
      const { code, kind } = connectFailure(err);
      proxy.metrics.upstreamErrors.inc({ kind });
      refuseTunnel(proxy, tunnel, socket, code, err.code ?? err.message);
      return;
    }
    upstream.write(text);
    if (head.length > 0) upstream.write(head);
    upstream.once('data', (chunk: Buffer) => {
      // "HTTP/1.1 101 ..." – the status code for the log and metrics.
      tunnel.status = Number(chunk.subarray(9, 12).toString('latin1')) || 0;
    });
    splice(socket, upstream, () => {
      finishTunnel(proxy, tunnel);
    });
  });
  tunnel.upstreamSocket = upstream;
}
