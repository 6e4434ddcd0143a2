import net, { type AddressInfo, type Socket } from 'node:net';
import { listenOn } from '../shared/server-lifecycle.js';
import type { InboundPort } from '../shared/inbound-ports.js';
import type { LocalPod } from './traffic.js';
import { Tunnel, connectFailure, connectUpstream, finishTunnel, splice } from './tunnel.js';
import type { AccessLog } from './access-log.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import { prefaceKind } from './h2/preface.js';

/** What an inbound listener needs of the proxy. */
export interface InboundContext {
  readonly local: LocalPod;
  readonly accessLog: AccessLog;
  readonly metrics: ProxyMetrics;
  readonly connectTimeoutMs: number;
  /** How long to wait for a client's first bytes before asking the app to speak first. */
  readonly sniffMs: number;
  /** A client that started a method token but did not finish it by then is hung up on. */
  readonly sniffLimitMs: number;
  trackTunnel(socket: Socket): void;
  /** Hands a connection that speaks HTTP/1.x to the inbound HTTP server. */
  serveHttp(socket: Socket, appPort: number): void;
  /** Hands a connection that opened with the HTTP/2 preface to the h2c server. */
  serveH2(socket: Socket, appPort: number): void;
}

/**
 * An inbound listener (DESIGN.md, "Enforce at the destination"): iptables REDIRECTs
 * connections to app port P here (Node cannot read a redirected socket's original
 * destination, so each captured port has a listener of its own). The first bytes
 * decide: an HTTP/1.x request line, or the HTTP/2 preface (served as h2c, sidecar/h2/),
 * goes through the request pipeline, checked as the pod's namespace; anything else (TLS,
 * databases) is spliced to the app untouched and logged as `tcp`.
 *
 * Server-first protocols (MySQL, SMTP) send nothing from the client side: after `sniffMs`
 * of silence the proxy connects to the app and relays its greeting. A client that then
 * sends an HTTP request line before the app said anything still goes through the
 * pipeline: waiting is no way around the checks. (Envoy's http_inspector decides on the
 * first bytes too; Istio falls back to TCP on a timeout, which this avoids:
 * https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/)
 */
export class InboundListener {
  readonly server: net.Server;
  readonly port: InboundPort;

  constructor(ctx: InboundContext, port: InboundPort) {
    this.port = port;
    this.server = net.createServer((socket) => {
      new Sniffer(ctx, port.appPort, socket).start();
    });
  }

  listen(host: string): Promise<AddressInfo> {
    return listenOn(this.server, this.port.listenerPort, host);
  }

  close(): void {
    this.server.close();
  }
}

type Kind = 'http' | 'h2' | 'other' | 'more';

/** The longest method token a request line may open with before it counts as not HTTP. */
const MAX_METHOD = 20;

/**
 * `http` when the bytes open with a request line's method token and a space (RFC 9112
 * §3: `method SP request-target SP HTTP-version`), `h2` for the whole HTTP/2 preface,
 * `more` while that cannot be told yet. `PRI ` followed by anything but the rest of the
 * preface is neither: spliced as raw TCP.
 */
