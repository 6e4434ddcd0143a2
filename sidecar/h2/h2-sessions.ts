import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import type { Upstream } from '../upstreams.js';
import { H2_LIMITS } from './h2-limits.js';

/** Bounds of the upstream side; see docs/adr/0009-http2-upstream.md. */
export interface H2SessionOptions {
  /** h2c connections per endpoint; streams beyond what they all carry get 503. */
  sessionsPerEndpoint: number;
  /** Streams per connection, lowered further by the endpoint's own SETTINGS. */
  streamsPerSession: number;
  connectTimeoutMs: number;
  /** A connection without any frame for this long is closed (gracefully). */
  idleMs: number;
}

export const DEFAULT_H2_SESSION_OPTIONS: H2SessionOptions = {
  sessionsPerEndpoint: 4,
  streamsPerSession: 100,
  connectTimeoutMs: 5_000,
  idleMs: 60_000,
};

/** A session and the streams the proxy has open on it. */
interface Pooled {
  readonly session: ClientHttp2Session;
  streams: number;
  connected: boolean;
  readonly waiting: ((err: Error | undefined) => void)[];
}

export class H2ConnectError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/**
 * h2c connections to endpoints, keyed like the HTTP/1 pools (`ip:port`), reused and
 * multiplexed: a stream goes on the first live connection with room (RFC 9113 §5.1.2:
 * the peer's SETTINGS_MAX_CONCURRENT_STREAMS bounds it), a new connection opens when
 * none has room, and when `sessionsPerEndpoint` are full the caller is told `busy`.
 * A stream is only created once its connection is up, so a failed connect has sent
 * nothing and may be retried on another endpoint.
 */
export class H2Sessions {
  readonly options: H2SessionOptions;
  readonly #pools = new Map<string, Pooled[]>();

  constructor(options: Partial<H2SessionOptions> = {}) {
    this.options = { ...DEFAULT_H2_SESSION_OPTIONS, ...options };
  }

  /**
   * Calls `ready` with a connected session that has room for one more stream (counted
   * now: `release` it when the stream closes), an error when the connection failed, or
   * `busy` when every allowed connection is full.
   */
  acquire(upstream: Upstream, ready: (result: ClientHttp2Session | Error | 'busy') => void): void {
    const key = upstream.key;
    let pools = this.#pools.get(key);
    if (pools === undefined) {
      pools = [];
      this.#pools.set(key, pools);
    }
    for (const pooled of pools) {
      if (pooled.session.closed || pooled.session.destroyed) continue;
      if (pooled.streams >= this.#room(pooled)) continue;
      this.#take(pooled, ready);
      return;
    }
    if (pools.length >= this.options.sessionsPerEndpoint) {
      ready('busy');
      return;
    }
    const pooled = this.#open(upstream, pools);
    this.#take(pooled, ready);
  }

  /** The stream acquired on `session` closed. */
  release(session: ClientHttp2Session): void {
    const pooled = (session as PooledSession)[kPooled];
    if (pooled !== undefined && pooled.streams > 0) pooled.streams--;
  }

  get size(): number {
    let n = 0;
    for (const pools of this.#pools.values()) n += pools.length;
    return n;
  }

  /** Graceful: open streams finish, then the connections close. */
  close(): void {
    for (const pools of this.#pools.values()) for (const p of pools) p.session.close();
    this.#pools.clear();
  }

  destroy(): void {
    for (const pools of this.#pools.values()) for (const p of pools) p.session.destroy();
    this.#pools.clear();
  }

  #room(pooled: Pooled): number {
    const remote = pooled.connected
      ? pooled.session.remoteSettings.maxConcurrentStreams
      : undefined;
    return Math.min(this.options.streamsPerSession, remote ?? this.options.streamsPerSession);
  }

  #take(pooled: Pooled, ready: (result: ClientHttp2Session | Error) => void): void {
    pooled.streams++;
    if (pooled.connected) {
      ready(pooled.session);
      return;
    }
    pooled.waiting.push((err) => {
      if (err !== undefined) pooled.streams--;
      ready(err ?? pooled.session);
    });
  }

  #open(upstream: Upstream, pools: Pooled[]): Pooled {
    const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
    const session = http2.connect(`http://${host}:${upstream.port}`, {
      // Small frames (gRPC messages, WINDOW_UPDATEs) must not wait for Nagle's ACK.
      createConnection: () =>
        net.connect({ host: upstream.host, port: upstream.port, noDelay: true }),
      settings: H2_LIMITS.settings,
      maxSessionMemory: H2_LIMITS.maxSessionMemory,
      maxHeaderListPairs: H2_LIMITS.maxHeaderListPairs,
      maxSettings: H2_LIMITS.maxSettings,
      maxOutstandingPings: H2_LIMITS.maxOutstandingPings,
    });
    const pooled: Pooled = { session, streams: 0, connected: false, waiting: [] };
    (session as PooledSession)[kPooled] = pooled;
    pools.push(pooled);
    const settle = (err: Error | undefined): void => {
      clearTimeout(timer);
      const waiting = pooled.waiting.splice(0);
      for (const w of waiting) w(err);
    };
    const timer = setTimeout(() => {
      session.destroy(new H2ConnectError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT'));
    }, this.options.connectTimeoutMs);
    session.once('connect', () => {
      pooled.connected = true;
      settle(undefined);
    });
    session.on('error', (err: Error) => {
      if (!pooled.connected) settle(err);
    });
    session.once('close', () => {
      if (!pooled.connected) {
        settle(new H2ConnectError('connection closed before it was up', 'ECONNRESET'));
      }
      const i = pools.indexOf(pooled);
      if (i !== -1) pools.splice(i, 1);
      if (pools.length === 0 && this.#pools.get(upstream.key) === pools) {
        this.#pools.delete(upstream.key);
      }
    });
    // A GOAWAY from the endpoint: no new streams here; those in flight finish.
    session.once('goaway', () => {
      const i = pools.indexOf(pooled);
      if (i !== -1) pools.splice(i, 1);
    });
    session.setTimeout(this.options.idleMs, () => {
      session.close();
    });
    return pooled;
  }
}

const kPooled = Symbol('detour.h2.pooled');
type PooledSession = ClientHttp2Session & { [kPooled]?: Pooled };
