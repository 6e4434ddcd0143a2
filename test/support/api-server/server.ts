/**
 * A Kubernetes API-server double: the real wire protocol over HTTPS with a bearer token,
 * driven through the real @kubernetes/client-node in tests. See README.md beside this
 * file for what it does and, more importantly, what it does not do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import YAML from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { admitPodCreate, type ServiceResolver } from './admission.js';
import { serverSideApply } from './apply.js';
import {
  apiVersionOf,
  findResource,
  parsePath,
  RESOURCES,
  type KubeObject,
  type ParsedPath,
  type ResourceDef,
} from './resources.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { forwardToPod, parsePodProxy, type PodResolver } from './pod-proxy.js';
import { parsePortForward, portForward } from './port-forward.js';
import { ApiError, statusObject } from './status.js';
import { Store } from './store.js';
import { loopbackCertificates } from './tls.js';
import { WatchStream } from './watch-stream.js';

export interface AccessRequest {
  user: string;
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  group: string;
  resource: string;
  subresource: string | undefined;
  namespace: string | undefined;
  name: string | undefined;
}

export interface ApiServerDoubleOptions {
  /** Bearer tokens and the user each one authenticates (default: one random admin token). */
  tokens?: Record<string, string>;
  /** RBAC stand-in: return false to answer 403 Forbidden. Everything is allowed by default. */
  authorize?: (request: AccessRequest) => boolean;
  /** How often open watches that asked for bookmarks get one (the real server: ~1 min). */
  bookmarkIntervalMs?: number;
  /** Where `service` webhook clientConfigs are dialled (default 127.0.0.1:<service port>). */
  resolveService?: ServiceResolver;
  /** Events kept for watches to resume from; older resourceVersions get 410 Gone. */
  historyLimit?: number;
  port?: number;
  /** What `GET /version` answers (default v1.31.0). */
  version?: { major: string; minor: string; gitVersion: string };
  /** Where `pods/NAME:PORT/proxy` is dialled (default the pod's `status.podIP`:PORT). */
  resolvePod?: PodResolver;
}

export interface Counters {
  requests: number;
  lists: number;
  watches: number;
  expired: number;
  unauthorized: number;
  forbidden: number;
  webhookCalls: number;
  /** Writes that changed the store, by `verb resource` (e.g. `apply routetables`). */
  writes: Record<string, number>;
  /** Applies that changed nothing and therefore wrote nothing. */
  noopApplies: number;
  /** TCP (then TLS) connections accepted. */
  connections: number;
}

const MAX_BODY = 16 * 1024 * 1024;
const STRIP_KIND_IN_LISTS = new Set(['', 'admissionregistration.k8s.io']);

export class ApiServerDouble {
  readonly store: Store;
  readonly token: string;
  readonly caPem: string;
  readonly counters: Counters = {
    requests: 0,
    lists: 0,
    watches: 0,
    expired: 0,
    unauthorized: 0,
    forbidden: 0,
    webhookCalls: 0,
    writes: {},
    noopApplies: 0,
    connections: 0,
  };
  private readonly tokens: Map<string, string>;
  private readonly watches = new Set<WatchStream>();
  private readonly sockets = new Set<Socket>();
  private server: https.Server | undefined;
  private listenPort: number;
  private listsStalled = false;

  private constructor(private readonly options: ApiServerDoubleOptions) {
    this.store = new Store(options.historyLimit);
    this.token = randomBytes(16).toString('hex');
    this.tokens = new Map(Object.entries(options.tokens ?? { [this.token]: 'admin' }));
    this.caPem = loopbackCertificates().caPem;
    this.listenPort = options.port ?? 0;
    this.store.subscribe((event) => {
      for (const w of this.watches) w.deliver(event);
    });
  }

