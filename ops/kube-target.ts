import { KubeConfig } from '@kubernetes/client-node';
import { BadFlagError } from '../shared/errors.js';
import { loadKubeConfig } from '../shared/kube/kube-config.js';

/**
 * The cluster a workstation command talks to, as kubectl picks it: `--kubeconfig`,
 * else KUBECONFIG or ~/.kube/config (shared/kube/kube-config.ts); `--context` switches
 * the context. https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
 */
export function loadKubeTarget(file: string | undefined, context: string | undefined): KubeConfig {
  let kc: KubeConfig;
  if (file !== undefined) {
    kc = new KubeConfig();
    kc.loadFromFile(file);
  } else {
    kc = loadKubeConfig();
  }
  if (context !== undefined) {
    if (kc.getContextObject(context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new BadFlagError('--context', context, `no such context; known: ${known.join(', ')}`);
    }
    kc.setCurrentContext(context);
  }
  if (kc.getCurrentCluster() === null) {
    throw new BadFlagError('--context', kc.getCurrentContext(), 'the context names no cluster');
  }
  return kc;
}
