import { X509Certificate } from 'node:crypto';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { DetourError, errorMessage } from '../shared/errors.js';
import type { Plain } from './pod-types.js';

/**
 * Keeping the MutatingWebhookConfiguration's caBundle in step with a self-signed CA.
 *
 * Every replica makes its own CA at start, so a replica must not replace the others'
 * CAs (the API server would then fail TLS to them). The bundle is a set: our CA is
 * added, expired certificates dropped, and only the newest MAX_CAS kept, which covers
 * the replicas of a rolling update; restarts do not grow it without bound. The JSON
 * patch tests the value it read, so two replicas patching at once cannot lose a CA:
 * the loser's patch fails and it retries on the fresh object.
 */
export const MAX_CAS = 4;

export function mergeCaBundle(
  existingBase64: string | undefined,
  caPem: string,
  now = new Date(),
): string {
  const existing =
    existingBase64 === undefined ? '' : Buffer.from(existingBase64, 'base64').toString('utf8');
  const pems = [...splitPem(existing).filter((p) => normalise(p) !== normalise(caPem)), caPem];
  const valid = pems
    .map((pem) => ({ pem, cert: parse(pem) }))
    .filter((c) => c.cert !== undefined && new Date(c.cert.validTo) > now)
    .sort((a, b) => Date.parse(b.cert?.validFrom ?? '') - Date.parse(a.cert?.validFrom ?? ''))
    .slice(0, MAX_CAS)
    .map((c) => normalise(c.pem));
  // Our own CA always stays, whatever its validFrom says about clock skew.
  if (!valid.includes(normalise(caPem))) valid.splice(MAX_CAS - 1, Infinity, normalise(caPem));
  return Buffer.from(valid.join('')).toString('base64');
}

export interface PatchOperation {
  op: 'test' | 'add' | 'replace';
  path: string;
  value: unknown;
}

/** The guarded JSON patch setting every webhook entry's caBundle. */
export function caBundlePatch(
  mwc: Plain<V1MutatingWebhookConfiguration>,
  caPem: string,
  now = new Date(),
): PatchOperation[] {
  return (mwc.webhooks ?? []).flatMap((webhook, i): PatchOperation[] => {
    const path = `/webhooks/${i}/clientConfig/caBundle`;
    const current = webhook.clientConfig.caBundle;
    const merged = mergeCaBundle(current, caPem, now);
    if (current === merged) return [];
    return current === undefined || current === ''
      ? [
          { op: 'test', path: `/webhooks/${i}/name`, value: webhook.name },
          { op: 'add', path, value: merged },
        ]
      : [
          { op: 'test', path, value: current },
          { op: 'replace', path, value: merged },
        ];
  });
}

export interface PatchOutcome {
  webhooks: number;
  attempts: number;
}

/**
 * Reads the MWC and patches its caBundles; retries (bounded) when a concurrent writer
 * made the `test` operations fail. Throws DetourError DETOUR_E_KUBE when it gives up.
 */
export async function patchCaBundle(
  kubeConfig: KubeConfig,
  name: string,
  caPem: string,
  options: { attempts?: number; delayMs?: number } = {},
): Promise<PatchOutcome> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const attempts = options.attempts ?? 5;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    try {
      const mwc = await api.readMutatingWebhookConfiguration({ name });
      const body = caBundlePatch(mwc, caPem);
      if (body.length > 0) await api.patchMutatingWebhookConfiguration({ name, body });
      return { webhooks: mwc.webhooks?.length ?? 0, attempts: attempt };
    } catch (err) {
      lastError = err;
      if (attempt < attempts) {
        await new Promise((resolve) => setTimeout(resolve, (options.delayMs ?? 200) * attempt));
      }
    }
  }
  throw new DetourError(
    'DETOUR_E_KUBE',
    `cannot patch caBundle of MutatingWebhookConfiguration ${name}: ${errorMessage(lastError)}`,
    { name, attempts },
    { cause: lastError },
  );
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function normalise(pem: string): string {
  return `${pem.trim()}\n`;
}

function parse(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}
