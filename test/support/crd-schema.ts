import { Ajv } from 'ajv';

/**
 * Checking objects against a CRD's openAPIV3Schema offline (no API server): ajv with
 * Kubernetes' schema extensions known, and a "closed" variant that refuses unknown
 * fields where the API server would silently prune them.
 */
/** A JSON Schema node as CRDs write them (OpenAPI v3 subset + x-kubernetes-*). */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  required?: string[];
  additionalProperties?: boolean | SchemaNode;
  [keyword: string]: unknown;
}

// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#format
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function makeAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true });
  // Kubernetes' own schema extensions: structural metadata, not validation.
  for (const keyword of [
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-validations',
  ]) {
    ajv.addKeyword({ keyword });
  }
  ajv.addFormat('date-time', RFC3339);
  // metav1.Condition's observedGeneration; the `minimum` beside it does the checking.
  ajv.addFormat('int64', true);
  return ajv;
}

/**
 * A copy of the schema in which every object refuses unknown fields. The API server
 * prunes unknown fields silently (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning),
 * so a TypeScript field missing from the schema would vanish on the wire: this makes
 * such a mismatch a test failure instead.
 */
export function closed(node: SchemaNode, path = ''): SchemaNode {
  const copy: SchemaNode = { ...node };
  if (node.properties !== undefined && path !== '.metadata') {
    copy.properties = Object.fromEntries(
      Object.entries(node.properties).map(([k, v]) => [k, closed(v, `${path}.${k}`)]),
    );
    copy.additionalProperties = false;
  }
  if (node.items !== undefined) copy.items = closed(node.items, `${path}[]`);
  return copy;
}
