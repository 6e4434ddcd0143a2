import { expect } from 'chai';
import {
  DETOUR_NAMESPACE,
  INJECT_KEY,
  INJECTION_LABEL,
  SYSTEM_NAMESPACES,
} from '../../shared/labels.js';
import {
  CONTROL_PLANE_KUSTOMIZATIONS,
  find,
  hasKubectl,
  render,
  selects,
  type K8sObject,
  type LabelSelector,
} from '../support/manifests.js';

interface Webhook {
  name: string;
  clientConfig: { service: { name: string; namespace: string; path: string; port: number } };
  rules: {
    operations: string[];
    apiGroups: string[];
    apiVersions: string[];
    resources: string[];
  }[];
  namespaceSelector: LabelSelector;
  objectSelector: LabelSelector;
  sideEffects: string;
  admissionReviewVersions: string[];
  timeoutSeconds: number;
  failurePolicy: string;
  reinvocationPolicy: string;
}

/** The webhooks the API server would call for a new pod, by selector alone. */
function called(
  webhooks: readonly Webhook[],
  namespace: string,
  namespaceLabels: Record<string, string>,
  podLabels: Record<string, string>,
): string[] {
  // The API server sets this label on every namespace (Kubernetes 1.21+).
  const nsLabels = { ...namespaceLabels, 'kubernetes.io/metadata.name': namespace };
  return webhooks
    .filter((w) => selects(w.namespaceSelector, nsLabels) && selects(w.objectSelector, podLabels))
    .map((w) => w.name);
}

describe('manifests: the MutatingWebhookConfiguration', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
  });

  for (const kustomization of CONTROL_PLANE_KUSTOMIZATIONS) {
    describe(kustomization, () => {
      let objects: K8sObject[] = [];
      let webhooks: Webhook[] = [];
      before(async () => {
        objects = await render(kustomization);
        webhooks = (
          find(objects, 'MutatingWebhookConfiguration', 'detour') as unknown as {
            webhooks: Webhook[];
          }
        ).webhooks;
      });

      it('has the two webhooks, on pod CREATE, with the admission settings of the design', () => {
        expect(webhooks.map((w) => w.name)).to.deep.equal([
          'namespace.detour.dev',
          'object.detour.dev',
        ]);
        for (const w of webhooks) {
          expect(w.rules).to.deep.equal([
            {
              operations: ['CREATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['pods'],
              scope: 'Namespaced',
            },
          ]);
          expect(w).to.deep.include({
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 5,
            failurePolicy: 'Fail',
            reinvocationPolicy: 'IfNeeded',
          });
        }
      });

      it('calls /mutate on the webhook Service, whose port leads to the webhook container', () => {
        const service = find(objects, 'Service', 'detour-webhook');
        const ports = (service.spec as { ports: { port: number; targetPort: string | number }[] })
          .ports;
        const deployment = find(objects, 'Deployment', 'detour');
        const webhookContainer = (
          deployment.spec as {
            template: {
              spec: {
                containers: {
                  name: string;
                  args: string[];
                  ports: { name: string; containerPort: number }[];
                }[];
              };
            };
          }
        ).template.spec.containers.find((c) => c.name === 'webhook')!;
        for (const w of webhooks) {
          expect(w.clientConfig.service).to.deep.equal({
            name: service.metadata.name,
            namespace: service.metadata.namespace,
            path: '/mutate',
            port: 443,
          });
        }
        const servicePort = ports.find((p) => p.port === 443)!;
        const target = webhookContainer.ports.find(
          (p) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort,
        );
        expect(target?.containerPort).to.equal(8443);
        expect(webhookContainer.args.slice(0, 3)).to.deep.equal(['webhook', '--port', '8443']);
      });

      it("never selects detour's own namespace or the system namespaces (no cold-start deadlock)", () => {
        const deployment = find(objects, 'Deployment', 'detour');
        const own = deployment.metadata.namespace!;
        expect(own).to.equal(DETOUR_NAMESPACE);
        for (const namespace of [own, ...SYSTEM_NAMESPACES]) {
          // Even labelled for injection, with a pod that asks for it.
          for (const podLabels of [{}, { [INJECT_KEY]: 'true' }] as Record<string, string>[]) {
            expect(
              called(webhooks, namespace, { [INJECTION_LABEL]: 'enabled' }, podLabels),
              namespace,
            ).to.deep.equal([]);
            expect(called(webhooks, namespace, {}, podLabels), namespace).to.deep.equal([]);
          }
        }
        // Said in the selectors themselves, not only implied by label values.
        for (const w of webhooks) {
          const excluded = w.namespaceSelector.matchExpressions?.find(
            (e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn',
          );
          expect(excluded?.values, w.name).to.include.members([own, ...SYSTEM_NAMESPACES]);
        }
      });

      it('sends each pod to at most one webhook: opt-in by namespace, opt-out by pod, opt-in by pod', () => {
        const enabled = { [INJECTION_LABEL]: 'enabled' };
        expect(called(webhooks, 'shop', enabled, {})).to.deep.equal(['namespace.detour.dev']);
        expect(called(webhooks, 'shop', enabled, { [INJECT_KEY]: 'true' })).to.deep.equal([
          'namespace.detour.dev',
        ]);
        expect(called(webhooks, 'shop', enabled, { [INJECT_KEY]: 'false' })).to.deep.equal([]);
        expect(called(webhooks, 'plain', {}, {})).to.deep.equal([]);
        expect(called(webhooks, 'plain', {}, { [INJECT_KEY]: 'true' })).to.deep.equal([
          'object.detour.dev',
        ]);
        expect(
          called(webhooks, 'plain', { [INJECTION_LABEL]: 'disabled' }, { [INJECT_KEY]: 'true' }),
        ).to.deep.equal(['object.detour.dev']);
        expect(called(webhooks, 'plain', {}, { [INJECT_KEY]: 'false' })).to.deep.equal([]);
      });
    });
  }
});
