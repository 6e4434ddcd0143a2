/**
 * Renders detour's kustomizations with the real `kubectl kustomize` (offline) and checks
 * rendered objects against the Kubernetes OpenAPI schemas that kubernetes-models
 * compiles (https://github.com/tommy351/kubernetes-models-ts).
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { hostGrantSchema } from '../../shared/host-grant.js';
import { API_POLICY_KIND, apiPolicySpecSchema } from '../../shared/api-policy.js';
import { REPO_ROOT } from './cli.js';

const exec = promisify(execFile);

/** What every rendered document has; the rest is checked by the kind's schema. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** Every kustomization a user can apply, relative to the repo root. */
export const KUSTOMIZATIONS = [
  'manifests',
  'manifests/base',
  'manifests/overlays/cert-manager',
  'manifests/overlays/gateway',
  'manifests/examples/seed',
  'manifests/examples/api-management',
] as const;

/** The control plane in all its variants (the examples are a user's apps, not detour). */
export const CONTROL_PLANE_KUSTOMIZATIONS = KUSTOMIZATIONS.filter((k) => !k.includes('examples'));

/**
 * kubectl ships kustomize (`kubectl kustomize`, v5 since kubectl 1.27). Tests that need
 * it skip, saying so, where the machine has no kubectl.
 */
export function hasKubectl(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
}

const rendered = new Map<string, Promise<K8sObject[]>>();

/** `kubectl kustomize DIR`, parsed; rendered once per test process (objects are frozen). */
export function render(kustomization: string): Promise<K8sObject[]> {
  let objects = rendered.get(kustomization);
  if (objects === undefined) {
    objects = renderNow(kustomization).then((list) => list.map((o) => deepFreeze(o)));
    rendered.set(kustomization, objects);
  }
  return objects;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

async function renderNow(kustomization: string): Promise<K8sObject[]> {
  const { stdout } = await exec('kubectl', ['kustomize', join(REPO_ROOT, kustomization)], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 60_000,
  });
  return parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as unknown)
    .filter((o): o is K8sObject => o !== null)
    .map((o) => {
      if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
        throw new Error(`${kustomization}: a document without apiVersion/kind`);
      }
      return o;
    });
}

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
};

/**
 * cert-manager publishes no TypeScript models, so its two kinds are checked against
 * the fields detour uses, from https://cert-manager.io/docs/reference/api-docs/.
 */
const CERT_MANAGER: Record<string, z.core.$ZodType> = {
  'cert-manager.io/v1/Issuer': z.strictObject({
    apiVersion: z.literal('cert-manager.io/v1'),
    kind: z.literal('Issuer'),
    metadata: z.object({ name: z.string(), namespace: z.string() }),
    spec: z.strictObject({ selfSigned: z.strictObject({}) }),
  }),
  'cert-manager.io/v1/Certificate': z.strictObject({
    apiVersion: z.literal('cert-manager.io/v1'),
    kind: z.literal('Certificate'),
    metadata: z.object({ name: z.string(), namespace: z.string() }),
    spec: z.strictObject({
      secretName: z.string(),
      dnsNames: z.array(z.string()).min(1),
      duration: z.string().regex(/^\d+h$/),
      renewBefore: z.string().regex(/^\d+h$/),
      privateKey: z
        .strictObject({
          algorithm: z.enum(['RSA', 'ECDSA', 'Ed25519']),
          size: z.number().int(),
          rotationPolicy: z.enum(['Never', 'Always']),
        })
        .partial(),
      usages: z.array(z.string()),
      issuerRef: z.strictObject({
        kind: z.enum(['Issuer', 'ClusterIssuer']),
        name: z.string(),
        group: z.string().optional(),
      }),
    }),
  }),
};

/**
 * detour's own kinds that examples ship (RouteTables are written by the controller):
 * the schema the compiler checks them with, which manifests-crd-hostgrant.test.ts holds
 * equal to the CRD.
 */
const DETOUR: Record<string, z.core.$ZodType> = {
  'detour.dev/v1alpha1/HostGrant': hostGrantSchema,
  // manifests-crd-apipolicy.test.ts holds this schema equal to the CRD's.
  'detour.dev/v1alpha1/ApiPolicy': z.object({
    apiVersion: z.literal('detour.dev/v1alpha1'),
    kind: z.literal(API_POLICY_KIND),
    metadata: z.object({ name: z.string().min(1), namespace: z.string().min(1) }),
    spec: apiPolicySpecSchema,
  }),
};

/** Throws, naming the object, unless it validates against the schema of its kind. */
export function validateObject(o: K8sObject): void {
  const key = `${o.apiVersion}/${o.kind}`;
  const where = `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const Model = MODELS[key];
  if (Model !== undefined) {
    try {
      new Model(o as never).validate();
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
    }
    return;
  }
  const schema = CERT_MANAGER[key] ?? DETOUR[key];
  if (schema === undefined) throw new Error(`${where}: no schema known for ${key}`);
  const result = z.safeParse(schema, o);
  if (!result.success) throw new Error(`${where}: ${result.error.message}`);
}

/** The object of a kind and name, or a thrown error naming what is missing. */
export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in the rendered objects`);
  return found;
}

export function ofKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * Kubernetes label-selector semantics (what the API server applies to a webhook's
 * namespaceSelector/objectSelector): all terms must hold; NotIn and DoesNotExist also
 * hold when the label is absent.
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements
 */
export function selects(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const value = labels[key];
    const holds =
      operator === 'In'
        ? value !== undefined && values.includes(value)
        : operator === 'NotIn'
          ? value === undefined || !values.includes(value)
          : operator === 'Exists'
            ? value !== undefined
            : operator === 'DoesNotExist'
              ? value === undefined
              : false;
    if (!holds) return false;
  }
  return true;
}
