import { errorMessage } from '../shared/errors.js';
import type { AdmissionRequest, AdmissionResponse } from './admission-review.js';
import { injectionOutcome } from './injection-outcome.js';
import type { InjectorConfig } from './injector-config.js';
import { createPatch } from './pod-patch.js';

export type AdmissionResult = 'injected' | 'skipped' | 'refused' | 'error';

export interface Admission {
  result: AdmissionResult;
  /** Why it was skipped, refused or failed; for logs. */
  reason?: string;
  response: AdmissionResponse;
}

/**
 * One admission, as a pipeline of named steps: is it a Pod being created → the shared
 * injection steps (shape, decision, injection; injection-outcome.ts) → diff into a JSON
 * patch → response. Nothing here does I/O, so the server, `detour inject` and the tests
 * share it.
 */
export function admit(request: AdmissionRequest, config: InjectorConfig): Admission {
  const { uid } = request;
  if (!isPodCreate(request)) {
    return { result: 'skipped', reason: 'not a pod creation', response: { uid, allowed: true } };
  }
  // Pods made by controllers have only generateName, and often no namespace of their
  // own: the request's namespace is the authoritative one.
  const namespace =
    typeof request.namespace === 'string' && request.namespace !== ''
      ? request.namespace
      : undefined;

  try {
    const outcome = injectionOutcome(request.object, {
      config,
      defaultNamespace: 'default',
      ...(namespace === undefined ? {} : { namespace }),
    });
    const warnings = outcome.warnings.length > 0 ? { warnings: outcome.warnings } : {};
    switch (outcome.result) {
      case 'refused':
        return refuse(uid, outcome.error.message, warnings);
      case 'skipped':
      case 'unchanged':
        return {
          result: 'skipped',
          reason: outcome.reason,
          response: { uid, allowed: true, ...warnings },
        };
      case 'injected':
        return {
          result: 'injected',
          response: {
            uid,
            allowed: true,
            patchType: 'JSONPatch',
            // Against the pod as read (nulls as absent): an `add` replaces a null the
            // API server would have dropped, and nulls we do not touch stay as sent.
            patch: Buffer.from(JSON.stringify(createPatch(outcome.pod, outcome.injected))).toString(
              'base64',
            ),
            ...warnings,
          },
        };
    }
  } catch (err) {
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

function refuse(uid: string, message: string, extra: { warnings?: string[] }): Admission {
  return {
    result: 'refused',
    reason: message,
    response: {
      uid,
      allowed: false,
      status: { code: 400, reason: 'BadRequest', message },
      ...extra,
    },
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
