import { BadFlagError, BadKnobError, errorMessage } from '../shared/errors.js';
import { choiceFlag, parseFlags, portFlag, wholeNumberFlag } from '../shared/cli-flags.js';
import { waitForSignal } from '../shared/signals.js';
import { parseInboundMap, type InboundPort } from '../shared/inbound-ports.js';
import { loadPlaneConfig, planeFromMode, type PlaneConfig } from '../shared/plane-config.js';
import { PORTS } from '../shared/labels.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { isIP, type AddressInfo } from 'node:net';
import { PROXY_MODES, type LocalPod } from './traffic.js';
import { AccessLog } from './access-log.js';
import { AdminServer } from './admin-server.js';
import { AppHealth } from './app-health.js';
import { ProxyMetrics } from './proxy-metrics.js';
import {
  DEFAULT_CLIENT_TIMEOUTS,
  ProxyServer,
  type ClientTimeouts,
  type ProxyMode,
} from './proxy-server.js';
import { DEFAULT_UPSTREAM_OPTIONS, type UpstreamOptions } from './upstreams.js';
import type { DnsServer } from './dns/dns-server.js';
import type { RouteSource } from './sources/route-source.js';

const USAGE = `usage: detour proxy [flags]

  --mode sidecar|gateway       sidecar (private plane, default) or edge gateway (public plane)
  --source kube|file:PATH      where routes come from (default kube inside a cluster)
  --listen N                   proxy port (default ${PORTS.outbound} sidecar, PORT gateway)
  --listen-host ADDR           proxy listener address (default: sidecar 127.0.0.1 and ::1,
                               where iptables REDIRECT lands; gateway 0.0.0.0)
  --admin-port N               /healthz /ready /metrics /routes (default ${PORTS.admin})
  --admin-host ADDR            admin listener address (default 0.0.0.0: kubelet, Prometheus)
  --dns-port N                 DNS server port, bound to 127.0.0.1 (default ${PORTS.dns})
  --headers-timeout MS         a request head must arrive within (default ${DEFAULT_CLIENT_TIMEOUTS.headersMs})
  --body-idle-timeout MS       request body silent this long: 408 (default ${DEFAULT_CLIENT_TIMEOUTS.bodyIdleMs}, 0 off)
  --keep-alive-timeout MS      idle client keep-alive connections closed after (default ${DEFAULT_CLIENT_TIMEOUTS.keepAliveMs})
  --inbound P=L,...            sidecar: app port P is captured to listener L (rendered by
                               the webhook, the same map as detour init's; default none)
  --connect-timeout MS         upstream connect timeout (default ${DEFAULT_UPSTREAM_OPTIONS.connectTimeoutMs})
  --response-timeout MS        wait for upstream response headers (default ${DEFAULT_UPSTREAM_OPTIONS.headersTimeoutMs})
  --response-idle-timeout MS   upstream response body silent this long: cut (default ${DEFAULT_UPSTREAM_OPTIONS.bodyIdleTimeoutMs}, 0 off)
  --upstream-connections N     connection cap per upstream endpoint (default ${DEFAULT_UPSTREAM_OPTIONS.connections})
  --queue-limit N              requests waiting for a connection per endpoint (default ${DEFAULT_UPSTREAM_OPTIONS.queueLimit})
  --queue-timeout MS           wait for a free connection, then 503 (default ${DEFAULT_UPSTREAM_OPTIONS.queueTimeoutMs})
  --drain-timeout MS           on SIGTERM, wait this long for in-flight requests (default 20000)

Routing knobs come from the environment (HOSTS_ANNOTATION, CLIENT_MAX_BODY_SIZE, ...).
`;

const DEFAULT_DRAIN_MS = 20_000;

