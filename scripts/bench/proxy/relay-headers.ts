/** What both Node relays (node-relay-main.ts, node-relay-http-main.ts) share. */
import { HOP_BY_HOP } from '../../../shared/http-fields.js';

/** `LISTEN_PORT UPSTREAM_PORT` from the command line. */
export function relayPorts(): [number, number] {
  const [listen, upstream] = process.argv.slice(2).map(Number);
  if (listen === undefined || upstream === undefined || !(listen > 0 && upstream > 0)) {
    throw new Error('usage: node-relay LISTEN_PORT UPSTREAM_PORT');
  }
  return [listen, upstream];
}

/**
 * The request's raw headers (name, value, ...) without the hop-by-hop ones, detour's own
 * list: the client frames the body itself.
 */
export function requestHeaders(raw: readonly string[]): string[] {
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, raw[i + 1] ?? '');
  }
  return headers;
}
