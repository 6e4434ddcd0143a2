import { Counter, Histogram, type Registry } from 'prom-client';
import type { AdmissionResult } from './admit.js';

export interface WebhookMetrics {
  observe(result: AdmissionResult, seconds: number): void;
}

/** `detour_webhook_admissions_total{result}` and the latency histogram, by result. */
export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const admissions = new Counter({
    name: 'detour_webhook_admissions_total',
    help: 'AdmissionReviews answered, by result (injected, skipped, refused, error)',
    labelNames: ['result'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'detour_webhook_admission_duration_seconds',
    help: 'Time from request to response of an AdmissionReview, by result',
    labelNames: ['result'],
    // The API server's default webhook timeout is 10 s; injection itself takes ~1 ms.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  for (const result of ['injected', 'skipped', 'refused', 'error'] as const) {
    admissions.inc({ result }, 0);
    duration.zero({ result });
  }
  return {
    observe(result, seconds) {
      admissions.inc({ result });
      duration.observe({ result }, seconds);
    },
  };
}
