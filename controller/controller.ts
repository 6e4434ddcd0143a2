import type { KubeConfig, V1Namespace, V1Pod, V1Secret } from '@kubernetes/client-node';
import { compileWithOutcomes } from '../shared/compile.js';
import { API_POLICY_PLURAL } from '../shared/api-policy.js';
import { apiKeyInputs } from '../shared/compile/api-keys.js';
import { ApiKeyHasher } from '../shared/api-key-hash.js';
import {
  HOST_GRANT_GROUP,
  HOST_GRANT_PLURAL,
  HOST_GRANT_VERSION,
  parseHostGrant,
} from '../shared/host-grant.js';
import { errorMessage } from '../shared/errors.js';
import { PLANE_LABEL } from '../shared/labels.js';
import type { Logger } from '../shared/logger.js';
import type { PlaneConfig } from '../shared/plane-config.js';
import {
  ROUTE_TABLE_GROUP,
  ROUTE_TABLE_PLURAL,
  ROUTE_TABLE_VERSION,
  type RouteTableResource,
} from '../shared/route-table-resource.js';
import { ResilientInformer, type KubeObjectLike } from '../shared/kube/resilient-informer.js';
import { ReusedConnections } from '../shared/kube/reused-connections.js';
import { podProjection } from '../shared/pod-projection.js';
import { backoffDelay, DEFAULT_WATCH_KNOBS, type WatchKnobs } from '../shared/kube/watch-knobs.js';
import { ControllerMetrics } from './controller-metrics.js';
import { Debouncer } from './debouncer.js';
import { RouteTableWriter, type WriteResult } from './route-table-writer.js';
import { ApiPolicyStatusWriter, type ObservedApiPolicy } from './api-policy-status-writer.js';
import { writerContext } from './writer-context.js';
import { ApiPolicyLog } from './api-policy-log.js';

/** What the controller does with each of its informers, whatever their object type. */
interface Watched {
  readonly synced: Promise<void>;
  start(): void;
  stop(): Promise<void>;
  onEvent(handler: () => void): () => void;
}

/** At most this many new conflicts/skipped entries are logged per reconcile. */
const MAX_PROBLEM_LINES = 20;

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  config: PlaneConfig;
  logger: Logger;
  metrics?: ControllerMetrics;
  knobs?: Partial<WatchKnobs>;
  /** Quiet period before a reconcile (default 250 ms). */
  debounceMs?: number;
  /** Upper bound on the wait under a constant stream of events (default 1 s). */
  maxDelayMs?: number;
}

/**
 * Pods + Secrets + HostGrants + Namespaces + ApiPolicies -> RouteTables for one plane,
 * and each ApiPolicy's status (the routes it attached to, Accepted/Conflicted).
 *
 * Every reconcile compiles the whole of the informers' caches, never a batch of events:
 * the seed router decided per event whether to reload, and a later event of the same
 * batch could overwrite an earlier "reload" with "no change", or a Secret event mixed
 * with pod events was dropped. Here an event only says "something changed"; what
 * changed is read from the caches, so no decision can be lost.
 *
 * No leader election: compile() is a pure function of the Pods and Secrets, so two
 * replicas watching the same API server compute the same tables, and they write them
 * with server-side apply under one field manager (FIELD_MANAGER). A write that matches
 * what is stored changes nothing, a write racing a newer one is corrected by the next
 * reconcile that the resulting watch event triggers, and deleting a deleted table is a
 * 404 we ignore. Two replicas cost duplicate no-op requests, not wrong tables, and a
 * replica that dies leaves the other one doing the work without a lease hand-over.
 */
export class Controller {
  readonly metrics: ControllerMetrics;
  readonly #pods: ResilientInformer<V1Pod & KubeObjectLike>;
  readonly #secrets: ResilientInformer<V1Secret & KubeObjectLike>;
  /** Unchecked objects: the compiler and reportInvalidGrants check each against the schema. */
  readonly #hostGrants: ResilientInformer<KubeObjectLike>;
  readonly #namespaces: ResilientInformer<V1Namespace & KubeObjectLike>;
  /** Unchecked objects: the compiler checks each spec and reports the invalid ones. */
  readonly #apiPolicies: ResilientInformer<ObservedApiPolicy>;
  readonly #tables: ResilientInformer<RouteTableResource>;
  /** scrypt is slow on purpose: hashes are memoized across reconciles (bounded). */
  readonly #hasher = new ApiKeyHasher();
  readonly #writer: RouteTableWriter;
  readonly #statusWriter: ApiPolicyStatusWriter;
  readonly #policyLog: ApiPolicyLog;
  readonly #debouncer: Debouncer;
  readonly #knobs: WatchKnobs;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #started = false;
  #stopped = false;
  #isReady = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #lastWrite: WriteResult | undefined;
  #problems = new Set<string>();
  #invalidGrants = new Set<string>();

