import { write, writeSync } from 'node:fs';

/**
 * The access log's way to stdout: lines are encoded straight into a 64 KiB buffer and
 * leave in one asynchronous `write(2)` (libuv's thread pool) when the buffer is full or
 * `delayMs` after the first line, so a busy proxy makes a few large writes instead of
 * one per request, a line is never later than `delayMs`, and a slow reader of stdout
 * never blocks request handling. pino's own SonicBoom spent a quarter of the proxy's
 * CPU here (a write and a Buffer.byteLength per line); encoding into a reused buffer
 * also spares building and copying one long string per batch.
 *
 * If the reader stalls and more than `maxPendingBytes` pile up, further lines are
 * dropped and counted rather than growing memory without bound (Envoy does the same).
 */
export interface LineWriterOptions {
  delayMs?: number;
  /** Size of one batch buffer. */
  batchBytes?: number;
  maxPendingBytes?: number;
}

export class LineWriter {
  readonly fd: number;
  readonly delayMs: number;
  readonly batchBytes: number;
  readonly maxPendingBytes: number;
  /** Lines dropped because the reader was too slow. */
  dropped = 0;
  #current: Buffer;
  #used = 0;
  /** Full batches waiting for the write in flight. */
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  /** Emptied batch buffers, reused. */
  readonly #spare: Buffer[] = [];
  #inFlight: Buffer | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #flushSoon = (): void => {
    this.#timer = undefined;
    this.#seal();
  };
  readonly #written = (err: NodeJS.ErrnoException | null, bytes: number): void => {
    const buffer = this.#inFlight;
    this.#inFlight = undefined;
    if (buffer === undefined) return;
    if (err === null && bytes < buffer.length) {
      this.#queuedBytes -= bytes;
      this.#send(buffer.subarray(bytes)); // a pipe took part of it
      return;
    }
    this.#queuedBytes -= buffer.length; // written, or lost with stdout (EPIPE)
    if (buffer.buffer.byteLength === this.batchBytes && this.#spare.length < 2) {
      this.#spare.push(Buffer.from(buffer.buffer, 0, this.batchBytes));
    }
    this.#kick();
  };

  constructor(fd = 1, options: LineWriterOptions = {}) {
    this.fd = fd;
    this.delayMs = options.delayMs ?? 20;
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 16 * 1024 * 1024;
    this.#current = Buffer.allocUnsafeSlow(this.batchBytes);
  }

  write(line: string): boolean {
    if (this.#queuedBytes > this.maxPendingBytes) {
      this.dropped++;
      return false;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (line.length * 3 > this.batchBytes - this.#used) {
      this.#seal();
      if (line.length * 3 > this.batchBytes) {
        this.#enqueue(Buffer.from(line));
        return true;
      }
    }
    this.#used += this.#current.write(line, this.#used);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flushSoon, this.delayMs);
      this.#timer.unref();
    }
    return true;
  }

  /** Writes everything still pending, synchronously (before exit). */
  flushSync(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = [...this.#queue, this.#current.subarray(0, this.#used)];
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#used = 0;
    for (const buffer of pending) {
      let rest = buffer;
      for (let attempts = 0; rest.length > 0 && attempts < 1000; attempts++) {
        try {
          rest = rest.subarray(writeSync(this.fd, rest));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        }
      }
    }
  }

  /** Closes the current batch and starts writing it. */
  #seal(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#used === 0) return;
    const batch = this.#current.subarray(0, this.#used);
    this.#current = this.#spare.pop() ?? Buffer.allocUnsafeSlow(this.batchBytes);
    this.#used = 0;
    this.#enqueue(batch);
  }

  #enqueue(buffer: Buffer): void {
    this.#queue.push(buffer);
    this.#queuedBytes += buffer.length;
    this.#kick();
  }

  #kick(): void {
    if (this.#inFlight !== undefined) return;
    const next = this.#queue.shift();
    if (next !== undefined) this.#send(next);
  }

  #send(buffer: Buffer): void {
    this.#inFlight = buffer;
    write(this.fd, buffer, 0, buffer.length, null, this.#written);
  }
}
