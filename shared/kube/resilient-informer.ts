import type { KubeAccess } from './kube-access.js';
import type { Logger } from '../logger.js';
import { errorMessage } from '../errors.js';
import { kubeGetJson, KubeApiError } from './kube-request.js';
import { watchEvents, WatchStatusError, type StopWatch } from './watch-events.js';
import { backoffDelay, DEFAULT_WATCH_KNOBS, type WatchKnobs } from './watch-knobs.js';
import { objectKey } from '../object-key.js';

/**
 * list+watch that never gives up. client-node's ListWatch (2.x, src/cache.ts) stops for
 * good on any watch error other than 410 or a client timeout, swallows exceptions thrown
 * by handlers together with the resourceVersion of the event, does not ask for
 * bookmarks (so its 30 s inactivity timer restarts healthy idle watches), and has no
 * "synced" signal. This layer replaces the loop, and watch-events.ts reads the stream
 * (the kubeconfig still puts the credentials on every request, kube-request.ts).
 * docs/adr/0002-resilient-watch.md names the knobs.
 */
export interface KubeObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export type InformerEventType = 'added' | 'updated' | 'deleted';

export interface InformerEvent<T> {
  type: InformerEventType;
  object: T;
}

/** Why a watch ended: the server closed it, it failed, its rv expired, it fell silent. */
export type RestartReason = 'closed' | 'error' | 'expired' | 'silent' | 'relist';

/** Metrics hooks; each is optional and must not throw (they are contained anyway). */
export interface InformerHooks {
  event?(type: InformerEventType | 'bookmark'): void;
  restart?(reason: RestartReason): void;
  list?(): void;
  handlerError?(): void;
  connected?(connected: boolean): void;
}

export interface ResilientInformerOptions<T extends KubeObjectLike = KubeObjectLike> {
  /** For logs and metrics: `pods`, `secrets`, `routetables`. */
  name: string;
  kubeConfig: KubeAccess;
  /** Collection path, e.g. `/api/v1/pods` (all namespaces). */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  knobs?: Partial<WatchKnobs>;
  hooks?: InformerHooks;
  /**
   * Applied to each object as it arrives (list items, watch events), before it is
   * cached or handed on: keep what the consumer reads, so the cache does not hold whole
   * objects (client-go's cache.TransformFunc).
   */
  transform?: (object: T) => T;
}

interface ListBody<T> {
  kind?: string;
  apiVersion?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

interface WatchOutcome {
  reason: RestartReason | 'stopped';
  /** The watch delivered something or lived long enough: no backoff before the next. */
  healthy: boolean;
  error?: unknown;
}

const MAX_PAGES = 100_000;

export class ResilientInformer<T extends KubeObjectLike> {
  /** Resolves after the first complete list (the cache then mirrors the server). */
  readonly synced: Promise<void>;
  #resolveSynced: () => void = () => undefined;
  readonly #knobs: WatchKnobs;
  readonly #cache = new Map<string, T>();
  readonly #handlers = new Set<(event: InformerEvent<T>) => void>();
  readonly #syncHandlers = new Set<() => void>();
  #rv = '';
  #running = false;
  #isSynced = false;
  #isConnected = false;
  #lastList = 0;
  #loop: Promise<void> | undefined;
  #endWatch: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #listAbort: AbortController | undefined;

  readonly #options: ResilientInformerOptions<T>;

  constructor(options: ResilientInformerOptions<T>) {
    this.#options = options;
    this.#knobs = { ...DEFAULT_WATCH_KNOBS, ...options.knobs };
    this.synced = new Promise((resolve) => {
      this.#resolveSynced = resolve;
    });
  }

  /** Called for every change, including those a relist discovers. */
  onEvent(handler: (event: InformerEvent<T>) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** Called after each complete list (the first one and every relist). */
  onSync(handler: () => void): () => void {
    this.#syncHandlers.add(handler);
    return () => this.#syncHandlers.delete(handler);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(`${namespace ?? ''}/${name}`);
  }

  get size(): number {
    return this.#cache.size;
  }

  get hasSynced(): boolean {
    return this.#isSynced;
  }

  get connected(): boolean {
    return this.#isConnected;
  }

  get resourceVersion(): string {
    return this.#rv;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#endWatch?.();
    this.#wake?.();
    this.#listAbort?.abort();
    await this.#loop;
  }

  /** A method, not the field, so the compiler does not assume it is constant in loops. */
  #isRunning(): boolean {
    return this.#running;
  }

