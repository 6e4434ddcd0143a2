/**
 * A routable pod shaped like a real injected Deployment pod as the API server returns
 * it (about 8 KiB of JSON): owner reference, managedFields of three managers, an app
 * container with env, probes, resources and mounts, detour's native sidecar and init
 * container as the webhook renders them, projected volumes, full status. What the
 * controller's informer receives for each pod (issue 13).
 */
import type { KubeObject } from '../../../test/support/api-server/resources.js';

const fields = (prefix: string, n: number): Record<string, unknown> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`f:${prefix}-${i}`, {}]));

export function realisticPod(
  namespace: string,
  name: string,
  ip: string,
  host: string,
): KubeObject {
  const started = '2026-11-20T10:00:00Z';
  const uid = `6f1c2d3e-${name.padEnd(4, '0').slice(0, 4)}-4a5b-8c9d-0e1f2a3b4c5d`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid,
      creationTimestamp: started,
      generateName: `${name.slice(0, -6)}-`,
      labels: { app: 'web', 'pod-template-hash': '7d9f8c6b5', routable: 'true', tier: 'backend' },
      annotations: {
        privateHosts: host,
        privatePaths: '8080:/',
        'detour.dev/status': JSON.stringify({
          version: '0.1.0',
          initContainers: ['detour-init', 'detour-proxy'],
          inbound: { mode: 'enforce', ports: [8080] },
        }),
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '15000',
        'kubectl.kubernetes.io/restartedAt': started,
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d9f8c6b5',
          uid: '0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: started,
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': fields('label', 12), 'f:spec': fields('spec', 40) },
        },
        {
          manager: 'detour-webhook',
          operation: 'Update',
          apiVersion: 'v1',
          time: started,
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': fields('init', 30) },
        },
        {
          manager: 'kubelet',
          operation: 'Update',
          apiVersion: 'v1',
          time: started,
          fieldsType: 'FieldsV1',
          subresource: 'status',
          fieldsV1: { 'f:status': fields('status', 30) },
        },
      ],
    },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'registry.example.com/team/web:2026.11.20-4f3e2d1',
          ports: [
            { name: 'http', containerPort: 8080, protocol: 'TCP' },
            { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
          ],
          env: Array.from({ length: 12 }, (_, i) => ({
            name: `APP_SETTING_${i}`,
            value: `value-of-setting-${i}-for-${namespace}`,
          })),
          resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } },
          readinessProbe: {
            httpGet: { path: '/app-health/web/readyz', port: 15000, scheme: 'HTTP' },
            periodSeconds: 5,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          livenessProbe: {
            httpGet: { path: '/app-health/web/livez', port: 15000, scheme: 'HTTP' },
            periodSeconds: 10,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          volumeMounts: [
            { name: 'config', mountPath: '/etc/web' },
            {
              name: 'kube-api-access-x7k2p',
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
              readOnly: true,
            },
          ],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      initContainers: [
        {
          name: 'detour-init',
          image: 'ghcr.io/detour-dev/detour:0.1.0',
          args: ['init', '--capture-ports', '80', '--inbound', '8080=15100'],
          resources: { requests: { cpu: '10m', memory: '32Mi' } },
          securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } },
        },
        {
          name: 'detour-proxy',
          image: 'ghcr.io/detour-dev/detour:0.1.0',
          command: ['detour-proxy'],
          args: ['proxy', '--mode', 'sidecar', '--inbound', '8080=15100'],
          restartPolicy: 'Always',
          ports: [{ name: 'detour-admin', containerPort: 15000, protocol: 'TCP' }],
          env: [
            {
              name: 'POD_NAME',
              valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
            },
            {
              name: 'POD_NAMESPACE',
              valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
            },
            {
              name: 'POD_IP',
              valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } },
            },
            { name: 'NODE_OPTIONS', value: '--max-semi-space-size=2 --max-old-space-size=128' },
            {
              name: 'DETOUR_APP_PROBES',
              value: JSON.stringify({
                web: { readyz: { httpGet: { path: '/ready', port: 8080 } } },
              }),
            },
          ],
          resources: { requests: { cpu: '50m', memory: '128Mi' } },
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: 'web-config', defaultMode: 420 } },
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              {
                configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
              },
            ],
          },
        },
      ],
      nodeName: `node-${name.length % 7}`,
      serviceAccountName: 'web',
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
    },
    status: {
      phase: 'Running',
      hostIP: '10.0.0.12',
      podIP: ip,
      podIPs: [{ ip }],
      qosClass: 'Burstable',
      startTime: started,
      conditions: [
        'PodReadyToStartContainers',
        'Initialized',
        'Ready',
        'ContainersReady',
        'PodScheduled',
      ].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: started })),
      containerStatuses: [
        {
          name: 'web',
          ready: true,
          restartCount: 0,
          started: true,
          image: 'registry.example.com/team/web:2026.11.20-4f3e2d1',
          imageID: `registry.example.com/team/web@sha256:${'ab'.repeat(32)}`,
          containerID: `containerd://${'cd'.repeat(32)}`,
          state: { running: { startedAt: started } },
        },
      ],
      initContainerStatuses: ['detour-init', 'detour-proxy'].map((n) => ({
        name: n,
        ready: n === 'detour-proxy',
        restartCount: 0,
        image: 'ghcr.io/detour-dev/detour:0.1.0',
        imageID: `ghcr.io/detour-dev/detour@sha256:${'ef'.repeat(32)}`,
        containerID: `containerd://${'12'.repeat(32)}`,
        state:
          n === 'detour-proxy'
            ? { running: { startedAt: started } }
            : { terminated: { exitCode: 0, reason: 'Completed' } },
      })),
    },
  };
}
