/**
 * detour's RSS with routes from the kube source, as shipped (one route: a quiet pod's
 * proxy; 10,000: a big cluster's): admin, DNS and the kube source reading the pod's
 * ServiceAccount (shared/kube/service-account-access.ts), not a kubeconfig, measured
 * after 200 requests. The API server is test/support's double, serving one RouteTable
 * of `count` routes; the ServiceAccount files appear at their in-pod path only inside a
 * private mount namespace (a tmpfs over /run), so this needs root.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiServerDouble } from '../../../test/support/api-server/server.js';
import { SERVICE_ACCOUNT_DIR } from '../../../shared/kube/service-account-access.js';
import { routeTable, startDetour, BENCH_HOST, type DetourPorts } from './detour.js';
import { fixedRate } from './load.js';
import { anonMb, pidsOf, rssMb, stop, waitHttp } from './processes.js';

export interface KubeRoutesResult {
  rssMb: number;
  anonMb: number;
  readyMs: number;
}

export async function kubeRoutesRss(
  dir: string,
  count: number,
  ports: DetourPorts,
  upstream: number,
): Promise<KubeRoutesResult | string> {
  if (process.getuid?.() !== 0) return 'skipped: needs root for a mount namespace';
  const double = await ApiServerDouble.start();
  try {
    double.seed(routeTable(count, upstream));
    const sa = join(dir, `serviceaccount-${count}`);
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), double.token);
    writeFileSync(join(sa, 'ca.crt'), double.caPem);
    writeFileSync(join(sa, 'namespace'), 'bench');
    const mountSa = `mount -t tmpfs none /run && mkdir -p ${SERVICE_ACCOUNT_DIR} && cp "$0"/* ${SERVICE_ACCOUNT_DIR}/ && exec "$@"`;
    const started = performance.now();
    const proxy = startDetour(dir, `kube-${count}`, 'kube', ports, {
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(double.port) },
      wrapper: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', mountSa, sa],
    });
    try {
      await waitHttp(ports.admin, '/ready', BENCH_HOST, 60_000, 5);
      const readyMs = performance.now() - started;
      // A little traffic so the route lookup and one pool exist, as in a real pod.
      await fixedRate(ports.listen, BENCH_HOST, 200, 1);
      // taskset execs node in the same process; unshare and sh exec too, down to node.
      const pids = pidsOf(proxy.pid);
      return { rssMb: rssMb(pids), anonMb: anonMb(pids), readyMs };
    } finally {
      await stop(proxy);
    }
  } finally {
    await double.close();
  }
}
