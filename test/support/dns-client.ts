import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { frame, FrameReader } from '../../sidecar/dns/dns-forwarder.js';

let nextId = 1;

function query(name: string, type: 'A' | 'AAAA' | 'TXT'): Buffer {
  nextId = (nextId % 65535) + 1;
  return dnsPacket.encode({
    id: nextId,
    type: 'query',
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
  });
}

/** One query over UDP, as a stub resolver sends it; rejects after `timeoutMs`. */
export function udpQuery(
  port: number,
  name: string,
  type: 'A' | 'AAAA' | 'TXT' = 'A',
  timeoutMs = 8_000,
): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP answer for ${name}`));
    }, timeoutMs);
    socket.on('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(dnsPacket.decode(message));
    });
    socket.send(query(name, type), port, '127.0.0.1');
  });
}

/** Queries over one TCP connection (RFC 1035 §4.2.2 framing), answers in order of arrival. */
export function tcpQueries(
  port: number,
  questions: { name: string; type: 'A' | 'AAAA' | 'TXT' }[],
  timeoutMs = 8_000,
): Promise<dnsPacket.DecodedPacket[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const frames = new FrameReader();
    const answers: dnsPacket.DecodedPacket[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${answers.length} TCP answers of ${questions.length}`));
    }, timeoutMs);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      for (const message of frames.push(chunk)) answers.push(dnsPacket.decode(message));
      if (answers.length === questions.length) {
        clearTimeout(timer);
        socket.end();
        resolve(answers);
      }
    });
    // All queries in one write, split oddly, to exercise the framing.
    const bytes = Buffer.concat(questions.map((q) => frame(query(q.name, q.type))));
    socket.write(bytes.subarray(0, 3));
    setTimeout(() => socket.write(bytes.subarray(3)), 20);
  });
}

/** The response code; dns-packet decodes it, but its types leave it out. */
export function rcodeOf(packet: dnsPacket.DecodedPacket): string {
  return (packet as unknown as { rcode: string }).rcode;
}

/** The data of the first answer record (an address for A records). */
export function firstData(packet: dnsPacket.DecodedPacket): unknown {
  const answer = packet.answers?.[0] as { data?: unknown } | undefined;
  return answer?.data;
}
