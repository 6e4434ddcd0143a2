import { Pool } from 'undici';
import { HOP_BY_HOP } from '../../shared/http-fields.js';
import type { RoutePolicy } from '../../shared/api-policy.js';
import { SOURCE_NAMESPACE_HEADER, SOURCE_POD_HEADER } from '../hop-headers.js';
import { dropHeaders } from '../header-rules.js';
import type { Route } from '../route-table.js';
import type { Policy, PolicyAnswer, PolicyRequest, Verdict } from './policy.js';

type ForwardAuth = NonNullable<RoutePolicy['forwardAuth']>;

/** The result of one forwardAuth step, for the access log and the metrics. */
export type AuthResult = 'allowed' | 'denied' | 'cached' | 'unavailable' | 'open';

export interface ForwardAuthOptions {
  /** Cached 2xx answers at most (least recently used dropped first). */
  maxCacheEntries?: number;
  /** An auth service's refusal is relayed with at most this much of its body. */
  maxBodyBytes?: number;
  /** Connections per auth service origin. */
  connections?: number;
  onResult?: (result: AuthResult, seconds: number) => void;
  onError?: (url: string, err: unknown) => void;
}

interface Allowed {
  expires: number;
  /** The `responseHeaders` the auth service answered, flat, to add upstream. */
  headers: string[];
}

/** Never sent to the auth service: it gets no body, and these describe the body or the hop. */
const NOT_FOR_AUTH = new Set(['content-length', 'content-type', 'content-encoding']);

/** Never relayed from the auth service's refusal (hop-by-hop, or framing Node redoes). */
const NOT_RELAYED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length']);

/**
 * An ApiPolicy's `forwardAuth`: the nginx `auth_request` / Traefik ForwardAuth contract,
 * so existing auth services work unchanged
 * (https://nginx.org/en/docs/http/ngx_http_auth_request_module.html,
 * https://doc.traefik.io/traefik/middlewares/http/forwardauth/). The auth service gets a
 * GET with no body, the request's headers (or the `requestHeaders` named), and
 * `X-Forwarded-Method/-Proto/-Host/-Uri/-For`, `X-Detour-Source-Namespace/-Pod` (asserted
 * by the caller's sidecar: unauthenticated until mTLS) and `X-Detour-Route`.
 * - 2xx: the call goes on, with the answer's `responseHeaders` copied onto it (the
 *   client's own copies of those names are dropped first: a client cannot pose as a
 *   consumer the auth service did not name);
 * - any other answer goes back to the caller as it is (status, headers minus hop-by-hop,
 *   body up to 64 KiB);
 * - no answer within `timeoutMs` (or an error): 503 `DETOUR_E_AUTH_UNAVAILABLE`, or with
 *   `failureMode: open` the call goes on, logged.
 * The proxy's own connections are not captured (UID 1337), so the service is reached
 * through the cluster DNS name it was given, over pooled keep-alive connections.
 */
export class ForwardAuthPolicy implements Policy {
  readonly name = 'forward-auth';
  readonly #pools = new Map<string, Pool>();
  readonly #cache = new Map<string, Allowed>();
  readonly #maxCache: number;
  readonly #maxBody: number;
  readonly #connections: number;
  readonly #onResult: (result: AuthResult, seconds: number) => void;
  readonly #onError: (url: string, err: unknown) => void;

