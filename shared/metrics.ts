import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Each server gets its own registry (not prom-client's global one) so that tests can run
 * several components in one process without metric-name collisions.
 */
export function createRegistry(prefix = 'detour_'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}
