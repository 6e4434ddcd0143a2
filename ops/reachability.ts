import { DetourError, errorMessage } from '../shared/errors.js';
import { KubeApiError } from '../shared/kube/kube-request.js';
import { fail, type CheckLine } from './check-report.js';

/**
 * What went wrong on the way to the API server, in words. undici's `request()` rejects
 * with the system error itself (`code: ECONNREFUSED`); its `fetch`, which client-node's
 * generated clients use, says only "fetch failed" and keeps that error in `cause`.
 */
export function networkReason(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer in time';
  const network = err instanceof Error ? ((err.cause as Error | undefined) ?? err) : undefined;
  const code = (network as { code?: unknown } | undefined)?.code;
  if (network !== undefined && typeof code === 'string' && !(network instanceof DetourError)) {
    return `${code}${network.message ? ` (${network.message})` : ''}`;
  }
  if (network !== undefined && network !== err && network.message) return network.message;
  return errorMessage(err);
}

export function reachability(server: string, err: unknown): CheckLine {
  if (err instanceof KubeApiError) {
    // It answered: the credentials (or the RBAC for /version) are what is wrong.
    return fail('kubernetes-api', 'can reach the Kubernetes API server', {
      detail: `the Kubernetes API server at ${server} refused the request: ${err.message}`,
      hint: 'check the credentials of the kubeconfig user (kubectl auth whoami)',
    });
  }
  return fail('kubernetes-api', `can reach the Kubernetes API server`, {
    detail: `cannot reach the Kubernetes API server at ${server}: ${networkReason(err)}`,
    hint: 'check --kubeconfig and --context (kubectl cluster-info shows the same server)',
  });
}
