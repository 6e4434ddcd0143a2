import type { IncomingMessage } from 'node:http';
import type { ScannedRequest } from '../hop-headers.js';
import type { ProxyAnswerCode } from '../error-response.js';
import type { Route } from '../route-table.js';

/**
 * A check a request must pass before it is forwarded. Each policy is one module under
 * sidecar/policies/; the pipeline runs them in order and the first rejection answers.
 * A rate limiter or an external API-management call-out is one more module: return a
 * Promise from `check` and the pipeline awaits it (synchronous checks stay on the fast
 * path without an extra tick).
 */
export interface PolicyRequest {
  readonly req: IncomingMessage;
  readonly route: Route;
  readonly headers: ScannedRequest;
  readonly requestId: string;
}

export interface Rejection {
  readonly code: ProxyAnswerCode;
  readonly detail?: string;
  /** Close the client connection after answering (the body was not read). */
  readonly close?: boolean;
}

export type Verdict = Rejection | undefined;

export interface Policy {
  readonly name: string;
  check(request: PolicyRequest): Verdict | Promise<Verdict>;
}

export class PolicyPipeline {
  readonly #policies: readonly Policy[];

  constructor(policies: readonly Policy[]) {
    this.#policies = policies;
  }

  get names(): string[] {
    return this.#policies.map((p) => p.name);
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
