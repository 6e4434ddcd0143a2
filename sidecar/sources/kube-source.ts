import { errorMessage } from '../../shared/errors.js';
import { PLANE_LABEL } from '../../shared/labels.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import type { PlaneConfig } from '../../shared/plane-config.js';
import {
  ROUTE_TABLE_GROUP,
  ROUTE_TABLE_PLURAL,
  ROUTE_TABLE_VERSION,
  type RouteTableResource,
} from '../../shared/route-table-resource.js';
import { parseRouteTable, type ParseResult } from '../../shared/route-table-schema.js';
import type { KubeAccess } from '../../shared/kube/kube-access.js';
import { ResilientInformer, type InformerHooks } from '../../shared/kube/resilient-informer.js';
import { loadWatchKnobs, type WatchKnobs } from '../../shared/kube/watch-knobs.js';
import { RouteTable } from '../route-table.js';
import type { RouteSource } from './route-source.js';

const RETRY_DELIVERY_MS = 1_000;

export interface KubeSourceOptions {
  config: PlaneConfig;
  logger?: Logger;
  /** The API server and credentials: `loadKubeAccess()` (shared/kube/kube-access.ts). */
  kubeConfig: KubeAccess;
  /** Default: DETOUR_WATCH_* from the environment. */
  knobs?: Partial<WatchKnobs>;
  /** Extra informer hooks (metrics): events, watch restarts, relists. */
  hooks?: InformerHooks;
}

/** Called with `false` when the watch lost the API server, `true` when it is back. */
export type StatusListener = (connected: boolean) => void;

/**
 * `--source kube`: list+watch the plane's RouteTables (label `detour.dev/plane`, all
 * namespaces) and merge them into one table. Only RouteTables: the sidecar shares its
 * pod's ServiceAccount with the app, which must not read Pods or Secrets (DESIGN.md).
 *
 * The first table is delivered after the first complete list, so `/ready` means "has the
 * cluster's routes", never "has an empty table". After that, every change is delivered
 * as a new table (changes arriving together become one table). When the API server goes
 * away the last good table keeps serving; the log says so, and `onStatus` listeners
 * (the proxy's metrics) hear `false`, then `true` once the watch is back.
 */
export class KubeSource implements RouteSource {
  readonly description = 'kube';
  readonly #informer: ResilientInformer<RouteTableResource>;
  readonly #log: Logger;
  readonly #listeners = new Set<StatusListener>();
  #onTable: ((table: RouteTable) => void) | undefined;
  #current: RouteTable | undefined;
  #pending: NodeJS.Immediate | undefined;
  #retry: NodeJS.Timeout | undefined;
  #checked = new Map<string, ParseResult>();
  #fingerprint = '';
  #isConnected = false;
  #stopped = false;

  constructor(options: KubeSourceOptions) {
    const { config } = options;
    this.#log = (options.logger ?? createLogger()).child({ source: 'kube', plane: config.plane });
    const extra = options.hooks ?? {};
    this.#informer = new ResilientInformer<RouteTableResource>({
      name: 'routetables',
      kubeConfig: options.kubeConfig,
      path: `/apis/${ROUTE_TABLE_GROUP}/${ROUTE_TABLE_VERSION}/${ROUTE_TABLE_PLURAL}`,
      labelSelector: `${PLANE_LABEL}=${config.plane}`,
      logger: this.#log,
      knobs: options.knobs ?? loadWatchKnobs(),
      hooks: {
        ...extra,
        connected: (connected) => {
          extra.connected?.(connected);
          this.#setConnected(connected);
        },
      },
    });
    this.#informer.onEvent(() => {
      this.#scheduleRebuild();
    });
  }

  /** Subscribe to connection changes; returns the unsubscribe function. */
  onStatus(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get connected(): boolean {
    return this.#isConnected;
  }

  /** The last table delivered (undefined before the first sync). */
  get table(): RouteTable | undefined {
    return this.#current;
  }

  async start(onTable: (table: RouteTable) => void): Promise<void> {
    this.#onTable = onTable;
    this.#stopped = false;
    this.#informer.start();
    await this.#informer.synced;
    this.#rebuild();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#pending !== undefined) clearImmediate(this.#pending);
    this.#pending = undefined;
    clearTimeout(this.#retry);
    await this.#informer.stop();
  }

  #setConnected(connected: boolean): void {
    if (connected === this.#isConnected || this.#stopped) return;
    this.#isConnected = connected;
    const table = this.#current;
    if (!connected) {
      this.#log.warn(
        { version: table?.version, routes: table?.routeCount },
        'API server unreachable: serving the last good route table until the watch is back',
      );
    } else if (table !== undefined) {
      this.#log.info(
        { version: table.version, routes: table.routeCount },
        'API server reachable again',
      );
    }
    for (const listener of this.#listeners) {
      try {
        listener(connected);
      } catch (err) {
        this.#log.warn({ err: errorMessage(err) }, 'status listener threw');
      }
    }
  }

  /** Coalesce: a relist of 500 namespaces emits 500 events and yields one table. */
  #scheduleRebuild(): void {
    if (!this.#informer.hasSynced || this.#pending !== undefined || this.#stopped) return;
    this.#pending = setImmediate(() => {
      this.#pending = undefined;
      this.#rebuild();
    });
  }

  #rebuild(): void {
    clearTimeout(this.#retry);
    if (this.#stopped || this.#onTable === undefined) return;
    const resources = this.#informer.list();
    const fingerprint = resources
      .map((r) => `${r.metadata.namespace}/${r.metadata.resourceVersion ?? ''}`)
      .sort()
      .join(',');
    if (fingerprint === this.#fingerprint && this.#current !== undefined) return;
    const valid: RouteTableResource[] = [];
    const checked = new Map<string, ParseResult>();
    for (const resource of resources) {
      // Re-check only tables that changed: 500 namespaces must not cost 500 schema
      // checks per pod event.
      const key = `${resource.metadata.namespace}/${resource.metadata.resourceVersion ?? ''}`;
      const parsed = this.#checked.get(key) ?? parseRouteTable(resource);
      checked.set(key, parsed);
      if (parsed.ok) valid.push(parsed.value);
      else if (!this.#checked.has(key)) {
        this.#log.warn(
          { namespace: resource.metadata.namespace, problem: parsed.problem },
          'RouteTable ignored: it does not match the schema',
        );
      }
    }
    this.#checked = checked;
    let table: RouteTable;
    try {
      table = RouteTable.fromResources(valid);
    } catch (err) {
      this.#log.error(
        { err: errorMessage(err) },
        'route table build failed; keeping the last good table',
      );
      return;
    }
    try {
      this.#onTable(table);
    } catch (err) {
      // The consumer failed to take the table: keep the fingerprint stale so a retry
      // (or the next change) delivers it again, and never let it crash the watch.
      this.#log.error(
        { err: errorMessage(err), version: table.version },
        'route table consumer threw; retrying',
      );
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#rebuild();
      }, RETRY_DELIVERY_MS);
      return;
    }
    this.#fingerprint = fingerprint;
    this.#current = table;
    this.#log.info(
      { version: table.version, routes: table.routeCount, namespaces: valid.length },
      'route table delivered',
    );
  }
}
