import { expect } from 'chai';
import {
  CONTROL_PLANE_KUSTOMIZATIONS,
  KUSTOMIZATIONS,
  find,
  hasKubectl,
  ofKind,
  render,
  type K8sObject,
} from '../support/manifests.js';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}
interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

const rulesOf = (role: K8sObject): Rule[] => (role as unknown as { rules?: Rule[] }).rules ?? [];
const subjectsOf = (binding: K8sObject): Subject[] =>
  (binding as unknown as { subjects?: Subject[] }).subjects ?? [];
const roleRefOf = (binding: K8sObject): { kind: string; name: string } =>
  (binding as unknown as { roleRef: { kind: string; name: string } }).roleRef;

/** Every (role, rule) pair that grants something on `resource` in the core group. */
function grants(objects: readonly K8sObject[], resource: string): { role: string; rule: Rule }[] {
  return [...ofKind(objects, 'ClusterRole'), ...ofKind(objects, 'Role')].flatMap((role) =>
    rulesOf(role)
      .filter((r) => (r.apiGroups ?? []).includes('') && (r.resources ?? []).includes(resource))
      .map((rule) => ({ role: role.metadata.name, rule })),
  );
}

describe('manifests: RBAC is least privilege', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
  });

  it('grants no wildcard verb, resource, apiGroup or resource name anywhere', async () => {
    for (const kustomization of KUSTOMIZATIONS) {
      const objects = await render(kustomization);
      for (const role of [...ofKind(objects, 'ClusterRole'), ...ofKind(objects, 'Role')]) {
        for (const rule of rulesOf(role)) {
          const where = `${kustomization}: ${role.kind} ${role.metadata.name}`;
          for (const field of [
            'verbs',
            'resources',
            'apiGroups',
            'resourceNames',
            'nonResourceURLs',
          ] as const) {
            expect(rule[field] ?? [], `${where} ${field}`).to.not.include('*');
          }
          expect(rule.nonResourceURLs, where).to.equal(undefined);
          expect(rule.resources ?? [], where).to.not.include('pods/exec');
        }
      }
    }
  });

  it('lets only the controller read Secrets, and only the one named `routing`', async () => {
    for (const kustomization of KUSTOMIZATIONS) {
      const objects = await render(kustomization);
      for (const { role, rule } of grants(objects, 'secrets')) {
        expect(role, kustomization).to.equal('detour-controller');
        expect(rule.resourceNames).to.deep.equal(['routing']);
        expect(rule.verbs).to.have.members(['get', 'list', 'watch']);
      }
    }
    const base = await render('manifests/base');
    expect(grants(base, 'secrets')).to.have.length(1);
  });

  it('gives the controller Pods read-only and RouteTables with their status', async () => {
    const objects = await render('manifests/base');
    const rules = rulesOf(find(objects, 'ClusterRole', 'detour-controller'));
    expect(rules).to.deep.include({
      apiGroups: [''],
      resources: ['pods'],
      verbs: ['get', 'list', 'watch'],
    });
    const routeTables = rules.find((r) => r.resources?.includes('routetables'));
    expect(routeTables?.apiGroups).to.deep.equal(['detour.dev']);
    expect(routeTables?.verbs).to.include.members([
      'get',
      'list',
      'watch',
      'create',
      'patch',
      'delete',
    ]);
    const status = rules.find((r) => r.resources?.includes('routetables/status'));
    expect(status?.verbs).to.include('patch');
    // Nothing beyond pods, the Secret, namespaces and HostGrants (read-only, for host
    // claims), RouteTables and events.
    const resources = rules.flatMap((r) => r.resources ?? []);
    expect(resources).to.have.members([
      'pods',
      'secrets',
      'namespaces',
      'hostgrants',
      'apipolicies',
      'apipolicies/status',
      'routetables',
      'routetables/status',
      'events',
    ]);
    for (const [group, resource] of [
      ['', 'namespaces'],
      ['detour.dev', 'hostgrants'],
    ] as const) {
      expect(rules, resource).to.deep.include({
        apiGroups: [group],
        resources: [resource],
        verbs: ['get', 'list', 'watch'],
      });
    }
  });

  it('gives the controller ApiPolicies read-only and their status to patch, no one else their status', async () => {
    const objects = await render('manifests/base');
    const rules = rulesOf(find(objects, 'ClusterRole', 'detour-controller'));
    expect(rules).to.deep.include({
      apiGroups: ['detour.dev'],
      resources: ['apipolicies'],
      verbs: ['get', 'list', 'watch'],
    });
    expect(rules).to.deep.include({
      apiGroups: ['detour.dev'],
      resources: ['apipolicies/status'],
      verbs: ['get', 'patch'],
    });
    for (const kustomization of KUSTOMIZATIONS) {
      for (const role of ofKind(await render(kustomization), 'ClusterRole')) {
        const resources = rulesOf(role).flatMap((r) => r.resources ?? []);
        const where = `${kustomization}: ${role.metadata.name}`;
        if (role.metadata.name !== 'detour-controller') {
          expect(resources, where).to.not.include('apipolicies/status');
        }
        if (role.metadata.name === 'detour-sidecar') {
          expect(resources, where).to.not.include('apipolicies');
        }
      }
    }
    // Namespace owners manage them through the built-in edit role (aggregation).
    const edit = find(objects, 'ClusterRole', 'detour-apipolicies-edit');
    expect(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-edit']).to.equal('true');
  });

  it('gives no one but the controller HostGrants or Namespaces', async () => {
    for (const kustomization of KUSTOMIZATIONS) {
      for (const role of [
        ...ofKind(await render(kustomization), 'ClusterRole'),
        ...ofKind(await render(kustomization), 'Role'),
      ]) {
        if (role.metadata.name === 'detour-controller') continue;
        const resources = rulesOf(role).flatMap((r) => r.resources ?? []);
        expect(resources, `${kustomization}: ${role.metadata.name}`).to.not.include.oneOf([
          'hostgrants',
          'namespaces',
        ]);
      }
    }
  });

  it('gives every sidecar (all ServiceAccounts) read-only RouteTables and nothing else', async () => {
    const objects = await render('manifests/base');
    expect(rulesOf(find(objects, 'ClusterRole', 'detour-sidecar'))).to.deep.equal([
      { apiGroups: ['detour.dev'], resources: ['routetables'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = find(objects, 'ClusterRoleBinding', 'detour-sidecar');
    expect(roleRefOf(binding).name).to.equal('detour-sidecar');
    expect(subjectsOf(binding)).to.deep.equal([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:serviceaccounts' },
    ]);
    // The only role bound to all ServiceAccounts is that one.
    for (const kustomization of KUSTOMIZATIONS) {
      for (const b of [
        ...ofKind(await render(kustomization), 'ClusterRoleBinding'),
        ...ofKind(await render(kustomization), 'RoleBinding'),
      ]) {
        if (subjectsOf(b).some((s) => s.kind === 'Group')) {
          expect(roleRefOf(b).name, `${kustomization}: ${b.metadata.name}`).to.equal(
            'detour-sidecar',
          );
        }
      }
    }
  });

  it('lets the webhook patch its own MutatingWebhookConfiguration and nothing else', async () => {
    const objects = await render('manifests/base');
    expect(rulesOf(find(objects, 'ClusterRole', 'detour-webhook'))).to.deep.equal([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: ['detour'],
        verbs: ['get', 'patch'],
      },
    ]);
    // With cert-manager writing the caBundle, the webhook loses even that.
    const certManager = await render('manifests/overlays/cert-manager');
    expect(
      certManager.filter(
        (o) => o.metadata.name === 'detour-webhook' && o.kind.startsWith('ClusterRole'),
      ),
    ).to.deep.equal([]);
  });

  it('binds every role to an existing role and every ServiceAccount subject to one that exists', async () => {
    for (const kustomization of CONTROL_PLANE_KUSTOMIZATIONS) {
      const objects = await render(kustomization);
      const accounts = ofKind(objects, 'ServiceAccount').map(
        (a) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`,
      );
      for (const binding of [
        ...ofKind(objects, 'ClusterRoleBinding'),
        ...ofKind(objects, 'RoleBinding'),
      ]) {
        const ref = roleRefOf(binding);
        find(objects, ref.kind, ref.name);
        for (const s of subjectsOf(binding).filter((x) => x.kind === 'ServiceAccount')) {
          expect(accounts, `${kustomization}: ${binding.metadata.name}`).to.include(
            `${s.namespace ?? ''}/${s.name}`,
          );
        }
      }
      // Every workload runs under a ServiceAccount of the manifests, never `default`.
      for (const w of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'DaemonSet')]) {
        const sa = (w.spec as { template: { spec: { serviceAccountName?: string } } }).template.spec
          .serviceAccountName;
        expect(accounts, w.metadata.name).to.include(
          `${w.metadata.namespace ?? ''}/${sa ?? 'default'}`,
        );
      }
    }
  });
});
