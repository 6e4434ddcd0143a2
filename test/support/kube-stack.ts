/**
 * The rules-from-the-API-server stack in one process, all real: the API-server double,
 * `detour controller` (Controller), a proxy (ProxyServer) fed by the kube source, and
 * the client library between them.
 */
import { Writable } from 'node:stream';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { Controller } from '../../controller/controller.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { loadPlaneConfig, type PlaneConfig } from '../../shared/plane-config.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';
import type { WatchKnobs } from '../../shared/kube/watch-knobs.js';
import { KubeSource } from '../../sidecar/sources/kube-source.js';
import { ApiServerDouble, type ApiServerDoubleOptions } from './api-server/server.js';
import { KubeTestClient } from './api-server/kube-test-client.js';
import { startProxy, type TestProxy } from './proxy.js';

/** Fast knobs for tests: short backoff and silence limit (bookmarks come every 200 ms). */
export const TEST_KNOBS: Partial<WatchKnobs> = {
  backoffInitialMs: 50,
  backoffMaxMs: 500,
  silenceLimitMs: 2_000,
  pageSize: 50,
};

export interface MemoryLog {
  logger: Logger;
  records: () => Record<string, unknown>[];
}

export function memoryLog(level = 'debug'): MemoryLog {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      cb();
    },
  });
  return {
    logger: createLogger({ level, format: 'json', destination }),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface KubeStack {
  double: ApiServerDouble;
  client: KubeTestClient;
  config: PlaneConfig;
  controller: Controller;
  source: KubeSource;
  proxy: TestProxy;
  controllerLog: MemoryLog;
  sourceLog: MemoryLog;
  /** Status changes the source reported through onStatus. */
  statuses: boolean[];
  tables(): Promise<RouteTableResource[]>;
  close(): Promise<void>;
}

export async function startKubeStack(
  options: {
    double?: ApiServerDoubleOptions;
    debounceMs?: number;
    maxDelayMs?: number;
    knobs?: Partial<WatchKnobs>;
  } = {},
): Promise<KubeStack> {
  const double = await ApiServerDouble.start({ bookmarkIntervalMs: 200, ...options.double });
  const config = loadPlaneConfig('private', {});
  const knobs = { ...TEST_KNOBS, ...options.knobs };
  const controllerLog = memoryLog();
  const controller = new Controller({
    kubeConfig: double.kubeConfig(),
    config,
    logger: controllerLog.logger,
    knobs,
    debounceMs: options.debounceMs ?? 50,
    maxDelayMs: options.maxDelayMs ?? 300,
  });
  await controller.start();
  const sourceLog = memoryLog();
  const source = new KubeSource({
    config,
    kubeConfig: double.kubeConfig(),
    logger: sourceLog.logger,
    knobs,
  });
  const statuses: boolean[] = [];
  source.onStatus((connected) => statuses.push(connected));
  const proxy = await startProxy();
  await source.start((table) => {
    proxy.proxy.setTable(table);
  });
  const custom = double.kubeConfig().makeApiClient(CustomObjectsApi);
  return {
    double,
    client: new KubeTestClient(double.kubeConfig()),
    config,
    controller,
    source,
    proxy,
    controllerLog,
    sourceLog,
    statuses,
    tables: async () => {
      const list = (await custom.listClusterCustomObject({
        group: 'detour.dev',
        version: 'v1alpha1',
        plural: 'routetables',
      })) as { items: RouteTableResource[] };
      return list.items;
    },
    close: async () => {
      await source.stop();
      await controller.stop();
      await proxy.close();
      await double.close();
    },
  };
}
