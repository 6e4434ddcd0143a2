import { DETOUR_NAMESPACE } from '../shared/labels.js';

/**
 * The names manifests/base gives the control plane; `detour check` looks for exactly
 * these (test/unit/check-names.test.ts keeps them in step with the manifests).
 */
export const INSTALL = {
  namespace: DETOUR_NAMESPACE,
  deployment: 'detour',
  webhookContainer: 'webhook',
  mutatingWebhookConfiguration: 'detour',
  /** Required CRDs, then CRDs that only newer installs have. */
  crds: ['routetables.detour.dev', 'hostgrants.detour.dev'],
  optionalCrds: ['apipolicies.detour.dev'],
  /** The webhook's env var naming the image it injects. */
  proxyImageEnv: 'DETOUR_PROXY_IMAGE',
} as const;
