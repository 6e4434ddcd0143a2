import { isDeepStrictEqual } from 'node:util';
import {
  annotationsError,
  BadAnnotationError,
  BadAnnotationsError,
  BadInputError,
  type DetourError,
} from '../shared/errors.js';
import { decideInjection } from './injection-decision.js';
import { readInjectionSettings } from './injection-settings.js';
import { injectPod } from './inject-pod.js';
import type { InjectorConfig } from './injector-config.js';
import type { Pod } from './pod-types.js';
import type { FieldPath } from './field-path.js';
import { readPodShape } from './pod-shape.js';
import { unknownDetourKeys } from './unknown-detour-keys.js';

/**
 * What injection makes of one pod (or pod template): the steps the webhook and
 * `detour inject` share, so both give the same answer and the same message for the
 * same input. Read the shape → warn about unknown `detour.dev/` keys → decide → inject.
 * `pod` is what the injector read (nulls as absent); callers diff `injected` against it.
 */
export type Outcome =
  | { result: 'injected'; pod: Pod; injected: Pod; warnings: string[] }
  | { result: 'skipped' | 'unchanged'; reason: string; warnings: string[] }
  | { result: 'refused'; error: DetourError; warnings: string[] };

export interface OutcomeOptions {
  config: InjectorConfig;
  /** The namespace the pod is created in, when the caller knows it (the review's). */
  namespace?: string;
  /** Used when neither `namespace` nor the pod's metadata names one. */
  defaultNamespace: string;
  /** Where the pod sits in the object the user wrote (`spec.template`), for messages. */
  path?: FieldPath;
  /** What to call it in messages: `pod` or `pod template`. */
  what?: string;
}

export function injectionOutcome(object: unknown, options: OutcomeOptions): Outcome {
  const shape = readPodShape(object, options.path);
  if ('problems' in shape) {
    const message = `cannot read the ${options.what ?? 'pod'}: ${shape.problems.join('; ')}`;
    const error = new BadInputError(message, { problems: shape.problems });
    return { result: 'refused', error, warnings: [] };
  }
  const { pod } = shape;
  const warnings = unknownDetourKeys(pod.metadata);
  const namespace = options.namespace ?? pod.metadata?.namespace ?? options.defaultNamespace;

  let decision;
  try {
    decision = decideInjection(pod, { name: namespace });
  } catch (err) {
    if (!(err instanceof BadAnnotationError)) throw err;
    // Whether to inject at all is unknown, but the other annotations can still be
    // checked, so that one round of fixes is enough.
    const all = annotationsError([err, ...settingsErrors(pod, options.config)]) ?? err;
    return { result: 'refused', error: all, warnings };
  }
  if (!decision.inject) return { result: 'skipped', reason: decision.reason, warnings };

  const injected = injectPod(pod, namespace, options.config);
  if ('refused' in injected) return { result: 'refused', error: injected.error, warnings };
  warnings.push(...injected.warnings);
  if (isDeepStrictEqual(injected.pod, pod)) {
    return { result: 'unchanged', reason: 'already injected', warnings };
  }
  return { result: 'injected', pod, injected: injected.pod, warnings };
}

function settingsErrors(pod: Pod, config: InjectorConfig): BadAnnotationError[] {
  try {
    readInjectionSettings(pod.metadata?.annotations ?? {}, {
      resources: config.proxyResources,
      proxyUid: config.proxyUid,
    });
    return [];
  } catch (err) {
    if (err instanceof BadAnnotationsError) return [...err.errors];
    if (err instanceof BadAnnotationError) return [err];
    throw err;
  }
}
