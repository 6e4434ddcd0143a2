import { BadKnobError } from '../shared/errors.js';
import type { Env } from '../shared/plane-config.js';
import { PROXY_UID } from '../shared/labels.js';
import { atLeastMinimumLimit, PROXY_MEMORY_REQUEST } from './proxy-memory.js';
import { parseQuantity } from './quantity.js';

/**
 * What the injector needs to know beyond the pod: the image that serves every role and
 * the proxy's default resources and identity. Cluster operators set these on
 * `detour webhook` (env or flags); pods tune resources per pod by annotation.
 */
export interface InjectorConfig {
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  proxyUid: number;
  /** Defaults for the proxy container; absent keys are omitted from the pod. */
  proxyResources: ProxyResources;
}

export interface ProxyResources {
  cpu?: string;
  memory?: string;
  cpuLimit?: string;
  memoryLimit?: string;
}

export const DEFAULT_PROXY_IMAGE = 'ghcr.io/detour-dev/detour:0.1.0';

export function defaultInjectorConfig(): InjectorConfig {
  return {
    image: DEFAULT_PROXY_IMAGE,
    proxyUid: PROXY_UID,
    proxyResources: { cpu: '50m', memory: PROXY_MEMORY_REQUEST },
  };
}

/** The env knobs of `detour webhook` / `detour inject` (flags override them). */
export const INJECTOR_KNOBS = {
  image: 'DETOUR_PROXY_IMAGE',
  imagePullPolicy: 'DETOUR_PROXY_IMAGE_PULL_POLICY',
  proxyUid: 'DETOUR_PROXY_UID',
  cpu: 'DETOUR_PROXY_CPU',
  memory: 'DETOUR_PROXY_MEMORY',
  cpuLimit: 'DETOUR_PROXY_CPU_LIMIT',
  memoryLimit: 'DETOUR_PROXY_MEMORY_LIMIT',
} as const;

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

/**
 * Reads the knobs; an empty string clears a default resource (e.g.
 * `DETOUR_PROXY_CPU=` for no CPU request). Throws BadKnobError naming the knob.
 */
export function loadInjectorConfig(env: Env = process.env): InjectorConfig {
  const config = defaultInjectorConfig();
  const image = env[INJECTOR_KNOBS.image];
  if (image !== undefined && image !== '') {
    if (/\s/.test(image)) throw new BadKnobError(INJECTOR_KNOBS.image, image, 'contains spaces');
    config.image = image;
  }
  const pull = env[INJECTOR_KNOBS.imagePullPolicy];
  if (pull !== undefined && pull !== '') {
    const policy = PULL_POLICIES.find((p) => p === pull);
    if (policy === undefined) {
      throw new BadKnobError(
        INJECTOR_KNOBS.imagePullPolicy,
        pull,
        `expected one of ${PULL_POLICIES.join(', ')}`,
      );
    }
    config.imagePullPolicy = policy;
  }
  const uid = env[INJECTOR_KNOBS.proxyUid];
  if (uid !== undefined && uid !== '') {
    const n = Number(uid);
    if (!/^\d+$/.test(uid) || n === 0 || n > 2 ** 31 - 1) {
      throw new BadKnobError(INJECTOR_KNOBS.proxyUid, uid, 'expected a non-zero numeric UID');
    }
    config.proxyUid = n;
  }
  for (const key of ['cpu', 'memory', 'cpuLimit', 'memoryLimit'] as const) {
    const value = env[INJECTOR_KNOBS[key]];
    if (value === undefined) continue;
    if (value === '') {
      config.proxyResources = withoutKey(config.proxyResources, key);
      continue;
    }
    try {
      const quantity = parseQuantity(value);
      if (key === 'memoryLimit') atLeastMinimumLimit(quantity);
    } catch (err) {
      throw new BadKnobError(INJECTOR_KNOBS[key], value, (err as Error).message);
    }
    config.proxyResources = { ...config.proxyResources, [key]: value };
  }
  return config;
}

function withoutKey(resources: ProxyResources, key: keyof ProxyResources): ProxyResources {
  const copy = { ...resources };
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- key is a fixed union
  delete copy[key];
  return copy;
}
