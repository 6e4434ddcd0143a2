import { expect } from 'chai';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { startDnsServer, type DnsServer } from '../../sidecar/dns/dns-server.js';
import { frame, FrameReader } from '../../sidecar/dns/dns-forwarder.js';
import { firstData, udpQuery } from '../support/dns-client.js';
import { startFakeResolver, type FakeResolver } from '../support/fake-resolver.js';

/**
 * Property-based tests of the sidecar's DNS server (issue 9): random bytes and mutated
 * valid queries over UDP and TCP, each followed by a valid query that must still get its
 * answer (a route host: a virtual IP from 240.240.0.0/16) within a bounded time. A
 * crash would end this process, a wedged socket shows as the valid query timing out.
 * Forwarded queries go to a fake resolver on loopback.
 */
const ROUTE_HOST = 'my-application.my-namespace';
const RUNS = Number(process.env.DETOUR_FUZZ_RUNS ?? 100);
const ANSWER_MS = 3_000;

/** A valid query, as a stub resolver would send it. */
const validQuery = fc
  .record({
    id: fc.integer({ min: 0, max: 0xffff }),
    name: fc.constantFrom(ROUTE_HOST, 'unknown.example', 'my-application', 'a.b.c.d.e'),
    type: fc.constantFrom('A', 'AAAA', 'TXT', 'MX', 'ANY', 'SRV'),
  })
  .map((q) =>
    dnsPacket.encode({
      id: q.id,
      type: 'query',
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: q.name, type: q.type as 'A', class: 'IN' }],
    }),
  );

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'count'; field: number; value: number }
  | { kind: 'pointer-loop' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat({ max: 80 }),
    byte: fc.nat({ max: 255 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: 60 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  // QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT (RFC 1035 §4.1.1) claiming what is not there.
  fc.record({
    kind: fc.constant('count' as const),
    field: fc.integer({ min: 0, max: 3 }),
    value: fc.constantFrom(0, 2, 255, 0xffff),
  }),
  // The question name as a compression pointer to itself (RFC 1035 §4.1.4).
  fc.record({ kind: fc.constant('pointer-loop' as const) }),
);

function mutate(query: Uint8Array, mutations: Mutation[]): Buffer {
  let bytes = Buffer.from(query);
  for (const m of mutations) {
    if (m.kind === 'flip') {
      if (bytes.length > 0) bytes[m.at % bytes.length] = m.byte;
    } else if (m.kind === 'truncate') {
      bytes = bytes.subarray(0, m.at);
    } else if (m.kind === 'append') {
      bytes = Buffer.concat([bytes, m.bytes]);
    } else if (m.kind === 'count') {
      if (bytes.length >= 12) bytes.writeUInt16BE(m.value, 4 + 2 * m.field);
    } else if (bytes.length >= 14) {
      bytes[12] = 0xc0;
      bytes[13] = 0x0c;
    }
  }
  return bytes;
}

/** Random bytes, or a valid query mutated. */
const hostilePacket: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
  fc
    .tuple(validQuery, fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([q, m]) => mutate(q, m)),
);

function sendUdp(port: number, packet: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.send(packet, port, '127.0.0.1', () => {
      socket.close();
      resolve();
    });
  });
}

/**
 * On one TCP connection: `before` as written (framed or raw), then a framed valid query
 * for the route host; resolves with its answer (matched by id). Rejects on timeout.
 */
function tcpAfter(port: number, before: Buffer, id: number): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const frames = new FrameReader();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP answer to query ${id} within ${ANSWER_MS} ms`));
    }, ANSWER_MS);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const message of frames.push(chunk)) {
        const packet = dnsPacket.decode(message);
        if (packet.id !== id) continue; // an answer to a hostile query that decoded
        clearTimeout(timer);
        socket.destroy();
        resolve(packet);
      }
    });
    const query = dnsPacket.encode({
      id,
      type: 'query',
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: ROUTE_HOST, type: 'A', class: 'IN' }],
    });
    socket.write(Buffer.concat([before, frame(query)]));
  });
}

/** A raw TCP connection that writes `bytes` and leaves (half a frame, a huge length...). */
function tcpAndLeave(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end(bytes);
    });
    socket.on('error', () => {
      resolve();
    });
    socket.on('close', () => {
      resolve();
    });
    setTimeout(() => socket.destroy(), 200);
  });
}

function isVip(data: unknown): boolean {
  return typeof data === 'string' && data.startsWith('240.240.');
}

describe('DNS server properties: hostile packets over UDP and TCP (fast-check)', function () {
  this.timeout(120_000);
  let dir: string;
  let resolver: FakeResolver;
  let dns: DnsServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'detour-dns-fuzz-'));
    resolver = await startFakeResolver({
      host: '127.0.0.9',
      port: 0,
      records: { 'unknown.example': '127.0.0.99' },
    });
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 127.0.0.9\nsearch my-namespace.svc.cluster.local\n');
    dns = await startDnsServer({
      host: '127.0.0.1',
      port: 0,
      hasHost: (name) => name === ROUTE_HOST,
      resolvConf,
      upstreamPort: resolver.port,
      upstreamTimeoutMs: 500,
    });
  });

  after(async () => {
    await dns.close();
    await resolver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('UDP: after any random or mutated packet, a valid query for a route host is still answered within 3 s', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostilePacket, { minLength: 1, maxLength: 5 }), async (packets) => {
        for (const packet of packets) await sendUdp(dns.port, packet);
        const answer = await udpQuery(dns.port, ROUTE_HOST, 'A', ANSWER_MS);
        expect(isVip(firstData(answer)), JSON.stringify(answer.answers)).to.equal(true);
      }),
      { numRuns: RUNS },
    );
    // Forwarding still works too (a name the table does not know goes to the resolver).
    const forwarded = await udpQuery(dns.port, 'unknown.example', 'A', ANSWER_MS);
    expect(firstData(forwarded)).to.equal('127.0.0.99');
  });

  it('TCP: after framed random or mutated messages on the same connection, its next valid query is answered within 3 s', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostilePacket, { maxLength: 4 }),
        fc.integer({ min: 1, max: 0xffff }),
        async (packets, id) => {
          const framed = Buffer.concat(packets.filter((p) => p.length > 0).map((p) => frame(p)));
          const answer = await tcpAfter(dns.port, framed, id);
          expect(isVip(firstData(answer)), JSON.stringify(answer.answers)).to.equal(true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('TCP: after raw bytes (unframed, half frames, oversized lengths) and a client that leaves, a new connection is answered within 3 s', async () => {
    const raw = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      // A length prefix promising more than comes.
      fc
        .tuple(fc.integer({ min: 1, max: 0xffff }), fc.uint8Array({ maxLength: 40 }))
        .map(([length, rest]) => Buffer.concat([Buffer.from([length >> 8, length & 0xff]), rest])),
    );
    await fc.assert(
      fc.asyncProperty(raw, fc.integer({ min: 1, max: 0xffff }), async (bytes, id) => {
        await tcpAndLeave(dns.port, bytes);
        const answer = await tcpAfter(dns.port, Buffer.alloc(0), id);
        expect(isVip(firstData(answer)), JSON.stringify(answer.answers)).to.equal(true);
      }),
      { numRuns: RUNS },
    );
  });
});
