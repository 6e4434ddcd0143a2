import { pino } from 'pino';
import { createLogger, type Logger } from '../shared/logger.js';

/**
 * One line per request on stdout, which is what `kubectl logs <pod> -c detour-proxy`
 * shows. JSON (pino) by default; `LOG_FORMAT=text` gives one human line.
 *
 * Lines go through an asynchronous SonicBoom destination: a synchronous write per request
 * would cost a syscall on the hot path; while one write is in flight the next lines
 * gather and leave in one write, so under load the syscalls batch themselves, and when
 * idle a line is out at once (`kubectl logs` never lags). `flush()` must run before exit.
 */
export interface AccessLogOptions {
  format?: string | undefined;
  /** Where lines go (tests inject a stream); default: buffered stdout. */
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
  error?: string;
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
}

export class AccessLog {
  readonly logger: Logger;
  /** The stream lines go to; the proxy's other logs share it so lines never interleave. */
  readonly destination: NodeJS.WritableStream;
  readonly #boom: NodeJS.WritableStream & { flushSync?: () => void };

  constructor(options: AccessLogOptions = {}) {
    const boom =
      options.destination ??
      // SonicBoom has the write() pino and createLogger call; its types do not say Writable.
      (pino.destination({ dest: 1, sync: false }) as unknown as NodeJS.WritableStream);
    this.destination = boom;
    this.#boom = boom;
    this.logger = createLogger({ format: options.format, level: 'info', destination: boom });
  }

  /** Logs a finished exchange; `status` is what the client got (499: it left first). */
  write(ex: LogFacts, status: number, durationMs: number): void {
    const record: AccessLogRecord = {
      method: ex.method,
      host: ex.host,
      path: ex.path,
      status,
      route: ex.routeLabel,
      upstream: ex.upstream === undefined ? '-' : ex.upstream.key,
      durationMs: Math.round(durationMs * 1000) / 1000,
      bytesIn: ex.bytesIn,
      bytesOut: ex.bytesOut,
      requestId: ex.requestId,
    };
    if (ex.error !== undefined) record.error = ex.error;
    this.logger.info(record, 'request');
  }

  /** Writes out buffered lines (call before exit). */
  flush(): void {
    try {
      this.#boom.flushSync?.();
    } catch {
      // Nothing buffered, or stdout already closed: nothing left to save.
    }
  }
}
