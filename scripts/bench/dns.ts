import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { startDnsServer } from '../../sidecar/dns/dns-server.js';
import { startFakeResolver } from '../../test/support/fake-resolver.js';

/**
 * The sidecar's DNS proxy on loopback: sequential UDP queries (one in flight, as a stub
 * resolver sends them), answered here for a route host (by its search-expanded name) and
 * forwarded to a resolver on 127.0.0.2 for another name. Prints queries/s and latency.
 * Run: node --import tsx scripts/bench/dns.ts
 */
const QUERIES = 20_000;

async function measure(port: number, name: string): Promise<string> {
  const socket = dgram.createSocket('udp4');
  const latencies: number[] = [];
  const query = (id: number): Buffer =>
    dnsPacket.encode({
      id,
      type: 'query',
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: 'A', class: 'IN' }],
    });
  const began = process.hrtime.bigint();
  let sent = process.hrtime.bigint();
  await new Promise<void>((done) => {
    socket.on('message', () => {
      latencies.push(Number(process.hrtime.bigint() - sent) / 1e3);
      if (latencies.length === QUERIES) {
        done();
        return;
      }
      sent = process.hrtime.bigint();
      socket.send(query(latencies.length % 65535), port, '127.0.0.1');
    });
    socket.send(query(0), port, '127.0.0.1');
  });
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  socket.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): string => (latencies[Math.floor(QUERIES * q)] ?? 0).toFixed(0);
  return `${(QUERIES / seconds).toFixed(0).padStart(7)} q/s  p50 ${at(0.5)} µs  p99 ${at(0.99)} µs`;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'detour-dns-bench-'));
  const upstream = await startFakeResolver({
    host: '127.0.0.2',
    port: 0,
    records: { 'other.example': '198.18.0.99' },
  });
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.2\nsearch ns.svc.cluster.local\n');
  const server = await startDnsServer({
    host: '127.0.0.1',
    port: 0,
    hasHost: (name) => name === 'my-application.my-namespace',
    resolvConf: join(dir, 'resolv.conf'),
    upstreamPort: upstream.port,
  });
  try {
    const routeHost = await measure(
      server.port,
      'my-application.my-namespace.ns.svc.cluster.local',
    );
    const forwarded = await measure(server.port, 'other.example');
    process.stdout.write(`${QUERIES} sequential UDP queries each\n`);
    process.stdout.write(`  route host, answered here   ${routeHost}\n`);
    process.stdout.write(`  other name, forwarded       ${forwarded}\n`);
  } finally {
    await server.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
