import { BadAnnotationError, errorMessage } from '../shared/errors.js';
import type { AdmissionRequest, AdmissionResponse } from './admission-review.js';
import { isObject } from './admission-review.js';
import { decideInjection } from './injection-decision.js';
import { injectPod } from './inject-pod.js';
import type { InjectorConfig } from './injector-config.js';
import { createPatch } from './pod-patch.js';
import type { Pod } from './pod-types.js';
import { podShapeProblem } from './pod-shape.js';

export type AdmissionResult = 'injected' | 'skipped' | 'refused' | 'error';

export interface Admission {
  result: AdmissionResult;
  /** Why it was skipped, refused or failed; for logs. */
  reason?: string;
  response: AdmissionResponse;
}

/**
 * One admission, as a pipeline of named steps: is it a Pod being created → is it
 * shaped like one → decide
 * (pure predicates) → inject into a clone → diff into a JSON patch → response. Nothing
 * here does I/O, so the server, `detour inject` and the tests share it.
 */
export function admit(request: AdmissionRequest, config: InjectorConfig): Admission {
  const { uid } = request;
  const allow = (result: AdmissionResult, reason?: string): Admission => ({
    result,
    ...(reason === undefined ? {} : { reason }),
    response: { uid, allowed: true },
  });

  if (!isPodCreate(request)) return allow('skipped', 'not a pod creation');
  if (!isObject(request.object)) return allow('skipped', 'request has no object');
  const problem = podShapeProblem(request.object);
  if (problem !== undefined) return refuse(uid, `detour: cannot read the pod: ${problem}`);
  const pod = request.object as Pod;
  // Pods made by controllers have only generateName, and often no namespace of their
  // own: the request's namespace is the authoritative one.
  const namespace = request.namespace ?? pod.metadata?.namespace ?? 'default';

  try {
    const decision = decideInjection(pod, { name: namespace });
    if (!decision.inject) return allow('skipped', decision.reason);
    const injected = injectPod(pod, namespace, config);
    if ('refused' in injected) return refuse(uid, injected.refused);
    const patch = createPatch(pod, injected.pod);
    const warnings = injected.warnings.length > 0 ? { warnings: injected.warnings } : {};
    if (patch.length === 0) {
      return {
        result: 'skipped',
        reason: 'already injected',
        response: { uid, allowed: true, ...warnings },
      };
    }
    return {
      result: 'injected',
      response: {
        uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
        ...warnings,
      },
    };
  } catch (err) {
    if (err instanceof BadAnnotationError) return refuse(uid, err.message);
    // A bug, not bad input: refuse the pod rather than admit it half-configured; the
    // MWC's failurePolicy would do the same if we crashed.
    const message = `detour: internal error while injecting: ${errorMessage(err)}`;
    return {
      result: 'error',
      reason: message,
      response: { uid, allowed: false, status: { code: 500, message } },
    };
  }
}

function refuse(uid: string, message: string): Admission {
  return {
    result: 'refused',
    reason: message,
    response: { uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } },
  };
}

function isPodCreate(request: AdmissionRequest): boolean {
  const kind = request.kind;
  return (
    kind.kind === 'Pod' &&
    kind.group === '' &&
    request.operation === 'CREATE' &&
    (request.subResource === undefined || request.subResource === '')
  );
}
