/**
 * Header fields that belong to one connection, never to the message: a proxy drops them
 * both ways (https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1), plus those the
 * `Connection` header names. One list for the proxy, its auth call-outs and the
 * ApiPolicy compiler, so they cannot disagree about what is hop-by-hop.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** RFC 9110 §5.1 field names (tokens). */
export const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
