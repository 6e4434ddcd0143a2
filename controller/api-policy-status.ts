import { isDeepStrictEqual } from 'node:util';
import type { Plane } from '../shared/plane-config.js';
import type { ApiPolicyOutcome } from '../shared/compile/api-policies.js';

/**
 * What the controller writes to an ApiPolicy's status subresource, built from the
 * compiler's outcome for it. Conditions have metav1.Condition's shape and rules:
 * `lastTransitionTime` changes only when `status` does, and `observedGeneration` says
 * which spec they describe.
 * https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#typical-status-properties
 */
export interface PolicyCondition {
  type: 'Accepted' | 'Conflicted';
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface ApiPolicyStatus {
  /** The plane whose controller wrote it; `routes` are that plane's. */
  plane: Plane;
  routes: string[];
  conditions: PolicyCondition[];
}

/** At most this many losses are spelled out in a Conflicted message. */
const MAX_NAMED_LOSSES = 5;

/**
 * The status for `outcome`, keeping each condition's `lastTransitionTime` from
 * `previous` while its status holds. `now` is RFC 3339.
 */
export function apiPolicyStatus(
  outcome: ApiPolicyOutcome,
  previous: ApiPolicyStatus | undefined,
  now: string,
): ApiPolicyStatus {
  const generation =
    outcome.generation === undefined ? {} : { observedGeneration: outcome.generation };
  const fresh: Omit<PolicyCondition, 'lastTransitionTime'>[] = [
    { type: 'Accepted', ...generation, ...accepted(outcome) },
    { type: 'Conflicted', ...generation, ...conflicted(outcome) },
  ];
  return {
    plane: outcome.reportedBy,
    routes: outcome.routes,
    conditions: fresh.map((condition) => {
      const before = previous?.conditions.find((c) => c.type === condition.type);
      // The stored status may have been edited by hand: only a real time is kept.
      const kept = before?.status === condition.status ? before.lastTransitionTime : undefined;
      const since = typeof kept === 'string' && kept !== '' ? kept : now;
      return { ...condition, lastTransitionTime: since };
    }),
  };
}

/**
 * Whether writing `next` over `current` would change anything (no write loops). Only
 * the fields this controller applies count: server-side apply leaves anyone else's alone,
 * so comparing them too would rewrite an unchanged status on every reconcile.
 */
export function statusChanged(current: unknown, next: ApiPolicyStatus): boolean {
  const c = (typeof current === 'object' && current !== null ? current : {}) as Record<
    string,
    unknown
  >;
  const owned = { plane: c.plane, routes: c.routes, conditions: c.conditions };
  return !isDeepStrictEqual(owned, {
    plane: next.plane,
    routes: next.routes,
    conditions: next.conditions,
  });
}

function accepted(o: ApiPolicyOutcome): Pick<PolicyCondition, 'status' | 'reason' | 'message'> {
  if (o.problem !== undefined) {
    return { status: 'False', reason: 'Invalid', message: `${o.problem}; the policy is skipped` };
  }
  const n = o.routes.length;
  return {
    status: 'True',
    reason: n > 0 ? 'Accepted' : 'NoMatchingRoutes',
    message:
      n > 0
        ? `attached to ${String(n)} route${n === 1 ? '' : 's'} of the ${o.reportedBy} plane`
        : `valid, but no route of namespace ${o.namespace} in the ${o.reportedBy} plane matches its hosts, paths and planes`,
  };
}

function conflicted(o: ApiPolicyOutcome): Pick<PolicyCondition, 'status' | 'reason' | 'message'> {
  if (o.problem !== undefined) {
    return { status: 'Unknown', reason: 'Invalid', message: 'not compiled: the spec is invalid' };
  }
  if (o.lost.length === 0) {
    return {
      status: 'False',
      reason: 'NoConflict',
      message: 'no more specific policy matches its routes',
    };
  }
  const named = o.lost
    .slice(0, MAX_NAMED_LOSSES)
    .map((l) => `route ${l.route} carries ApiPolicy ${l.winner} (${l.because})`);
  const more = o.lost.length - named.length;
  return {
    status: 'True',
    reason: 'Overridden',
    message: named.join('; ') + (more > 0 ? `; and ${String(more)} more` : ''),
  };
}
