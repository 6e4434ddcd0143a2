import { annotationsError, BadAnnotationError } from '../shared/errors.js';
import { ANNOTATIONS } from '../shared/labels.js';
import {
  defaultCaptureSettings,
  parseBoolean,
  parseCaptureMode,
  parseCidrList,
  parsePortList,
  type CaptureSettings,
} from '../shared/capture-settings.js';
import type { Container } from './pod-types.js';
import { annotationReader } from './annotation-reader.js';
import { readInboundSettings, type InboundSettings } from './inbound-settings.js';
import type { ProxyResources } from './injector-config.js';
import { atLeastMinimumLimit } from './proxy-memory.js';
import { parseQuantity } from './quantity.js';

/** Everything the pod's `detour.dev/*` annotations decide, validated. */
export interface InjectionSettings {
  nativeSidecar: boolean;
  capture: CaptureSettings;
  inbound: InboundSettings;
  resources: ProxyResources;
  logLevel?: string;
}

// pino's levels: the proxy's LOG_LEVEL takes exactly these (shared/logger.ts).
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const RESOURCE_ANNOTATIONS = {
  cpu: ANNOTATIONS.proxyCpu,
  memory: ANNOTATIONS.proxyMemory,
  cpuLimit: ANNOTATIONS.proxyCpuLimit,
  memoryLimit: ANNOTATIONS.proxyMemoryLimit,
} as const;

/**
 * Reads the pod's annotations over the injector's defaults. Every value goes through
 * the same parsers `detour init` uses for its flags, so what the webhook renders init
 * accepts. The app containers give the default inbound ports (their TCP
 * containerPorts). Bad values throw one error (code DETOUR_E_BAD_ANNOTATION) naming every bad
 * annotation and its value, not just the first, so one round of fixes is enough.
 */
export function readInjectionSettings(
  annotations: Readonly<Record<string, string>>,
  defaults: { resources: ProxyResources; proxyUid: number },
  appContainers: readonly Container[] = [],
): InjectionSettings {
  const errors: BadAnnotationError[] = [];
  const read = annotationReader(annotations, errors);

  const base = defaultCaptureSettings();
  const capture: CaptureSettings = {
    ...base,
    mode: read(ANNOTATIONS.capture, parseCaptureMode) ?? base.mode,
    capturePorts: read(ANNOTATIONS.capturePorts, nonEmpty(parsePortList)) ?? base.capturePorts,
    excludeOutboundPorts:
      read(ANNOTATIONS.excludeOutboundPorts, parsePortList) ?? base.excludeOutboundPorts,
    excludeOutboundCidrs:
      read(ANNOTATIONS.excludeOutboundCidrs, parseCidrList) ?? base.excludeOutboundCidrs,
    dnsCapture: read(ANNOTATIONS.dnsCapture, parseBoolean) ?? base.dnsCapture,
    proxyUid: defaults.proxyUid,
  };
  let inbound: InboundSettings = { mode: 'off', ports: [], rewriteProbes: false };
  try {
    inbound = readInboundSettings(read, annotations, appContainers, capture.mode);
  } catch (err) {
    // The default port list itself can be refused (it names `inbound-ports`).
    if (!(err instanceof BadAnnotationError)) throw err;
    errors.push(err);
  }
  capture.inbound = inbound.ports;

  const resources: ProxyResources = { ...defaults.resources };
  for (const [key, annotation] of Object.entries(RESOURCE_ANNOTATIONS) as [
    keyof ProxyResources,
    string,
  ][]) {
    const value = read(annotation, (v) => {
      const quantity = parseQuantity(v);
      if (key === 'memoryLimit') atLeastMinimumLimit(quantity);
      return v;
    });
    if (value !== undefined) resources[key] = value;
  }
  for (const [request, limit] of [
    ['cpu', 'cpuLimit'],
    ['memory', 'memoryLimit'],
  ] as const) {
    const error = requestOverLimit(resources, request, limit, annotations);
    if (error !== undefined) errors.push(error);
  }

  const logLevel = read(ANNOTATIONS.logLevel, (v) => {
    if (!LOG_LEVELS.includes(v)) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`);
    return v;
  });
  const nativeSidecar = read(ANNOTATIONS.nativeSidecar, parseBoolean) ?? true;

  const error = annotationsError(errors);
  if (error !== undefined) throw error;
  return {
    nativeSidecar,
    capture,
    inbound,
    resources,
    ...(logLevel === undefined ? {} : { logLevel }),
  };
}

function nonEmpty<T>(parse: (value: string) => T[]): (value: string) => T[] {
  return (value) => {
    const list = parse(value);
    if (list.length === 0) throw new Error('expected at least one port');
    return list;
  };
}

/**
 * The API server rejects a container whose request exceeds its limit; refusing here
 * names the annotation instead of leaving the user with a generic validation error.
 */
function requestOverLimit(
  resources: ProxyResources,
  request: 'cpu' | 'memory',
  limit: 'cpuLimit' | 'memoryLimit',
  annotations: Readonly<Record<string, string>>,
): BadAnnotationError | undefined {
  const req = resources[request];
  const lim = resources[limit];
  if (req === undefined || lim === undefined) return undefined;
  if (parseQuantity(req) <= parseQuantity(lim)) return undefined;
  const blamed =
    annotations[RESOURCE_ANNOTATIONS[limit]] !== undefined
      ? RESOURCE_ANNOTATIONS[limit]
      : RESOURCE_ANNOTATIONS[request];
  return new BadAnnotationError(
    blamed,
    annotations[blamed] ?? '',
    `the proxy's ${request} request ${req} exceeds its limit ${lim}`,
  );
}
