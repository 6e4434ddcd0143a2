import { z } from 'zod';

/**
 * The parts of a Pod (or pod template) the injector reads or writes, with the types the
 * API server's own decoder requires (core/v1 types.go). Everything else passes through
 * unchecked and untouched (`looseObject`): the injector only has to trust what it uses,
 * and the API server validates the rest after us.
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 *
 * Every optional field accepts `null`: the API server decodes a JSON null into a Go
 * pointer, slice or map as "absent" (sigs.k8s.io/json, like encoding/json), and YAML's
 * empty value (`annotations:`) is a null, so refusing it would refuse what kubectl
 * accepts. Required fields (a container's `name`, `spec.containers`) and the items of
 * lists and maps accept no null.
 */
const string = z.string();
const boolean = z.boolean();
const integer = z.number().int();
const port = integer.min(1).max(65535);

const list = <T extends z.ZodType>(item: T) => z.array(item).nullish();
const object = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape).nullish();
const stringMap = z.record(z.string(), z.string()).nullish();
// A quantity is a string (`100m`, `64Mi`) or, as YAML and JSON often give it, a number.
const quantityMap = z.record(z.string(), z.union([z.string(), z.number()])).nullish();
// A port by number or by the name of a containerPort (IntOrString).
const portRef = z.union([integer, string], { error: 'expected a port number or name' });

const probe = object({
  httpGet: object({
    port: portRef,
    path: string.nullish(),
    host: string.nullish(),
    scheme: string.nullish(),
    httpHeaders: list(z.looseObject({ name: string, value: string })),
  }),
  tcpSocket: object({ port: portRef, host: string.nullish() }),
  grpc: object({ port, service: string.nullish() }),
  exec: object({ command: list(string) }),
  initialDelaySeconds: integer.nullish(),
  periodSeconds: integer.nullish(),
  timeoutSeconds: integer.nullish(),
  successThreshold: integer.nullish(),
  failureThreshold: integer.nullish(),
  terminationGracePeriodSeconds: integer.nullish(),
});

const securityContext = object({
  runAsUser: integer.nullish(),
  runAsGroup: integer.nullish(),
  runAsNonRoot: boolean.nullish(),
  privileged: boolean.nullish(),
  readOnlyRootFilesystem: boolean.nullish(),
  allowPrivilegeEscalation: boolean.nullish(),
  capabilities: object({ add: list(string), drop: list(string) }),
});

const container = z.looseObject({
  name: string,
  image: string.nullish(),
  imagePullPolicy: string.nullish(),
  command: list(string),
  args: list(string),
  env: list(
    z.looseObject({
      name: string,
      value: string.nullish(),
      valueFrom: object({}),
    }),
  ),
  ports: list(
    z.looseObject({
      containerPort: port,
      name: string.nullish(),
      protocol: z.enum(['TCP', 'UDP', 'SCTP']).nullish(),
      hostPort: integer.nullish(),
      hostIP: string.nullish(),
    }),
  ),
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
  securityContext,
  resources: object({ requests: quantityMap, limits: quantityMap }),
  volumeMounts: list(
    z.looseObject({ name: string, mountPath: string, readOnly: boolean.nullish() }),
  ),
  restartPolicy: string.nullish(),
});

export const podSchema = z.looseObject({
  metadata: object({
    name: string.nullish(),
    generateName: string.nullish(),
    namespace: string.nullish(),
    labels: stringMap,
    annotations: stringMap,
  }),
  spec: z.looseObject({
    containers: z.array(container),
    initContainers: list(container),
    volumes: list(z.looseObject({ name: string })),
    hostNetwork: boolean.nullish(),
    automountServiceAccountToken: boolean.nullish(),
    securityContext: object({
      runAsUser: integer.nullish(),
      runAsGroup: integer.nullish(),
      runAsNonRoot: boolean.nullish(),
      fsGroup: integer.nullish(),
    }),
  }),
});