export function sniffKind(bytes: Buffer): Kind {
  if (bytes[0] === 0x50) {
    const preface = prefaceKind(bytes);
    if (preface !== 'http1') return preface;
  }
  const n = Math.min(bytes.length, MAX_METHOD + 1);
  for (let i = 0; i < n; i++) {
    const c = bytes[i] as number;
    if (c === 0x20) {
      if (i === 0) return 'other';
      return bytes.subarray(0, 4).toString('latin1') === 'PRI ' ? 'other' : 'http';
    }
    const token = (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f; // A-Z - _
    if (!token) return 'other';
  }
  return bytes.length > MAX_METHOD ? 'other' : 'more';
}

class Sniffer {
  readonly #ctx: InboundContext;
  readonly #appPort: number;
  readonly #socket: Socket;
  #seen: Buffer = Buffer.alloc(0);
  #app: Socket | undefined;
  #appSpoke = false;
  #decided = false;
  readonly #tunnel: Tunnel;
  #early: NodeJS.Timeout | undefined;
  #limit: NodeJS.Timeout | undefined;

  constructor(ctx: InboundContext, appPort: number, socket: Socket) {
    this.#ctx = ctx;
    this.#appPort = appPort;
    this.#socket = socket;
    const target = `${ctx.local.podIp}:${appPort}`;
    this.#tunnel = new Tunnel('-', target, '', '-');
    this.#tunnel.direction = 'inbound';
    this.#tunnel.protocol = 'tcp';
    this.#tunnel.routeLabel = 'inbound-tcp';
    this.#tunnel.upstream = { key: target };
  }

  start(): void {
    const socket = this.#socket;
    this.#ctx.trackTunnel(socket);
    socket.on('error', () => socket.destroy());
    socket.on('readable', this.#onReadable);
    socket.once('close', this.#onClose);
    this.#early = setTimeout(this.#openEarly, this.#ctx.sniffMs);
    // Neither HTTP nor not yet: deciding `raw` here would let a client that dribbles
    // `GE`, waits, then sends `T / HTTP/1.1` skip the checks. A silent client is no such
    // risk (the app may speak first, or the client later, and either is decided then).
    this.#limit = setTimeout(() => {
      if (!this.#decided && this.#seen.length > 0) socket.destroy();
    }, this.#ctx.sniffLimitMs);
  }

  readonly #onReadable = (): void => {
    let chunk = this.#socket.read() as Buffer | null;
    while (chunk !== null) {
      this.#seen = this.#seen.length === 0 ? chunk : Buffer.concat([this.#seen, chunk]);
      chunk = this.#socket.read() as Buffer | null;
    }
    if (this.#seen.length === 0 || this.#decided) return;
    const kind = sniffKind(this.#seen);
    if (kind === 'more') return;
    if (kind === 'http' && !this.#appSpoke) this.#http(false);
    else if (kind === 'h2' && !this.#appSpoke) this.#http(true);
    else this.#raw();
  };

  readonly #onClose = (): void => {
    this.#stopTimers();
    if (!this.#decided) this.#app?.destroy();
  };

  /** The client is silent: perhaps the app speaks first. Its words go to the client. */
  readonly #openEarly = (): void => {
    if (this.#decided || this.#app !== undefined) return;
    this.#connect((app) => {
      app.on('data', this.#relayGreeting);
    });
  };

  readonly #relayGreeting = (chunk: Buffer): void => {
    this.#appSpoke = true;
    this.#socket.write(chunk);
  };

  #http(h2: boolean): void {
    this.#decided = true;
    this.#stopTimers();
    const socket = this.#socket;
    socket.off('readable', this.#onReadable);
    socket.off('close', this.#onClose);
    this.#app?.destroy(); // opened early for nothing: an HTTP server speaks second
    socket.unshift(this.#seen);
    if (h2) this.#ctx.serveH2(socket, this.#appPort);
    else this.#ctx.serveHttp(socket, this.#appPort);
  }

  #raw(): void {
    if (this.#decided) return;
    this.#decided = true;
    this.#stopTimers();
    const socket = this.#socket;
    socket.off('readable', this.#onReadable);
    const seen = this.#seen;
    const join = (app: Socket): void => {
      app.off('data', this.#relayGreeting);
      if (seen.length > 0) app.write(seen);
      this.#tunnel.status = 200;
      this.#tunnel.upstreamSocket = app;
      splice(socket, app, () => {
        finishTunnel(this.#ctx, this.#tunnel);
      });
    };
    const app = this.#app;
    if (app === undefined) this.#connect(join);
    else if (app.connecting)
      app.once('connect', () => {
        join(app);
      });
    else join(app);
  }

  #connect(then: (app: Socket) => void): void {
    const ctx = this.#ctx;
    const app = connectUpstream(ctx.local.podIp, this.#appPort, ctx.connectTimeoutMs, (err) => {
      if (err !== undefined) {
        const { code, kind } = connectFailure(err);
        ctx.metrics.upstreamErrors.inc({ kind });
        this.#tunnel.error = code;
        this.#tunnel.status = 502;
        this.#socket.destroy();
        finishTunnel(ctx, this.#tunnel);
        return;
      }
      if (this.#socket.destroyed) {
        app.destroy();
        return;
      }
      then(app);
    });
    app.on('error', () => app.destroy());
    this.#app = app;
  }

  #stopTimers(): void {
    clearTimeout(this.#early);
    clearTimeout(this.#limit);
  }
}
