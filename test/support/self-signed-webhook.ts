import { createLogger } from '../../shared/logger.js';
import { createRegistry } from '../../shared/metrics.js';
import {
  createSelfSignedBundle,
  serviceDnsNames,
  type CertificateBundle,
} from '../../webhook/certificates.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { startWebhookServer, type RunningWebhook } from '../../webhook/webhook-server.js';

export interface SelfSignedWebhook {
  bundle: CertificateBundle;
  webhook: RunningWebhook;
}

/** The real webhook server on a free loopback port, serving a certificate from a fresh CA. */
export async function startSelfSigned(): Promise<SelfSignedWebhook> {
  const bundle = await createSelfSignedBundle({ dnsNames: serviceDnsNames('detour-system') });
  const webhook = await startWebhookServer({
    port: 0,
    host: '127.0.0.1',
    tls: { cert: bundle.certPem, key: bundle.keyPem },
    config: defaultInjectorConfig(),
    logger: createLogger({ level: 'silent' }),
    registry: createRegistry(),
  });
  return { bundle, webhook };
}