interface ProxyFlags {
  mode: ProxyMode;
  source: string;
  listen: number;
  /** undefined: the mode's default (sidecar: 127.0.0.1 and ::1; gateway: 0.0.0.0). */
  listenHost: string | undefined;
  adminPort: number;
  adminHost: string;
  timeouts: ClientTimeouts;
  dnsPort: number;
  drainTimeoutMs: number;
  upstreams: Partial<UpstreamOptions>;
  /**
   * Inbound capture (DESIGN.md, "Enforce at the destination"): for each captured app
   * port, the listener iptables redirects it to, in the order the webhook rendered
   * them. Each listener forwards to the app at POD_IP:appPort. Empty: no inbound.
   */
  inbound: InboundPort[];
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    mode: { type: 'string' },
    source: { type: 'string' },
    listen: { type: 'string' },
    'listen-host': { type: 'string' },
    'admin-port': { type: 'string' },
    'admin-host': { type: 'string' },
    'headers-timeout': { type: 'string' },
    'body-idle-timeout': { type: 'string' },
    'keep-alive-timeout': { type: 'string' },
    'response-idle-timeout': { type: 'string' },
    'queue-limit': { type: 'string' },
    'queue-timeout': { type: 'string' },
    'dns-port': { type: 'string' },
    'connect-timeout': { type: 'string' },
    'response-timeout': { type: 'string' },
    'upstream-connections': { type: 'string' },
    'drain-timeout': { type: 'string' },
    inbound: { type: 'string' },
  });
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const mode = parseMode(parsed.values.mode);
  // Invalid knobs stop the process here, naming the knob (BadKnobError).
  const config = loadPlaneConfig(planeFromMode(mode));
  const flags = readFlags(parsed.values, mode, config);
  // The app's original probes, moved here by the webhook (a bad value stops us here).
  const appHealth = AppHealth.fromEnv(process.env);

  const accessLog = new AccessLog();
  const log = createLogger({ name: 'detour-proxy', destination: accessLog.destination });
  const metrics = new ProxyMetrics();
  const proxy = new ProxyServer({
    mode,
    config,
    accessLog,
    metrics,
    logger: log,
    upstreams: flags.upstreams,
    timeouts: flags.timeouts,
    pod: localPod(process.env, flags.inbound.length > 0),
    inbound: flags.inbound,
  });
  const source = await openSource(flags.source, config, log);
  const admin = new AdminServer(proxy, source.description, appHealth);

  const adminAddress = await admin.listen(flags.adminPort, flags.adminHost);
  const address = await listenProxy(proxy, mode, flags, log);
  log.info(
    {
      mode,
      plane: config.plane,
      source: source.description,
      listen: `${address.address}:${address.port}`,
      admin: `${adminAddress.address}:${adminAddress.port}`,
      dnsPort: flags.dnsPort,
      inbound: flags.inbound,
      drainTimeoutMs: flags.drainTimeoutMs,
      upstreams: proxy.upstreams.options,
      config,
    },
    'detour proxy starting',
  );

  // --- DNS server (capture helper) -------------------------------------------------
  // Sidecar mode only: route hosts get a virtual IP, other names go to the pod's
  // resolver (sidecar/dns/). Bound to 127.0.0.1, where iptables REDIRECT sends the app's
  // queries (DESIGN.md, "Traps"). It reads the table at query time, so it follows
  // every swap. `--dns-port 0` picks a free port (local runs beside another proxy).
  let dns: DnsServer | undefined;
  try {
    if (mode === 'sidecar') {
      // Loaded only when used (issue 13): a gateway has no DNS server.
      const { startDnsServer } = await import('./dns/dns-server.js');
      dns = await startDnsServer({
        host: '127.0.0.1',
        port: flags.dnsPort,
        hasHost: (name) => proxy.table.hasHost(name),
        resolvConf: '/etc/resolv.conf',
        logger: log,
      });
    }
  } catch (err) {
    // Without it, captured DNS fails for every name: better not to start at all.
    log.error({ err: errorMessage(err), dnsPort: flags.dnsPort }, 'dns server failed to start');
    await shutdown(proxy, admin, source, 0);
    accessLog.flush();
    throw err;
  }
  const closeDns = async (): Promise<void> => {
    await dns?.close();
  };
  // ---------------------------------------------------------------------------------

  const stopped = waitForSignal();
  try {
    await source.start((table) => {
      proxy.setTable(table);
      log.info({ version: table.version, routes: table.routeCount }, 'route table in use');
    });
  } catch (err) {
    log.error({ err: errorMessage(err), source: source.description }, 'no first route table');
    await shutdown(proxy, admin, source, 0);
    await closeDns();
    accessLog.flush();
    throw err;
  }
  // Inbound listeners open only now: before the first table, a request would be checked
  // against no policy at all. (A native sidecar's app starts after /ready anyway.)
  const inboundAddresses = await proxy.listenInbound();
  proxy.markReady();
  log.info(
    {
      version: proxy.table.version,
      routes: proxy.table.routeCount,
      inbound: inboundAddresses.map((a) => a.port),
    },
    'ready',
  );

  const signal = await stopped;
  log.info({ signal, inFlight: proxy.inFlight, drainTimeoutMs: flags.drainTimeoutMs }, 'draining');
  const inTime = await shutdown(proxy, admin, source, flags.drainTimeoutMs);
  await closeDns();
  log.info({ drained: inTime }, 'stopped');
  accessLog.flush();
  // Anything still holding the event loop (a stuck socket) must not keep us alive.
  setTimeout(() => process.exit(0), 2_000).unref();
  return 0;
}