  get #log(): Logger {
    return this.#options.logger;
  }

  #hook<K extends keyof InformerHooks>(
    name: K,
    ...args: Parameters<NonNullable<InformerHooks[K]>>
  ): void {
    try {
      (this.#options.hooks?.[name] as ((...a: unknown[]) => void) | undefined)?.(...args);
    } catch (err) {
      this.#log.warn(
        { informer: this.#options.name, err: errorMessage(err) },
        'informer metrics hook threw',
      );
    }
  }

  #setConnected(connected: boolean): void {
    if (this.#isConnected === connected) return;
    this.#isConnected = connected;
    this.#hook('connected', connected);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      let outcome: WatchOutcome;
      try {
        if (this.#rv === '') await this.#relist();
        outcome = this.#isRunning()
          ? await this.#watchOnce()
          : { reason: 'stopped', healthy: true };
      } catch (err) {
        outcome = {
          reason: err instanceof KubeApiError && err.statusCode === 410 ? 'expired' : 'error',
          healthy: false,
          error: err,
        };
      }
      if (outcome.reason === 'stopped' || !this.#isRunning()) break;
      this.#hook('restart', outcome.reason);
      if (outcome.reason === 'expired' || outcome.reason === 'relist') this.#rv = '';
      if (outcome.reason === 'error' || outcome.reason === 'silent') this.#setConnected(false);
      failures = outcome.healthy ? 0 : failures + 1;
      this.#logOutcome(outcome, failures);
      // A first 410 relists at once: it is routine after compaction, not a failure.
      const immediate =
        failures === 0 ||
        (outcome.reason === 'expired' && failures === 1) ||
        outcome.reason === 'relist';
      if (!immediate) await this.#sleep(backoffDelay(failures, this.#knobs));
    }
    this.#setConnected(false);
  }

  #logOutcome(outcome: WatchOutcome, failures: number): void {
    const fields = {
      informer: this.#options.name,
      reason: outcome.reason,
      failures,
      ...(outcome.error === undefined ? {} : { err: errorMessage(outcome.error) }),
    };
    if (outcome.reason === 'closed' || outcome.reason === 'relist') {
      this.#log.debug(fields, 'watch ended; resuming');
    } else if (outcome.reason === 'expired') {
      this.#log.info(fields, 'watch resourceVersion expired (410 Gone); relisting');
    } else {
      this.#log.warn(fields, 'watch failed; restarting with backoff');
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #relist(): Promise<void> {
    this.#hook('list');
    this.#listAbort = new AbortController();
    const items: T[] = [];
    let rv = '';
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = (await kubeGetJson(
        this.#options.kubeConfig,
        this.#options.path,
        {
          labelSelector: this.#options.labelSelector,
          fieldSelector: this.#options.fieldSelector,
          limit: this.#knobs.pageSize,
          continue: token,
        },
        // A list that hangs (accepted, never answered) is as dead as a silent watch.
        AbortSignal.any([this.#listAbort.signal, AbortSignal.timeout(this.#knobs.silenceLimitMs)]),
      )) as ListBody<T>;
      // Built-in list items carry no kind/apiVersion on the wire; watch events do.
      const kind = body.kind?.replace(/List$/, '');
      for (const item of body.items ?? []) {
        items.push(
          this.#transform({
            ...item,
            kind: item.kind ?? kind,
            apiVersion: item.apiVersion ?? body.apiVersion,
          }),
        );
      }
      if (page === 0) rv = body.metadata?.resourceVersion ?? '';
      token = body.metadata?.continue;
      if (token === undefined || token === '') break;
    }
    this.#replaceCache(items);
    this.#rv = rv;
    this.#lastList = Date.now();
    this.#setConnected(true);
    this.#log.debug({ informer: this.#options.name, objects: items.length, rv }, 'listed');
    if (!this.#isSynced) {
      this.#isSynced = true;
      this.#resolveSynced();
    }
    for (const handler of this.#syncHandlers) this.#contain(handler);
  }

  #replaceCache(items: readonly T[]): void {
    const next = new Map(items.map((o) => [objectKey(o), o]));
    const events: InformerEvent<T>[] = [];
    for (const [key, old] of this.#cache) {
      if (!next.has(key)) events.push({ type: 'deleted', object: old });
    }
    for (const [key, obj] of next) {
      const old = this.#cache.get(key);
      if (old === undefined) events.push({ type: 'added', object: obj });
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        events.push({ type: 'updated', object: obj });
      }
    }
    this.#cache.clear();
    for (const [key, obj] of next) this.#cache.set(key, obj);
    for (const event of events) this.#emit(event);
  }

  #contain(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#hook('handlerError');
      this.#log.error(
        { informer: this.#options.name, err: errorMessage(err) },
        'informer handler threw; event kept, watch continues',
      );
    }
  }

  #emit(event: InformerEvent<T>): void {
    this.#hook('event', event.type);
    for (const handler of this.#handlers) {
      this.#contain(() => {
        handler(event);
      });
    }
  }

  /** Applies one watch event; returns false for an ERROR event (the watch must end). */
  #apply(type: string, obj: T & { code?: number }): 'ok' | 'expired' | 'error' {
    if (type === 'ERROR') return obj.code === 410 ? 'expired' : 'error';
    const rv = obj.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      this.#hook('event', 'bookmark');
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      const kept = this.#transform(obj);
      const key = objectKey(kept);
      const old = this.#cache.get(key);
      this.#cache.set(key, kept);
      if (old === undefined) this.#emit({ type: 'added', object: kept });
      else if (old.metadata?.resourceVersion !== kept.metadata?.resourceVersion) {
        this.#emit({ type: 'updated', object: kept });
      }
    } else if (type === 'DELETED') {
      const key = objectKey(obj);
      if (this.#cache.delete(key)) this.#emit({ type: 'deleted', object: this.#transform(obj) });
    }
    if (rv !== undefined && rv !== '') this.#rv = rv;
    return 'ok';
  }

  #transform(obj: T): T {
    return this.#options.transform === undefined ? obj : this.#options.transform(obj);
  }

  #watchOnce(): Promise<WatchOutcome> {
    const { kubeConfig, path, labelSelector, fieldSelector } = this.#options;
    const knobs = this.#knobs;
    return new Promise<WatchOutcome>((resolve) => {
      const started = Date.now();
      let events = 0;
      let settled = false;
      let stopWatch: StopWatch | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      let relistTimer: NodeJS.Timeout | undefined;
      const finish = (reason: WatchOutcome['reason'], error?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        clearTimeout(relistTimer);
        stopWatch?.();
        this.#endWatch = undefined;
        const healthy =
          events > 0 ||
          (reason === 'closed' && Date.now() - started >= knobs.backoffInitialMs) ||
          reason === 'relist' ||
          reason === 'stopped';
        resolve({ reason, healthy, ...(error === undefined ? {} : { error }) });
      };
      const arm = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          finish('silent');
        }, knobs.silenceLimitMs);
      };
      this.#endWatch = () => {
        finish('stopped');
      };
      arm();
      if (knobs.relistIntervalMs > 0) {
        const due = Math.max(0, this.#lastList + knobs.relistIntervalMs - Date.now());
        relistTimer = setTimeout(() => {
          finish('relist');
        }, due);
      }
      const query: Record<string, string | number | boolean | undefined> = {
        resourceVersion: this.#rv,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.round(knobs.watchTimeoutSeconds * (1 + Math.random())),
        labelSelector,
        fieldSelector,
      };
      watchEvents(
        kubeConfig,
        path,
        query,
        (type, obj) => {
          if (settled) return;
          arm();
          const result = this.#apply(type, obj as T & { code?: number });
          if (result === 'ok') events++;
          else if (result === 'expired') finish('expired');
          else finish('error', new Error(`watch ERROR event: ${JSON.stringify(obj)}`));
        },
        (err: unknown) => {
          if (err === null || err === undefined) {
            finish('closed');
            return;
          }
          const status = err instanceof WatchStatusError ? err.statusCode : undefined;
          finish(status === 410 ? 'expired' : 'error', err);
        },
      ).then(
        (stop) => {
          stopWatch = stop;
          if (settled) stop();
          else this.#setConnected(true);
        },
        (err: unknown) => {
          finish('error', err);
        },
      );
    });
  }
}
