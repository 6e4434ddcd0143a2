import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../shared/logger.js';
import { DEFAULT_VIP_CIDR } from '../../shared/capture-settings.js';
import { decideQuery, DEFAULT_TTL, servfail, type AnswerContext } from './dns-answer.js';
import { forwardQuery, frame, FrameReader, type Upstream } from './dns-forwarder.js';
import { readResolvConf, type ResolvConf } from './resolv-conf.js';
import { errorMessage } from '../../shared/errors.js';
import { VipAllocator } from './vip-allocator.js';

/**
 * The sidecar's DNS proxy (UDP and TCP on one port). It must be bound to 127.0.0.1:
 * iptables REDIRECT rewrites the app's query to 127.0.0.1, and conntrack only un-NATs a
 * reply that comes from that address (DESIGN.md, "Traps"; Istio binds its DNS proxy
 * the same way). The proxy's own lookups are never redirected here (its UID is
 * excluded), so forwarding to the pod's resolver cannot loop.
 */
export interface DnsServerOptions {
  host: string;
  /** 0 picks a free port (the same one for UDP and TCP). */
  port: number;
  hasHost(name: string): boolean;
  /** Usually /etc/resolv.conf; read once at start. */
  resolvConf: string;
  vipCidr?: string;
  /** Port of the resolv.conf nameserver; 53 except in tests. */
  upstreamPort?: number;
  upstreamTimeoutMs?: number;
  ttl?: number;
  logger?: Logger;
}

export interface DnsServer {
  readonly port: number;
  readonly upstream: Upstream | undefined;
  close(): Promise<void>;
}

const MAX_TCP_IDLE_MS = 10_000;

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const log = options.logger;
  const resolv = readOrEmpty(options.resolvConf, log);
  const nameserver = resolv.nameservers[0];
  const upstream: Upstream | undefined =
    nameserver === undefined ? undefined : { host: nameserver, port: options.upstreamPort ?? 53 };
  const ctx: AnswerContext = {
    hasHost: (name) => options.hasHost(name),
    search: resolv.search,
    vips: new VipAllocator(options.vipCidr ?? DEFAULT_VIP_CIDR),
    ttl: options.ttl ?? DEFAULT_TTL,
  };
  const timeoutMs = options.upstreamTimeoutMs ?? 5_000;

  const resolve = async (query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> => {
    const decision = decideQuery(query, ctx);
    if (decision.kind === 'answer') {
      log?.debug({ host: decision.host, transport }, 'dns answered for route host');
      return decision.response;
    }
    if (decision.kind === 'drop') {
      log?.debug({ reason: decision.reason, transport }, 'dns query dropped');
      return undefined;
    }
    const answer =
      upstream === undefined
        ? undefined
        : await forwardQuery(query, upstream, { timeoutMs, clientTransport: transport });
    if (answer === undefined) {
      log?.warn({ upstream, transport }, 'dns upstream failed, answering SERVFAIL');
      return servfail(query);
    }
    return answer;
  };

  const { udp, tcp, port } = await bindBoth(options.host, options.port);

  udp.on('message', (query, remote) => {
    void resolve(query, 'udp').then((answer) => {
      if (answer !== undefined) udp.send(answer, remote.port, remote.address);
    });
  });

  const connections = new Set<net.Socket>();
  tcp.on('connection', (socket) => {
    connections.add(socket);
    socket.setTimeout(MAX_TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => undefined);
    const frames = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      for (const query of frames.push(chunk)) {
        void resolve(query, 'tcp').then((answer) => {
          if (answer !== undefined && !socket.destroyed) socket.write(frame(answer));
        });
      }
    });
  });

  log?.info({ host: options.host, port, upstream, search: resolv.search }, 'dns server listening');
  return {
    port,
    upstream,
    close: async () => {
      for (const socket of connections) socket.destroy();
      await Promise.all([
        new Promise<void>((done) => {
          udp.close(() => {
            done();
          });
        }),
        new Promise<void>((done) => {
          tcp.close(() => {
            done();
          });
        }),
      ]);
    },
  };
}

/** A pod always has a resolv.conf; without one we still answer route hosts. */
function readOrEmpty(path: string, log: Logger | undefined): ResolvConf {
  try {
    return readResolvConf(path);
  } catch (err) {
    log?.warn({ path, err: errorMessage(err) }, 'no resolv.conf: other names get SERVFAIL');
    return { nameservers: [], search: [] };
  }
}

/**
 * Binds UDP and TCP to the same port. With port 0 the kernel picks the UDP port, and
 * the TCP port may be taken already: retry a few times with a fresh pick.
 */
async function bindBoth(
  host: string,
  port: number,
): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  const attempts = port === 0 ? 10 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const bound = udp.address().port;
      const tcp = net.createServer();
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(bound, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      udp.on('error', () => undefined);
      return { udp, tcp, port: bound };
    } catch (err) {
      lastError = err;
      try {
        udp.close();
      } catch {
        // never bound
      }
    }
  }
  throw lastError;
}
