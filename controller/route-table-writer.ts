import { isDeepStrictEqual } from 'node:util';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { errorMessage } from '../shared/errors.js';
import { PLANE_LABEL } from '../shared/labels.js';
import {
  ROUTE_TABLE_GROUP,
  ROUTE_TABLE_PLURAL,
  ROUTE_TABLE_VERSION,
  routeTableName,
  type RouteTableResource,
  type RouteTableStatus,
} from '../shared/route-table-resource.js';
import { runPool, withTimeout } from './write-limits.js';
import type { WriterContext } from './writer-context.js';

/** The field manager of every controller replica: the same name is what lets them agree. */
export const FIELD_MANAGER = 'detour-controller';

const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const RT = { group: ROUTE_TABLE_GROUP, version: ROUTE_TABLE_VERSION, plural: ROUTE_TABLE_PLURAL };

export interface WriteResult {
  applied: number;
  statusApplied: number;
  deleted: number;
  errors: number;
}

type Operation = 'apply' | 'apply-status' | 'delete';

/**
 * Makes the API server hold exactly the desired RouteTables of one plane: server-side
 * apply of a table whose spec or labels differ from what the watch shows, of its status
 * when that differs, and delete of this plane's tables in namespaces without routes.
 * Nothing is written when nothing changed, so a quiet cluster costs no writes.
 */
export class RouteTableWriter {
  readonly #context: WriterContext;

  constructor(context: WriterContext) {
    this.#context = context;
  }

  async write(
    desired: readonly RouteTableResource[],
    observed: readonly RouteTableResource[],
  ): Promise<WriteResult> {
    const name = routeTableName(this.#context.plane);
    const current = new Map(
      observed
        .filter(
          (t) =>
            t.metadata.name === name && t.metadata.labels?.[PLANE_LABEL] === this.#context.plane,
        )
        .map((t) => [t.metadata.namespace, t]),
    );
    const wanted = new Set(desired.map((t) => t.metadata.namespace));
    const result: WriteResult = { applied: 0, statusApplied: 0, deleted: 0, errors: 0 };
    const tasks: (() => Promise<void>)[] = [];
    for (const table of desired) {
      const seen = current.get(table.metadata.namespace);
      const specDiffers =
        seen === undefined ||
        !isDeepStrictEqual(seen.spec, table.spec) ||
        seen.metadata.labels?.[PLANE_LABEL] !== this.#context.plane;
      const statusDiffers = !isDeepStrictEqual(statusOf(seen), statusOf(table));
      if (!specDiffers && !statusDiffers) continue;
      tasks.push(async () => {
        if (
          specDiffers &&
          !(await this.#run('apply', table, () => this.#applySpec(table), result))
        ) {
          return;
        }
        if (specDiffers) result.applied++;
        if (
          statusDiffers &&
          (await this.#run('apply-status', table, () => this.#applyStatus(table), result))
        ) {
          result.statusApplied++;
        }
      });
    }
    for (const [namespace, table] of current) {
      if (wanted.has(namespace)) continue;
      tasks.push(async () => {
        if (await this.#run('delete', table, () => this.#remove(namespace), result))
          result.deleted++;
      });
    }
    await runPool(tasks, this.#context.concurrency);
    return result;
  }

  async #run(
    operation: Operation,
    table: RouteTableResource,
    call: () => Promise<unknown>,
    result: WriteResult,
  ): Promise<boolean> {
    const { namespace, name } = table.metadata;
    try {
      await withTimeout(call(), this.#context.writeTimeoutMs);
      this.#context.metrics.applies.inc({ operation });
      this.#context.logger.debug({ operation, namespace, name }, 'route table written');
      return true;
    } catch (err) {
      // Another replica deleted it first: the outcome we wanted.
      if (operation === 'delete' && (err as { code?: number }).code === 404) return true;
      result.errors++;
      this.#context.metrics.applyErrors.inc({ operation });
      this.#context.logger.warn(
        { operation, namespace, name, err: errorMessage(err) },
        'route table write failed',
      );
      return false;
    }
  }

  #applySpec(table: RouteTableResource): Promise<unknown> {
    const { name, namespace, labels } = table.metadata;
    const body = {
      apiVersion: table.apiVersion,
      kind: table.kind,
      metadata: { name, namespace, labels: { ...labels, [PLANE_LABEL]: this.#context.plane } },
      spec: table.spec,
    };
    return this.#context.api.patchNamespacedCustomObject(
      { ...RT, namespace, name, body, fieldManager: FIELD_MANAGER, force: true },
      APPLY,
    );
  }

  #applyStatus(table: RouteTableResource): Promise<unknown> {
    const { name, namespace } = table.metadata;
    const body = {
      apiVersion: table.apiVersion,
      kind: table.kind,
      metadata: { name, namespace },
      status: table.status ?? { skipped: [], conflicts: [] },
    };
    return this.#context.api.patchNamespacedCustomObjectStatus(
      { ...RT, namespace, name, body, fieldManager: FIELD_MANAGER, force: true },
      APPLY,
    );
  }

  #remove(namespace: string): Promise<unknown> {
    return this.#context.api.deleteNamespacedCustomObject({
      ...RT,
      namespace,
      name: routeTableName(this.#context.plane),
    });
  }
}

/**
 * No status and an empty one mean the same: most tables have nothing to report, and
 * skipping their status write halves the writes of a full sync.
 */
function statusOf(table: RouteTableResource | undefined): RouteTableStatus {
  return {
    ...table?.status,
    skipped: table?.status?.skipped ?? [],
    conflicts: table?.status?.conflicts ?? [],
  };
}
