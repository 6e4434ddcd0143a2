import dgram from 'node:dgram';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { frame, FrameReader } from '../../sidecar/dns/dns-forwarder.js';

/**
 * A tiny authoritative resolver for tests, UDP and TCP on one port: A records from
 * `records`, NXDOMAIN for the rest. `truncate` names get a TC answer over UDP (and the
 * full one over TCP); `silent` names get no answer at all. It counts the queries it saw,
 * so tests can tell answered-here from forwarded.
 *
 * Also runnable on its own, for the netns e2e test:
 *   node --import tsx test/support/fake-resolver.ts HOST PORT '{"name":"198.18.0.20"}'
 */
export interface FakeResolverOptions {
  host: string;
  port: number;
  records: Record<string, string>;
  truncate?: string[];
  silent?: string[];
}

export interface FakeResolver {
  readonly port: number;
  readonly queries: { name: string; type: string; transport: 'udp' | 'tcp' }[];
  close(): Promise<void>;
}

export async function startFakeResolver(options: FakeResolverOptions): Promise<FakeResolver> {
  const queries: FakeResolver['queries'] = [];
  const answer = (query: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    try {
      return answerQuery(query, transport);
    } catch {
      return undefined; // garbage (fuzz tests forward some): no answer, as a real server drops it
    }
  };
  const answerQuery = (query: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    const packet = dnsPacket.decode(query);
    const question = packet.questions?.[0];
    if (question === undefined) return undefined;
    const name = question.name.toLowerCase();
    queries.push({ name, type: question.type, transport });
    if (options.silent?.includes(name) === true) return undefined;
    const address = options.records[name];
    const truncated = transport === 'udp' && options.truncate?.includes(name) === true;
    return dnsPacket.encode({
      id: packet.id ?? 0,
      type: 'response',
      flags:
        dnsPacket.RECURSION_AVAILABLE |
        (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
        (address === undefined ? 3 : 0), // RCODE 3: NXDOMAIN
      questions: [question],
      answers:
        address === undefined || truncated || question.type !== 'A'
          ? []
          : [{ type: 'A', name: question.name, class: 'IN', ttl: 5, data: address }],
    });
  };

  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(options.port, options.host, resolve));
  const port = udp.address().port;
  udp.on('message', (query, remote) => {
    const reply = answer(query, 'udp');
    if (reply !== undefined) udp.send(reply, remote.port, remote.address);
  });
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const frames = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      for (const query of frames.push(chunk)) {
        const reply = answer(query, 'tcp');
        if (reply !== undefined) socket.write(frame(reply));
      }
    });
  });
  await new Promise<void>((resolve) => tcp.listen(port, options.host, resolve));
  return {
    port,
    queries,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => {
          udp.close(() => {
            resolve();
          });
        }),
        new Promise<void>((resolve) => {
          tcp.close(() => {
            resolve();
          });
        }),
      ]);
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [host = '127.0.0.1', port = '53', records = '{}'] = process.argv.slice(2);
  const resolver = await startFakeResolver({
    host,
    port: Number(port),
    records: JSON.parse(records) as Record<string, string>,
  });
  process.stdout.write(`fake resolver listening on ${host}:${resolver.port}\n`);
  process.on('SIGTERM', () => {
    void resolver.close().then(() => process.exit(0));
  });
}
