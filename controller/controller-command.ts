import { BadFlagError } from '../shared/errors.js';
import { parseFlags, portFlag, wholeNumberFlag } from '../shared/cli-flags.js';
import { waitForSignal } from '../shared/signals.js';
import { loadPlaneConfig, type Plane } from '../shared/plane-config.js';
import { createLogger } from '../shared/logger.js';
import { loadKubeConfig } from '../shared/kube/kube-config.js';
import { loadWatchKnobs } from '../shared/kube/watch-knobs.js';
import { Controller } from './controller.js';
import { MetricsServer } from './metrics-server.js';

export const DEFAULT_METRICS_PORT = 15020;

const USAGE = `usage: detour controller [flags]

  --plane private|public   which plane's RouteTables to compile (default private)
  --metrics-port N         /metrics /healthz /ready (default ${DEFAULT_METRICS_PORT}; 0 picks one)
  --debounce MS            quiet period before a reconcile under churn (default 250; an
                           event after a quiet spell waits 20 ms, then the wait doubles
                           per event up to this)
  --max-delay MS           longest wait under a constant stream of events (default 1000)

Watches Pods (ROUTABLE_LABEL_SELECTOR, all namespaces), the API-key Secret
(API_KEY_SECRET_LOCATION), HostGrants and Namespaces (who may claim which host:
DETOUR_HOST_POLICY, DETOUR_CLUSTER_DOMAIN) and server-side applies one RouteTable per
namespace. Routing knobs come from the environment (HOSTS_ANNOTATION, ...), watch knobs from
DETOUR_WATCH_* (README, "Controller and RouteTables"). The API server is KUBECONFIG's,
else the pod's ServiceAccount.
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    plane: { type: 'string' },
    'metrics-port': { type: 'string' },
    debounce: { type: 'string' },
    'max-delay': { type: 'string' },
  });
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const plane = parsePlane(parsed.values.plane);
  const config = loadPlaneConfig(plane);
  const knobs = loadWatchKnobs();
  const metricsPort = portFlag(
    '--metrics-port',
    parsed.values['metrics-port'],
    DEFAULT_METRICS_PORT,
    true,
  );
  const debounceMs = wholeNumberFlag('--debounce', parsed.values.debounce, 250);
  const maxDelayMs = wholeNumberFlag('--max-delay', parsed.values['max-delay'], 1_000);
  if (maxDelayMs < debounceMs) {
    throw new BadFlagError('--max-delay', String(maxDelayMs), 'must be at least --debounce');
  }
  const kubeConfig = loadKubeConfig(); // before listening: no cluster, no process
  const logger = createLogger({ name: 'detour-controller' });
  const controller = new Controller({ kubeConfig, config, logger, knobs, debounceMs, maxDelayMs });
  const server = new MetricsServer(controller.metrics.registry, () => controller.ready);
  const address = await server.listen(metricsPort);
  logger.info(
    { plane, server: kubeConfig.getCurrentCluster()?.server, metrics: address.port, knobs, config },
    'detour controller starting',
  );
  const stopped = waitForSignal();
  await Promise.race([controller.start(), stopped]);
  const signal = await stopped;
  logger.info({ signal }, 'stopping');
  await controller.stop();
  await server.close();
  return 0;
}

function parsePlane(value: string | boolean | undefined): Plane {
  if (value === undefined) return 'private';
  if (value === 'private' || value === 'public') return value;
  throw new BadFlagError('--plane', String(value), 'expected private or public');
}
