/**
 * The key of a Kubernetes object in a cache: `namespace/name` (names repeat across
 * namespaces). A cluster-scoped object has no namespace and keys as `/name`; code that
 * reads hand-written namespaced objects passes `defaultNamespace` (`default`, as kubectl
 * applies an object that names none).
 */
export function objectKey(
  object: { metadata?: { name?: string; namespace?: string } },
  defaultNamespace = '',
): string {
  const namespace = object.metadata?.namespace;
  const ns = namespace === undefined || namespace === '' ? defaultNamespace : namespace;
  return `${ns}/${object.metadata?.name ?? ''}`;
}
