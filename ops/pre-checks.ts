import { errorMessage } from '../shared/errors.js';
import { INJECTION_LABEL } from '../shared/labels.js';
import { fail, pass, type CheckLine } from './check-report.js';
import type { ClusterReader } from './cluster-reader.js';

const VERSION_GROUP = 'kubernetes-version';
const PERMISSION_GROUP = 'pre-install permissions';
const PSA_GROUP = 'pod security';

/** Native sidecars (`restartPolicy: Always` init containers) are on by default from 1.29. */
// https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
export const MIN_MINOR = 29;

export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
}

/** `minor` may carry a suffix (GKE and EKS answer "29+"). */
export function checkVersion(version: ServerVersion): CheckLine {
  const description = `Kubernetes is 1.${MIN_MINOR} or newer (native sidecars)`;
  const major = Number.parseInt(version.major, 10);
  const minor = Number.parseInt(version.minor, 10);
  if (major > 1 || (major === 1 && minor >= MIN_MINOR)) return pass(VERSION_GROUP, description);
  return fail(VERSION_GROUP, description, {
    detail: `the API server is ${version.gitVersion}`,
    hint: `upgrade the cluster to 1.${MIN_MINOR}+ (detour injects native sidecars)`,
  });
}

/** What `kubectl apply -k manifests/base` creates that needs cluster-wide rights. */
const INSTALL_RIGHTS = [
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
  { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' },
  { group: '', resource: 'namespaces' },
] as const;

/**
 * One SelfSubjectAccessReview per right: the API server answers for the caller's own
 * credentials, whatever authorizer it runs.
 * https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access
 */
export async function checkPermissions(reader: ClusterReader): Promise<CheckLine[]> {
  return Promise.all(
    INSTALL_RIGHTS.map(async ({ group, resource }) => {
      const description = `can create ${resource}`;
      try {
        const review = (await reader.post(
          '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
          {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { verb: 'create', group, resource } },
          },
        )) as { status?: { allowed?: boolean; reason?: string } };
        if (review.status?.allowed === true) return pass(PERMISSION_GROUP, description);
        return fail(PERMISSION_GROUP, description, {
          detail: `not allowed${review.status?.reason ? `: ${review.status.reason}` : ''}`,
          hint: 'install detour as a cluster administrator (cluster-admin)',
          culprit: group === '' ? resource : `${resource}.${group}`,
        });
      } catch (err) {
        return fail(PERMISSION_GROUP, description, {
          detail: errorMessage(err),
          hint: 'SelfSubjectAccessReview must be allowed (it is for every authenticated user)',
        });
      }
    }),
  );
}

const PSA_ENFORCE = 'pod-security.kubernetes.io/enforce';
/** Both levels forbid adding NET_ADMIN, which detour-init needs for iptables. */
// https://kubernetes.io/docs/concepts/security/pod-security-standards/
const FORBIDS_NET_ADMIN = new Set(['baseline', 'restricted']);

export async function checkPodSecurity(reader: ClusterReader): Promise<CheckLine[]> {
  const description = 'labelled namespaces allow the init container NET_ADMIN';
  const namespaces = await reader.list('/api/v1/namespaces', {
    labelSelector: `${INJECTION_LABEL}=enabled`,
  });
  const refused = namespaces.filter((ns) =>
    FORBIDS_NET_ADMIN.has(ns.metadata.labels?.[PSA_ENFORCE] ?? ''),
  );
  if (refused.length === 0) return [pass(PSA_GROUP, description)];
  return refused.map((ns) =>
    fail(PSA_GROUP, description, {
      detail: `${PSA_ENFORCE}=${ns.metadata.labels?.[PSA_ENFORCE] ?? ''} forbids NET_ADMIN: injected pods would be refused`,
      hint: 'annotate the pods detour.dev/capture: proxy-env (no init container), or enforce privileged',
      culprit: ns.metadata.name,
    }),
  );
}
