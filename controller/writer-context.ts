import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { ReusedConnections } from '../shared/kube/reused-connections.js';
import type { Logger } from '../shared/logger.js';
import type { Plane } from '../shared/plane-config.js';
import type { ControllerMetrics } from './controller-metrics.js';
import { customObjectsApi } from './custom-objects-api.js';

/** What both controller writers (RouteTables, ApiPolicy statuses) write with. */
export interface WriterContext {
  /** Custom objects through the controller's kept-alive connections. */
  readonly api: CustomObjectsApi;
  readonly plane: Plane;
  readonly logger: Logger;
  readonly metrics: ControllerMetrics;
  /** Writes in flight at once (write-limits.ts runPool). */
  readonly concurrency: number;
  /** How long one write may go unanswered (write-limits.ts withTimeout). */
  readonly writeTimeoutMs: number;
}

export function writerContext(
  access: ReusedConnections,
  plane: Plane,
  logger: Logger,
  metrics: ControllerMetrics,
  limits: { concurrency?: number; writeTimeoutMs?: number } = {},
): WriterContext {
  return {
    api: customObjectsApi(access),
    plane,
    logger,
    metrics,
    concurrency: limits.concurrency ?? 16,
    writeTimeoutMs: limits.writeTimeoutMs ?? 30_000,
  };
}
