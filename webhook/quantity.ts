/**
 * Kubernetes resource quantities (`100m`, `64Mi`, `1.5`, `2e3`), as the API server
 * parses them: a non-negative decimal number with one optional suffix — binary SI
 * (Ki..Ei), decimal SI (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3, E-2).
 * https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
 *
 * Negative quantities are valid API values but never valid resource requests, so this
 * parser refuses them up front rather than letting the API server reject the pod later.
 */
const QUANTITY = /^\+?(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const MULTIPLIERS: Record<string, number> = {
  '': 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** The quantity's value in base units (cores, bytes); throws with the reason. */
export function parseQuantity(value: string): number {
  const match = QUANTITY.exec(value);
  if (match === null) {
    throw new Error('expected a Kubernetes quantity such as 100m, 0.5, 64Mi or 1G');
  }
  const number = Number(match[1]);
  const suffix = match[2] ?? '';
  const multiplier = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : MULTIPLIERS[suffix];
  return number * (multiplier ?? 1);
}
