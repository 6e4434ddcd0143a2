import { compareText } from '../compare-text.js';
import type { RouteConflict } from '../route-table-resource.js';
import type { NamespaceState, Pool } from './pod-routes.js';

/**
 * Namespaces claiming one host+path (each allowed to claim the host): the oldest claim
 * (its oldest pod) wins, ties by namespace name; the loser's route is dropped and the
 * conflict recorded in both tables. Mutates `namespaces`.
 */
export function resolveConflicts(namespaces: Map<string, NamespaceState>): void {
  const claims = new Map<string, { namespace: string; pool: Pool }[]>();
  for (const [namespace, s] of namespaces) {
    for (const [id, pool] of s.pools) {
      const list = claims.get(id) ?? [];
      list.push({ namespace, pool });
      claims.set(id, list);
    }
  }
  for (const [id, list] of claims) {
    if (list.length < 2) continue;
    list.sort(
      (a, b) => a.pool.claimedAtMs - b.pool.claimedAtMs || compareText(a.namespace, b.namespace),
    );
    const [winner, ...losers] = list;
    if (winner === undefined) continue;
    for (const loser of losers) {
      const conflict: RouteConflict = {
        host: loser.pool.host,
        path: loser.pool.path,
        winner: winner.namespace,
        loser: loser.namespace,
      };
      namespaces.get(winner.namespace)?.conflicts.push(conflict);
      const loserState = namespaces.get(loser.namespace);
      loserState?.conflicts.push(conflict);
      loserState?.pools.delete(id);
    }
  }
}
