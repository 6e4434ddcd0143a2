import { isChunkedAlone, type ScannedRequest } from './hop-headers.js';
import type { ProxyAnswerCode } from './error-response.js';
import type {
  PolicyNotes,
  PolicyPipeline,
  Rejection,
  RequestPeer,
  Verdict,
} from './policies/policy.js';
import type { Route, RouteTable } from './route-table.js';
import type { Upstream, Upstreams } from './upstreams.js';
import type { Direction, LocalPod, ProxyMode } from './traffic.js';
import { parseAuthority } from './request-target.js';

/**
 * What the pipeline needs of the proxy that runs it: a narrow view, so the entry points
 * (plain requests, upgrades, CONNECT, and later inbound and h2) share one decision and
 * none of them reaches into another's state.
 */
export interface PipelineContext {
  readonly mode: ProxyMode;
  /** The table in use now (read once per request: a swap never splits a decision). */
  readonly table: RouteTable;
  readonly policies: PolicyPipeline;
  readonly upstreams: Upstreams;
  readonly maxHops: number;
  /** The API-key header in the form `keyHeaderForm` gives. */
  readonly apiKeyHeader: string;
  /** The pod this sidecar serves, for inbound requests (unset: no inbound capture). */
  readonly local: LocalPod | undefined;
}

export type { Direction, LocalPod, ProxyMode };

/** A request as every entry point sees it once its head is parsed. */
export interface RequestFacts {
  /** The client's request: an IncomingMessage, or an HTTP/2 stream's view (sidecar/h2/). */
  readonly req: RequestPeer;
  /** The authority asked for: absolute-form target, else Host ('' when absent). */
  readonly host: string;
  readonly path: string;
  readonly scanned: ScannedRequest;
  readonly requestId: string;
  readonly direction: Direction;
  /** Inbound: the app port the connection was captured for. */
  readonly appPort?: number | undefined;
  /** Where the policies note what they decided (the exchange, for its log line). */
  readonly notes: PolicyNotes;
}

/**
 * Who calls: this pod for outbound calls (when the sidecar knows its pod), the caller's
 * sidecar's assertion for inbound ones (unauthenticated until mTLS).
 */
export function sourceOf(
  ctx: PipelineContext,
  direction: Direction,
  scanned: ScannedRequest,
): { namespace: string; pod: string } | undefined {
  if (direction === 'outbound') {
    const local = ctx.local;
    return local === undefined ? undefined : { namespace: local.namespace, pod: local.name };
  }
  const namespace = scanned.sourceNamespace;
  return namespace === undefined ? undefined : { namespace, pod: scanned.sourcePod ?? '' };
}

export interface Refusal extends Rejection {
  readonly kind: 'refuse';
  /** The route the request matched, when it got that far (for the log and metrics). */
  readonly route?: Route | undefined;
}

export type Decision =
  | Refusal
  /** A route's endpoint, chosen round robin, the policies passed. */
  | { readonly kind: 'route'; readonly route: Route; readonly upstream: Upstream }
  /** Sidecar mode, a host the table does not know: go where the app asked. */
  | { readonly kind: 'passthrough'; readonly upstream: Upstream }
  /** Inbound, checked as the route (or the namespace) it belongs to: on to the app. */
  | { readonly kind: 'local'; readonly route: Route; readonly upstream: Upstream };

/**
 * The one decision every entry point makes, in order: refuse ambiguity (a second Host or
 * API-key header, a transfer coding other than chunked), refuse loops and invalid
 * authorities, match the table (host, then longest path), run the route's policies, pick
 * an endpoint. Synchronous unless a policy is asynchronous.
 */
export function decide(ctx: PipelineContext, facts: RequestFacts): Decision | Promise<Decision> {
  const scanned = facts.scanned;
  if (scanned.duplicate !== undefined) {
    return refuse('DETOUR_E_DUPLICATE_HEADER', scanned.duplicate, true);
  }
  if (scanned.transferEncoding !== undefined && !isChunkedAlone(scanned.transferEncoding)) {
    return refuse('DETOUR_E_TRANSFER_CODING', clip(scanned.transferEncoding), true);
  }
  if (scanned.hops >= ctx.maxHops) return refuse('DETOUR_E_LOOP', `${scanned.hops} hops`);
  const host = facts.host;
  const authority = host === '' ? undefined : parseAuthority(host, 80);
  if (host !== '' && authority === undefined) {
    return refuse('DETOUR_E_BAD_HOST', JSON.stringify(clip(host)), true);
  }
  if (facts.direction === 'inbound') return decideInbound(ctx, facts);
  const match = ctx.table.match(host, facts.path);
  if (match.kind === 'route') return checkRoute(ctx, facts, match.route);
  if (match.kind === 'unknown-path') {
    return refuse('DETOUR_E_UNKNOWN_PATH', clip(`${match.host}${facts.path}`));
  }
  if (ctx.mode === 'gateway' || authority === undefined) {
    return refuse('DETOUR_E_UNKNOWN_HOST', clip(host));
  }
  // Not our route: the key header goes on as the app sent it.
  if (scanned.apiKey !== undefined) scanned.forward.push(ctx.apiKeyHeader, scanned.apiKey);
  return {
    kind: 'passthrough',
    upstream: ctx.upstreams.passthrough(authority.name, authority.port),
  };
}