  constructor(options: ForwardAuthOptions = {}) {
    this.#maxCache = options.maxCacheEntries ?? 10_000;
    this.#maxBody = options.maxBodyBytes ?? 64 * 1024;
    this.#connections = options.connections ?? 32;
    this.#onResult = options.onResult ?? (() => undefined);
    this.#onError = options.onError ?? (() => undefined);
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  check(request: PolicyRequest): Verdict | Promise<Verdict> {
    const policy = request.route.policy;
    const auth = policy?.forwardAuth;
    if (policy === undefined || auth === undefined) return undefined;
    request.notes.policy = policy.name;
    const sent = authHeaders(auth, request);
    // Whatever the auth service says, the client's own copies of the names it may
    // answer with never reach the upstream.
    dropHeaders(request.headers.forward, auth.responseHeaders);
    const cacheKey = auth.cacheSeconds > 0 ? cacheKeyOf(request, sent) : undefined;
    if (cacheKey !== undefined) {
      const hit = this.#cache.get(cacheKey);
      if (hit !== undefined && hit.expires > Date.now()) {
        this.#cache.delete(cacheKey);
        this.#cache.set(cacheKey, hit);
        request.headers.forward.push(...hit.headers);
        this.#note(request, 'cached', 0);
        return undefined;
      }
      if (hit !== undefined) this.#cache.delete(cacheKey);
    }
    return this.#call(auth, request, sent, cacheKey);
  }

  describe(route: Route): string | undefined {
    return describeForwardAuth(route);
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }

  async #call(
    auth: ForwardAuth,
    request: PolicyRequest,
    sent: string[],
    cacheKey: string | undefined,
  ): Promise<Verdict> {
    const started = performance.now();
    const url = new URL(auth.url);
    try {
      const res = await this.#pool(url.origin).request({
        method: 'GET',
        path: `${url.pathname}${url.search}`,
        headers: sent,
        headersTimeout: auth.timeoutMs,
        bodyTimeout: auth.timeoutMs,
        signal: AbortSignal.timeout(auth.timeoutMs),
      });
      const body = await readBounded(res.body, this.#maxBody);
      const seconds = (performance.now() - started) / 1000;
      if (res.statusCode >= 200 && res.statusCode < 300) {
        const copied = pick(res.headers, auth.responseHeaders);
        request.headers.forward.push(...copied);
        if (cacheKey !== undefined) this.#remember(cacheKey, auth.cacheSeconds, copied);
        this.#note(request, 'allowed', seconds);
        return undefined;
      }
      this.#note(request, 'denied', seconds);
      const answer: PolicyAnswer = {
        status: res.statusCode,
        headers: relayed(res.headers),
        body,
      };
      return { code: 'DETOUR_E_AUTH_DENIED', detail: String(res.statusCode), answer };
    } catch (err) {
      const seconds = (performance.now() - started) / 1000;
      this.#onError(auth.url, err);
      if (auth.failureMode === 'open') {
        this.#note(request, 'open', seconds);
        return undefined;
      }
      this.#note(request, 'unavailable', seconds);
      return { code: 'DETOUR_E_AUTH_UNAVAILABLE', detail: auth.url };
    }
  }

  #note(request: PolicyRequest, result: AuthResult, seconds: number): void {
    request.notes.auth = result;
    request.notes.authMs = Math.round(seconds * 1e6) / 1e3;
    this.#onResult(result, seconds);
  }

  #remember(key: string, seconds: number, headers: string[]): void {
    if (this.#cache.size >= this.#maxCache) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, { expires: Date.now() + seconds * 1000, headers });
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.#connections,
        pipelining: 1,
        keepAliveTimeout: 4_000,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }
}

/** The forwardAuth step of `route`'s policy, for `detour routes --explain`. */
export function describeForwardAuth(route: Route): string | undefined {
  const auth = route.policy?.forwardAuth;
  if (auth === undefined) return undefined;
  const cache = auth.cacheSeconds > 0 ? `, 2xx cached ${auth.cacheSeconds} s` : '';
  const copies =
    auth.responseHeaders.length > 0 ? `, copies ${auth.responseHeaders.join(', ')} upstream` : '';
  return (
    `GET ${auth.url} (timeout ${auth.timeoutMs} ms, failure ${auth.failureMode}${cache}${copies}); ` +
    '2xx lets the call through, any other answer goes back to the caller'
  );
}

/** What the auth service is sent: the chosen request headers and the contract's own. */
function authHeaders(auth: ForwardAuth, request: PolicyRequest): string[] {
  const out: string[] = [];
  const forward = request.headers.forward;
  const wanted = auth.requestHeaders;
  for (let i = 0; i < forward.length; i += 2) {
    const name = (forward[i] as string).toLowerCase();
    if (NOT_FOR_AUTH.has(name)) continue;
    if (wanted !== undefined && !wanted.includes(name)) continue;
    out.push(name, forward[i + 1] as string);
  }
  const scanned = request.headers;
  const clientIp = request.req.socket.remoteAddress ?? '';
  out.push(
    'x-forwarded-method',
    request.req.method ?? 'GET',
    'x-forwarded-proto',
    scanned.forwardedProto ?? 'http',
    'x-forwarded-host',
    scanned.forwardedHost ?? request.host,
    'x-forwarded-uri',
    request.path,
    'x-forwarded-for',
    scanned.forwardedFor === undefined ? clientIp : `${scanned.forwardedFor}, ${clientIp}`,
    'x-detour-route',
    request.route.id,
  );
  if (request.source !== undefined) {
    out.push(SOURCE_NAMESPACE_HEADER, request.source.namespace);
    out.push(SOURCE_POD_HEADER, request.source.pod);
  }
  return out;
}

/** Method, host, path and the headers sent to the auth service (their values decide). */
function cacheKeyOf(request: PolicyRequest, sent: readonly string[]): string {
  return [request.req.method ?? 'GET', request.host.toLowerCase(), request.path, ...sent].join(
    '\u0000',
  );
}

function pick(
  headers: Record<string, string | string[] | undefined>,
  names: readonly string[],
): string[] {
  const out: string[] = [];
  for (const name of names) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  return out;
}

function relayed(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_RELAYED.has(name)) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  return out;
}

/** The body up to `max` bytes; the rest is read and dropped so the connection is reusable. */
async function readBounded(body: AsyncIterable<Buffer>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size >= max) continue;
    const part = chunk.length > max - size ? chunk.subarray(0, max - size) : chunk;
    chunks.push(part);
    size += part.length;
  }
  return Buffer.concat(chunks);
}
