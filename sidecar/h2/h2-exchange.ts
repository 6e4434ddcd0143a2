import type { ClientHttp2Session, ClientHttp2Stream, ServerHttp2Stream } from 'node:http2';
import type { LogFacts } from '../access-log.js';
import type { ProxyAnswerCode } from '../error-response.js';
import type { PolicyNotes } from '../policies/policy.js';
import type { Route } from '../route-table.js';
import type { Direction } from '../traffic.js';
import type { Upstream } from '../upstreams.js';

/**
 * One HTTP/2 stream on its way through the proxy: what its access-log line and metrics
 * report when it closes. The HTTP/1 Exchange's counterpart (forward.ts), plain fields.
 */
export class H2Exchange implements LogFacts, PolicyNotes {
  readonly stream: ServerHttp2Stream;
  readonly start: number;
  readonly method: string;
  readonly grpc: boolean;
  host = '';
  path = '';
  requestId = '';
  route: Route | undefined = undefined;
  routeLabel = '-';
  readonly direction: Direction;
  readonly protocol = 'h2';
  policy: string | undefined = undefined;
  auth: string | undefined = undefined;
  authMs: number | undefined = undefined;
  rateLimited: boolean | undefined = undefined;
  upstream: Upstream | undefined = undefined;
  bytesIn = 0;
  bytesOut = 0;
  error: ProxyAnswerCode | undefined = undefined;
  /** `:status` the client got (0: none yet). */
  status = 0;
  /** From the upstream's trailers (or trailers-only headers), or detour's own answer. */
  grpcStatus: number | undefined = undefined;
  /** The upstream's trailers, sent on when the client stream asks for them. */
  trailers: Record<string, string | string[] | undefined> | undefined = undefined;
  /** The client's request trailers, sent on to the upstream. */
  requestTrailers: Record<string, string | string[] | undefined> | undefined = undefined;
  upstreamStream: ClientHttp2Stream | undefined = undefined;
  session: ClientHttp2Session | undefined = undefined;
  deadline: NodeJS.Timeout | undefined = undefined;
  /** detour answered (or ended the call with its own gRPC status) itself. */
  ownAnswer = false;
  /** Date.now() of the last frame relayed either way (the idle sweep reads it). */
  lastActive = 0;
  /** The upstream's answer was relayed to its end. */
  done = false;

  constructor(
    stream: ServerHttp2Stream,
    method: string,
    grpc: boolean,
    start: number,
    direction: Direction,
  ) {
    this.stream = stream;
    this.method = method;
    this.grpc = grpc;
    this.start = start;
    this.direction = direction;
  }
}
