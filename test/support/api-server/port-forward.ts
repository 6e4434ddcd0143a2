/**
 * The `pods/portforward` subresource over WebSocket (`v4.channel.k8s.io`), as kubectl
 * port-forward and client-node's PortForward speak it: every binary message starts with
 * its channel (0 data, 1 error for the first port), and each channel's first message
 * carries the port as two little-endian bytes.
 * https://kubernetes.io/docs/tasks/access-application-cluster/port-forward-access-application-cluster/
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export const PORT_FORWARD_PROTOCOL = 'v4.channel.k8s.io';

const PORT_FORWARD = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/;

export interface PortForwardTarget {
  namespace: string;
  name: string;
  port: number;
}

export function parsePortForward(url: URL): PortForwardTarget | undefined {
  const m = PORT_FORWARD.exec(url.pathname);
  const port = Number(url.searchParams.get('ports') ?? '');
  if (m?.[1] === undefined || m[2] === undefined || !Number.isInteger(port)) return undefined;
  return { namespace: m[1], name: m[2], port };
}

function frame(channel: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([channel]), data]);
}

function portBytes(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port, 0);
  return b;
}

const wss = new WebSocketServer({
  noServer: true,
  handleProtocols: (protocols) =>
    protocols.has(PORT_FORWARD_PROTOCOL) ? PORT_FORWARD_PROTOCOL : false,
});

/** Upgrades the request and splices channel 0 to a TCP connection to `dial`. */
export function portForward(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: PortForwardTarget,
  dial: { host: string; port: number },
): void {
  wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
    const upstream = net.connect(dial.port, dial.host);
    ws.send(frame(0, portBytes(target.port)));
    ws.send(frame(1, portBytes(target.port)));
    upstream.on('data', (data: Buffer) => {
      ws.send(frame(0, data));
    });
    upstream.on('error', (err) => {
      ws.send(frame(1, Buffer.from(`error forwarding port ${target.port}: ${err.message}`)));
      ws.close();
    });
    upstream.on('close', () => {
      ws.close();
    });
    ws.on('message', (data: Buffer) => {
      if (data[0] === 0) upstream.write(data.subarray(1));
    });
    ws.on('close', () => upstream.destroy());
  });
}
