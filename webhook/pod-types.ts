import type {
  V1Container,
  V1EnvVar,
  V1ObjectMeta,
  V1Pod,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Probe,
  V1Volume,
} from '@kubernetes/client-node';

/**
 * client-node's models are classes, but admission reviews and YAML give plain JSON. These
 * are the same shapes as plain object types, so the injector builds literals without
 * pretending they are class instances (and a client-node V1Pod is still assignable).
 */
export type Plain<T> = T extends Date
  ? T
  : T extends readonly (infer U)[]
    ? Plain<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: Plain<T[K]> }
      : T;

export type Pod = Plain<V1Pod>;
export type PodSpec = Plain<V1PodSpec>;
export type ObjectMeta = Plain<V1ObjectMeta>;
export type PodTemplate = Plain<V1PodTemplateSpec>;
export type Container = Plain<V1Container>;
export type EnvVar = Plain<V1EnvVar>;
export type Probe = Plain<V1Probe>;
export type Volume = Plain<V1Volume>;