  static async start(options: ApiServerDoubleOptions = {}): Promise<ApiServerDouble> {
    const double = new ApiServerDouble(options);
    await double.listen();
    return double;
  }

  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    return `https://127.0.0.1:${this.listenPort}`;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  /** A KubeConfig for the real client: this server, its CA, and a bearer token. */
  kubeConfig(token = [...this.tokens.keys()][0] ?? this.token): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: 'double', server: this.url, caData: Buffer.from(this.caPem).toString('base64') },
      ],
      users: [{ name: 'tester', token }],
      contexts: [{ name: 'double', cluster: 'double', user: 'tester' }],
      currentContext: 'double',
    });
    return kc;
  }

  /** The same as a kubeconfig file, for child processes (`KUBECONFIG=<file>`). */
  kubeConfigYaml(token = [...this.tokens.keys()][0] ?? this.token): string {
    return YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'double',
          cluster: {
            server: this.url,
            'certificate-authority-data': Buffer.from(this.caPem).toString('base64'),
          },
        },
      ],
      users: [{ name: 'tester', user: { token } }],
      contexts: [{ name: 'double', context: { cluster: 'double', user: 'tester' } }],
      'current-context': 'double',
    });
  }

  private async listen(): Promise<void> {
    const { cert, key } = loopbackCertificates();
    const server = https.createServer({ cert, key }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.fail(res, err);
      });
    });
    server.on('connection', (socket: Socket) => {
      this.counters.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.upgrade(req, socket, head);
      } catch (err) {
        const status =
          err instanceof ApiError
            ? err.toStatus()
            : statusObject(500, 'InternalError', String(err));
        socket.end(
          `HTTP/1.1 ${String(status.code)} ${String(status.reason)}\r\nconnection: close\r\n\r\n`,
        );
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.listenPort = address.port;
    this.server = server;
  }

  /** Stops accepting and drops every connection (a crashed or restarting API server). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const w of [...this.watches]) w.cut();
    for (const s of this.sockets) s.destroy();
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
  }

  /** Listens again on the same port, with the same store (etcd survived). */
  async resume(): Promise<void> {
    if (this.server === undefined) await this.listen();
  }

  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.resume();
  }

  async close(): Promise<void> {
    await this.stop();
  }

  /** Drops every open watch connection mid-stream, without a clean end. */
  cutWatches(): void {
    for (const w of [...this.watches]) w.cut();
  }

  /** While on, list requests are accepted and never answered (a hung API server). */
  stallLists(on: boolean): void {
    this.listsStalled = on;
  }

  /** Every watch open now stays connected but never sends another byte. */
  silenceWatches(): void {
    for (const w of this.watches) w.silenced = true;
  }

  /** etcd compaction: resourceVersions up to `rv` (default: now) answer 410 Gone. */
  compactTo(rv?: number): void {
    this.store.compactTo(rv);
  }

  /** Writes an object straight into the store: no HTTP, no admission (fast fixtures). */
  seed(obj: KubeObject): KubeObject {
    const def = findResource(obj.kind ?? '');
    return this.store.create(def, { ...obj, apiVersion: apiVersionOf(def) });
  }

  private countWrite(verb: string, def: ResourceDef): void {
    const key = `${verb} ${def.plural}`;
    this.counters.writes[key] = (this.counters.writes[key] ?? 0) + 1;
  }

  private fail(res: ServerResponse, err: unknown): void {
    const status =
      err instanceof ApiError
        ? err.toStatus()
        : err instanceof SelectorError
          ? statusObject(400, 'BadRequest', err.message)
          : statusObject(500, 'InternalError', `Internal error occurred: ${String(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.json(res, status.code as number, status);
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  private authenticate(req: IncomingMessage): string {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const user = match?.[1] === undefined ? undefined : this.tokens.get(match[1]);
    if (user === undefined) {
      this.counters.unauthorized++;
      throw new ApiError('Unauthorized', 'Unauthorized');
    }
    return user;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    const url = new URL(req.url ?? '/', 'https://double');
    const user = this.authenticate(req);
    if (await this.nonResource(req, res, url, user)) return;
    const parsed = parsePath(url.pathname);
    if (parsed === null)
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    if ('discovery' in parsed) {
      this.json(res, 200, discovery(parsed.discovery));
      return;
    }
    const q = url.searchParams;
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const verb = verbOf(req.method ?? 'GET', parsed, watch);
    const access: AccessRequest = {
      user,
      verb,
      group: parsed.def.group,
      resource: parsed.def.plural,
      subresource: parsed.subresource,
      namespace: parsed.namespace,
      // As the API server's RequestInfo: a list/watch names the object its field
      // selector pins with metadata.name=, so RBAC resourceNames can grant it.
      name: parsed.name ?? nameFromFieldSelector(q.get('fieldSelector')),
    };
    if (this.options.authorize !== undefined && !this.options.authorize(access)) {
      this.counters.forbidden++;
      throw new ApiError(
        'Forbidden',
        `${parsed.def.plural} is forbidden: User "${user}" cannot ${verb} resource "${parsed.def.plural}"`,
        {
          kind: parsed.def.plural,
          group: parsed.def.group,
          ...(parsed.name ? { name: parsed.name } : {}),
        },
      );
    }
    switch (verb) {
      case 'watch':
        this.watch(res, parsed, q);
        return;
      case 'list':
        if (this.listsStalled) return; // the socket stays open until the client gives up
        this.json(res, 200, this.list(parsed, q));
        return;
      case 'get':
        this.json(res, 200, this.getOrThrow(parsed));
        return;
      case 'create':
        this.json(res, 201, await this.create(parsed, await readBody(req), q));
        return;
      case 'update':
        this.json(res, 200, this.update(parsed, await readBody(req)));
        return;
      case 'patch':
        this.json(res, 200, this.patch(parsed, req, q, await readBody(req)));
        return;
      case 'delete':
        this.json(res, 200, this.remove(parsed));
        return;
    }
  }

  /**
   * What is not a stored resource: `/version`, SelfSubjectAccessReviews (answered by
   * the `authorize` hook for the caller) and `pods/proxy`. True when answered.
   */
  private async nonResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    user: string,
  ): Promise<boolean> {
    if (url.pathname === '/version') {
      this.json(
        res,
        200,
        this.options.version ?? { major: '1', minor: '31', gitVersion: 'v1.31.0' },
      );
      return true;
    }
    if (url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      this.json(res, 201, this.accessReview(await readBody(req), user));
      return true;
    }
    const target = parsePodProxy(url.pathname);
    if (target === undefined) return false;
    const podIP = this.authorizedPodIP(user, 'proxy', target.namespace, target.name);
    const dial =
      this.options.resolvePod?.(target.namespace, target.name, target.port, podIP) ??
      ({ host: podIP ?? '', port: target.port } as const);
    if (dial.host === '') {
      throw new ApiError('BadRequest', `pod ${target.name} has no IP: it is not running`);
    }
    await forwardToPod(res, dial, target.path, url.search);
    return true;
  }

  /** `pods/NAME/portforward` over WebSocket (port-forward.ts). */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.counters.requests++;
    const user = this.authenticate(req);
    const url = new URL(req.url ?? '/', 'https://double');
    const target = parsePortForward(url);
    if (target === undefined) throw new ApiError('NotFound', 'only pods/portforward upgrades');
    const podIP = this.authorizedPodIP(user, 'portforward', target.namespace, target.name);
    const dial = this.options.resolvePod?.(target.namespace, target.name, target.port, podIP) ?? {
      host: podIP ?? '127.0.0.1',
      port: target.port,
    };
    portForward(req, socket, head, target, dial);
  }

  /**
   * A pod subresource call (`pods/proxy`, `pods/portforward`): the `authorize` hook's
   * verdict (403 as the API server words it), then the pod (404 when absent) and its IP.
   */
  private authorizedPodIP(
    user: string,
    subresource: 'proxy' | 'portforward',
    namespace: string,
    name: string,
  ): string | undefined {
    const access: AccessRequest = {
      user,
      verb: 'get',
      group: '',
      resource: 'pods',
      subresource,
      namespace,
      name,
    };
    if (this.options.authorize !== undefined && !this.options.authorize(access)) {
      this.counters.forbidden++;
      throw new ApiError(
        'Forbidden',
        `pods "${name}" is forbidden: User "${user}" cannot get resource "pods/${subresource}"`,
      );
    }
    const pod = this.getOrThrow({
      def: findResource('Pod'),
      namespace,
      name,
      subresource: undefined,
    });
    return (pod.status as { podIP?: string } | undefined)?.podIP;
  }

  /** A SelfSubjectAccessReview, answered by the `authorize` hook (allowed without one). */
  private accessReview(body: string, user: string): KubeObject {
    const review = parseObject(body) as KubeObject & {
      spec?: { resourceAttributes?: Partial<AccessRequest> & { subresource?: string } };
    };
    const a = review.spec?.resourceAttributes ?? {};
    const blank = (v: string | undefined): string | undefined => (v === '' ? undefined : v);
    const allowed =
      this.options.authorize?.({
        user,
        verb: a.verb ?? 'get',
        group: a.group ?? '',
        resource: a.resource ?? '',
        subresource: blank(a.subresource),
        namespace: blank(a.namespace),
        name: blank(a.name),
      }) ?? true;
    return { ...review, status: { allowed } };
  }

  private list(p: ParsedPath, q: URLSearchParams): Record<string, unknown> {
    this.counters.lists++;
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    const limit = Number(q.get('limit') ?? '0');
    const token = q.get('continue');
    let rv = this.store.resourceVersion;
    let after = '';
    if (token !== null && token !== '') {
      const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {
        rv: number;
        start: string;
      };
      if (decoded.rv < this.store.compactedRevision) {
        this.counters.expired++;
        throw new ApiError(
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      rv = decoded.rv;
      after = decoded.start;
    }
    // One more than the page, to know whether a continue token is needed.
    const fetched = this.store.list(p.def, p.namespace, {
      filter: (o) => labels(o.metadata.labels ?? {}) && fields(o),
      ...(after === '' ? {} : { after }),
      limit: limit > 0 ? limit + 1 : 0,
    });
    const page = limit > 0 ? fetched.slice(0, limit) : fetched;
    const last = page.at(-1);
    const more = limit > 0 && fetched.length > limit && last !== undefined;
    const items = STRIP_KIND_IN_LISTS.has(p.def.group) ? page.map(withoutTypeMeta) : page;
    return {
      kind: `${p.def.kind}List`,
      apiVersion: apiVersionOf(p.def),
      metadata: {
        resourceVersion: String(rv),
        ...(more
          ? {
              continue: Buffer.from(
                JSON.stringify({
                  rv,
                  start: `${last.metadata.namespace ?? ''}/${last.metadata.name ?? ''}`,
                }),
              ).toString('base64'),
            }
          : {}),
      },
      items,
    };
  }

  private watch(res: ServerResponse, p: ParsedPath, q: URLSearchParams): void {
    this.counters.watches++;
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    const stream = new WatchStream(res, p.def, p.namespace, labels, fields, (w) =>
      this.watches.delete(w),
    );
    this.watches.add(stream);
    const rvParam = q.get('resourceVersion') ?? '';
    if (rvParam === '' || rvParam === '0') {
      // "Start at most recent": the current state as ADDED events, then changes.
      // https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-watch
      for (const obj of this.store.list(p.def, p.namespace)) {
        if (stream.matches(obj)) stream.send('ADDED', obj);
      }
    } else {
      try {
        for (const event of this.store.eventsSince(Number(rvParam))) stream.deliver(event);
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 410) throw err;
        // The real server answers 200 and sends the 410 as an ERROR event, then ends.
        this.counters.expired++;
        stream.send('ERROR', err.toStatus());
        stream.end();
        return;
      }
    }
    if (q.get('allowWatchBookmarks') === 'true') {
      stream.startBookmarks(
        this.options.bookmarkIntervalMs ?? 1000,
        () => this.store.resourceVersion,
      );
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) stream.endAfter(timeoutSeconds * 1000);
  }

  private getOrThrow(p: ParsedPath): KubeObject {
    const obj = this.store.get(p.def, p.namespace, p.name ?? '');
    if (obj === undefined) {
      throw new ApiError('NotFound', `${p.def.plural} "${p.name ?? ''}" not found`, {
        name: p.name ?? '',
        kind: p.def.plural,
        group: p.def.group,
      });
    }
    return obj;
  }

  private async create(p: ParsedPath, body: string, q: URLSearchParams): Promise<KubeObject> {
    let obj = parseObject(body);
    if (p.name !== undefined || p.subresource !== undefined) {
      throw new ApiError('MethodNotAllowed', 'POST is only allowed on collections');
    }
    if (p.def.namespaced) {
      if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== p.namespace) {
        throw new ApiError(
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = p.namespace;
    }
    if (obj.metadata.name === undefined && obj.metadata.generateName !== undefined) {
      obj.metadata.name = `${obj.metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    }
    if (obj.metadata.name === undefined || obj.metadata.name === '') {
      throw new ApiError('Invalid', `${p.def.kind} "" is invalid: metadata.name: Required value`);
    }
    obj.apiVersion = apiVersionOf(p.def);
    obj.kind = p.def.kind;
    if (p.def.statusSubresource) delete obj.status;
    if (p.def.kind === 'Pod') {
      obj.status = { phase: 'Pending' };
      obj = await admitPodCreate(obj, p.namespace ?? '', {
        configurations: this.store.list(findResource('MutatingWebhookConfiguration')),
        namespaceLabels: this.namespaceLabels(p.namespace ?? ''),
        resolveService:
          this.options.resolveService ?? ((_ns, _name, port) => ({ host: '127.0.0.1', port })),
        onCall: () => this.counters.webhookCalls++,
      });
    }
    if (p.def.kind === 'Namespace') {
      // Set by the real API server since 1.21; namespaceSelectors rely on it.
      obj.metadata.labels = {
        ...obj.metadata.labels,
        'kubernetes.io/metadata.name': obj.metadata.name ?? '',
      };
    }
    if (p.def.group === 'detour.dev') obj.metadata.generation = 1;
    // Server-side dry run: admission ran for real, nothing is stored.
    // https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run
    if (q.get('dryRun') === 'All') return obj;
    this.countWrite('create', p.def);
    return this.store.create(p.def, obj);
  }

  private namespaceLabels(namespace: string): Record<string, string> {
    const ns = this.store.get(findResource('Namespace'), undefined, namespace);
    return ns?.metadata.labels ?? { 'kubernetes.io/metadata.name': namespace };
  }

  /** Keeps what the request may not change (status, or all but status on /status). */
  private merged(p: ParsedPath, current: KubeObject, next: KubeObject): KubeObject {
    const out = structuredClone(next);
    out.apiVersion = apiVersionOf(p.def);
    out.kind = p.def.kind;
    out.metadata = {
      ...out.metadata,
      name: current.metadata.name,
      namespace: current.metadata.namespace,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      resourceVersion: current.metadata.resourceVersion,
    };
    if (out.metadata.managedFields === undefined && current.metadata.managedFields !== undefined) {
      out.metadata.managedFields = current.metadata.managedFields;
    }
    if (p.subresource === 'status') {
      return { ...structuredClone(current), status: out.status };
    }
    if (p.def.statusSubresource) out.status = structuredClone(current.status);
    if (current.metadata.generation !== undefined) {
      const specChanged = !isDeepStrictEqual(current.spec, out.spec);
      out.metadata.generation = current.metadata.generation + (specChanged ? 1 : 0);
    }
    return out;
  }

  private write(p: ParsedPath, verb: string, current: KubeObject, next: KubeObject): KubeObject {
    const merged = this.merged(p, current, next);
    if (isDeepStrictEqual(merged, current)) return current; // a no-op write is not a write
    this.countWrite(p.subresource === undefined ? verb : `${verb} ${p.subresource}`, p.def);
    return this.store.replace(p.def, merged);
  }

  private update(p: ParsedPath, body: string): KubeObject {
    const current = this.getOrThrow(p);
    const next = parseObject(body);
    const rv = next.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
      throw new ApiError(
        'Conflict',
        `Operation cannot be fulfilled on ${p.def.plural} "${p.name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`,
        { name: p.name ?? '', kind: p.def.plural, group: p.def.group },
      );
    }
    return this.write(p, 'update', current, next);
  }

  private patch(p: ParsedPath, req: IncomingMessage, q: URLSearchParams, body: string): KubeObject {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (type === 'application/apply-patch+yaml') return this.apply(p, q, body);
    const current = this.getOrThrow(p);
    let next: KubeObject;
    if (type === 'application/json-patch+json') {
      const ops = JSON.parse(body) as Operation[];
      try {
        next = fastJsonPatch.applyPatch(structuredClone(current), ops, true, false).newDocument;
      } catch (err) {
        throw new ApiError(
          'Invalid',
          `the JSON patch could not be applied: ${(err as Error).message}`,
        );
      }
    } else if (
      type === 'application/merge-patch+json' ||
      type === 'application/strategic-merge-patch+json'
    ) {
      // Strategic merge is treated as JSON merge patch (README: no patch strategies).
      next = mergePatch(structuredClone(current), JSON.parse(body)) as KubeObject;
    } else {
      throw new ApiError(
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
    }
    return this.write(p, 'patch', current, next);
  }

  private apply(p: ParsedPath, q: URLSearchParams, body: string): KubeObject {
    const manager = q.get('fieldManager');
    if (manager === null || manager === '') {
      throw new ApiError(
        'BadRequest',
        'PATCH, application/apply-patch+yaml requires fieldManager to be set',
      );
    }
    const applied = parseObject(body, true);
    if (applied.metadata.name !== undefined && applied.metadata.name !== p.name) {
      throw new ApiError('BadRequest', 'the name of the object does not match the name on the URL');
    }
    if (applied.kind !== undefined && applied.kind !== p.def.kind) {
      throw new ApiError('BadRequest', `the kind ${applied.kind} does not match ${p.def.kind}`);
    }
    const current = this.store.get(p.def, p.namespace, p.name ?? '');
    if (current === undefined && p.subresource !== undefined) this.getOrThrow(p);
    const result = serverSideApply(current, applied, {
      manager,
      force: q.get('force') === 'true',
      subresource: p.subresource,
    });
    if (!result.changed) {
      this.counters.noopApplies++;
      return result.object;
    }
    if (current === undefined) {
      const obj = result.object;
      obj.metadata.namespace = p.namespace;
      obj.metadata.name = p.name;
      obj.kind = p.def.kind;
      obj.apiVersion = apiVersionOf(p.def);
      if (p.def.statusSubresource) delete obj.status;
      if (p.def.group === 'detour.dev') obj.metadata.generation = 1;
      this.countWrite('apply', p.def);
      return this.store.create(p.def, obj);
    }
    return this.write(p, 'apply', current, result.object);
  }

  private remove(p: ParsedPath): KubeObject {
    if (p.name === undefined)
      throw new ApiError('MethodNotAllowed', 'deletecollection is not served by the double');
    this.countWrite('delete', p.def);
    return this.store.delete(p.def, p.namespace, p.name);
  }
}

