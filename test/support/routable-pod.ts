import type { V1Pod, V1Secret } from '@kubernetes/client-node';

export interface PodOptions {
  name?: string;
  namespace?: string;
  ip?: string;
  ports?: number[];
  hosts?: string;
  paths?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  created?: string | Date;
  phase?: string;
  ready?: boolean;
  deleting?: boolean;
  /** Ports of a native sidecar (init container with restartPolicy Always). */
  sidecarPorts?: number[];
  /** Ports of an ordinary init container. */
  initPorts?: number[];
}

const ports = (list: number[]): { containerPort: number }[] =>
  list.map((p) => ({ containerPort: p }));

/** A Running, Ready, routable pod as the API server returns it (status included). */
export function routablePod(options: PodOptions = {}): V1Pod {
  const annotations: Record<string, string> = { ...options.annotations };
  if (options.hosts !== undefined) annotations.privateHosts = options.hosts;
  if (options.paths !== undefined) annotations.privatePaths = options.paths;
  // Objects are plain JSON on the wire (and in YAML); client-node's classes are types only.
  const pod: unknown = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name ?? 'my-application-1',
      namespace: options.namespace ?? 'my-namespace',
      labels: options.labels ?? { routable: 'true' },
      annotations,
      // client-node types say Date; YAML gives strings: the compiler takes both.
      creationTimestamp: options.created ?? '2024-01-01T00:00:00Z',
      ...(options.deleting === true ? { deletionTimestamp: '2024-02-01T00:00:00Z' } : {}),
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'app',
          ports: ports(options.ports ?? [3000]),
        },
      ],
      initContainers: [
        { name: 'sidecar', restartPolicy: 'Always', ports: ports(options.sidecarPorts ?? []) },
        { name: 'init', ports: ports(options.initPorts ?? []) },
      ],
    },
    status: {
      phase: options.phase ?? 'Running',
      ...(options.ip === '' ? {} : { podIP: options.ip ?? '127.0.0.11' }),
      conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }],
    },
  };
  return pod as V1Pod;
}

export function apiKeySecret(
  namespace: string,
  field: Record<string, string>,
  as: 'data' | 'stringData' = 'data',
  name = 'routing',
): V1Secret {
  const values =
    as === 'data'
      ? Object.fromEntries(
          Object.entries(field).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        )
      : field;
  const secret: unknown = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    [as]: values,
  };
  return secret as V1Secret;
}
