import { KubeConfig } from '@kubernetes/client-node';
import { parseFlags, portFlag, wholeNumberFlag } from '../shared/cli-flags.js';
import { BadFlagError, errorMessage } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import { waitForSignal } from '../shared/signals.js';
import { patchCaBundle } from './ca-bundle.js';
import { createSelfSignedBundle, serviceDnsNames } from './certificates.js';
import { INJECTOR_KNOBS, loadInjectorConfig } from './injector-config.js';
import { readKeyPair, watchKeyPair, type KeyPair } from './tls-files.js';
import { startWebhookServer } from './webhook-server.js';

const USAGE = `usage: detour webhook [--port 8443] [--host ::] [--tls-cert FILE --tls-key FILE]
                      [--mwc-name detour] [--kubeconfig FILE] [--image REF] [--proxy-uid N]
                      [--drain-ms 5000]

Serves the mutating admission webhook: POST /mutate, GET /healthz, GET /ready,
GET /metrics (HTTPS).
Without --tls-cert/--tls-key it makes a self-signed CA and serving certificate for the
Service detour-webhook.<POD_NAMESPACE>.svc and, in a cluster (or with --kubeconfig),
patches the caBundle of the MutatingWebhookConfiguration --mwc-name.
With them, the files are re-read when they change (no restart needed).
On SIGTERM it drains: /ready fails at once, admission goes on for --drain-ms (so the
Service drops the replica before it stops), then requests in flight finish and it exits.

env: ${Object.values(INJECTOR_KNOBS).join(', ')},
     POD_NAMESPACE (default detour-system), LOG_LEVEL, LOG_FORMAT
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-reload-interval-ms': { type: 'string' },
  'mwc-name': { type: 'string' },
  kubeconfig: { type: 'string' },
  image: { type: 'string' },
  'proxy-uid': { type: 'string' },
  'drain-ms': { type: 'string' },
} as const;

/**
 * How long a terminating replica keeps answering after its readiness fails: the
 * EndpointSlice change has to reach every API server before none calls it any more.
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
 */
export const DEFAULT_DRAIN_MS = 5_000;

export async function run(argv: string[]): Promise<number | undefined> {
  const flags = parseFlags(argv, OPTIONS);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const v = flags.values;
  const str = (name: keyof typeof OPTIONS): string | undefined =>
    typeof v[name] === 'string' ? v[name] : undefined;
  const port = portFlag('--port', v.port, 8443, true);
  const drainMs = wholeNumberFlag('--drain-ms', v['drain-ms'], DEFAULT_DRAIN_MS);
  const config = loadInjectorConfig({
    ...process.env,
    ...(str('image') === undefined ? {} : { [INJECTOR_KNOBS.image]: str('image') }),
    ...(str('proxy-uid') === undefined ? {} : { [INJECTOR_KNOBS.proxyUid]: str('proxy-uid') }),
  });
  const certFile = str('tls-cert');
  const keyFile = str('tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new BadFlagError(
      certFile === undefined ? '--tls-cert' : '--tls-key',
      undefined,
      'give both --tls-cert and --tls-key, or neither',
    );
  }
  const reloadMs = Number(str('tls-reload-interval-ms') ?? '2000');
  if (!Number.isInteger(reloadMs) || reloadMs < 10) {
    throw new BadFlagError(
      '--tls-reload-interval-ms',
      str('tls-reload-interval-ms'),
      'expected milliseconds, at least 10',
    );
  }

  const logger = createLogger({ name: 'webhook' });
  const namespace = process.env.POD_NAMESPACE ?? process.env.DETOUR_NAMESPACE ?? 'detour-system';
  let tls: KeyPair;
  let caPem: string | undefined;
  if (certFile !== undefined && keyFile !== undefined) {
    tls = readKeyPair({ certFile, keyFile });
  } else {
    const started = performance.now();
    const bundle = await createSelfSignedBundle({ dnsNames: serviceDnsNames(namespace) });
    tls = { cert: bundle.certPem, key: bundle.keyPem };
    caPem = bundle.caPem;
    logger.info(
      { namespace, ms: Math.round(performance.now() - started) },
      'made a self-signed CA and serving certificate',
    );
  }

  const running = await startWebhookServer({
    port,
    host: str('host') ?? '::',
    tls,
    config,
    logger,
    registry: createRegistry(),
  });
  logger.info({ port: running.port, image: config.image, proxyUid: config.proxyUid }, 'listening');

  const stopWatching =
    certFile !== undefined && keyFile !== undefined
      ? watchKeyPair(running.server, { certFile, keyFile }, { intervalMs: reloadMs, logger })
      : () => undefined;
  const stopPatching =
    caPem === undefined
      ? () => undefined
      : keepCaBundle(caPem, str('mwc-name') ?? 'detour', str('kubeconfig'), logger);

  const signal = await waitForSignal();
  logger.info({ signal, drainMs }, 'draining');
  running.drain();
  await new Promise((resolve) => setTimeout(resolve, drainMs));
  logger.info('shutting down');
  stopWatching();
  stopPatching();
  await running.close(5_000);
  return 0;
}

/**
 * Patches the caBundle in the background when there is a cluster to talk to, retrying
 * with a capped backoff until it succeeds: the server answers meanwhile, so a slow API
 * server delays injection but never the webhook's own readiness probe.
 */
function keepCaBundle(
  caPem: string,
  mwcName: string,
  kubeconfig: string | undefined,
  logger: Logger,
): () => void {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) {
    kc.loadFromFile(kubeconfig);
  } else if (process.env.KUBERNETES_SERVICE_HOST !== undefined) {
    kc.loadFromCluster();
  } else {
    logger.info('not in a cluster and no --kubeconfig: caBundle left alone');
    return () => undefined;
  }
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = (delayMs: number): void => {
    patchCaBundle(kc, mwcName, caPem).then(
      (outcome) => {
        logger.info({ mwc: mwcName, ...outcome }, 'patched caBundle');
      },
      (err: unknown) => {
        if (stopped) return;
        logger.error(
          { mwc: mwcName, err: errorMessage(err), retryInMs: delayMs },
          'caBundle patch failed',
        );
        timer = setTimeout(() => {
          attempt(Math.min(delayMs * 2, 60_000));
        }, delayMs);
      },
    );
  };
  attempt(2_000);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
