import { write, writeSync } from 'node:fs';

/**
 * The access log's way to stdout: lines gather for at most `delayMs` (or until
 * `batchBytes` are pending) and leave in one asynchronous `write(2)` (libuv's thread
 * pool), so a busy proxy makes a few large writes instead of one per request and a slow
 * reader of stdout never blocks request handling; a line is never later than `delayMs`.
 * pino's own SonicBoom spent a quarter of the proxy's CPU here (a write and a
 * Buffer.byteLength per line).
 *
 * If the reader stalls and more than `maxPendingBytes` pile up, further lines are
 * dropped and counted rather than growing memory without bound (Envoy does the same).
 */
export class LineWriter {
  readonly fd: number;
  readonly maxPendingBytes: number;
  readonly delayMs: number;
  readonly batchBytes: number;
  /** Lines dropped because the reader was too slow. */
  dropped = 0;
  #pending = '';
  #inFlight: Buffer | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #flushSoon = (): void => {
    this.#timer = undefined;
    this.#flush();
  };
  readonly #written = (err: NodeJS.ErrnoException | null, bytes: number): void => {
    const buffer = this.#inFlight;
    this.#inFlight = undefined;
    if (err === null && buffer !== undefined && bytes < buffer.length) {
      this.#send(buffer.subarray(bytes)); // a pipe took part of it
      return;
    }
    if (this.#pending.length >= this.batchBytes) this.#flush();
    else this.#schedule();
  };

  constructor(
    fd = 1,
    options: { delayMs?: number; batchBytes?: number; maxPendingBytes?: number } = {},
  ) {
    this.fd = fd;
    this.delayMs = options.delayMs ?? 20;
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 16 * 1024 * 1024;
  }

  write(line: string): boolean {
    if (this.#pending.length > this.maxPendingBytes) {
      this.dropped++;
      return false;
    }
    this.#pending += line;
    if (this.#inFlight === undefined) {
      if (this.#pending.length >= this.batchBytes) this.#flush();
      else this.#schedule();
    }
    return true;
  }

  /** Writes everything still pending, synchronously (before exit). */
  flushSync(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let rest = this.#pending === '' ? undefined : Buffer.from(this.#pending);
    this.#pending = '';
    for (let attempts = 0; rest !== undefined && rest.length > 0 && attempts < 1000; attempts++) {
      try {
        rest = rest.subarray(writeSync(this.fd, rest));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#pending === '') return;
    this.#timer = setTimeout(this.#flushSoon, this.delayMs);
    this.#timer.unref();
  }

  #flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#inFlight !== undefined || this.#pending === '') return;
    const data = Buffer.from(this.#pending);
    this.#pending = '';
    this.#send(data);
  }

  #send(buffer: Buffer): void {
    this.#inFlight = buffer;
    write(this.fd, buffer, 0, buffer.length, null, this.#written);
  }
}
