import { PORTS } from '../shared/labels.js';

/**
 * The conventional Prometheus scrape annotations, for the proxy's admin port: the
 * `kubernetes-pods` job of Prometheus's example configuration (and the Helm chart's)
 * keeps pods with `prometheus.io/scrape: "true"` and scrapes their `port` and `path`.
 * https://github.com/prometheus/prometheus/blob/main/documentation/examples/prometheus-kubernetes.yml
 */
export const SCRAPE_ANNOTATIONS: Readonly<Record<string, string>> = {
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': String(PORTS.admin),
  'prometheus.io/path': '/metrics',
};

/**
 * The scrape annotations to add to a pod: all three, or none when the pod carries any
 * of them itself (its own app's metrics; a mix of its keys and ours would scrape a
 * wrong port or path). Istio merges both into one endpoint; detour leaves the app's.
 */
export function scrapeAnnotations(
  existing: Readonly<Record<string, string>>,
): Record<string, string> {
  const own = Object.keys(SCRAPE_ANNOTATIONS).some((key) => existing[key] !== undefined);
  return own ? {} : { ...SCRAPE_ANNOTATIONS };
}
