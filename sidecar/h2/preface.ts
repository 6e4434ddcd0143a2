import type { Socket } from 'node:net';

/**
 * The HTTP/2 client connection preface a prior-knowledge (h2c) client opens with.
 * https://www.rfc-editor.org/rfc/rfc9113#section-3.4
 */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type PrefaceKind = 'h2' | 'http1' | 'more';

/**
 * `h2` when `bytes` open with the whole preface, `http1` as soon as one byte differs (an
 * HTTP/1 method never starts `PRI * HTTP/2.0`), `more` while they are a strict prefix.
 */
export function prefaceKind(bytes: Buffer): PrefaceKind {
  const n = Math.min(bytes.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== H2_PREFACE[i]) return 'http1';
  }
  return n === H2_PREFACE.length ? 'h2' : 'more';
}

/**
 * Reads a new connection's first bytes, puts them back (`unshift`: node:http and
 * node:http2 both read what is buffered first) and hands the socket to `onHttp1` or
 * `onH2`. A client that sends a strict prefix of the preface and stops is hung up on
 * after `timeoutMs`, as a slow request head is. One `readable` event per connection,
 * none per request.
 */
export function routeByPreface(
  socket: Socket,
  timeoutMs: number,
  onHttp1: (socket: Socket) => void,
  onH2: (socket: Socket) => void,
): void {
  let seen: Buffer | undefined;
  const timer = setTimeout(() => {
    socket.destroy();
  }, timeoutMs);
  const onError = (): void => {
    socket.destroy();
  };
  const stop = (): void => {
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('close', stop);
    socket.off('error', onError);
  };
  const onReadable = (): void => {
    let chunk = socket.read() as Buffer | null;
    while (chunk !== null) {
      seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
      chunk = socket.read() as Buffer | null;
    }
    if (seen === undefined) return;
    const kind = prefaceKind(seen);
    if (kind === 'more') return;
    stop();
    socket.unshift(seen);
    if (kind === 'h2') onH2(socket);
    else onHttp1(socket);
  };
  socket.on('readable', onReadable);
  socket.on('error', onError);
  socket.once('close', stop);
}
