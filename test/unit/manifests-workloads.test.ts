import { expect } from 'chai';
import { PORTS, PROXY_UID } from '../../shared/labels.js';
import {
  CONTROL_PLANE_KUSTOMIZATIONS,
  find,
  hasKubectl,
  ofKind,
  render,
  selects,
  type K8sObject,
  type LabelSelector,
} from '../support/manifests.js';

interface Probe {
  httpGet?: { path: string; port: string | number; scheme?: string };
}
interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number; hostPort?: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
    privileged?: boolean;
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName?: string;
  hostNetwork?: boolean;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    seccompProfile?: { type: string };
    sysctls?: { name: string; value: string }[];
  };
  topologySpreadConstraints?: { topologyKey: string }[];
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string } }[];
}
interface Workload {
  replicas?: number;
  selector: LabelSelector;
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}

const workloadSpec = (o: K8sObject): Workload => o.spec as Workload;
const container = (o: K8sObject, name: string): Container => {
  const c = workloadSpec(o).template.spec.containers.find((x) => x.name === name);
  if (c === undefined) throw new Error(`${o.metadata.name} has no container ${name}`);
  return c;
};
const env = (c: Container, name: string): string | undefined =>
  c.env?.find((e) => e.name === name)?.value;

describe('manifests: detour workloads', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
  });

  it('run restricted: UID 1337, non-root, read-only root, no capabilities, RuntimeDefault seccomp', async () => {
    for (const kustomization of CONTROL_PLANE_KUSTOMIZATIONS) {
      const objects = await render(kustomization);
      for (const w of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'DaemonSet')]) {
        const pod = workloadSpec(w).template.spec;
        const where = `${kustomization}: ${w.metadata.name}`;
        expect(pod.hostNetwork, where).to.not.equal(true);
        expect(pod.securityContext, where).to.deep.include({
          runAsNonRoot: true,
          runAsUser: PROXY_UID,
          runAsGroup: PROXY_UID,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        for (const c of pod.containers) {
          expect(c.securityContext, `${where}/${c.name}`).to.deep.include({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(c.securityContext?.privileged, `${where}/${c.name}`).to.not.equal(true);
        }
      }
    }
  });

  it('have readiness and liveness probes on declared ports, and memory-bounded resources', async () => {
    for (const kustomization of CONTROL_PLANE_KUSTOMIZATIONS) {
      const objects = await render(kustomization);
      for (const w of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'DaemonSet')]) {
        for (const c of workloadSpec(w).template.spec.containers) {
          const where = `${kustomization}: ${w.metadata.name}/${c.name}`;
          const portNames = (c.ports ?? []).map((p) => p.name);
          for (const probe of [c.readinessProbe, c.livenessProbe]) {
            expect(probe?.httpGet, where).to.not.equal(undefined);
            expect(portNames, where).to.include(probe!.httpGet!.port);
          }
          expect(c.resources?.requests, where).to.have.keys('cpu', 'memory');
          expect(c.resources?.limits, where).to.have.property('memory');
        }
      }
    }
  });

  it('runs the webhook and the private controller side by side, two replicas, spread, with a PDB', async () => {
    const objects = await render('manifests/base');
    const deployment = find(objects, 'Deployment', 'detour');
    const spec = workloadSpec(deployment);
    expect(spec.replicas).to.equal(2);
    expect(spec.template.spec.containers.map((c) => c.name)).to.deep.equal([
      'webhook',
      'controller',
    ]);
    expect(container(deployment, 'webhook').args).to.deep.equal(['webhook', '--port', '8443']);
    // /ready fails first when the webhook drains; liveness stays on /healthz.
    expect(container(deployment, 'webhook').readinessProbe?.httpGet).to.deep.include({
      path: '/ready',
      scheme: 'HTTPS',
    });
    expect(container(deployment, 'webhook').livenessProbe?.httpGet).to.deep.include({
      path: '/healthz',
      scheme: 'HTTPS',
    });
    expect(container(deployment, 'controller').args).to.deep.equal([
      'controller',
      '--plane',
      'private',
    ]);
    const controllerPorts = container(deployment, 'controller').ports ?? [];
    expect(controllerPorts.map((p) => p.containerPort)).to.deep.equal([15020]);
    expect(container(deployment, 'controller').readinessProbe?.httpGet?.path).to.equal('/ready');
    expect(spec.template.spec.topologySpreadConstraints?.map((t) => t.topologyKey)).to.include(
      'kubernetes.io/hostname',
    );
    expect(spec.template.spec.serviceAccountName).to.equal('detour');
    expect(selects(spec.selector, spec.template.metadata.labels)).to.equal(true);

    const pdb = find(objects, 'PodDisruptionBudget', 'detour');
    const pdbSpec = pdb.spec as { minAvailable: number; selector: LabelSelector };
    expect(pdbSpec.minAvailable).to.equal(1);
    expect(selects(pdbSpec.selector, spec.template.metadata.labels)).to.equal(true);
    expect(pdb.metadata.namespace).to.equal(deployment.metadata.namespace);
    const service = find(objects, 'Service', 'detour-webhook');
    const serviceSelector = (service.spec as { selector: Record<string, string> }).selector;
    expect(selects({ matchLabels: serviceSelector }, spec.template.metadata.labels)).to.equal(true);
  });

  it('gateway overlay: `detour proxy --mode gateway` on hostPort 80 and a public-plane controller', async () => {
    const objects = await render('manifests/overlays/gateway');
    const gateway = find(objects, 'DaemonSet', 'detour-gateway');
    const proxy = container(gateway, 'gateway');
    expect(proxy.args?.slice(0, 3)).to.deep.equal(['proxy', '--mode', 'gateway']);
    expect(env(proxy, 'PORT')).to.equal('80');
    expect(proxy.ports).to.deep.include({
      name: 'http',
      containerPort: 80,
      hostPort: 80,
      protocol: 'TCP',
    });
    expect(proxy.ports?.map((p) => p.containerPort)).to.include(PORTS.admin);
    // UID 1337 binds :80 through the namespaced sysctl, not a capability.
    expect(workloadSpec(gateway).template.spec.securityContext?.sysctls).to.deep.include({
      name: 'net.ipv4.ip_unprivileged_port_start',
      value: '0',
    });
    const publicController = find(objects, 'Deployment', 'detour-controller-public');
    expect(container(publicController, 'controller').args).to.deep.equal([
      'controller',
      '--plane',
      'public',
    ]);
    expect(workloadSpec(publicController).replicas).to.equal(2);
    // The private control plane is still there, unchanged.
    expect(container(find(objects, 'Deployment', 'detour'), 'controller').args).to.deep.equal([
      'controller',
      '--plane',
      'private',
    ]);
    // The PDBs select their own workloads only.
    const privateLabels = workloadSpec(find(objects, 'Deployment', 'detour')).template.metadata
      .labels;
    const publicPdb = find(objects, 'PodDisruptionBudget', 'detour-controller-public').spec as {
      selector: LabelSelector;
    };
    expect(
      selects(publicPdb.selector, workloadSpec(publicController).template.metadata.labels),
    ).to.equal(true);
    expect(selects(publicPdb.selector, privateLabels)).to.equal(false);
  });

  it("cert-manager component: the webhook serves the Certificate's Secret, cainjector fills the caBundle", async () => {
    const objects = await render('manifests/overlays/cert-manager');
    const deployment = find(objects, 'Deployment', 'detour');
    const webhook = container(deployment, 'webhook');
    const args = webhook.args ?? [];
    const certFile = args[args.indexOf('--tls-cert') + 1];
    const keyFile = args[args.indexOf('--tls-key') + 1];
    expect(args.slice(0, 3)).to.deep.equal(['webhook', '--port', '8443']);
    expect(certFile).to.match(/\/tls\.crt$/);
    expect(keyFile).to.match(/\/tls\.key$/);
    const mount = webhook.volumeMounts?.find((m) => certFile!.startsWith(`${m.mountPath}/`));
    expect(mount, 'a volume mounted where --tls-cert points').to.not.equal(undefined);
    // The read-only root still needs its /tmp mount after the patch.
    expect(webhook.volumeMounts?.map((m) => m.mountPath)).to.include('/tmp');
    const volume = workloadSpec(deployment).template.spec.volumes?.find(
      (v) => v.name === mount!.name,
    );
    const certificate = find(objects, 'Certificate', 'detour-webhook');
    const certSpec = certificate.spec as {
      secretName: string;
      dnsNames: string[];
      issuerRef: { name: string };
    };
    expect(volume?.secret?.secretName).to.equal(certSpec.secretName);
    const service = find(objects, 'Service', 'detour-webhook');
    expect(certSpec.dnsNames).to.include(
      `${service.metadata.name}.${service.metadata.namespace ?? ''}.svc`,
    );
    find(objects, 'Issuer', certSpec.issuerRef.name);
    const mwc = find(objects, 'MutatingWebhookConfiguration', 'detour');
    expect(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from']).to.equal(
      `${certificate.metadata.namespace ?? ''}/${certificate.metadata.name}`,
    );
  });
});
