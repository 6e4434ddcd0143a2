import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createRegistry } from '../shared/metrics.js';
import type { InformerHooks } from '../shared/kube/resilient-informer.js';

/** The controller's Prometheus metrics, on its own registry (shared/metrics.ts). */
export class ControllerMetrics {
  readonly registry: Registry;
  readonly events: Counter<'resource' | 'type'>;
  readonly compiles: Counter;
  readonly compileSeconds: Histogram;
  readonly applies: Counter<'operation'>;
  readonly applyErrors: Counter<'operation'>;
  readonly tables: Gauge;
  readonly watchRestarts: Counter<'resource' | 'reason'>;
  readonly watchConnected: Gauge<'resource'>;
  readonly handlerErrors: Counter<'resource'>;

  constructor(registry: Registry = createRegistry()) {
    this.registry = registry;
    const registers = [registry];
    this.events = new Counter({
      name: 'detour_controller_events_total',
      help: 'Watch events received, by resource and type (added, updated, deleted, bookmark)',
      labelNames: ['resource', 'type'],
      registers,
    });
    this.compiles = new Counter({
      name: 'detour_controller_compiles_total',
      help: 'Compilations of Pods and Secrets into RouteTables',
      registers,
    });
    this.compileSeconds = new Histogram({
      name: 'detour_controller_compile_duration_seconds',
      help: 'Time to compile the RouteTables from the caches',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.applies = new Counter({
      name: 'detour_controller_applies_total',
      help: 'Writes to the API server, by operation (apply, apply-status, delete, apply-policy-status)',
      labelNames: ['operation'],
      registers,
    });
    this.applyErrors = new Counter({
      name: 'detour_controller_apply_errors_total',
      help: 'Failed writes to the API server, by operation',
      labelNames: ['operation'],
      registers,
    });
    this.tables = new Gauge({
      name: 'detour_controller_route_tables',
      help: 'RouteTables the last compilation produced (one per namespace with routes)',
      registers,
    });
    this.watchRestarts = new Counter({
      name: 'detour_controller_watch_restarts_total',
      help: 'Watch restarts, by resource and reason (closed, error, expired, silent, relist)',
      labelNames: ['resource', 'reason'],
      registers,
    });
    this.watchConnected = new Gauge({
      name: 'detour_controller_watch_connected',
      help: '1 while the watch of the resource is connected to the API server',
      labelNames: ['resource'],
      registers,
    });
    this.handlerErrors = new Counter({
      name: 'detour_controller_handler_errors_total',
      help: 'Exceptions thrown by event handlers (contained and logged)',
      labelNames: ['resource'],
      registers,
    });
  }

  /** Hooks that feed these metrics from one informer. */
  informerHooks(resource: string): InformerHooks {
    return {
      event: (type) => {
        this.events.inc({ resource, type });
      },
      restart: (reason) => {
        this.watchRestarts.inc({ resource, reason });
      },
      handlerError: () => {
        this.handlerErrors.inc({ resource });
      },
      connected: (connected) => {
        this.watchConnected.set({ resource }, connected ? 1 : 0);
      },
    };
  }
}