function nameFromFieldSelector(selector: string | null): string | undefined {
  const terms = (selector ?? '').split(',').map((t) => t.trim());
  for (const term of terms) {
    const match = /^metadata\.name==?(.+)$/.exec(term);
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}

/** Built-in list items carry no kind/apiVersion on the wire (the list has them). */
function withoutTypeMeta(obj: KubeObject): KubeObject {
  const copy = { ...obj };
  delete copy.kind;
  delete copy.apiVersion;
  return copy;
}

function verbOf(method: string, p: ParsedPath, watch: boolean): AccessRequest['verb'] {
  switch (method) {
    case 'GET':
      if (watch) return 'watch';
      return p.name === undefined ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      throw new ApiError('MethodNotAllowed', `method ${method} is not allowed`);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ApiError('BadRequest', 'request entity too large', {}, 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonOrYaml(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return YAML.parse(body);
  }
}

function parseObject(body: string, yaml = false): KubeObject {
  let value: unknown;
  try {
    // JSON is YAML, and what clients send as apply-patch+yaml (client-node included);
    // the yaml package takes ~0.5 ms per RouteTable where the API server's decoder takes
    // microseconds, which a benchmark of the controller would otherwise measure.
    value = yaml ? parseJsonOrYaml(body) : JSON.parse(body);
  } catch (err) {
    throw new ApiError(
      'BadRequest',
      `the request body could not be decoded: ${(err as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError('BadRequest', 'the request body is not an object');
  }
  const obj = value as KubeObject;
  const meta: unknown = obj.metadata;
  obj.metadata = typeof meta === 'object' && meta !== null ? (meta as KubeObject['metadata']) : {};
  return obj;
}

/** RFC 7386 JSON Merge Patch. https://www.rfc-editor.org/rfc/rfc7386 */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? (target as Record<string, unknown>)
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function discovery(groupVersion: string): Record<string, unknown> {
  const defs = RESOURCES.filter((r) => apiVersionOf(r) === groupVersion);
  if (defs.length === 0)
    throw new ApiError('NotFound', 'the server could not find the requested resource');
  const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: defs.flatMap((d) => [
      {
        name: d.plural,
        singularName: d.kind.toLowerCase(),
        namespaced: d.namespaced,
        kind: d.kind,
        verbs,
      },
      ...(d.statusSubresource
        ? [
            {
              name: `${d.plural}/status`,
              singularName: '',
              namespaced: d.namespaced,
              kind: d.kind,
              verbs: ['get', 'patch', 'update'],
            },
          ]
        : []),
    ]),
  };
}
