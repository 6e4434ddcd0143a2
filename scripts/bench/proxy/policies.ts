/**
 * ApiPolicies inline on the bench route, as the controller compiles them (issue 11's
 * rows). The auth service is the upstream nginx's `/auth` location (204), so its own
 * cost stays out of detour's CPU figure; the rate limit is high enough never to refuse,
 * so every request pays for its bucket.
 */
export function benchPolicies(upstream: number): Record<string, object> {
  const forwardAuth = (cacheSeconds: number): object => ({
    name: 'bench/auth',
    forwardAuth: {
      url: `http://127.0.0.1:${upstream}/auth`,
      timeoutMs: 500,
      failureMode: 'closed',
      responseHeaders: ['x-consumer-id'],
      cacheSeconds,
    },
  });
  return {
    'detour + forwardAuth (cached)': forwardAuth(60),
    'detour + forwardAuth (uncached)': forwardAuth(0),
    'detour + rateLimit': {
      name: 'bench/limit',
      rateLimit: { requests: 1_000_000_000, windowSeconds: 1, key: 'header:x-consumer-id' },
    },
  };
}
