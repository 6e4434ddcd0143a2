import type { ScannedRequest } from '../hop-headers.js';
import type { ProxyAnswerCode } from '../error-response.js';
import type { Route } from '../route-table.js';
import type { Direction } from '../traffic.js';

/**
 * A check a request must pass before it is forwarded. Each policy is one module under
 * sidecar/policies/; the pipeline runs them in order and the first rejection answers.
 * A rate limiter or an external API-management call-out is one more module: return a
 * Promise from `check` and the pipeline awaits it (synchronous checks stay on the fast
 * path without an extra tick).
 */
/**
 * What the policies read of the client's request itself: an HTTP/1 IncomingMessage and an
 * HTTP/2 stream (sidecar/h2/) both satisfy it, so both go through one pipeline.
 */
export interface RequestPeer {
  readonly method?: string | undefined;
  readonly socket: { readonly remoteAddress?: string | undefined };
}

export interface PolicyRequest {
  readonly req: RequestPeer;
  readonly route: Route;
  /** The scanned headers; `forward` is what goes upstream (a policy may add to it). */
  readonly headers: ScannedRequest;
  readonly requestId: string;
  /** The authority asked for (Host or absolute-form), and the path with its query. */
  readonly host: string;
  readonly path: string;
  readonly direction: Direction;
  /**
   * Who calls, as the caller's sidecar asserts it (outbound: this pod; inbound: the
   * `x-detour-source-*` headers): unauthenticated until mTLS.
   */
  readonly source: { readonly namespace: string; readonly pod: string } | undefined;
  /** What policies decided, for the access log and metrics. */
  readonly notes: PolicyNotes;
}

/** Access-log facts the policies leave on the request. */
export interface PolicyNotes {
  /** The ApiPolicy that applied (`namespace/name`). */
  policy: string | undefined;
  /** forwardAuth: allowed, denied, cached, unavailable (answered 503) or open (let through). */
  auth: string | undefined;
  authMs: number | undefined;
  rateLimited: boolean | undefined;
}

/** An answer a policy gives in place of the upstream's (an auth service's refusal). */
export interface PolicyAnswer {
  readonly status: number;
  /** Flat `[name, value, ...]`, hop-by-hop headers already removed. */
  readonly headers: readonly string[];
  readonly body: Buffer;
}

export interface Rejection {
  readonly code: ProxyAnswerCode;
  readonly detail?: string | undefined;
  /** Close the client connection after answering (the body was not read). */
  readonly close?: boolean | undefined;
  /** Extra headers on the proxy's answer (`Retry-After`, `RateLimit`). */
  readonly headers?: readonly string[] | undefined;
  /** Relay this answer as it is instead of the proxy's own (forwardAuth's refusal). */
  readonly answer?: PolicyAnswer | undefined;
}

export type Verdict = Rejection | undefined;

export interface Policy {
  readonly name: string;
  check(request: PolicyRequest): Verdict | Promise<Verdict>;
  /** What this policy would do for `route`, for `detour routes --explain`; undefined: nothing. */
  describe?(route: Route): string | undefined;
  /** Releases what the policy holds (connection pools) when the proxy stops. */
  close?(): Promise<void>;
}

export class PolicyPipeline {
  readonly #policies: readonly Policy[];

  constructor(policies: readonly Policy[]) {
    this.#policies = policies;
  }

  get names(): string[] {
    return this.#policies.map((p) => p.name);
  }

  /** The steps that would run for `route`, in order, each described by its policy. */
  describe(route: Route): { step: string; does: string }[] {
    const steps: { step: string; does: string }[] = [];
    for (const policy of this.#policies) {
      const does = policy.describe?.(route);
      if (does !== undefined) steps.push({ step: policy.name, does });
    }
    return steps;
  }

  async close(): Promise<void> {
    for (const policy of this.#policies) if (policy.close !== undefined) await policy.close();
  }

  /** The first rejection, synchronously when every check so far was synchronous. */
  run(request: PolicyRequest): Verdict | Promise<Verdict> {
    const policies = this.#policies;
    for (let i = 0; i < policies.length; i++) {
      const verdict = (policies[i] as Policy).check(request);
      if (verdict instanceof Promise) return this.#finishAsync(request, verdict, i + 1);
      if (verdict !== undefined) return verdict;
    }
    return undefined;
  }

  async #finishAsync(
    request: PolicyRequest,
    pending: Promise<Verdict>,
    next: number,
  ): Promise<Verdict> {
    const first = await pending;
    if (first !== undefined) return first;
    const policies = this.#policies;
    for (let i = next; i < policies.length; i++) {
      const verdict = await (policies[i] as Policy).check(request);
      if (verdict !== undefined) return verdict;
    }
    return undefined;
  }
}
