import type { AdmissionRequest } from '../../webhook/admission-review.js';
import type { Operation } from '../../webhook/pod-patch.js';

let counter = 0;

/** An AdmissionRequest for creating `pod`, as the API server sends it. */
export function podCreateRequest(
  pod: unknown,
  options: { namespace?: string; dryRun?: boolean; uid?: string } = {},
): AdmissionRequest {
  counter += 1;
  const meta = (pod as { metadata?: { namespace?: string; name?: string } }).metadata;
  return {
    uid: options.uid ?? `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    ...(meta?.name === undefined ? {} : { name: meta.name }),
    namespace: options.namespace ?? meta?.namespace ?? 'default',
    operation: 'CREATE',
    object: pod,
    dryRun: options.dryRun ?? false,
  };
}

export function decodePatch(patch: string | undefined): Operation[] {
  if (patch === undefined) return [];
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[];
}
