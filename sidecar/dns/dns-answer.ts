import dnsPacket from 'dns-packet';
import type { VipAllocator } from './vip-allocator.js';

/**
 * What the DNS proxy does with one query, decided without I/O: answer it here (a route
 * host) or forward it unchanged to the pod's resolver (everything else).
 */
export type DnsDecision =
  | { kind: 'answer'; response: Buffer; host: string }
  | { kind: 'forward' }
  | { kind: 'drop'; reason: string };

export interface AnswerContext {
  hasHost: (name: string) => boolean;
  /** resolv.conf `search` suffixes, lower-case, no trailing dot. */
  search: readonly string[];
  vips: VipAllocator;
  /** Seconds; short, so a host that stops being a route is forgotten soon. */
  ttl: number;
}

/** Istio's DNS proxy answers with a 30 s TTL for the same reason. */
export const DEFAULT_TTL = 30;

export function decideQuery(query: Buffer, ctx: AnswerContext): DnsDecision {
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return { kind: 'drop', reason: 'malformed query' };
  }
  if (packet.type !== 'query') return { kind: 'drop', reason: 'not a query' };
  const question = packet.questions?.[0];
  // Only a plain one-question IN query can be about a route host; the rest is the
  // resolver's business (RFC 1035 allows several questions, nobody sends them).
  if (question === undefined || packet.questions?.length !== 1 || question.class !== 'IN') {
    return { kind: 'forward' };
  }
  const host = routeHostFor(question.name, ctx.search, ctx.hasHost);
  if (host === undefined) return { kind: 'forward' };

  const answers: dnsPacket.Answer[] =
    question.type === 'A'
      ? [
          {
            type: 'A',
            name: question.name,
            class: 'IN',
            ttl: ctx.ttl,
            data: ctx.vips.addressFor(host),
          },
        ]
      : []; // AAAA and every other type: the name exists, with no such record (NODATA)
  const response = dnsPacket.encode({
    id: packet.id ?? 0,
    type: 'response',
    flags:
      (packet.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
      dnsPacket.RECURSION_AVAILABLE |
      dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [question],
    answers,
  });
  return { kind: 'answer', response, host };
}

/**
 * The route host a query name stands for: the name itself, or the name with one search
 * suffix removed (the app's resolver tried `my-app.my-ns.<search>` before the bare name,
 * as ndots:5 in Kubernetes pods makes it do; answering the first try saves the others).
 */
export function routeHostFor(
  name: string,
  search: readonly string[],
  hasHost: (name: string) => boolean,
): string | undefined {
  const full = name.toLowerCase().replace(/\.$/, '');
  if (full === '') return undefined;
  if (hasHost(full)) return full;
  for (const suffix of search) {
    if (!full.endsWith(`.${suffix}`)) continue;
    const stripped = full.slice(0, -(suffix.length + 1));
    if (hasHost(stripped)) return stripped;
  }
  return undefined;
}

/** SERVFAIL for a query we could not get answered (upstream timeout or failure). */
export function servfail(query: Buffer): Buffer | undefined {
  try {
    const packet = dnsPacket.decode(query);
    return dnsPacket.encode({
      id: packet.id ?? 0,
      type: 'response',
      flags:
        (packet.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
        dnsPacket.RECURSION_AVAILABLE |
        RCODE_SERVFAIL,
      questions: packet.questions ?? [],
    });
  } catch {
    return undefined;
  }
}

/** RCODE 2, in the low four bits of the flags (RFC 1035 §4.1.1). */
const RCODE_SERVFAIL = 2;

/** Whether a response has the TC bit: the answer did not fit in UDP (RFC 1035 §4.2.1). */
export function isTruncated(response: Buffer): boolean {
  return response.length >= 4 && (response.readUInt16BE(2) & dnsPacket.TRUNCATED_RESPONSE) !== 0;
}