  readonly #options: ControllerOptions;

  constructor(options: ControllerOptions) {
    this.#options = options;
    const { config, logger } = options;
    // One set of kept-alive connections for every list, watch and write (issue 13).
    const kubeConfig = new ReusedConnections(options.kubeConfig);
    this.metrics = options.metrics ?? new ControllerMetrics();
    this.#knobs = { ...DEFAULT_WATCH_KNOBS, ...options.knobs };
    const common = { kubeConfig, logger, knobs: this.#knobs };
    this.#pods = new ResilientInformer({
      ...common,
      name: 'pods',
      path: '/api/v1/pods',
      labelSelector: config.routableSelector,
      hooks: this.metrics.informerHooks('pods'),
      // Only what compile reads: whole pods made the controller 550 MB at 10,000 pods.
      transform: podProjection(config),
    });
    // RBAC grants list/watch on Secrets by resourceNames only, which the API server
    // authorizes for requests carrying exactly this field selector.
    this.#secrets = new ResilientInformer({
      ...common,
      name: 'secrets',
      path: '/api/v1/secrets',
      fieldSelector: `metadata.name=${config.apiKeySecretName}`,
      hooks: this.metrics.informerHooks('secrets'),
    });
    // Who may claim a host (shared/compile/host-claims.ts): the grants, and the namespace
    // labels their namespaceSelectors read. Both are small, cluster-scoped lists.
    this.#hostGrants = new ResilientInformer({
      ...common,
      name: 'hostgrants',
      path: `/apis/${HOST_GRANT_GROUP}/${HOST_GRANT_VERSION}/${HOST_GRANT_PLURAL}`,
      hooks: this.metrics.informerHooks('hostgrants'),
    });
    this.#namespaces = new ResilientInformer({
      ...common,
      name: 'namespaces',
      path: '/api/v1/namespaces',
      hooks: this.metrics.informerHooks('namespaces'),
    });
    // The namespaces' API policies (shared/compile/api-policies.ts); their status is
    // written back, and watching it is what lets a reconcile compare before writing.
    this.#apiPolicies = new ResilientInformer({
      ...common,
      name: 'apipolicies',
      path: `/apis/${ROUTE_TABLE_GROUP}/${ROUTE_TABLE_VERSION}/${API_POLICY_PLURAL}`,
      hooks: this.metrics.informerHooks('apipolicies'),
    });
    // Watching our own output lets a reconcile compare instead of blindly writing, and
    // repairs a table someone edited or deleted by hand.
    this.#tables = new ResilientInformer({
      ...common,
      name: 'routetables',
      path: `/apis/${ROUTE_TABLE_GROUP}/${ROUTE_TABLE_VERSION}/${ROUTE_TABLE_PLURAL}`,
      labelSelector: `${PLANE_LABEL}=${config.plane}`,
      hooks: this.metrics.informerHooks('routetables'),
    });
    const writes = writerContext(kubeConfig, config.plane, logger, this.metrics);
    this.#writer = new RouteTableWriter(writes);
    this.#statusWriter = new ApiPolicyStatusWriter(writes);
    this.#policyLog = new ApiPolicyLog(logger);
    this.#debouncer = new Debouncer(
      () => {
        this.#reconcileSoon();
      },
      options.debounceMs ?? 250,
      options.maxDelayMs ?? 1_000,
    );
    for (const informer of this.#informers()) {
      // A RouteTable event is mostly the echo of our own write: it must not make the
      // debounce think the cluster is churning (controller/debouncer.ts).
      const kind = informer === this.#tables ? 'echo' : 'input';
      informer.onEvent(() => {
        if (this.#started) this.#debouncer.trigger(kind);
      });
    }
  }

  #informers(): Watched[] {
    return [
      this.#pods,
      this.#secrets,
      this.#hostGrants,
      this.#namespaces,
      this.#apiPolicies,
      this.#tables,
    ];
  }

  /** Starts watching; resolves after the first complete sync and reconcile. */
  async start(): Promise<void> {
    for (const informer of this.#informers()) informer.start();
    await Promise.all(this.#informers().map((informer) => informer.synced));
    this.#started = true;
    await this.reconcileNow();
    this.#isReady = true;
    this.#options.logger.info(
      {
        plane: this.#options.config.plane,
        pods: this.#pods.size,
        secrets: this.#secrets.size,
        hostGrants: this.#hostGrants.size,
        apiPolicies: this.#apiPolicies.size,
        hostPolicy: this.#options.config.hostPolicy,
      },
      'controller synced',
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#debouncer.cancel();
    clearTimeout(this.#retryTimer);
    await Promise.all(this.#informers().map((informer) => informer.stop()));
    await this.#inFlight;
  }

  get ready(): boolean {
    return this.#isReady;
  }

  get lastResult(): WriteResult | undefined {
    return this.#lastWrite;
  }

  /** Reconciles now (after any reconcile in flight), bypassing the debounce. */
  async reconcileNow(): Promise<void> {
    this.#reconcileSoon();
    while (this.#inFlight !== undefined) await this.#inFlight;
  }

  #reconcileSoon(): void {
    if (this.#stopped) return;
    if (this.#inFlight !== undefined) {
      this.#again = true; // one more pass after this one, with the newer caches
      return;
    }
    this.#inFlight = this.#loop().finally(() => {
      this.#inFlight = undefined;
    });
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await this.#reconcile();
    } while (this.#moreWork());
  }

  /** A method so the compiler does not assume the flags are unchanged across awaits. */
  #moreWork(): boolean {
    return this.#again && !this.#stopped;
  }

  async #reconcile(): Promise<void> {
    const { config, logger } = this.#options;
    let result: WriteResult;
    try {
      const secrets = this.#secrets.list();
      // New or changed keys are hashed on the thread pool first, so the synchronous
      // compile finds every hash memoized and the event loop never runs scrypt.
      await this.#hasher.prepare(apiKeyInputs(secrets, config));
      const endTimer = this.metrics.compileSeconds.startTimer();
      const compiled = compileWithOutcomes(
        {
          pods: this.#pods.list(),
          secrets,
          hostGrants: this.#hostGrants.list(),
          namespaces: this.#namespaces.list(),
          apiPolicies: this.#apiPolicies.list(),
        },
        config,
        this.#hasher,
      );
      endTimer();
      const desired = compiled.tables;
      this.metrics.compiles.inc();
      this.metrics.tables.set(desired.length);
      this.#reportProblems(desired);
      this.#reportInvalidGrants();
      this.#policyLog.report(compiled.apiPolicies);
      result = await this.#writer.write(desired, this.#tables.list());
      // After the tables: a status saying "attached" describes tables already written.
      const statuses = await this.#statusWriter.write(compiled.apiPolicies, (namespace, name) =>
        this.#apiPolicies.get(namespace, name),
      );
      result = { ...result, errors: result.errors + statuses.errors };
      if (statuses.written > 0) logger.info({ ...statuses }, 'ApiPolicy statuses written');
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'reconcile failed');
      result = { applied: 0, statusApplied: 0, deleted: 0, errors: 1 };
    }
    this.#lastWrite = result;
    if (result.applied + result.statusApplied + result.deleted > 0) {
      logger.info({ ...result }, 'route tables written');
    }
    this.#scheduleRetry(result.errors > 0);
  }

  /**
   * Conflicts and skipped entries are in the tables' status (and the proxies' /routes);
   * the log gets each one once, when it appears, so that a conflict is noticed without
   * anyone running kubectl, and a steady state does not repeat it on every reconcile.
   */
  #reportProblems(tables: readonly RouteTableResource[]): void {
    const seen = new Set<string>();
    let logged = 0;
    for (const table of tables) {
      for (const conflict of table.status?.conflicts ?? []) {
        const key = `conflict ${JSON.stringify(conflict)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (!this.#problems.has(key) && logged++ < MAX_PROBLEM_LINES) {
          this.#options.logger.warn({ ...conflict }, 'route conflict: the oldest claim wins');
        }
      }
      for (const entry of table.status?.skipped ?? []) {
        const key = `skipped ${JSON.stringify(entry)}`;
        seen.add(key);
        if (!this.#problems.has(key) && logged++ < MAX_PROBLEM_LINES) {
          this.#options.logger.warn({ ...entry }, 'annotation entry skipped');
        }
      }
    }
    this.#problems = seen;
  }

  /**
   * A HostGrant the CRD should have refused (applied before the CRD was, or edited with
   * validation off) grants nothing; say so once per version of it.
   */
  #reportInvalidGrants(): void {
    const seen = new Set<string>();
    for (const grant of this.#hostGrants.list()) {
      const parsed = parseHostGrant(grant);
      if (parsed.ok) continue;
      const name = grant.metadata?.name ?? '';
      const key = `${name}@${grant.metadata?.resourceVersion ?? ''}`;
      seen.add(key);
      if (!this.#invalidGrants.has(key)) {
        this.#options.logger.warn(
          { hostGrant: name, problem: parsed.problem },
          'HostGrant ignored: it does not match the schema, so it grants nothing',
        );
      }
    }
    this.#invalidGrants = seen;
  }

  /** Failed writes are retried with backoff even when no new event comes. */
  #scheduleRetry(failed: boolean): void {
    clearTimeout(this.#retryTimer);
    if (!failed) {
      this.#failures = 0;
      return;
    }
    this.#failures++;
    const delay = backoffDelay(this.#failures, this.#knobs);
    this.#retryTimer = setTimeout(() => {
      this.#reconcileSoon();
    }, delay);
  }
}
