import { pino } from 'pino';
import { createLogger, type Logger } from '../shared/logger.js';
import { LineWriter } from './line-writer.js';

/**
 * One line per request on stdout, which is what `kubectl logs <pod> -c detour-proxy`
 * shows. JSON (pino) by default; `LOG_FORMAT=text` gives one human line.
 *
 * Lines leave through a LineWriter (one asynchronous write per event-loop turn, see
 * line-writer.ts); `flush()` must run before exit. JSON lines carry the same fields as
 * every other detour log line (`level`, `time` in ISO 8601, `msg`), the time string
 * being built once per millisecond rather than once per line.
 */
export interface AccessLogOptions {
  format?: string | undefined;
  /** Where lines go (tests inject a stream); default: stdout through a LineWriter. */
  destination?: NodeJS.WritableStream;
}

export interface AccessLogRecord {
  method: string;
  host: string;
  path: string;
  status: number;
  route: string;
  upstream: string;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  requestId: string;
  direction: string;
  protocol: string;
  error?: string;
  policy?: string;
  auth?: string;
  authMs?: number;
  rateLimited?: boolean;
  grpcStatus?: number;
}

/** What is known of a request when it ends (an Exchange, or a tunnel's summary). */
export interface LogFacts {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly routeLabel: string;
  readonly upstream: { readonly key: string } | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly requestId: string;
  readonly error: string | undefined;
  /** `outbound` (the app's own calls) or `inbound` (calls to the app). */
  readonly direction: string;
  /** `http`, `h2` (HTTP/2 streams), or `tcp` for bytes spliced without looking inside. */
  readonly protocol: string;
  /** gRPC calls: the status in the trailers, or the one detour answered with. */
  readonly grpcStatus?: number | undefined;
  /** The ApiPolicy that applied, and what its steps decided (absent: nothing to say). */
  readonly policy: string | undefined;
  readonly auth: string | undefined;
  readonly authMs: number | undefined;
  readonly rateLimited: boolean | undefined;
}

export class AccessLog {
  readonly logger: Logger;
  /** The stream lines go to; the proxy's other logs share it so lines never interleave. */
  readonly destination: NodeJS.WritableStream;
  readonly #flushSync: (() => void) | undefined;
  readonly #writer: LineWriter | undefined;
  /** JSON lines are built here directly (pino's format); text lines go through pino. */
  readonly #json: boolean;

  constructor(options: AccessLogOptions = {}) {
    const writer = options.destination === undefined ? new LineWriter(1) : undefined;
    // LineWriter has the one method pino and createLogger call: write(line).
    const destination = options.destination ?? (writer as unknown as NodeJS.WritableStream);
    this.destination = destination;
    this.#writer = writer;
    this.#flushSync =
      writer === undefined
        ? undefined
        : () => {
            writer.flushSync();
          };
    const format = options.format ?? process.env.LOG_FORMAT ?? 'json';
    this.#json = format !== 'text';
    this.logger =
      format === 'text'
        ? createLogger({ format, level: 'info', destination })
        : pino(
            { level: 'info', base: null, timestamp: isoTimeCached },
            destination as pino.DestinationStream,
          );
  }

  /** Logs a finished exchange; `status` is what the client got (499: it left first). */
  write(ex: LogFacts, status: number, durationMs: number): void {
    const upstream = ex.upstream === undefined ? '-' : ex.upstream.key;
    const duration = Math.round(durationMs * 1000) / 1000;
    if (this.#json) {
      // The line pino would write for logger.info(record, 'request'), built in one
      // template: pino's generic serializer and the record object cost ~15 % of the
      // proxy's CPU per request (scripts/bench/proxy.ts).
      this.destination.write(
        `{"level":30${isoTimeCached()},"method":"${esc(ex.method)}","host":"${esc(ex.host)}",` +
          `"path":"${esc(ex.path)}","status":${status},"route":"${esc(ex.routeLabel)}",` +
          `"upstream":"${esc(upstream)}","durationMs":${duration},"bytesIn":${ex.bytesIn},` +
          `"bytesOut":${ex.bytesOut},"requestId":"${esc(ex.requestId)}",` +
          `"direction":"${ex.direction}","protocol":"${ex.protocol}"` +
          (ex.error === undefined ? '' : `,"error":"${esc(ex.error)}"`) +
          (ex.grpcStatus === undefined ? '' : `,"grpcStatus":${ex.grpcStatus}`) +
          `${ex.policy === undefined ? '' : policyFields(ex)},"msg":"request"}\n`,
      );
      return;
    }
    const record: AccessLogRecord = {
      method: ex.method,
      host: ex.host,
      path: ex.path,
      status,
      route: ex.routeLabel,
      upstream,
      durationMs: duration,
      bytesIn: ex.bytesIn,
      bytesOut: ex.bytesOut,
      requestId: ex.requestId,
      direction: ex.direction,
      protocol: ex.protocol,
    };
    if (ex.error !== undefined) record.error = ex.error;
    if (ex.grpcStatus !== undefined) record.grpcStatus = ex.grpcStatus;
    if (ex.policy !== undefined) record.policy = ex.policy;
    if (ex.auth !== undefined) record.auth = ex.auth;
    if (ex.authMs !== undefined) record.authMs = ex.authMs;
    if (ex.rateLimited !== undefined) record.rateLimited = ex.rateLimited;
    this.logger.info(record, 'request');
  }

  /** Lines dropped because stdout's reader could not keep up. */
  get dropped(): number {
    return this.#writer?.dropped ?? 0;
  }

  /** Writes out buffered lines (call before exit). */
  flush(): void {
    try {
      this.#flushSync?.();
    } catch {
      // stdout already closed: nothing left to save.
    }
  }
}

/** `,"policy":...` and what its steps decided, for requests an ApiPolicy applied to. */
function policyFields(ex: LogFacts): string {
  return (
    `,"policy":"${esc(ex.policy ?? '')}"` +
    (ex.auth === undefined ? '' : `,"auth":"${ex.auth}"`) +
    (ex.authMs === undefined ? '' : `,"authMs":${ex.authMs}`) +
    (ex.rateLimited === undefined ? '' : `,"rateLimited":${ex.rateLimited}`)
  );
}

// Quotes, backslashes and control characters need JSON escaping; anything else is copied.
// eslint-disable-next-line no-control-regex -- control characters are what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/** The inside of a JSON string literal: `value` itself (no copy) unless it needs escaping. */
function esc(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value).slice(1, -1) : value;
}

let lastMs = 0;
let lastIso = '';
/** pino's isoTime, computed once per millisecond. */
function isoTimeCached(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastIso;
}
