import type { Cluster } from '@kubernetes/client-node';
import type { AuthContext } from './request-auth.js';
import { ServiceAccountAccess } from './service-account-access.js';

/**
 * What list and watch need of a kubeconfig: the API server's address, and a way to put
 * credentials and TLS settings on a request. client-node's KubeConfig has both; so does
 * ServiceAccountAccess, which a sidecar uses in a pod because importing client-node's
 * KubeConfig loads every generated API model (about 60 MB of RSS in every pod).
 */
export interface KubeAccess {
  getCurrentCluster(): Cluster | null;
  applySecurityAuthentication(context: AuthContext): Promise<void>;
}

/**
 * In a pod (and without KUBECONFIG): the pod's ServiceAccount, read the light way.
 * Elsewhere: client-node's full KubeConfig (KUBECONFIG, ~/.kube/config), loaded lazily.
 */
export async function loadKubeAccess(env: NodeJS.ProcessEnv = process.env): Promise<KubeAccess> {
  const inPod = ServiceAccountAccess.fromPod(env);
  if (inPod !== undefined && (env.KUBECONFIG ?? '') === '') return inPod;
  const { loadKubeConfig } = await import('./kube-config.js');
  return loadKubeConfig(env);
}
