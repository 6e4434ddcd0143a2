import { hostKey, type Route, type RouteTable } from './route-table.js';
import { describeForwardAuth } from './policies/forward-auth.js';
import { describeRateLimit } from './policies/rate-limit.js';
import { describeHeaderRules } from './header-rules.js';
import { normalisePath, segmentPrefixes } from '../shared/path-prefix.js';
import type { EnforcedAt } from '../shared/route-table-resource.js';

/**
 * `detour routes --explain URL` and admin `GET /routes/explain?url=`: which route,
 * endpoints and policies a request to URL would meet, and why, decided by the same
 * `RouteTable.match` the proxy calls (so the answer cannot drift from the behaviour).
 */
export interface ExplainOptions {
  mode: 'sidecar' | 'gateway';
  /** Lower-case header name (PlaneConfig.apiKeyHeader). */
  apiKeyHeader: string;
  /** Bytes; 0 = no limit. */
  clientMaxBodySize: number;
}

export type Outcome =
  /** Matched a route with endpoints: forwarded (after the policies). */
  | 'route'
  /** Matched a route without a ready endpoint: 503. */
  | 'no-endpoint'
  /** Known host, no route for the path: 404. */
  | 'unknown-path'
  /** Unknown host: forwarded to the original destination (sidecar) or 404 (gateway). */
  | 'passthrough'
  | 'unknown-host'
  /** The URL could not be read. */
  | 'invalid-url';

export interface Explanation {
  url: string;
  mode: 'sidecar' | 'gateway';
  host: string;
  path: string;
  outcome: Outcome;
  /** The status the proxy itself answers, when it answers instead of forwarding. */
  status?: number;
  route?: {
    id: string;
    host: string;
    path: string;
    namespace: string;
    claimedAt: string;
    /** Who checks the policies (the caller's sidecar or the destination's). */
    enforcedAt: EnforcedAt;
    endpoints: { key: string; pod: string }[];
  };
  policies?: {
    apiKey: { required: boolean; header: string };
    clientMaxBodySize: number;
    /** The ApiPolicy on the route and its steps, in the order they run. */
    apiPolicy?: { name: string; steps: { step: string; does: string }[] };
  };
  /** Why, step by step, for people. */
  reasons: string[];
  tableVersion: number;
}

export function explain(table: RouteTable, url: string, options: ExplainOptions): Explanation {
  const base = { url, mode: options.mode, tableVersion: table.version };
  const target = readUrl(url);
  if (target === undefined) {
    return {
      ...base,
      host: '',
      path: '',
      outcome: 'invalid-url',
      reasons: [`cannot read ${JSON.stringify(url)} as a URL; pass e.g. http://host/path`],
    };
  }
  const host = hostKey(target.host);
  const path = target.path;
  const reasons: string[] = [];
  const result = table.match(target.host, path);

  if (result.kind === 'unknown-host') {
    reasons.push(`host ${host} is not in the route table (${table.hosts().length} hosts)`);
    reasons.push(...skippedNotes(table, host));
    if (options.mode === 'sidecar') {
      reasons.push(
        'sidecar mode: the request goes to the address the application asked for, untouched (as without detour)',
      );
      return { ...base, host, path, outcome: 'passthrough', reasons };
    }
    reasons.push('gateway mode: unknown hosts are answered 404');
    return { ...base, host, path, outcome: 'unknown-host', status: 404, reasons };
  }

  const candidates = table.routesForHost(host).map((r) => r.path);
  reasons.push(`host ${host} is known, with paths ${candidates.join(' ')}`);
  if (result.kind === 'unknown-path') {
    reasons.push(
      `no path of this host is a segment-wise prefix of ${normalisePath(path)}: 404 (a prefix matches whole segments: /a matches /a and /a/b, not /ab)`,
    );
    reasons.push(...skippedNotes(table, host));
    return { ...base, host, path, outcome: 'unknown-path', status: 404, reasons };
  }

  const route = result.route;
  const normalised = normalisePath(path);
  const tried: string[] = [];
  for (const prefix of segmentPrefixes(normalised)) {
    tried.push(prefix);
    if (prefix === route.path) break;
  }
  reasons.push(
    `path ${normalised} matches route ${route.path}, the longest whole-segment prefix with a route (tried ${tried.join(', ')})`,
  );
  reasons.push(
    `route ${route.id} belongs to namespace ${route.namespace} (claimed ${route.claimedAt})`,
  );
  for (const c of table.conflicts) {
    if (c.host === route.host && c.path === route.path) {
      reasons.push(
        `namespace ${c.loser} also claims ${route.id}; the older claim of ${c.winner} wins`,
      );
    }
  }
  const apiPolicy = apiPolicySteps(route);
  const policies = {
    apiKey: { required: route.apiKeyRequired, header: options.apiKeyHeader },
    clientMaxBodySize: options.clientMaxBodySize,
    ...(apiPolicy === undefined ? {} : { apiPolicy }),
  };
  if (options.mode === 'sidecar' && route.enforcedAt === 'destination') {
    reasons.push(
      `enforced at the destination: every endpoint's own sidecar checks this route, so this sidecar forwards the ${options.apiKeyHeader} header and runs none of the checks below`,
    );
  }
  reasons.push(
    policies.apiKey.required
      ? `API key required: header ${options.apiKeyHeader} must hold namespace ${route.namespace}'s key (plain or base64), else 403; the header is removed before forwarding`
      : `no API key required (namespace ${route.namespace} has no API-key Secret)`,
  );
  reasons.push(
    options.clientMaxBodySize === 0
      ? 'no request body size limit (CLIENT_MAX_BODY_SIZE=0)'
      : `request bodies over ${options.clientMaxBodySize} bytes are refused with 413 (CLIENT_MAX_BODY_SIZE)`,
  );
  if (apiPolicy === undefined) reasons.push('no ApiPolicy applies to this route');
  else {
    reasons.push(`ApiPolicy ${apiPolicy.name} applies; its steps, in order:`);
    for (const s of apiPolicy.steps) reasons.push(`  ${s.step}: ${s.does}`);
  }
  const summary = {
    id: route.id,
    host: route.host,
    path: route.path,
    namespace: route.namespace,
    claimedAt: route.claimedAt,
    enforcedAt: route.enforcedAt,
    endpoints: route.endpoints.map((e) => ({ key: e.key, pod: e.pod })),
  };
  if (route.endpoints.length === 0) {
    reasons.push('the route has no ready endpoint: 503');
    return {
      ...base,
      host,
      path,
      outcome: 'no-endpoint',
      status: 503,
      route: summary,
      policies,
      reasons,
    };
  }
  reasons.push(
    `forwarded to one of ${route.endpoints.length} endpoint(s), round robin, skipping ejected ones: ${route.endpoints.map((e) => `${e.key} (${e.pod})`).join(', ')}; path and Host unchanged`,
  );
  return { ...base, host, path, outcome: 'route', route: summary, policies, reasons };
}

