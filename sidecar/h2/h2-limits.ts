import type { Settings } from 'node:http2';

/**
 * What one HTTP/2 connection may cost the proxy, on both sides. nghttp2 enforces these
 * and answers a peer that breaks them with GOAWAY (RFC 9113 §5.4.1), ending that one
 * connection: the process and the other connections carry on.
 * - 256 concurrent streams (§5.1.2: more is a stream error REFUSED_STREAM; Envoy and
 *   nginx advertise 100 to 128, gRPC servers 100 or unbounded);
 * - header lists of 64 KiB and 256 fields (§10.5.1; nginx's `large_client_header_buffers`
 *   is 4 x 8 KiB), more is refused before any routing;
 * - 16 MiB of session memory (the streams' windows: 256 x 64 KiB) before the session
 *   is torn down with ENHANCE_YOUR_CALM;
 * - 32 SETTINGS entries and 10 unanswered PINGs, against the floods of CVE-2019-9512 /
 *   9515; rapid resets (CVE-2023-44487) are bounded by Node's own `streamResetBurst`.
 */
export const H2_LIMITS = {
  settings: {
    maxConcurrentStreams: 256,
    maxHeaderListSize: 64 * 1024,
    enablePush: false,
  } satisfies Settings,
  maxSessionMemory: 16,
  maxHeaderListPairs: 256,
  maxSettings: 32,
  maxOutstandingPings: 10,
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
} as const;
