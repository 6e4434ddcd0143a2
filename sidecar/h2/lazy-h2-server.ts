import type { Socket } from 'node:net';
import type { Direction } from '../traffic.js';
import type { H2Context, H2Server } from './h2-server.js';

/**
 * The HTTP/2 side, loaded by the first h2c connection: node:http2 and the code in
 * sidecar/h2/ add about 9 MB of RSS (issue 13, docs/benchmarks.md) that a pod whose
 * apps speak HTTP/1 only never needs. That connection waits a few milliseconds, paused
 * with its preface buffered; later ones are served at once.
 */
export class LazyH2Server {
  readonly #ctx: H2Context;
  readonly #fail: (err: unknown) => void;
  #server: H2Server | undefined;
  #loading: Promise<H2Server> | undefined;
  #closed = false;

  /** `fail` hears a failure to load or to serve (the socket is closed). */
  constructor(ctx: H2Context, fail: (err: unknown) => void) {
    this.#ctx = ctx;
    this.#fail = fail;
  }

  /** Serves a connection whose first bytes (still buffered) are the HTTP/2 preface. */
  serve(socket: Socket, direction: Direction, appPort?: number): void {
    if (this.#server !== undefined) {
      this.#server.serve(socket, direction, appPort);
      return;
    }
    // Until node:http2 owns the socket, an error (a reset) closes that socket alone.
    const onError = (): void => {
      socket.destroy();
    };
    socket.on('error', onError);
    this.#load().then(
      (server) => {
        socket.off('error', onError);
        if (socket.destroyed || this.#closed) {
          socket.destroy();
          return;
        }
        try {
          server.serve(socket, direction, appPort);
        } catch (err) {
          socket.destroy();
          this.#fail(err);
        }
      },
      (err: unknown) => {
        socket.off('error', onError);
        socket.destroy();
        this.#fail(err);
      },
    );
  }

  #load(): Promise<H2Server> {
    this.#loading ??= import('./h2-server.js').then(({ H2Server }) => {
      const server = new H2Server(this.#ctx);
      this.#server = server;
      if (this.#closed) server.destroy();
      return server;
    });
    return this.#loading;
  }

  /** Whether the HTTP/2 side is loaded (tests). */
  get loaded(): boolean {
    return this.#server !== undefined;
  }

  /** GOAWAY to every client connection: streams in flight finish, no new ones start. */
  drain(): void {
    this.#server?.drain();
  }

  destroy(): void {
    this.#closed = true;
    this.#server?.destroy();
  }
}