/** The route's ApiPolicy steps in the order a request meets them. */
function apiPolicySteps(
  route: Route,
): { name: string; steps: { step: string; does: string }[] } | undefined {
  const policy = route.policy;
  if (policy === undefined) return undefined;
  const steps: { step: string; does: string }[] = [];
  const add = (step: string, does: string | undefined): void => {
    if (does !== undefined) steps.push({ step, does });
  };
  add('forward-auth', describeForwardAuth(route));
  add('rate-limit', describeRateLimit(route));
  add('request-headers', describeHeaderRules(policy.requestHeaders));
  add('response-headers', describeHeaderRules(policy.responseHeaders));
  return { name: policy.name, steps };
}

/** Accepts `http://host/path`, `https://...`, or `host/path` without a scheme. */
function readUrl(url: string): { host: string; path: string } | undefined {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  try {
    const parsed = new URL(text);
    if (parsed.host === '') return undefined;
    return { host: parsed.host, path: parsed.pathname + parsed.search };
  } catch {
    return undefined;
  }
}

/** Skipped entries that mention the host: the usual answer to "why is my host unknown". */
function skippedNotes(table: RouteTable, host: string): string[] {
  return table.skipped
    .filter((s) => s.value.toLowerCase().includes(host))
    .map(
      (s) =>
        `note: pod ${s.namespace}/${s.pod} announced ${JSON.stringify(s.value)} in ${s.annotation}, skipped: ${s.reason}`,
    );
}

/** The explanation for people, as `detour routes --explain` prints it. */
export function formatExplanation(e: Explanation): string {
  const verdicts: Record<Outcome, string> = {
    route: `-> ${e.route?.id ?? ''} in namespace ${e.route?.namespace ?? ''}`,
    'no-endpoint': `-> ${e.route?.id ?? ''}: 503, no ready endpoint`,
    'unknown-path': '-> 404: known host, no route for this path',
    passthrough: '-> not routed: passed through to the original destination',
    'unknown-host': '-> 404: unknown host',
    'invalid-url': '-> invalid URL',
  };
  const lines = [`${e.url} (${e.mode} mode, table v${e.tableVersion})`, `  ${verdicts[e.outcome]}`];
  for (const reason of e.reasons) lines.push(`  - ${reason}`);
  return lines.join('\n') + '\n';
}
