import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { addProxyHeaders, scanRequestHeaders, type ScannedRequest } from './hop-headers.js';
import { splitRequestTarget } from './request-target.js';
import { decide, sourceOf, type Decision } from './request-pipeline.js';
import type { Direction } from './traffic.js';
import { applyHeaderRules } from './header-rules.js';
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
 * `Upgrade` requests (WebSocket and friends), outbound and inbound: the same decision as
 * any request (request-pipeline.ts), then the upgrade request is written to the chosen endpoint over
 * a fresh TCP connection and the two sockets are piped raw; the upstream's `101
 * Switching Protocols` (or refusal) reaches the client byte for byte. undici is not
 * involved: its pools are for request/response exchanges.
 * https://www.rfc-editor.org/rfc/rfc9110#section-7.8
 */
export function handleUpgrade(
  ctx: TunnelContext,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  direction: Direction = 'outbound',
  appPort?: number,
): void {
  const scanned = scanRequestHeaders(req.rawHeaders, ctx.pipeline.apiKeyHeader);
  const requestId = scanned.requestId ?? randomUUID();
  const target = splitRequestTarget(req.url ?? '/');
  const tunnel = new Tunnel(
    req.method ?? 'GET',
    target?.authority ?? scanned.host,
    target?.path ?? req.url ?? '',
    requestId,
  );
  tunnel.direction = direction;
  ctx.trackTunnel(socket);
  socket.on('error', () => socket.destroy());
  if (target === undefined) {
    refuseTunnel(ctx, tunnel, socket, 'DETOUR_E_BAD_REQUEST');
    return;
  }
  const decision = decide(ctx.pipeline, {
    req,
    host: tunnel.host,
    path: tunnel.path,
    scanned,
    requestId,
    direction,
    appPort,
    notes: tunnel,
  });
  if (decision instanceof Promise) {
    decision.then(
      (d) => {
        act(ctx, socket, head, scanned, tunnel, d);
      },
      (err: unknown) => {
        ctx.fail('upgrade', err, requestId);
        refuseTunnel(ctx, tunnel, socket, 'DETOUR_E_INTERNAL');
      },
    );
    return;
  }
  act(ctx, socket, head, scanned, tunnel, decision);
}

function act(
  ctx: TunnelContext,
  socket: Socket,
  head: Buffer,
  scanned: ScannedRequest,
  tunnel: Tunnel,
  decision: Decision,
): void {
  if (decision.kind === 'refuse') {
    if (decision.route !== undefined) tunnel.routeLabel = decision.route.id;
    refuseTunnel(ctx, tunnel, socket, decision.code, decision.detail);
    return;
  }
  tunnel.routeLabel = decision.kind === 'passthrough' ? 'passthrough' : decision.route.id;
  const upstream = decision.upstream;
  tunnel.upstream = upstream;
  const added = addProxyHeaders(
    scanned,
    tunnel.host,
    socket.remoteAddress ?? '',
    tunnel.requestId,
    sourceOf(ctx.pipeline, tunnel.direction, scanned),
  );
  const rules = decision.kind === 'passthrough' ? undefined : decision.route.policy?.requestHeaders;
  const headers = rules === undefined ? added : applyHeaderRules(added, rules);
  let text = `${tunnel.method} ${tunnel.path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2)
    text += `${headers[i] ?? ''}: ${headers[i + 1] ?? ''}\r\n`;
  text += `connection: upgrade\r\nupgrade: ${scanned.upgrade ?? 'websocket'}\r\n\r\n`;
  const pooled = decision.kind === 'route';
  const connection = connectUpstream(upstream.host, upstream.port, ctx.connectTimeoutMs, (err) => {
    if (err !== undefined) {
      if (pooled) ctx.pipeline.upstreams.connectFailed(upstream);
      const { code, kind } = connectFailure(err);
      ctx.metrics.upstreamErrors.inc({ kind });
      refuseTunnel(ctx, tunnel, socket, code, err.code ?? err.message);
      return;
    }
    connection.write(text);
    if (head.length > 0) connection.write(head);
    connection.once('data', (chunk: Buffer) => {
      // "HTTP/1.1 101 ..." – the status code for the log and metrics.
      tunnel.status = Number(chunk.subarray(9, 12).toString('latin1')) || 0;
    });
    splice(socket, connection, () => {
      finishTunnel(ctx, tunnel);
    });
  });
  tunnel.upstreamSocket = connection;
}
