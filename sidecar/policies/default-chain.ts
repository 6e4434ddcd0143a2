import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import type { ProxyMetrics } from '../proxy-metrics.js';
import { ApiKeyPolicy } from './api-key.js';
import { BodySizePolicy } from './body-size.js';
import { ForwardAuthPolicy } from './forward-auth.js';
import { RateLimitPolicy } from './rate-limit.js';
import type { Policy } from './policy.js';

/**
 * The checks a request meets, in order (DESIGN.md, "ApiPolicy"): the API key, the body
 * size (cheap, and before any call-out), then the route's ApiPolicy steps: forwardAuth,
 * rateLimit. Request header rules are applied when the request is forwarded, response
 * header rules when the answer comes back (proxy-server.ts, forward.ts).
 *
 * The one place the chain is built: a new policy is one module in this folder and one
 * line here (docs/architecture.md, "Where does X go").
 */
export function defaultPolicies(options: {
  clientMaxBodySize: number;
  metrics: ProxyMetrics;
  logger: Logger;
}): Policy[] {
  const { metrics, logger } = options;
  return [
    new ApiKeyPolicy(),
    new BodySizePolicy(options.clientMaxBodySize),
    new ForwardAuthPolicy({
      onResult: (result, seconds) => {
        metrics.authRequests.inc({ result });
        metrics.authDuration.observe({ result }, seconds);
      },
      onError: (url, err) => {
        logger.warn(
          { code: 'DETOUR_E_AUTH_UNAVAILABLE', url, err: errorMessage(err) },
          'auth service failed',
        );
      },
    }),
    new RateLimitPolicy({
      onLimited: (policy) => {
        metrics.rateLimited.inc({ policy });
      },
    }),
  ];
}