async function shutdown(
  proxy: ProxyServer,
  admin: AdminServer,
  source: RouteSource,
  drainMs: number,
): Promise<boolean> {
  const inTime = await proxy.drain(drainMs);
  await source.stop();
  await admin.close();
  return inTime;
}

/**
 * Sidecar mode listens on loopback only: REDIRECT from the pod's own OUTPUT chain
 * rewrites the destination to 127.0.0.1 (::1 for IPv6), proxy-env clients dial
 * 127.0.0.1, and nothing outside the pod may use the proxy as a relay into the pod's
 * loopback services. The gateway serves the network. (iptables-extensions(8), REDIRECT)
 */
async function listenProxy(
  proxy: ProxyServer,
  mode: ProxyMode,
  flags: ProxyFlags,
  log: Logger,
): Promise<AddressInfo> {
  if (flags.listenHost !== undefined) return proxy.listen(flags.listen, flags.listenHost);
  if (mode === 'gateway') return proxy.listen(flags.listen, '0.0.0.0');
  const address = await proxy.listen(flags.listen, '127.0.0.1');
  try {
    await proxy.listenAlso(address.port, '::1');
  } catch (err) {
    // A pod without IPv6 has no ::1 and no IPv6 capture to serve.
    log.info({ err: errorMessage(err) }, 'no IPv6 loopback: listening on 127.0.0.1 only');
  }
  return address;
}

/**
 * The pod this sidecar serves, from the downward API env the webhook renders
 * (POD_NAMESPACE, POD_NAME, POD_IP): it names the caller to destinations
 * (`x-detour-source-*`), and with inbound capture, requests to the app are checked as
 * that namespace's and forwarded to POD_IP. Required with --inbound; otherwise optional
 * (a gateway or a local run has no pod).
 */
function localPod(env: NodeJS.ProcessEnv, required: boolean): LocalPod | undefined {
  const namespace = env.POD_NAMESPACE ?? '';
  const podIp = env.POD_IP ?? '';
  if (!required && namespace === '') return undefined;
  if (namespace === '') {
    throw new BadKnobError('POD_NAMESPACE', namespace, 'required with --inbound');
  }
  if (required && isIP(podIp) === 0) {
    throw new BadKnobError('POD_IP', podIp, 'an IP address is required with --inbound');
  }
  return { namespace, name: env.POD_NAME ?? '', podIp };
}

function parseMode(value: string | boolean | undefined): ProxyMode {
  return choiceFlag('--mode', value, PROXY_MODES, 'sidecar');
}

