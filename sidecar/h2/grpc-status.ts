/**
 * gRPC over HTTP/2 as the proxy needs it: telling a gRPC call from other HTTP/2 traffic,
 * reading its deadline, and writing `grpc-message`.
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
 */

/** `application/grpc`, `application/grpc+proto`, `application/grpc-web...` are not ours. */
export function isGrpc(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith('application/grpc')) return false;
  const next = contentType.charCodeAt(16);
  // Exactly `application/grpc`, or followed by `+format` or `;params`.
  return Number.isNaN(next) || next === 0x2b || next === 0x3b;
}

/** Milliseconds per `grpc-timeout` unit (Hours, Minutes, Seconds, milli, micro, nano). */
const UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * `grpc-timeout` in milliseconds: `TimeoutValue TimeoutUnit`, at most 8 digits (the
 * spec's bound, which also keeps a hostile value from overflowing a timer). undefined
 * when absent or malformed: a malformed deadline is ignored, as grpc-go ignores it.
 */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = UNIT_MS[value.charAt(value.length - 1)];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return undefined;
  // Node's timers hold at most 2^31-1 ms (24.8 days); longer is "no deadline".
  const ms = Math.ceil(Number(digits) * unit);
  return ms > 2_147_483_647 ? undefined : ms;
}

/**
 * `grpc-message` percent-encoding: UTF-8 bytes outside 0x20-0x7E, and `%` itself, as
 * `%XX`. The spec asks receivers to decode it; a plain ASCII message passes unchanged.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The gRPC status for an HTTP status detour relays in place of an answer of its own (an
 * auth service's refusal), as gRPC's own table maps them.
 * https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
 */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 413:
    case 429:
      return 8; // RESOURCE_EXHAUSTED, as for detour's own 413 and 429
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}
