import type { ApiPolicyOutcome } from '../shared/compile/api-policies.js';
import type { Logger } from '../shared/logger.js';

/** At most this many new lines per reconcile (all are in the policies' status). */
const MAX_LINES = 20;

/**
 * Logs each invalid ApiPolicy and each route a policy lost, once, when it appears: the
 * controller that does not write a policy's status (the other plane's, see
 * ApiPolicyOutcome.reportedBy) has only its log to say what it compiled, and a steady
 * state should not repeat itself on every reconcile.
 */
export class ApiPolicyLog {
  #seen = new Set<string>();

  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  report(outcomes: readonly ApiPolicyOutcome[]): void {
    const seen = new Set<string>();
    let logged = 0;
    const once = (key: string, log: () => void): void => {
      seen.add(key);
      if (!this.#seen.has(key) && logged++ < MAX_LINES) log();
    };
    for (const o of outcomes) {
      const apiPolicy = `${o.namespace}/${o.name}`;
      if (o.problem !== undefined) {
        const problem = o.problem;
        once(`invalid ${apiPolicy} ${problem}`, () => {
          this.#logger.warn({ apiPolicy, problem }, 'ApiPolicy invalid; skipped');
        });
      }
      for (const loss of o.lost) {
        once(`lost ${apiPolicy} ${JSON.stringify(loss)}`, () => {
          this.#logger.warn(
            { apiPolicy, ...loss },
            'ApiPolicy overridden on a route: a more specific policy wins',
          );
        });
      }
    }
    this.#seen = seen;
  }
}