function readFlags(
  values: Record<string, string | boolean | undefined>,
  mode: ProxyMode,
  config: PlaneConfig,
): ProxyFlags {
  const source =
    typeof values.source === 'string'
      ? values.source
      : (process.env.KUBERNETES_SERVICE_HOST ?? '') !== ''
        ? 'kube'
        : undefined;
  if (source === undefined) {
    throw new BadFlagError('--source', undefined, 'required outside a cluster: kube or file:PATH');
  }
  if (source !== 'kube' && !source.startsWith('file:')) {
    throw new BadFlagError('--source', source, 'expected kube or file:PATH');
  }
  const listenHost = typeof values['listen-host'] === 'string' ? values['listen-host'] : undefined;
  const adminHost = typeof values['admin-host'] === 'string' ? values['admin-host'] : '0.0.0.0';
  const ms = (flag: string, fallback: number, min = 1): number =>
    wholeNumberFlag(flag, values[flag.slice(2)], fallback, min);
  const inbound = inboundFlag(values.inbound, mode);
  return {
    mode,
    source,
    listen: portFlag(
      '--listen',
      values.listen,
      mode === 'gateway' ? config.port : PORTS.outbound,
      true,
    ),
    listenHost,
    adminHost,
    inbound,
    adminPort: portFlag('--admin-port', values['admin-port'], PORTS.admin, true),
    timeouts: {
      headersMs: ms('--headers-timeout', DEFAULT_CLIENT_TIMEOUTS.headersMs),
      bodyIdleMs: ms('--body-idle-timeout', DEFAULT_CLIENT_TIMEOUTS.bodyIdleMs, 0),
      keepAliveMs: ms('--keep-alive-timeout', DEFAULT_CLIENT_TIMEOUTS.keepAliveMs),
    },
    dnsPort: portFlag('--dns-port', values['dns-port'], PORTS.dns, true),
    drainTimeoutMs: ms('--drain-timeout', DEFAULT_DRAIN_MS),
    upstreams: {
      connectTimeoutMs: ms('--connect-timeout', DEFAULT_UPSTREAM_OPTIONS.connectTimeoutMs),
      headersTimeoutMs: ms('--response-timeout', DEFAULT_UPSTREAM_OPTIONS.headersTimeoutMs),
      connections: ms('--upstream-connections', DEFAULT_UPSTREAM_OPTIONS.connections),
      bodyIdleTimeoutMs: ms(
        '--response-idle-timeout',
        DEFAULT_UPSTREAM_OPTIONS.bodyIdleTimeoutMs,
        0,
      ),
      queueLimit: ms('--queue-limit', DEFAULT_UPSTREAM_OPTIONS.queueLimit, 0),
      queueTimeoutMs: ms('--queue-timeout', DEFAULT_UPSTREAM_OPTIONS.queueTimeoutMs),
    },
  };
}

/** `--inbound 8080=15100,...`, parsed as `detour init` parses it (shared/inbound-ports.ts). */
function inboundFlag(value: string | boolean | undefined, mode: ProxyMode): InboundPort[] {
  if (value === undefined) return [];
  const text = String(value);
  if (mode !== 'sidecar') {
    throw new BadFlagError('--inbound', text, 'inbound capture is for --mode sidecar only');
  }
  try {
    return parseInboundMap(text);
  } catch (err) {
    throw new BadFlagError('--inbound', text, errorMessage(err));
  }
}

async function openSource(spec: string, config: PlaneConfig, log: Logger): Promise<RouteSource> {
  if (spec.startsWith('file:')) {
    const { FileSource } = await import('./sources/file-source.js');
    return new FileSource({ path: spec.slice('file:'.length), config, logger: log });
  }
  // Loaded only when used: file mode does not pay for the Kubernetes client.
  const { KubeSource } = await import('./sources/kube-source.js');
  const { loadKubeAccess } = await import('../shared/kube/kube-access.js');
  return new KubeSource({ config, logger: log, kubeConfig: await loadKubeAccess() });
}
