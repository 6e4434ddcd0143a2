import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_POLICY_KIND, API_POLICY_PLURAL } from '../shared/api-policy.js';
import type { ApiPolicyOutcome } from '../shared/compile/api-policies.js';
import { errorMessage } from '../shared/errors.js';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_GROUP,
  ROUTE_TABLE_VERSION,
} from '../shared/route-table-resource.js';
import type { KubeObjectLike } from '../shared/kube/resilient-informer.js';
import { apiPolicyStatus, statusChanged, type ApiPolicyStatus } from './api-policy-status.js';
import { FIELD_MANAGER } from './route-table-writer.js';
import { runPool, withTimeout } from './write-limits.js';
import type { WriterContext } from './writer-context.js';

const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const AP = { group: ROUTE_TABLE_GROUP, version: ROUTE_TABLE_VERSION, plural: API_POLICY_PLURAL };

/** An ApiPolicy as the informer holds it: only its status is read here. */
export type ObservedApiPolicy = KubeObjectLike & { status?: unknown };

export interface StatusWriteResult {
  written: number;
  errors: number;
}

/**
 * Writes each ApiPolicy's status (conditions and routes) through the status subresource,
 * by server-side apply under the controllers' one field manager, and only when it
 * differs from what the watch shows: a quiet cluster costs no writes, and the status
 * write's own watch event, which triggers another reconcile, finds nothing to do.
 *
 * Only the policies this plane reports (ApiPolicyOutcome.reportedBy) are written, so the
 * private and public controllers never take turns overwriting one status.
 */
export class ApiPolicyStatusWriter {
  readonly #context: WriterContext;
  readonly #clock: () => Date;

  constructor(context: WriterContext, clock: () => Date = () => new Date()) {
    this.#context = context;
    this.#clock = clock;
  }

  async write(
    outcomes: readonly ApiPolicyOutcome[],
    observed: (namespace: string, name: string) => ObservedApiPolicy | undefined,
  ): Promise<StatusWriteResult> {
    const now = this.#clock()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const result: StatusWriteResult = { written: 0, errors: 0 };
    const tasks: (() => Promise<void>)[] = [];
    for (const outcome of outcomes) {
      if (outcome.reportedBy !== this.#context.plane) continue;
      const current = observed(outcome.namespace, outcome.name);
      // Deleted since the compile read the cache: nothing to report on.
      if (current === undefined) continue;
      const previous = asStatus(current.status);
      const next = apiPolicyStatus(outcome, previous, now);
      if (!statusChanged(current.status, next)) continue;
      tasks.push(async () => {
        if (await this.#apply(outcome, next)) result.written++;
        else result.errors++;
      });
    }
    await runPool(tasks, this.#context.concurrency);
    return result;
  }

  async #apply(outcome: ApiPolicyOutcome, status: ApiPolicyStatus): Promise<boolean> {
    const { namespace, name } = outcome;
    const body = {
      apiVersion: ROUTE_TABLE_API_VERSION,
      kind: API_POLICY_KIND,
      metadata: { name, namespace },
      status,
    };
    try {
      await withTimeout(
        this.#context.api.patchNamespacedCustomObjectStatus(
          { ...AP, namespace, name, body, fieldManager: FIELD_MANAGER, force: true },
          APPLY,
        ),
        this.#context.writeTimeoutMs,
      );
      this.#context.metrics.applies.inc({ operation: 'apply-policy-status' });
      this.#context.logger.debug({ namespace, apiPolicy: name }, 'ApiPolicy status written');
      return true;
    } catch (err) {
      // Deleted between the compile and the write: the outcome we would have reported on
      // is gone with it.
      if ((err as { code?: number }).code === 404) return true;
      this.#context.metrics.applyErrors.inc({ operation: 'apply-policy-status' });
      this.#context.logger.warn(
        { namespace, apiPolicy: name, err: errorMessage(err) },
        'ApiPolicy status write failed',
      );
      return false;
    }
  }
}

/** The status as last written, if it has the shape this controller writes. */
function asStatus(status: unknown): ApiPolicyStatus | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const conditions = (status as { conditions?: unknown }).conditions;
  return Array.isArray(conditions) ? (status as ApiPolicyStatus) : undefined;
}
