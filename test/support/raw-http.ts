import net from 'node:net';

/** The head of an HTTP/1.x answer read off a raw socket. */
export interface RawAnswer {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
}

/**
 * Writes `bytes` as they are to host:port and resolves with the first final answer head
 * (not 100 or 103; 101 Switching Protocols counts), then hangs up; `undefined` when the server closed without answering.
 * Rejects when nothing conclusive happened within `timeoutMs`: for hostile-input tests
 * "an answer in a bounded time" is the property, so a timeout is a finding.
 */
export function firstAnswer(
  port: number,
  bytes: string | Buffer,
  options: { host?: string; timeoutMs?: number; endAfterWrite?: boolean } = {},
): Promise<RawAnswer | undefined> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, options.host ?? '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (answer: RawAnswer | undefined | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const timer = setTimeout(() => {
      settle(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const answer = finalHead(received);
      if (answer !== undefined) settle(answer);
    });
    // A server that refuses may reset while the client still writes: what arrived counts.
    const onEnd = (): void => {
      settle(finalHead(received));
    };
    socket.on('error', onEnd);
    socket.on('close', onEnd);
    socket.write(bytes);
    if (options.endAfterWrite === true) socket.end();
  });
}

/** The first non-1xx head in `data`, once it is complete. */
function finalHead(data: Buffer): RawAnswer | undefined {
  let text = data.toString('latin1');
  for (;;) {
    const end = text.indexOf('\r\n\r\n');
    if (end === -1) return undefined;
    const lines = text.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
    if (Number.isNaN(status)) return undefined;
    // 101 is final too: the connection now speaks another protocol.
    if (status >= 200 || status < 100 || status === 101) {
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      return { status, headers };
    }
    text = text.slice(end + 4); // 100 Continue, 103 Early Hints: the final answer follows
  }
}

/** A raw connection to 127.0.0.1:port that collects what comes back until it closes. */
export interface RawConnection {
  readonly socket: net.Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  readonly closed: Promise<void>;
}

export function openRaw(port: number): RawConnection {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      resolve();
    }),
  );
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed };
}

/** A raw TCP server for tests: what an upstream or an app does with each connection. */
export interface RawServer {
  readonly port: number;
  /** Hangs up every connection and stops listening. */
  close(): void;
}

export async function startRawServer(
  host: string,
  onConnection: (socket: net.Socket) => void,
): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
