import type { Pod } from './pod-types.js';
import { BadAnnotationError } from '../shared/errors.js';
import {
  DETOUR_NAMESPACE,
  INJECTION_LABEL,
  INJECT_KEY,
  SYSTEM_NAMESPACES,
} from '../shared/labels.js';

/**
 * What the injector knows about the pod's namespace. `labels` is undefined when the
 * caller cannot see them: the admission webhook is only called for pods the
 * MutatingWebhookConfiguration's namespaceSelector/objectSelector already chose, so
 * there the namespace counts as enabled (Istio's injector reasons the same way).
 */
export interface NamespaceInfo {
  name: string;
  labels?: Readonly<Record<string, string>>;
}

export type Decision = { inject: true } | { inject: false; reason: string };

/**
 * Pure predicates, first match wins: hostNetwork and system namespaces are never
 * injected (iptables rules there would capture the node's traffic, or the control
 * plane's); then the pod's own `detour.dev/inject` label, then its annotation; then the
 * namespace label. Throws BadAnnotationError for an opt-in value that is neither
 * "true" nor "false", so a typo does not silently mean "no".
 */
export function decideInjection(pod: Pod, namespace: NamespaceInfo): Decision {
  if (pod.spec?.hostNetwork === true) {
    return { inject: false, reason: 'pod uses hostNetwork' };
  }
  if (isSystemNamespace(namespace.name)) {
    return { inject: false, reason: `namespace ${namespace.name} is never injected` };
  }
  const podChoice =
    optIn(pod.metadata?.labels, `label ${INJECT_KEY}`) ??
    optIn(pod.metadata?.annotations, INJECT_KEY);
  if (podChoice !== undefined) {
    return podChoice
      ? { inject: true }
      : { inject: false, reason: `pod sets ${INJECT_KEY}: "false"` };
  }
  if (namespace.labels === undefined || namespace.labels[INJECTION_LABEL] === 'enabled') {
    return { inject: true };
  }
  return {
    inject: false,
    reason: `namespace ${namespace.name} is not labelled ${INJECTION_LABEL}=enabled`,
  };
}

export function isSystemNamespace(name: string): boolean {
  return SYSTEM_NAMESPACES.includes(name) || name === DETOUR_NAMESPACE;
}

function optIn(
  map: Readonly<Record<string, string>> | undefined,
  what: string,
): boolean | undefined {
  const value = map?.[INJECT_KEY];
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new BadAnnotationError(what, value, 'expected "true" or "false"');
}
