import * as z from '../shared/zod-mini.js';

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
const integer = z.int();
const port = z.int().check(z.minimum(1), z.maximum(65535));

const list = <T extends z.ZodMiniType>(item: T) => z.nullish(z.array(item));
const object = <T extends z.core.$ZodLooseShape>(shape: T) => z.nullish(z.looseObject(shape));
const stringMap = z.nullish(z.record(z.string(), z.string()));
// A quantity is a string (`100m`, `64Mi`) or, as YAML and JSON often give it, a number.
const quantityMap = z.nullish(z.record(z.string(), z.union([z.string(), z.number()])));
// A port by number or by the name of a containerPort (IntOrString).
const portRef = z.union([integer, string], { error: 'expected a port number or name' });

const probe = object({
  httpGet: object({
    port: portRef,
    path: z.nullish(string),
    host: z.nullish(string),
    scheme: z.nullish(string),
    httpHeaders: list(z.looseObject({ name: string, value: string })),
  }),
  tcpSocket: object({ port: portRef, host: z.nullish(string) }),
  grpc: object({ port, service: z.nullish(string) }),
  exec: object({ command: list(string) }),
  initialDelaySeconds: z.nullish(integer),
  periodSeconds: z.nullish(integer),
  timeoutSeconds: z.nullish(integer),
  successThreshold: z.nullish(integer),
  failureThreshold: z.nullish(integer),
  terminationGracePeriodSeconds: z.nullish(integer),
});

const securityContext = object({
  runAsUser: z.nullish(integer),
  runAsGroup: z.nullish(integer),
  runAsNonRoot: z.nullish(boolean),
  privileged: z.nullish(boolean),
  readOnlyRootFilesystem: z.nullish(boolean),
  allowPrivilegeEscalation: z.nullish(boolean),
  capabilities: object({ add: list(string), drop: list(string) }),
});

const container = z.looseObject({
  name: string,
  image: z.nullish(string),
  imagePullPolicy: z.nullish(string),
  command: list(string),
  args: list(string),
  env: list(
    z.looseObject({
      name: string,
      value: z.nullish(string),
      valueFrom: object({}),
    }),
  ),
  ports: list(
    z.looseObject({
      containerPort: port,
      name: z.nullish(string),
      protocol: z.nullish(z.enum(['TCP', 'UDP', 'SCTP'])),
      hostPort: z.nullish(integer),
      hostIP: z.nullish(string),
    }),
  ),
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
  securityContext,
  resources: object({ requests: quantityMap, limits: quantityMap }),
  volumeMounts: list(
    z.looseObject({ name: string, mountPath: string, readOnly: z.nullish(boolean) }),
  ),
  restartPolicy: z.nullish(string),
});

export const podSchema = z.looseObject({
  metadata: object({
    name: z.nullish(string),
    generateName: z.nullish(string),
    namespace: z.nullish(string),
    labels: stringMap,
    annotations: stringMap,
  }),
  spec: z.looseObject({
    containers: z.array(container),
    initContainers: list(container),
    volumes: list(z.looseObject({ name: string })),
    hostNetwork: z.nullish(boolean),
    automountServiceAccountToken: z.nullish(boolean),
    securityContext: object({
      runAsUser: z.nullish(integer),
      runAsGroup: z.nullish(integer),
      runAsNonRoot: z.nullish(boolean),
      fsGroup: z.nullish(integer),
    }),
  }),
});
