import dgram from 'node:dgram';
import net from 'node:net';
import { isTruncated } from './dns-answer.js';

/**
 * Forwards a query, byte for byte, to the pod's resolver: UDP first, then TCP when the
 * UDP answer is truncated and the client can take a long answer (RFC 1035 §4.2.1;
 * RFC 7766 §5). Resolves undefined on timeout or error, which the server turns into
 * SERVFAIL so the client stops waiting.
 */
export interface Upstream {
  host: string;
  port: number;
}

export async function forwardQuery(
  query: Buffer,
  upstream: Upstream,
  options: { timeoutMs: number; clientTransport: 'udp' | 'tcp' },
): Promise<Buffer | undefined> {
  const viaUdp = await forwardUdp(query, upstream, options.timeoutMs);
  // A UDP client gets the truncated answer and retries over TCP itself.
  if (viaUdp !== undefined && isTruncated(viaUdp) && options.clientTransport === 'tcp') {
    return forwardTcp(query, upstream, options.timeoutMs);
  }
  return viaUdp;
}

export function forwardUdp(
  query: Buffer,
  upstream: Upstream,
  timeoutMs: number,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(
      net.isIPv6(upstream.host.split('%')[0] ?? '') ? 'udp6' : 'udp4',
    );
    let done = false;
    const finish = (answer: Buffer | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      finish(undefined);
    }, timeoutMs);
    socket.on('error', () => {
      finish(undefined);
    });
    socket.on('message', (message, remote) => {
      // Only the resolver's answer to this query id (a fresh socket per query gives a
      // random source port, the other half of the RFC 5452 spoofing defence).
      if (remote.port !== upstream.port || message.length < 2) return;
      if (message.readUInt16BE(0) !== query.readUInt16BE(0)) return;
      finish(message);
    });
    socket.send(query, upstream.port, upstream.host);
  });
}

export function forwardTcp(
  query: Buffer,
  upstream: Upstream,
  timeoutMs: number,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: upstream.host, port: upstream.port });
    const frames = new FrameReader();
    const finish = (answer: Buffer | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      finish(undefined);
    }, timeoutMs);
    socket.on('error', () => {
      finish(undefined);
    });
    socket.on('close', () => {
      finish(undefined);
    });
    socket.on('data', (chunk: Buffer) => {
      const [answer] = frames.push(chunk);
      if (answer !== undefined) finish(answer);
    });
    socket.write(frame(query));
  });
}

/** DNS over TCP: each message is preceded by its length, two bytes (RFC 1035 §4.2.2). */
export function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** Reassembles length-prefixed messages from a TCP byte stream. */
export class FrameReader {
  #buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    const messages: Buffer[] = [];
    while (this.#buffer.length >= 2) {
      const length = this.#buffer.readUInt16BE(0);
      if (this.#buffer.length < 2 + length) break;
      messages.push(this.#buffer.subarray(2, 2 + length));
      this.#buffer = this.#buffer.subarray(2 + length);
    }
    return messages;
  }

  get pending(): number {
    return this.#buffer.length;
  }
}