function checkRoute(
  ctx: PipelineContext,
  facts: RequestFacts,
  route: Route,
): Decision | Promise<Decision> {
  // Enforce once, as close to the destination as possible: when every endpoint's own
  // sidecar checks inbound, the caller's sidecar only routes, and the key header goes
  // on for the destination to check. The gateway always enforces.
  if (ctx.mode === 'sidecar' && route.enforcedAt === 'destination') {
    const key = facts.scanned.apiKey;
    if (key !== undefined) facts.scanned.forward.push(ctx.apiKeyHeader, key);
    return afterPolicies(ctx, route, undefined);
  }
  const verdict = runPolicies(ctx, facts, route);
  if (verdict instanceof Promise) return verdict.then((v) => afterPolicies(ctx, route, v));
  return afterPolicies(ctx, route, verdict);
}

/**
 * Inbound (DESIGN.md, "Enforce at the destination"): whatever the Host, even the pod IP,
 * a request is checked as the pod's own namespace's route it matches, else as the
 * namespace itself (its API key); then it goes to the app on the port it came for. A
 * caller that skipped its own sidecar meets the same checks here.
 */
function decideInbound(ctx: PipelineContext, facts: RequestFacts): Decision | Promise<Decision> {
  const local = ctx.local;
  const port = facts.appPort;
  if (local === undefined || port === undefined) {
    return refuse('DETOUR_E_INTERNAL', 'inbound request without its pod or app port');
  }
  const match = ctx.table.match(facts.host, facts.path);
  const route =
    match.kind === 'route' && match.route.namespace === local.namespace
      ? match.route
      : ctx.table.namespaceRoute(local.namespace);
  const upstream = ctx.upstreams.passthrough(local.podIp, port);
  const verdict = runPolicies(ctx, facts, route);
  if (verdict instanceof Promise) {
    return verdict.then((v) =>
      v === undefined ? { kind: 'local', route, upstream } : rejected(route, v),
    );
  }
  return verdict === undefined ? { kind: 'local', route, upstream } : rejected(route, verdict);
}

function runPolicies(
  ctx: PipelineContext,
  facts: RequestFacts,
  route: Route,
): Verdict | Promise<Verdict> {
  return ctx.policies.run({
    req: facts.req,
    route,
    headers: facts.scanned,
    requestId: facts.requestId,
    host: facts.host,
    path: facts.path,
    direction: facts.direction,
    source: sourceOf(ctx, facts.direction, facts.scanned),
    notes: facts.notes,
  });
}

/** A policy's rejection as the pipeline's refusal: the answer, its headers, and the route. */
function rejected(route: Route, verdict: NonNullable<Verdict>): Refusal {
  return { kind: 'refuse', ...verdict, route };
}

function afterPolicies(ctx: PipelineContext, route: Route, verdict: Verdict): Decision {
  if (verdict !== undefined) return rejected(route, verdict);
  const upstream = ctx.upstreams.pick(route);
  if (upstream === undefined) {
    return { kind: 'refuse', code: 'DETOUR_E_NO_ENDPOINT', detail: route.id, route };
  }
  return { kind: 'route', route, upstream };
}

/**
 * The CONNECT decision (proxy-env clients): sidecar mode only, a valid `host:port`.
 * Returns the parsed target, or the refusal.
 */
export function decideConnect(
  ctx: PipelineContext,
  authority: string,
): Refusal | { readonly kind: 'connect'; readonly name: string; readonly port: number } {
  if (ctx.mode === 'gateway') {
    return refuse('DETOUR_E_METHOD', 'CONNECT is not served in gateway mode');
  }
  const target = parseAuthority(authority, 0);
  if (target === undefined || target.port === 0) {
    return refuse('DETOUR_E_BAD_HOST', `CONNECT target ${JSON.stringify(clip(authority))}`);
  }
  return { kind: 'connect', name: target.name, port: target.port };
}

function refuse(code: ProxyAnswerCode, detail?: string, close?: boolean): Refusal {
  return { kind: 'refuse', code, detail, close };
}

/** Client text echoed in an answer or a log line is cut to a readable length. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
