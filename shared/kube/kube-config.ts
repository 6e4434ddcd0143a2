import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { DetourError } from '../errors.js';

/**
 * The API server detour talks to: `KUBECONFIG` when set (a developer or a test), else
 * the pod's ServiceAccount (in-cluster), else `~/.kube/config`. Unlike client-node's
 * loadFromDefault, no silent fallback to http://localhost:8080: a process that cannot
 * find a cluster says so and stops.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const home = path.join(os.homedir(), '.kube', 'config');
  if (nonEmpty(env.KUBECONFIG)) {
    kc.loadFromDefault();
  } else if (nonEmpty(env.KUBERNETES_SERVICE_HOST) && nonEmpty(env.KUBERNETES_SERVICE_PORT)) {
    kc.loadFromCluster();
  } else if (fs.existsSync(home)) {
    kc.loadFromFile(home);
  } else {
    throw new DetourError(
      'DETOUR_E_KUBE',
      'no Kubernetes API server configured: set KUBECONFIG or run in a pod with a ServiceAccount',
    );
  }
  if (kc.getCurrentCluster() === null) {
    throw new DetourError(
      'DETOUR_E_KUBE',
      `kubeconfig has no current cluster (context ${JSON.stringify(kc.getCurrentContext())})`,
    );
  }
  return kc;
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}
